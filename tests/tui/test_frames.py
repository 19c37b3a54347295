"""Frames the worker builds: the grid is reused between rebuilds, but never shows stale data
when asked for a fresh frame, a new split or another selected process."""

from __future__ import annotations

import numpy as np
from tuitools import scenario

from oomtui.engine.views import HIGHLIGHT
from oomtui.tui.sim import Layout, Sim

PIXELS = {"DMA": 8, "DMA32": 64}  # the 256 MiB machine has no Normal zone


def pid_of(sim: Sim, comm: str) -> int:
    return next(r["pid"] for r in sim.machine.processes() if r["comm"] == comm)


def booted(pid_comm: str | None = None) -> Sim:
    """A Sim at tick 10 of the small scenario, its first frame built for PIXELS."""
    sim = Sim(scenario(), paused=True)
    sim.boot(10)
    pid = pid_of(sim, pid_comm) if pid_comm else None
    sim.layout = Layout(PIXELS, 40, pid)
    sim._publish(force_slow=True)
    return sim


def test_a_forced_frame_shows_the_grid_of_now_with_the_selected_process_and_its_scale():
    sim = booted("web")
    m, frame = sim.machine, sim.latest
    grid = m.frame_grid(PIXELS, frame.pid)
    assert any((levels == HIGHLIGHT).any() for levels in grid.values())
    assert all(np.array_equal(frame.grid[zone], levels) for zone, levels in grid.items())
    assert frame.grid_scale == m.frames_per_pixel(PIXELS)


def test_the_grid_is_reused_until_due_and_rebuilt_for_a_new_split_or_selection():
    sim = booted()
    before = sim.latest.grid["DMA32"]
    sim._grid_interval = float("inf")  # never due: only a new split or a forced frame rebuilds
    m = sim.machine
    web = pid_of(sim, "web")
    m.touch(web, m.mmap(web, 64 << 20), 64 << 20)
    sim._publish()
    assert sim.latest.grid["DMA32"] is before
    sim.layout = Layout(PIXELS | {"DMA32": 32}, 40, None)
    sim._publish()
    assert np.array_equal(sim.latest.grid["DMA32"], m.frame_grid({"DMA32": 32})["DMA32"])
    sim._publish(force_slow=True)
    assert np.array_equal(sim.latest.grid["DMA32"], m.frame_grid({"DMA32": 32})["DMA32"])
    sim.layout = Layout(PIXELS | {"DMA32": 32}, 40, web)  # another selection: rebuilt
    sim._publish()
    assert np.array_equal(sim.latest.grid["DMA32"], m.frame_grid({"DMA32": 32}, web)["DMA32"])
    assert (sim.latest.grid["DMA32"] == HIGHLIGHT).any()


def test_frame_pixels_at_marks_the_pixels_frame_grid_puts_those_frames_in():
    sim = booted()
    m = sim.machine
    lo, hi = int(m.zn.start[1]), int(m.zn.start[2])  # DMA32
    per = -(-(hi - lo) // PIXELS["DMA32"])
    pfns = np.array([lo, lo + per - 1, lo + 5 * per, hi - 1, 0])  # 0 is in DMA
    marks = m.frame_pixels_at(pfns, PIXELS)
    assert np.flatnonzero(marks["DMA32"]).tolist() == [0, 5, (hi - 1 - lo) // per]
    assert np.flatnonzero(marks["DMA"]).tolist() == [0]


def test_the_speed_meter_measures_simulated_seconds_per_wall_second_over_its_window():
    from oomtui.tui.sim import SPEED_WINDOW, SpeedMeter

    meter = SpeedMeter()
    meter.add(100.0, 5.0)
    assert meter.achieved is None  # one frame is no measure
    meter.add(100.5, 7.0)
    assert meter.achieved == 4.0
    meter.add(100.5 + SPEED_WINDOW, 7.5)  # the window forgets the fast start
    assert meter.achieved == 0.25
    meter.clear()
    assert meter.achieved is None
