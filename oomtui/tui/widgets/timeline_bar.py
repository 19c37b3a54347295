"""TimelineBar: one line saying where in time the machine is, on which branch, live or not."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

BAR = 24  # cells for the kept range


class TimelineBar(Static):
    def show(self, where, tick_ms: int) -> None:
        def s(tick: int) -> str:
            return f"{tick * tick_ms / 1000:.2f} s"

        span = max(where.end - where.first, 1)
        at = round((where.tick - where.first) / span * (BAR - 1))
        line = Text()
        if where.live:
            line.append(" ● live ", style="bold reverse green")
        else:
            line.append(" ⏪ in the past ", style="bold reverse yellow")
        line.append(f" {where.branch} ", style="bold")
        line.append("━" * at, style="green").append("●", style="bold")
        line.append("─" * (BAR - 1 - at), style="dim")
        line.append(f" {s(where.tick)} of {s(where.first)}–{s(where.end)} kept")
        if len(where.branches) > 1:
            line.append(f" · {len(where.branches)} branches (B compares)")
        hint = ("t: 1 s back · b: branch here" if where.live else
                "space/T: replay its future · b or any action: branch off")
        line.append(f" · {hint}", style="dim")
        self.update(line)
