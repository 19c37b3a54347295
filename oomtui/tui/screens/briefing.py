"""BriefingScreen: a level's briefing (the situation, what to watch, which keys help) and its
goal, over the level's machine, booted and paused; Enter starts the clock."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from oomtui.tui.widgets.key_footer import KeyFooter


def stars(difficulty: int) -> str:
    """1 (intro) .. 5 (expert) as five stars."""
    return "★" * difficulty + "☆" * (5 - difficulty)


class BriefingScreen(Screen[bool]):
    """Dismissed with True when the player starts the level, False to look at it first."""

    BINDINGS = [
        Binding("enter", "start", "Start", id="briefing-start"),
        Binding("escape", "look", "Look first", id="briefing-look",
                tooltip="Look at the machine first; space starts the clock"),
    ]

    def __init__(self, level):
        super().__init__()
        self.level = level

    def compose(self) -> ComposeResult:
        level = self.level
        hints = len(level.hints)
        cost = -level.weights["hint"]
        with VerticalScroll(id="briefing-box"):  # all of it scrolls on a small terminal
            # Text from the level file is shown as text, never markup.
            yield Static(Text(f"Level {level.order}: {level.title}"), id="briefing-title")
            yield Static(Text(f"{stars(level.difficulty)} · teaches {', '.join(level.teaches)} "
                              f"· {level.time_limit_s:g} s of simulated time"),
                         id="briefing-meta")
            yield Static(Text.assemble(("Goal: ", "bold"), level.goal_text), id="briefing-goal")
            yield Static(Text(level.briefing), id="briefing-text")
            yield Static(Text(
                "Enter: start the clock · " + (f"h: a hint ({hints}, {cost:g} points each) · "
                                               if hints else "")
                + "space: pause · ?: every key · q: quit"), id="briefing-keys")
        yield KeyFooter()

    def action_start(self) -> None:
        self.dismiss(True)

    def action_look(self) -> None:
        self.dismiss(False)
