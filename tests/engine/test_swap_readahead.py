"""Adaptive swap readahead (mm/swap_state.c: __swapin_nr_pages, swap_vma_readahead,
swap_cluster_readahead; KERNEL.md §8) and the swap slot a swap-in frees when its memcg is
short of swap (mem_cgroup_swap_full), with concrete numbers.

The window: pages = hits + 2; with no hits, 2 if the fault is next to the previous one, else
1; otherwise rounded up to a power of two (at least 4); at most 2^page-cluster (8); at least
half the previous window. An anon fault reads the window's swap PTEs around its address.
"""

from __future__ import annotations

import numpy as np
import pytest

from oomtui.engine import SwapDevice
from oomtui.engine import kernels as K

PAGE, MiB = 4096, 1 << 20


def swapped_out(m, npages: int, cgroup: str = "/"):
    """A process that wrote npages of private anon memory from a 2 MiB boundary (one page
    table: the window never crosses one) and paged them all out."""
    p = m.spawn("p", cgroup=cgroup)
    a = m.mmap(p, npages * PAGE + 2 * MiB)
    a = -(-a // (2 * MiB)) * 2 * MiB
    m.touch(p, a, npages * PAGE)
    m.madvise(p, a, npages * PAGE, "pageout")
    return p, a


def resident(m, p, a, npages) -> list[int]:
    return np.nonzero(m.mincore(p, a, npages * PAGE))[0].tolist()


def read(m, p, a, i) -> int:
    """Read page i: the pages swapped in (pswpin) for it."""
    before = m.vmstat()["pswpin"]
    m.touch(p, a + i * PAGE, 1, write=False)
    return m.vmstat()["pswpin"] - before


@pytest.mark.parametrize("prev, offset, hits, max_pages, prev_win, pages", [
    (0, 20, 0, 8, 0, 1),      # no hits, not adjacent: 1
    (19, 20, 0, 8, 1, 2),     # adjacent: 2
    (21, 20, 0, 8, 1, 2),     # adjacent backwards: 2
    (20, 22, 1, 8, 2, 4),     # 1 hit: 3 rounded up to 4
    (20, 26, 3, 8, 4, 8),     # 3 hits: 5 -> 8
    (20, 40, 7, 8, 8, 8),     # 9 -> 16, capped at 8
    (20, 99, 0, 8, 8, 4),     # a random fault after a window of 8: no less than 8 / 2
    (0, 20, 5, 1, 0, 1),      # page-cluster 0: one page
])
def test_swapin_nr_pages(prev, offset, hits, max_pages, prev_win, pages):
    assert K.swapin_nr_pages(prev_offset=prev, offset=offset, hits=hits, max_pages=max_pages,
                             prev_win=prev_win) == pages


def test_the_first_swapin_of_an_idle_mapping_reads_one_page(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 256)
    assert read(m, p, a, 20) == 1               # no history: hits 0, page 20 not next to 0
    assert resident(m, p, a, 256) == [20]
    assert m.vmstat()["pgmajfault"] >= 1


def test_a_sequential_reread_grows_the_window_to_8(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 256)
    assert read(m, p, a, 20) == 1               # window 1
    assert read(m, p, a, 21) == 2               # next to 20: window 2, pages 21..22
    assert resident(m, p, a, 256) == [20, 21, 22]
    assert read(m, p, a, 22) == 0               # read ahead: a hit (hits 1)
    assert read(m, p, a, 23) == 4               # 1 + 2 = 3 -> 4: pages 23..26
    assert [read(m, p, a, i) for i in (24, 25, 26)] == [0, 0, 0]  # hits 3
    assert read(m, p, a, 27) == 8               # 3 + 2 = 5 -> 8: pages 27..34
    assert [read(m, p, a, i) for i in range(28, 35)] == [0] * 7    # hits 7
    assert read(m, p, a, 35) == 8               # 9 -> 16, capped at 2^page-cluster = 8
    assert resident(m, p, a, 256) == list(range(20, 43))


def test_a_backward_run_reads_behind_the_fault(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 256)
    read(m, p, a, 40)
    assert read(m, p, a, 39) == 2               # prev == fault + 1: the window ends at 39
    assert resident(m, p, a, 256) == [38, 39, 40]


def test_a_random_fault_after_a_window_of_8_still_reads_4(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 256)
    for i in (20, 21, 22, 23, 24, 25, 26, 27):  # windows 1, 2, 4, 8
        read(m, p, a, i)
    assert read(m, p, a, 100) == 4              # no hits: 1, but never below 8 / 2
    assert resident(m, p, a, 256)[-4:] == [99, 100, 101, 102]  # centred: 100 - (4 - 1) // 2


def test_the_window_stays_inside_the_vma(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 128)
    m.mprotect(p, a + 64 * PAGE, 64 * PAGE, "r")  # pages 64.. are another VMA now
    for i in (56, 57, 58, 59, 60):              # windows 1, 2 (57..58), 4 (59..62), a hit
        read(m, p, a, i)
    assert read(m, p, a, 63) == 1               # hits 1: 4 pages from 62, but the VMA ends at 64
    assert resident(m, p, a, 128) == list(range(56, 64))


def test_page_cluster_0_reads_one_page_at_a_time(machine):
    m = machine(swap=[SwapDevice(size_mib=64)], sysctl={"vm.page-cluster": 0})
    p, a = swapped_out(m, 64)
    assert [read(m, p, a, i) for i in range(10, 14)] == [1, 1, 1, 1]


# ---- mem_cgroup_swap_full --------------------------------------------------------------------

def test_a_swapin_frees_its_slot_when_the_memcg_uses_half_its_swap_max(machine):
    """16 pages of memory.swap.max: 8 entries in use is 8 * 2 >= 16, full; 7 is not (the 64 MiB
    device, 16383 slots, is far from vm_swap_full's half)."""
    m = machine(swap=[SwapDevice(size_mib=64)])
    m.cgroup_create("/a", swap_max=16 * PAGE)
    p, a = swapped_out(m, 8, cgroup="/a")
    assert m.cgroup_stat("/a")["memory.swap.current"] == 8 * PAGE
    assert read(m, p, a, 4) == 1                # 8 * 2 >= 16: the slot is freed
    assert m.cgroup_stat("/a")["memory.swap.current"] == 7 * PAGE
    assert m.meminfo()["SwapCached"] == 0
    assert read(m, p, a, 0) == 1                # 7 * 2 = 14 < 16: the swap copy is kept
    assert m.cgroup_stat("/a")["memory.swap.current"] == 7 * PAGE
    assert m.meminfo()["SwapCached"] == 4


def test_an_ancestors_swap_max_counts_too(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    m.cgroup_create("/a", swap_max=16 * PAGE)
    m.cgroup_create("/a/b")
    p, a = swapped_out(m, 8, cgroup="/a/b")
    read(m, p, a, 4)                            # /a: 8 * 2 >= 16
    assert m.cgroup_stat("/a/b")["memory.swap.current"] == 7 * PAGE


def test_without_swap_max_the_copy_is_kept(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    m.cgroup_create("/a")
    p, a = swapped_out(m, 8, cgroup="/a")
    read(m, p, a, 4)
    assert m.cgroup_stat("/a")["memory.swap.current"] == 8 * PAGE
