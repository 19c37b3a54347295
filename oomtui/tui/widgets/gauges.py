"""Gauges: one line per reading (bar, numbers, sparkline); hovering one explains it."""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from oomtui.tui.explain import Reading

SPARK = "▁▂▃▄▅▆▇█"
HISTORY = 12  # samples kept per gauge
SAMPLE_TICKS = 50  # one sample per 0.5 s of simulated time (10 ms ticks)
LABEL = 13
LEVEL_STYLE = {"": "green", "warning": "yellow", "error": "bold red"}


def sparkline(values) -> str:
    values = list(values)
    if not values:
        return ""
    top = max(values) or 1
    return "".join(SPARK[min(7, v * 8 // (top + 1))] for v in values)


def bar(r: Reading, width: int) -> Text:
    if r.limit <= 0 or width <= 0:
        return Text("")
    filled = min(width, r.value * width // r.limit)
    cells = ["█"] * filled + ["░"] * (width - filled)
    for value, char in r.marks:
        i = min(width - 1, value * width // r.limit)
        cells[i] = char
    return Text("".join(cells), style=LEVEL_STYLE[r.level])


class Gauge(Static):
    """One reading; its tooltip is the formula with its terms."""

    def __init__(self, key: str):
        super().__init__()
        self.key = key
        """The Reading.key this gauge shows."""
        self._shown: tuple | None = None  # what the line was drawn from

    def show(self, r: Reading, history, width: int) -> None:
        """Redraw only what changed: a re-render or a tooltip update costs ~0.1 ms each."""
        if r.why != self.tooltip:
            self.tooltip = r.why
        shown = (replace(r, why=""), tuple(history), width)
        if shown == self._shown:
            return
        self._shown = shown
        line = Text(f"{r.label[:LABEL]:<{LABEL}} ", style="bold")
        line.append_text(bar(r, width))
        if r.limit:
            line.append(f" {sparkline(history):<{HISTORY}}", style="dim")
        line.append(f" {r.text}", style=LEVEL_STYLE[r.level] if r.level else "")
        self.update(line)


class Gauges(VerticalScroll):
    """Watermarks and gauges: readings from explain.readings(frame)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.history: dict[str, deque] = {}
        self.readings: list[Reading] = []
        self._sampled = -SAMPLE_TICKS
        self._gauges: list[Gauge] = []

    def show(self, readings: list[Reading], tick: int) -> None:
        self.readings = readings
        if tick - self._sampled >= SAMPLE_TICKS or tick < self._sampled:
            self._sampled = tick
            for r in readings:
                self.history.setdefault(r.key, deque(maxlen=HISTORY)).append(r.value)
        keys = [r.key for r in readings]
        if [g.key for g in self._gauges] != keys:  # a swap area or cgroup came or went
            for g in self._gauges:
                g.remove()
            self._gauges = [Gauge(k) for k in keys]
            self.mount_all(self._gauges)
        gauges = self._gauges
        width = max(4, min(16, self.size.width - LABEL - HISTORY - 30))
        for g, r in zip(gauges, readings):
            g.show(r, self.history.get(r.key, ()), width)
