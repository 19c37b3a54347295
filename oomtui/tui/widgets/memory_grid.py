"""MemoryGrid: every frame of RAM as half-block pixels, one band of rows per zone.

A pixel stands for an equal run of a zone's frames and shows one kind, apportioned
(views.frame_grid) so that each kind's share of the pixels is its share of the frames:
what the picture shows in area, /proc/meminfo and the process table say in numbers."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from oomtui.tui.fmt import human

# Colours per frame kind (views.FRAME_KINDS), then the selected process's frames and the marks
# (views' HIGHLIGHT, MOVED_FROM, MOVED_TO order). Fixed rather than themed, as a memory map's
# colours carry meaning, but for the two that must stand apart from the background: free frames
# (quiet) and the selected process's (the strongest contrast).
KIND_COLOURS = {
    "free": "#2b2b2b", "anon": "#4caf50", "file": "#d4b83c", "dirty": "#ff8c00",
    "shmem": "#b07cd8", "slab": "#4fa3e0", "pagetable": "#00bcd4", "kernel": "#8a8a8a",
    "mlocked": "#e53935", "swapcache": "#f06292",
}
LIGHT_THEME_COLOURS = {"free": "#d0d0d0", "selected": "#000000"}
SELECTED = "#ffffff"
MOVED_FROM = "#ff00ff"
MOVED_TO = "#ffff00"
MARK_NAMES = ("selected", "moved from", "moved to")


def palette(kinds: tuple[str, ...], dark: bool) -> list[str]:
    """The colour of each grid value: the kinds, then MARK_NAMES, for a dark or light theme."""
    colours = dict(KIND_COLOURS, selected=SELECTED)
    if not dark:
        colours.update(LIGHT_THEME_COLOURS)
    colours.update({"moved from": MOVED_FROM, "moved to": MOVED_TO})
    return [colours[name] for name in (*kinds, *MARK_NAMES)]


def scale_label(frames_per_pixel: dict[str, int], page_size: int = 4096) -> str:
    """What a pixel stands for, e.g. '▀ = 2 px · 1 px = 1.60M (DMA 64.0K)': the coarsest
    scale, then each zone drawn at a finer one."""
    if not frames_per_pixel:
        return ""
    common = max(frames_per_pixel.values())
    others = " ".join(f"{zone} {human(n * page_size)}" for zone, n in frames_per_pixel.items()
                      if n != common)
    return f"▀ = 2 px · 1 px = {human(common * page_size)}" + (f" ({others})" if others else "")
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


def zone_pixels(managed: dict[str, int], width: int, height: int) -> dict[str, int]:
    """Pixels per zone for a grid `width` cells by `height` rows: each zone has its rows
    (split_rows), and all have one scale, the finest at which each fits its rows, so that
    areas compare across zones (a small zone fills part of its row)."""
    pages = {z: n for z, n in managed.items() if n}
    if width < 1 or height < 1 or not pages:
        return {}
    zone_rows = split_rows(pages, height)
    per = max(-(-pages[z] // (rows * 2 * width)) for z, rows in zone_rows.items())
    return {z: -(-n // per) for z, n in pages.items()}


def half_blocks(top: str | None, bottom: str | None) -> Segment:
    """A cell showing two pixels' colours, either of which may be the background (None)."""
    if top is None:
        return Segment("▄", Style(color=bottom)) if bottom else Segment(" ")
    return Segment("▀", Style(color=top, bgcolor=bottom))


class MemoryGrid(Widget):
    """A Line-API pixel grid: two frames-groups per cell (▀: fg = top pixel, bg = bottom)."""

    DEFAULT_CSS = "MemoryGrid { height: 1fr; }"

    class Resized(Message):
        """The grid's size changed: frames should be built for the new one."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.drawn_for: tuple = ()
        """(frame kind names, theme name) the colour table was built for."""
        self._segments: list[list[Segment]] = []
        self._strips: list[Strip] = []
        self._keys: list[bytes] = []
        self._drawn: tuple | None = None  # update()'s arguments, last time

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _: self._redraw())

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def _redraw(self) -> None:
        """Draw the last grid again (in another theme's colours)."""
        if self._drawn is not None:
            self.update(*self._drawn)

    @property
    def cells_wide(self) -> int:
        """Pixel columns: the width less the zone names' gutter."""
        return self.size.width - GUTTER

    def layout_for(self, managed: dict[str, int]) -> dict[str, int]:
        """Pixels per zone that fit this widget now (what frames should be built with)."""
        return zone_pixels(managed, self.cells_wide, self.size.height)

    def _table(self, kinds: tuple[str, ...]) -> None:
        """Segments for every (top, bottom) pair of colours, None past the zone's end (the
        background, whatever the theme's is, even the terminal's own): no style parsing per
        cell."""
        theme = self.app.current_theme
        colours = palette(kinds, theme.dark) + [None]
        self._segments = [[half_blocks(top, bottom) for bottom in colours] for top in colours]
        self.drawn_for = (kinds, theme.name)

    def update(self, grid: dict[str, np.ndarray], kinds: tuple[str, ...], width: int) -> None:
        """Draw a frame's grid (views.frame_grid levels per zone, in rows `width` pixels wide,
        the last one padded), repainting changed rows. A grid built before a resize is drawn as built (cut or padded)
        until one built for the new size comes."""
        self._drawn = (grid, kinds, width)
        if (kinds, self.app.current_theme.name) != self.drawn_for:
            self._table(kinds)
            self._keys = []  # every row in the new colours
        past_end = len(kinds) + len(MARK_NAMES)
        old = dict(zip(self._keys, self._strips))
        strips, keys = [], []
        for zone, levels in grid.items():
            rows = -(-levels.size // (2 * width))
            px = np.full(rows * 2 * width, past_end, dtype=np.uint8)
            px[:levels.size] = np.minimum(levels, past_end)
            px = px.reshape(rows, 2, width)
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
