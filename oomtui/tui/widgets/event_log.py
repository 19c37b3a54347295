"""EventLog: engine events, call results and reclaim summaries, newest at the bottom; kinds can
be hidden, and a log scrolled up stays where it is while lines come in."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import RichLog

KIND_STYLE = {"oom": "bold red", "oom_kill": "bold red", "panic": "bold white on red",
              "kswapd": "yellow", "reclaim": "yellow", "refused": "magenta", "error": "magenta",
              "sigsegv": "red", "sigbus": "red", "kill": "red", "call": "cyan",
              "daemon": "bold red", "policy": "cyan"}
KEPT = 1000  # lines kept (hidden ones too: showing a kind again brings its lines back)


class EventLog(RichLog):
    def __init__(self, **kw):
        super().__init__(max_lines=KEPT, wrap=False, **kw)
        self.entries: deque = deque(maxlen=KEPT)
        """(tick, tick_ms, kind, message) of every line added, oldest first."""
        self.hidden: frozenset[str] = frozenset()
        """The kinds not shown."""

    def add(self, tick: int, tick_ms: int, kind: str, message: str) -> None:
        self.entries.append((tick, tick_ms, kind, message))
        if kind not in self.hidden:
            self._show(tick, tick_ms, kind, message)

    def _show(self, tick: int, tick_ms: int, kind: str, message: str) -> None:
        line = Text(f"{tick * tick_ms / 1000:8.2f} ", style="dim")
        line.append(f"{kind:<8} ", style=KIND_STYLE.get(kind, "bold"))
        line.append(message)
        # Follow new lines only from the bottom: a log scrolled up is being read.
        self.write(line, scroll_end=self.is_vertical_scroll_end)

    def kinds(self) -> list[str]:
        """The kinds of the lines kept, in order of first appearance."""
        return list(dict.fromkeys(kind for _, _, kind, _ in self.entries))

    def hide(self, kinds) -> None:
        """Show only the lines of the other kinds (those kept), the newest at the bottom."""
        self.hidden = frozenset(kinds)
        super().clear()
        for entry in self.entries:
            if entry[2] not in self.hidden:
                self._show(*entry)
        self.scroll_end(animate=False)

    def clear(self) -> EventLog:
        """Forget every line (another history starts)."""
        self.entries.clear()
        return super().clear()
