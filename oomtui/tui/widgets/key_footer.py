"""KeyFooter: the Footer with help (?), quit (q) and open (ctrl+o: levels, scenarios, saves)
first, so that they stay in view however narrow the terminal (the Footer cuts its keys at the
right edge)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.compose import compose
from textual.widgets import Footer

FIRST = ("help", "quit", "picker")  # the app's actions a newcomer looks for


class KeyFooter(Footer):
    def compose(self) -> ComposeResult:
        keys = compose(self, super().compose())  # groups come whole, with their keys inside
        first = [k for k in keys if getattr(k, "action", None) in FIRST]
        yield from first + [k for k in keys if k not in first]
