"""Gauges: one line per reading (bar, sparkline, numbers); hovering one explains it."""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from rich.text import Text
from textual.events import MouseMove
from textual.markup import escape
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

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
    """Filled up to the value; its reserved end (a memcg's charge stock) drawn ▒."""
    if r.limit <= 0 or width <= 0:
        return Text("")
    filled = min(width, r.value * width // r.limit)
    used = min(filled, max(0, r.value - r.reserved) * width // r.limit)
    cells = ["█"] * used + ["▒"] * (filled - used) + ["░"] * (width - filled)
    for value, char in r.marks:
        i = min(width - 1, value * width // r.limit)
        cells[i] = char
    return Text("".join(cells), style=LEVEL_STYLE[r.level])


def line(r: Reading, history, width: int) -> Text:
    """One reading: label, bar with its watermarks, sparkline, numbers."""
    text = Text(f"{r.label[:LABEL]:<{LABEL}} ", style="bold")
    text.append_text(bar(r, width))
    if r.limit:
        text.append(f" {sparkline(history):<{HISTORY}}", style="dim")
    text.append(f" {r.text}", style=LEVEL_STYLE[r.level] if r.level else "")
    return text


class Gauges(ScrollView):
    """Watermarks and gauges, one line per reading of explain.readings(frame) (Line API: a
    line is drawn again only when what it shows changed). Hovering a line shows the kernel
    formula behind its number."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.history: dict[str, deque] = {}
        self.readings: list[Reading] = []
        self._sampled = -SAMPLE_TICKS
        self._shown: list[tuple] = []  # what each line was drawn from
        self._lines: list[Strip] = []

    def show(self, readings: list[Reading], tick: int) -> None:
        self.readings = readings
        if tick - self._sampled >= SAMPLE_TICKS or tick < self._sampled:
            self._sampled = tick
            for r in readings:
                self.history.setdefault(r.key, deque(maxlen=HISTORY)).append(r.value)
        longest = max((len(r.text) for r in readings), default=0)
        width = max(4, min(16, self.scrollable_content_region.width - LABEL - HISTORY - 3
                           - longest))  # the bar's: as wide as fits, numbers and all
        drawn = dict(zip(self._shown, self._lines))
        shown = [(replace(r, why=""), tuple(self.history.get(r.key, ())), width) for r in readings]
        lines = []
        for y, (key, r) in enumerate(zip(shown, readings)):
            strip = drawn.get(key)
            if strip is None:
                strip = Strip(line(r, key[1], width).render(self.app.console))
                self.refresh_line(y)
            lines.append(strip)
        if len(lines) != len(self._lines):
            self.refresh()
        self._shown, self._lines = shown, lines
        self.virtual_size = Size(max((s.cell_length for s in lines), default=0), len(lines))
        self._explain_hovered()

    def render_line(self, y: int) -> Strip:
        x, top = self.scroll_offset
        width = self.scrollable_content_region.width
        if top + y >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        return self._lines[top + y].crop(x, x + width).extend_cell_length(width, self.rich_style)

    _hover: int | None = None  # the line under the mouse

    def on_mouse_move(self, event: MouseMove) -> None:
        at = event.get_content_offset(self)
        self._hover = None if at is None else self.scroll_offset.y + at.y
        self._explain_hovered()

    def on_leave(self) -> None:
        self._hover = None
        self._explain_hovered()

    def _explain_hovered(self) -> None:
        i = self._hover
        why = self.readings[i].why if i is not None and i < len(self.readings) else None
        tip = None if why is None else escape(why)  # shown as written: a memcg's holds its path
        if tip != self.tooltip:
            self.tooltip = tip
