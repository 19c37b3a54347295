"""The grid as drawn: one scale for every zone (stated under the grid), the selected process's
share of the drawn pixels is its share of RAM, and its colour stands out on every theme."""

from __future__ import annotations

import numpy as np
import pytest
from textual.theme import BUILTIN_THEMES
from tuitools import select, settle

from oomtui.engine.views import FRAME_KINDS
from oomtui.tui.widgets.memory_grid import (
    KIND_COLOURS,
    MemoryGrid,
    palette,
    scale_label,
    zone_pixels,
)


def test_every_zone_is_drawn_at_one_scale_and_a_small_zone_fills_part_of_its_row():
    # 70 cells by 10 rows: DMA gets 1 row, DMA32 the other 9 (split_rows). DMA32 fits its
    # 9 × 140 pixels at ceil(520,448 / 1,260) = 414 frames a pixel; DMA's 3,840 frames at that
    # scale are ceil(3,840 / 414) = 10 pixels, not the 140 of a whole row.
    assert zone_pixels({"DMA": 3840, "DMA32": 520448, "Normal": 0}, 70, 10) == \
        {"DMA": 10, "DMA32": 1258}
    assert zone_pixels({"DMA": 3840}, 0, 10) == {} == zone_pixels({"DMA": 3840}, 70, 0)


def test_the_scale_names_the_zones_drawn_finer():
    assert scale_label({"DMA": 410, "DMA32": 414}) == "▀ = 2 px · 1 px = 1.62M (DMA 1.60M)"
    assert scale_label({"DMA32": 256}) == "▀ = 2 px · 1 px = 1.00M"


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours."""
    def luminance(colour: str) -> float:
        rgb = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_selected_colour_stands_out_on_every_theme_and_from_every_kind():
    for theme in BUILTIN_THEMES.values():
        colours = palette(FRAME_KINDS, theme.dark)
        selected = colours[len(FRAME_KINDS)]
        background = theme.background if (theme.background or "").startswith("#") else \
            "#000000" if theme.dark else "#ffffff"  # derived, or the terminal's own
        assert contrast(selected, background) >= 4.5, theme.name
        free = colours[FRAME_KINDS.index("free")]
        assert contrast(free, background) < contrast(selected, background), theme.name
        for kind in FRAME_KINDS:
            assert colours[FRAME_KINDS.index(kind)] != selected
    assert palette(FRAME_KINDS, True)[:len(FRAME_KINDS)] == list(KIND_COLOURS.values())


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light", "ansi-light"])
async def test_the_selected_process_fills_its_share_of_the_drawn_grid(app, theme):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        web = await select(pilot, "web")
        app.theme = theme  # the grid redraws without a new frame (ansi: the terminal's colours)
        await pilot.pause()
        grid = app.main.query_one(MemoryGrid)
        selected = palette(app.frame.frame_kinds, app.current_theme.dark)[len(FRAME_KINDS)]
        per = app.frame.grid_scale
        drawn = 0  # frames the selected colour stands for, counted from the screen's cells
        for y in range(grid.size.height):
            line = grid.render_line(y)
            zone = next((z for z in per if line.text.startswith(z + " ")), None) or zone
            for seg in line:
                if seg.text in "▀▄" and seg.style:
                    pixels = [c.name for c in (seg.style.color, seg.style.bgcolor) if c]
                    drawn += pixels.count(selected) * per[zone]
        rss = app.sim.machine.proc_status(web)["VmRSS"] // 4  # pages
        assert rss >= 32 * 256  # its 32 MiB
        assert abs(drawn - rss) <= (len(FRAME_KINDS) + 1) * sum(per.values())
        subtitle = app.main.query_one("#grid-pane").border_subtitle
        assert subtitle == scale_label(per)


def test_a_vma_band_gives_each_state_its_share_of_the_touched_pages():
    from oomtui.engine.views import PAGE_STATES
    from oomtui.tui.widgets.vma_view import STATE_COLOURS, band

    # 10 slices of 100 pages: 50 untouched, 30 resident, 20 swapped in each. The commonest
    # state would paint every cell resident; the band gives swapped 20 / 50 of the cells.
    counts = np.zeros((10, len(PAGE_STATES)), dtype=np.int64)
    counts[:, PAGE_STATES.index("untouched")] = 50
    counts[:, PAGE_STATES.index("resident")] = 30
    counts[:, PAGE_STATES.index("swapped")] = 20
    cells = band(counts, PAGE_STATES)
    colours = [seg.style.color.name for seg in cells]
    assert colours.count(STATE_COLOURS["swapped"]) == 4
    assert colours.count(STATE_COLOURS["resident"]) == 6
    assert {seg.text for seg in cells} == {"▄"}  # half the pages touched: half a cell tall
