"""WelcomeScreen: the first start's offer, over the live machine: a one-minute tour of the
panes and keys, then the first level; or the first level at once; or neither.

Shown when `oomtui` starts with no progress yet (OomApp's `welcome`), and again from help (w) or
the command palette. Answering it in any way records that it was seen, so it is not shown again.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

TEXT = ("Behind this box a simulated Linux machine is running. Its processes ask for memory; "
        "the kernel commits it, hands it out page by page on first touch, takes it back when "
        "free pages run low (kswapd, then direct reclaim), swaps, and when nothing is left the "
        "OOM killer picks a victim. You learn that path by playing levels, each a goal to "
        "reach on a machine in trouble.")

ANSWERS = {"welcome-tour": "tour", "welcome-level": "level", "welcome-skip": None}


class WelcomeScreen(ModalScreen[str | None]):
    """Returns "tour", "level", or None (skipped)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Skip", id="welcome-skip"),
                Binding("l", "dismiss('level')", "First level", id="welcome-level")]
    AUTO_FOCUS = "#welcome-tour"  # Enter takes the tour

    def compose(self) -> ComposeResult:
        with Vertical(id="welcome"):
            yield Label("Welcome to oomtui", id="welcome-title")
            yield Static(TEXT, id="welcome-text")
            with Horizontal(id="welcome-buttons"):
                yield Button("Take the one-minute tour", variant="primary", id="welcome-tour")
                yield Button("Play the first level", id="welcome-level")
                yield Button("Skip", id="welcome-skip")
            yield Static("Enter: tour · l: first level · Esc: skip. Later: ? then w, or ctrl+p "
                         "\"tour\"; ctrl+o opens levels, scenarios and saves.",
                         id="welcome-keys")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(ANSWERS[event.button.id])


def offer(app) -> None:
    """The welcome over the main screen, then what was chosen: the tour and the first level,
    the first level, or the sandbox as it is. Any answer is recorded in the progress file, so
    the first start's welcome is not offered again."""
    while app.screen is not app.main:
        app.pop_screen()
    app.push_screen(WelcomeScreen(), lambda answer: _answered(app, answer))


def _answered(app, answer: str | None) -> None:
    from oomtui.game.progress import Progress
    from oomtui.tui.screens.tour import TourScreen

    progress = Progress.load()
    if progress.first_start:
        progress.save()
    if answer == "tour":
        app.push_screen(TourScreen(), lambda seen: seen and first_level(app))
    elif answer == "level":
        first_level(app)
    else:
        app.notify("ctrl+o opens the levels, scenarios and saves; ? then w shows this again")


def first_level(app) -> None:
    from oomtui.game import builtin_levels
    from oomtui.tui.screens.picker import Pick, open_pick

    open_pick(app, Pick("level", builtin_levels()[0]))
