"""VmaView: the selected process's VMAs as bands of page states, two lines per VMA."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from oomtui.engine.views import apportion
from oomtui.tui.fmt import human

STATE_COLOURS = {"untouched": "#3a3a3a", "zero": "#8ab4f8", "resident": "#4caf50",
                 "swapped": "#f06292", "locked": "#e53935", "read-only": "#d4b83c"}
EIGHTHS = " ▁▂▃▄▅▆▇█"
INDENT = 2
_STYLE = {state: Style(color=colour) for state, colour in STATE_COLOURS.items()}  # parsed once


def band(counts: np.ndarray, states: tuple[str, ...]) -> list[Segment]:
    """One cell per bucket, as tall as the touched share of the bucket ('·' when no page in
    it was touched), in the state apportioned to it (views.apportion): each state's cells
    hold its share of the touched pages."""
    touched = counts[:, 1:]
    n = touched.sum(axis=1)
    heights = np.maximum(1, np.rint(8 * n / counts.sum(axis=1))).astype(int)
    shown = apportion(np.ascontiguousarray(touched))
    return [Segment(EIGHTHS[h], _STYLE[states[1 + s]]) if k else Segment("·", _STYLE["untouched"])
            for k, h, s in zip(n.tolist(), heights.tolist(), shown.tolist())]


class VmaView(ScrollView):
    """Line API: for each VMA a header line (range, perms, size, name, page counts) and a band
    (band()): a cell per slice of the VMA, as tall as its touched share."""

    DEFAULT_CSS = "VmaView { height: 1fr; }"

    class Resized(Message):
        """The bands' width changed (a resize, a scrollbar): frames should be built for it."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self._lines: list[Strip] = []

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    @property
    def band_width(self) -> int:
        return max(1, self.scrollable_content_region.width - INDENT)

    def update(self, pid: int | None, comm: str, vmas: list, states: tuple[str, ...],
               width: int) -> None:
        """Show a process's VMAs with bands `width` cells wide (what they were built for)."""
        if width != self.band_width:  # a scrollbar came or went since: no Resize for that
            self.post_message(self.Resized())
        lines = []
        dim = Style(dim=True)
        legend = []
        for state in states[1:]:
            legend += [Segment("█", Style(color=STATE_COLOURS[state])), Segment(f" {state} ")]
        legend.append(Segment("· untouched", dim))
        lines.append(Strip(legend))
        if pid is None:
            lines.append(Strip([Segment("select a process (↑/↓ in the table)", dim)]))
        for v, counts in vmas:
            pages = dict(zip(states, counts.sum(axis=0).tolist()))
            size = v["end"] - v["start"]
            name = v["name"] or ("[anon]" if v["perms"][3] == "p" else "[shared]")
            text = (f"{v['start']:012x}-{v['end']:012x} {v['perms']} {human(size):>6} {name}  "
                    + " ".join(f"{s[:4]} {human(n * 4096)}" for s, n in pages.items()
                               if n and s != "untouched"))
            lines.append(Strip([Segment(text)]))
            lines.append(Strip([Segment(" " * INDENT)] + band(counts, states)))
        self._lines = lines
        self.virtual_size = Size(max((s.cell_length for s in lines), default=0), len(lines))
        self.border_title = Content(f"Virtual memory of {comm}[{pid}]" if pid else "Virtual memory")
        self.refresh()

    def render_line(self, y: int) -> Strip:
        x, top = self.scroll_offset
        i = top + y
        width = self.scrollable_content_region.width
        if i >= len(self._lines):
            return Strip.blank(width)
        return self._lines[i].crop(x, x + width).extend_cell_length(width)
