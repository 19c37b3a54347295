"""The worker talks to the UI in Textual messages: a newer frame replaces one still queued, the
screen tells the worker what frames should hold only when that changes, and a frame built for
the size before a resize is drawn as built, never dropped."""

from __future__ import annotations

import numpy as np
from tuitools import SIZE, settle

from oomtui.tui.messages import Compiling, EngineEvents, FrameReady
from oomtui.tui.widgets.memory_grid import GUTTER, MemoryGrid


def test_a_frame_replaces_a_queued_frame_and_nothing_else():
    old, new = FrameReady("old", None, "test"), FrameReady("new", None, "test")
    assert old.can_replace(new)
    assert not old.can_replace(EngineEvents(()))
    assert not EngineEvents(()).can_replace(new)


async def test_the_layout_is_sent_once_per_change_not_per_frame(app, monkeypatch):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        sim = app.sim
        sent = []
        relayout = sim.relayout
        monkeypatch.setattr(sim, "relayout", lambda **kw: (sent.append(kw), relayout(**kw)))
        shown = app.frame
        for _ in range(5):
            await pilot.press("full_stop")
            await settle(pilot)
        assert app.frame is not shown and sent == []  # five new frames, no renegotiation
        await pilot.resize_terminal(SIZE[0] - 20, SIZE[1])
        await settle(pilot)
        grid = app.main.query_one(MemoryGrid)
        assert len(sent) == 1 and sent[0]["grid_width"] == grid.size.width - GUTTER
        assert app.frame.layout.grid_width == grid.size.width - GUTTER
        assert {z: levels.size for z, levels in app.frame.grid.items()} == \
            sent[0]["zone_pixels"]


def rows(levels: np.ndarray, width: int) -> np.ndarray:
    """A zone's pixels as the grid draws them: rows × (top, bottom) × width, the last row
    padded past the zone's end (255)."""
    padded = np.full(-(-levels.size // (2 * width)) * 2 * width, 255, dtype=np.uint8)
    padded[:levels.size] = levels
    return padded.reshape(-1, 2, width)


async def test_a_frame_built_before_a_resize_is_drawn_as_built(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        grid = app.main.query_one(MemoryGrid)
        frame = app.frame
        width = frame.layout.grid_width
        narrower = width - 10
        levels = {z: rows(a, width)[:, :, :narrower].reshape(-1) for z, a in frame.grid.items()}
        grid.update(levels, frame.frame_kinds, narrower)  # as if built for a narrower grid
        line = grid.render_line(0)
        assert line.text.startswith("DMA ") and line.cell_length == grid.size.width  # padded
        assert line.text.endswith(" " * 10) and not line.text[:-10].endswith(" ")


async def test_a_first_run_shows_which_kernel_is_compiling_and_how_far_it_is(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)  # paused: no frame redraws the status line after this
        app.post_message(Compiling(30, 120, "shrink_node"))
        await pilot.pause()
        status = str(app.main.query_one("#status").render())
        assert "compiling its kernels █████░░░░░░░░░░░░░░░ 30/120 shrink_node" in status
