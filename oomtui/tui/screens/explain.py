"""ExplainScreen: every gauge's number with the formula and terms behind it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from oomtui.tui.explain import readings


class ExplainScreen(Screen):
    BINDINGS = [Binding("escape,q,e", "app.pop_screen", "Back", id="explain-back")]

    def __init__(self, frame):
        super().__init__()
        self.frame = frame

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(f"Gauges at tick {self.frame.tick} ({self.frame.seconds:.2f} s)\n\n",
                    style="bold")
        for r in readings(self.frame):
            text.append(f"{r.label}: {r.text}\n", style="bold")
            text.append(r.why + "\n\n")
        with VerticalScroll(id="explain"):
            yield Static(text)
        yield Footer()
