"""GoalLine: the line under the header saying what is being played: a level's goal with each
condition's live progress, or else the running scenario's description."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

MARKS = {True: ("✓", "green"), False: ("✗", "red")}


class GoalLine(Static):
    def on_mount(self) -> None:
        self.display = False  # until there is something to say

    def describe(self, description: str) -> None:
        """A scenario (or save) without a goal: what it is about."""
        self.display = bool(description)
        self.update(Text(description, style="italic"))

    def show_goal(self, status, *, seconds_left: float, hints_left: int) -> None:
        """A level's game.GoalStatus: the time left (or the verdict), then each condition's
        progress marked held or not, those not held first (a narrow line cuts the rest)."""
        self.display = True
        line = Text()
        line.append(" Goal ", style="bold reverse")
        if status.state == "playing":
            line.append(f" {max(seconds_left, 0):.0f} s left", style="bold")
            if hints_left:
                line.append(f" · h: hint ({hints_left} left)", style="dim")
        else:
            line.append(f" {status.state}: ", style="bold").append(status.reason)
        for text, ok in sorted(status.progress, key=lambda p: bool(p[1])):
            if text == status.reason:
                continue  # the verdict said it
            mark, colour = MARKS[bool(ok)]
            line.append(f" {mark} ", style=f"bold {colour}").append(text)  # text: never markup
        self.update(line)
