"""The physical-memory grid is honest: each kind's share of a zone's pixels, and the selected
process's, equals its share of the zone's frames to within a few pixels (views.apportion),
however the frames of different kinds are interleaved."""

from __future__ import annotations

import numpy as np

from oomtui.engine import state as S
from oomtui.engine.views import FRAME_KINDS, HIGHLIGHT, apportion

PAGE = 4096
MiB = 1 << 20
CHUNK = 32 * PAGE  # a tenth of a pixel at the scale below: every pixel mixes both processes
ROOM = len(FRAME_KINDS) + 1  # apportion's bound: within one pixel per kind drawn, either way


def test_a_kind_with_a_fifth_of_every_cell_gets_a_fifth_of_the_cells():
    # 80 free and 20 anon frames in each of 5 cells: the commonest-kind picture would show no
    # anon at all. Owed after each cell (free, anon): (-20, 20), (-40, 40), then anon is owed
    # more than free (60 > 40 after adding the third cell) and takes it: (40, -40), (20, -20),
    # (0, 0).
    assert apportion(np.array([[80, 20]] * 5)).tolist() == [0, 0, 1, 0, 0]


def test_a_cell_of_one_kind_is_drawn_as_that_kind_and_an_empty_cell_as_none():
    assert apportion(np.array([[0, 7], [7, 0], [0, 0], [3, 4]])).tolist() == [1, 0, -1, 1]


def interleaved(machine):
    """A 256 MiB machine where 'a' faulted 96 MiB of anon and then unmapped every other
    128 KiB of it, and 'b' then wrote a 32 MiB file: in a's 96 pixels, half the frames are
    a's and half are free, so the commonest kind of each pixel says nothing of the shares."""
    m = machine(ram_mib=256)
    a, b = m.spawn("a"), m.spawn("b")
    addr = m.mmap(a, 96 * MiB)
    m.touch(a, addr, 96 * MiB)
    for off in range(0, 96 * MiB, 2 * CHUNK):
        m.munmap(a, addr + off, CHUNK)
    m.write_file(b, "/data", 32 * MiB)
    return m, a, b


def pixels_holding(m, pid, pixels):
    """How many pixels hold at least one of the process's frames (what the grid once marked)."""
    _, rows = m.views._tables(m.procs[pid])
    pte = m.pt.pte[rows].ravel()
    pfns = (pte[pte & S.PTE_KIND == S.PTE_PRESENT] >> S.PTE_SHIFT).astype(np.int64)
    return sum(int(mark.sum()) for mark in m.frame_pixels_at(pfns, pixels).values())


def shares(m, pixels, pid=None):
    """Frames drawn per grid value, summed over the zones: pixels × frames per pixel."""
    grid, per = m.frame_grid(pixels, pid), m.frames_per_pixel(pixels)
    drawn = np.zeros(256, dtype=np.int64)
    for zone, levels in grid.items():
        drawn += np.bincount(levels, minlength=256) * per[zone]
    return drawn, sum(ROOM * n for n in per.values())


def test_interleaved_anon_and_free_frames_each_get_their_share_of_the_grid(machine):
    m, a, b = interleaved(machine)
    pixels = {"DMA": 16, "DMA32": 240}  # about 1 MiB a pixel
    drawn, room = shares(m, pixels)
    info = m.meminfo()
    assert info["AnonPages"] == 48 * 1024 and info["Dirty"] == 32 * 1024  # kB
    assert abs(drawn[FRAME_KINDS.index("anon")] - info["AnonPages"] // 4) <= room
    assert abs(drawn[FRAME_KINDS.index("dirty")] - info["Dirty"] // 4) <= room
    assert abs(drawn[FRAME_KINDS.index("free")] - info["MemFree"] // 4) <= room


def test_the_selected_process_gets_the_share_of_its_resident_frames(machine):
    m, a, b = interleaved(machine)
    pixels = {"DMA": 16, "DMA32": 240}
    for pid in (a, b):
        drawn, room = shares(m, pixels, pid)
        assert abs(drawn[HIGHLIGHT] - m.proc_status(pid)["VmRSS"] // 4) <= room
    # a's 48 MiB, 12,288 frames, are spread over about 96 pixels of 1 MiB: about 48 are drawn
    drawn, _ = shares(m, pixels, a)
    assert 11_000 < drawn[HIGHLIGHT] < 14_000
    assert pixels_holding(m, a, pixels) >= 90


def test_frames_per_pixel_is_the_split_frame_grid_uses(machine):
    m = machine(ram_mib=256)
    frames = {z: int(m.zn.start[i + 1] - m.zn.start[i]) for i, z in enumerate(("DMA", "DMA32"))}
    per = m.frames_per_pixel({"DMA": 7, "DMA32": 100})
    assert per == {z: -(-frames[z] // n) for z, n in (("DMA", 7), ("DMA32", 100))}
    grid = m.frame_grid({"DMA": 7, "DMA32": 100})
    # the last pixels hold the zone's remainder; a pixel wholly past its end is 255
    assert all((levels != 255).sum() == -(-frames[z] // per[z]) for z, levels in grid.items())
