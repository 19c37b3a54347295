"""MemoryGrid: every frame of RAM as half-block pixels, one band of rows per zone."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

# Colours per frame kind (views.FRAME_KINDS order), then the marks drawn over them (views'
# HIGHLIGHT, MOVED_FROM, MOVED_TO order), then "past the zone's end". Fixed rather than themed:
# a memory map's colours carry meaning.
KIND_COLOURS = {
    "free": "#2b2b2b", "anon": "#4caf50", "file": "#d4b83c", "dirty": "#ff8c00",
    "shmem": "#b07cd8", "slab": "#4fa3e0", "pagetable": "#00bcd4", "kernel": "#8a8a8a",
    "mlocked": "#e53935", "swapcache": "#f06292",
}
SELECTED = "#ffffff"
MOVED_FROM = "#ff00ff"
MOVED_TO = "#ffff00"
MARKS = (SELECTED, MOVED_FROM, MOVED_TO)
GUTTER = 7  # "Normal " before each zone's first row
ZONE_SHORT = {"DMA": "DMA", "DMA32": "DMA32", "Normal": "Normal", "Movable": "Movabl",
              "Device": "Device"}


def split_rows(managed: dict[str, int], rows: int) -> dict[str, int]:
    """Text rows per zone, in proportion to its pages, at least one each."""
    total = sum(managed.values())
    out = {z: max(1, round(rows * pages / total)) for z, pages in managed.items()}
    while sum(out.values()) > rows and max(out.values()) > 1:
        out[max(out, key=out.get)] -= 1
    return out


class MemoryGrid(Widget):
    """A Line-API pixel grid: two frames-groups per cell (▀: fg = top pixel, bg = bottom)."""

    DEFAULT_CSS = "MemoryGrid { height: 1fr; }"

    class Resized(Message):
        """The grid's size changed: frames should be built for the new one."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.kinds: tuple[str, ...] = ()
        """Frame kind names, index = level value (from the frame)."""
        self._segments: list[list[Segment]] = []
        self._strips: list[Strip] = []
        self._keys: list[bytes] = []

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    @property
    def cells_wide(self) -> int:
        """Pixel columns: the width less the zone names' gutter."""
        return self.size.width - GUTTER

    def layout_for(self, managed: dict[str, int]) -> dict[str, int]:
        """Pixels per zone that fit this widget now (what frames should be built with)."""
        width = self.cells_wide
        if width < 1 or self.size.height < 1:
            return {}
        zone_rows = split_rows({z: n for z, n in managed.items() if n}, self.size.height)
        return {z: rows * 2 * width for z, rows in zone_rows.items()}

    def _table(self, kinds: tuple[str, ...]) -> None:
        """Segments for every (top, bottom) pair of colours: no style parsing per cell."""
        bg = self.app.current_theme.background or "#000000"
        colours = [KIND_COLOURS[k] for k in kinds] + list(MARKS) + [bg]
        self._segments = [[Segment("▀", Style(color=top, bgcolor=bottom)) for bottom in colours]
                          for top in colours]
        self.kinds = kinds

    def update(self, grid: dict[str, np.ndarray], kinds: tuple[str, ...], width: int) -> None:
        """Draw a frame's grid (views.frame_grid levels per zone, built `width` pixels wide),
        repainting changed rows. A grid built before a resize is drawn as built (cut or padded)
        until one built for the new size comes."""
        if kinds != self.kinds:
            self._table(kinds)
        past_end = len(kinds) + len(MARKS)
        old = dict(zip(self._keys, self._strips))
        strips, keys = [], []
        for zone, levels in grid.items():
            rows = levels.size // (2 * width)
            px = np.minimum(levels, past_end).reshape(rows, 2, width)
            for r in range(rows):
                top, bottom = px[r, 0], px[r, 1]
                key = f"{zone}{r}".encode() + top.tobytes() + bottom.tobytes()
                strip = old.get(key)
                if strip is None:
                    label = ZONE_SHORT[zone] if r == 0 else ""
                    cells = [Segment(f"{label:<{GUTTER}}", Style(bold=True))]
                    cells += [self._segments[t][b] for t, b in zip(top.tolist(), bottom.tolist())]
                    strip = Strip(cells, GUTTER + width)
                    self.refresh(Region(0, len(keys), self.size.width, 1))
                strips.append(strip)
                keys.append(key)
        if len(strips) != len(self._strips):  # another split: rows below may go blank
            self.refresh()
        self._strips, self._keys = strips, keys

    def render_line(self, y: int) -> Strip:
        if y >= len(self._strips):
            return Strip.blank(self.size.width)
        strip = self._strips[y]
        if strip.cell_length != self.size.width:  # built for the size before a resize
            strip = strip.crop_extend(0, self.size.width, None)
        return strip
