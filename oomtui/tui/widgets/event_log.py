"""EventLog: engine events, call results and reclaim summaries, newest at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

KIND_STYLE = {"oom": "bold red", "oom_kill": "bold red", "panic": "bold white on red",
              "kswapd": "yellow", "reclaim": "yellow", "refused": "magenta", "error": "magenta",
              "sigsegv": "red", "sigbus": "red", "kill": "red", "call": "cyan"}


class EventLog(RichLog):
    def __init__(self, **kw):
        super().__init__(max_lines=1000, wrap=False, **kw)

    def add(self, tick: int, tick_ms: int, kind: str, message: str) -> None:
        line = Text(f"{tick * tick_ms / 1000:8.2f} ", style="dim")
        line.append(f"{kind:<8} ", style=KIND_STYLE.get(kind, "bold"))
        line.append(message)
        self.write(line)
