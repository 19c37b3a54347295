"""PanicScreen: the kernel panicked; the way back is a restart or a rewind along the timeline."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

REWIND_SECONDS = 5


class PanicScreen(Screen):
    BINDINGS = [
        Binding("r", "restart", "Restart scenario", id="panic-restart"),
        Binding("b", "rewind", f"Rewind {REWIND_SECONDS} s", id="panic-rewind"),
        Binding("O", "oom_report", "OOM report", id="panic-oom"),
        Binding("q", "app.quit", "Quit", id="panic-quit"),
    ]

    def __init__(self, text: str, tick: int, tick_ms: int):
        super().__init__()
        self.text = text
        self.tick = tick
        self.tick_ms = tick_ms

    def compose(self) -> ComposeResult:
        with Center():
            with Vertical(id="panic-box"):
                yield Static(self.text.rstrip(), id="panic-text", markup=False)
                yield Static(f"The simulated kernel stopped at {self.tick * self.tick_ms / 1000:.2f}"
                             f" s. r: restart the scenario · b: rewind {REWIND_SECONDS} s (paused; "
                             "change something there to branch off) · O: the OOM report · q: quit",
                             id="panic-help")
        yield Footer()

    def action_restart(self) -> None:
        self.app.sim.restart()
        self.app.pop_screen()

    def action_rewind(self) -> None:
        self.app.sim.travel(-REWIND_SECONDS)
        self.app.pop_screen()

    def action_oom_report(self) -> None:
        from oomtui.tui.screens.oom import OomScreen

        if self.app.oom_events:
            self.app.push_screen(OomScreen(self.app.oom_events, self.tick_ms))
