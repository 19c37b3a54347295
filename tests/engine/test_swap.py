"""Swap (KERNEL.md §8, §9, §3): swapon/swapoff, priorities, slot allocation, MADV_PAGEOUT,
swap-in faults and readahead, the swap cache, fork-shared entries, freeing, swapoff's checks.

Sizes: a swap area of S MiB has S * 256 - 1 usable pages (the first page is the swap header),
so SwapTotal grows by (S * 256 - 1) * 4 kB. Views are in kB, vmstat in pages.

Slots are taken one at a time from the highest-priority device (equal priorities take turns
page by page, swap_alloc_slow's plist_requeue). Swap-in reads ahead adaptively
(__swapin_nr_pages, test_swap_readahead.py): the first fault of an idle mapping reads one page,
the next one beside it two. Not modelled: the per-CPU cluster fast path through which
solid-state areas of equal priority take turns per 512-slot cluster instead of per page.
"""

from __future__ import annotations

import errno

import numpy as np
import pytest

from oomtui.engine import SwapDevice
from oomtui.engine.views import PAGE_STATES

PAGE = 4096
MiB = 1 << 20
RAM_PAGES = 262144  # 1 GiB


def prios(m) -> dict[int, int]:
    return {r["dev"]: r["priority"] for r in m.swaps()}


def used(m) -> dict[int, int]:
    return {r["dev"]: r["used"] for r in m.swaps()}


def swapped_out(m, nbytes: int, pid: int | None = None):
    """A process that wrote nbytes of private anon memory and paged all of it out."""
    p = m.spawn("p") if pid is None else pid
    a = m.mmap(p, nbytes)
    m.touch(p, a, nbytes)
    m.madvise(p, a, nbytes, "pageout")
    return p, a


def resident(m, p, a, nbytes) -> list[int]:
    return np.nonzero(m.mincore(p, a, nbytes))[0].tolist()


# ---------------------------------------------------------------------------- swapon sizes

def test_swapon_grows_swaptotal_commitlimit_and_totalpages(m, diff):
    p = m.spawn("p", oom_score_adj=500)
    mi0, bad0 = m.meminfo(), m.oom_badness(p)
    dev = m.swapon(64)
    assert dev == 0
    d = diff(mi0, m.meminfo())
    # 64 MiB = 16384 pages, less the header page = 16383 pages = 65532 kB
    assert d["SwapTotal"] == d["SwapFree"] == 65532
    assert d["CommitLimit"] == 65532            # vm_commit_limit adds total_swap_pages
    assert d["MemFree"] == 0 and d["Committed_AS"] == 0
    assert m.swaps() == [{"dev": 0, "size": 65532, "used": 0, "priority": -2}]
    # oom_badness: adj * (totalpages // 1000); T 262144 -> 262144 + 16383 = 278527,
    # so 500 * 262 becomes 500 * 278: +8000
    assert m.oom_badness(p) - bad0 == 500 * (278 - 262) == 8000

    assert m.swapon(1) == 1                     # 256 - 1 = 255 pages = 1020 kB
    mi = m.meminfo()
    assert mi["SwapTotal"] == mi["SwapFree"] == 65532 + 1020
    assert mi["CommitLimit"] == (RAM_PAGES // 2 + 16383 + 255) * 4

    m.swapoff(0)
    d = diff(mi0, m.meminfo())
    assert d["SwapTotal"] == d["SwapFree"] == d["CommitLimit"] == 1020
    assert m.oom_badness(p) == bad0             # T = 262399 -> 262 again
    m.swapoff(1)
    assert diff(mi0, m.meminfo())["SwapTotal"] == 0
    assert diff(mi0, m.meminfo())["CommitLimit"] == 0
    assert m.swaps() == []


def test_config_swap_devices_are_on_at_boot(machine):
    m = machine(swap=[SwapDevice(size_mib=64), SwapDevice(size_mib=32, priority=7),
                      SwapDevice(size_mib=16)])
    mi = m.meminfo()
    # (16384 - 1) + (8192 - 1) + (4096 - 1) = 28669 pages = 114676 kB
    assert mi["SwapTotal"] == mi["SwapFree"] == 114676
    assert mi["CommitLimit"] == (RAM_PAGES // 2 + 28669) * 4
    assert m.total_swap_pages() == 28669
    assert m.swaps() == [{"dev": 0, "size": 65532, "used": 0, "priority": -2},
                         {"dev": 1, "size": 32764, "used": 0, "priority": 7},
                         {"dev": 2, "size": 16380, "used": 0, "priority": -3}]


# ---------------------------------------------------------------------------- priorities

def test_automatic_priorities_and_swapoff_shift(m):
    """setup_swap_info: p->prio = --least_priority; swapoff of a negative-priority area bumps
    every later (lower) area by one and least_priority++ (SYSCALL swapoff)."""
    for expect_dev, prio in enumerate([None, None, 5, None, None]):
        assert m.swapon(1, priority=prio) == expect_dev
    assert prios(m) == {0: -2, 1: -3, 2: 5, 3: -4, 4: -5}
    m.swapoff(1)                                # -3 goes: -4 -> -3, -5 -> -4
    assert prios(m) == {0: -2, 2: 5, 3: -3, 4: -4}
    assert m.swapon(1) == 1                     # the free type is reused; next automatic is -5
    assert prios(m) == {0: -2, 1: -5, 2: 5, 3: -3, 4: -4}
    m.swapoff(2)                                # an explicit priority: nothing moves
    assert prios(m) == {0: -2, 1: -5, 3: -3, 4: -4}
    m.swapoff(1)                                # the lowest: nothing below it
    assert prios(m) == {0: -2, 3: -3, 4: -4}
    assert m.swapon(1) == 1 and prios(m)[1] == -5
    m.swapoff(0)                                # the highest automatic: all move up
    assert prios(m) == {1: -4, 3: -2, 4: -3}
    assert m.swapon(1, priority=0) == 0 and m.swapon(1) == 2
    assert prios(m) == {0: 0, 1: -4, 2: -5, 3: -2, 4: -3}


@pytest.mark.parametrize("prio", [0, 1, 32767])
def test_explicit_priority_range(m, prio):
    m.swapon(1, priority=prio)
    assert m.swaps()[0]["priority"] == prio
    assert m.swapon(1) == 1 and prios(m)[1] == -2     # explicit ones leave least_priority alone


@pytest.mark.parametrize("kw", [
    {"size_mib": 0}, {"size_mib": -1}, {"size_mib": 1.5}, {"size_mib": True}, {"size_mib": "1"},
    {"size_mib": 1, "priority": -1}, {"size_mib": 1, "priority": -2},
    {"size_mib": 1, "priority": 32768}, {"size_mib": 1, "priority": True},
    {"size_mib": 1, "priority": 1.0},
])
def test_swapon_bad_size_or_priority_einval(machine, fails, kw):
    m = machine(swap=[SwapDevice(size_mib=1)])
    size = kw.pop("size_mib")
    fails(m, errno.EINVAL, m.swapon, size, **kw)
    assert m.swapon(1) == 1 and prios(m)[1] == -3     # least_priority was not consumed


def test_at_most_24_swap_areas(m, fails):
    """MAX_SWAPFILES = 32 - 3 device-private - 3 migration - 1 hwpoison - 1 marker = 24."""
    for dev in range(24):
        assert m.swapon(1, priority=None if dev % 2 else dev) == dev
    fails(m, errno.EPERM, m.swapon, 1)
    fails(m, errno.EPERM, m.swapon, 1, priority=3)
    assert m.meminfo()["SwapTotal"] == 24 * 1020
    m.swapoff(13)
    assert m.swapon(2) == 13                    # alloc_swap_info takes the first unused type
    assert m.meminfo()["SwapTotal"] == 23 * 1020 + 2044


@pytest.mark.parametrize("dev", [0, 1, 23, 24, -1, True, "0", None, 0.0])
def test_swapoff_unknown_device_einval(machine, fails, dev):
    m = machine(swap=[SwapDevice(size_mib=1)])
    m.swapoff(0)                                # dev 0 is no longer active either
    fails(m, errno.EINVAL, m.swapoff, dev)


def test_swapoff_twice_einval(machine, fails):
    m = machine(swap=[SwapDevice(size_mib=1), SwapDevice(size_mib=1)])
    m.swapoff(1)
    fails(m, errno.EINVAL, m.swapoff, 1)
    assert prios(m) == {0: -2}


def test_swapoff_unknown_caller_esrch(machine, fails):
    m = machine(swap=[SwapDevice(size_mib=1)])
    fails(m, errno.ESRCH, m.swapoff, 0, pid=999)


def test_swapoff_needs_cap_sys_admin(machine, fails):
    m = machine(swap=[SwapDevice(size_mib=1)])
    q = m.spawn("q")                            # uid 1000, no capabilities
    fails(m, errno.EPERM, m.swapoff, 0, pid=q)


# ---------------------------------------------------------------------------- slot allocation

def test_highest_priority_device_first_then_next(machine):
    m = machine(swap=[SwapDevice(size_mib=1, priority=0), SwapDevice(size_mib=1, priority=10),
                      SwapDevice(size_mib=1)])
    p, _ = swapped_out(m, 100 * PAGE)
    assert used(m) == {0: 0, 1: 400, 2: 0}     # all 100 pages on priority 10
    swapped_out(m, 300 * PAGE, p)
    # priority 10 fills up at 255 pages; the other 145 go to priority 0, none to -2
    assert used(m) == {0: 145 * 4, 1: 1020, 2: 0}
    swapped_out(m, 120 * PAGE, p)              # 110 more fill priority 0, 10 reach -2
    assert used(m) == {0: 1020, 1: 1020, 2: 40}
    assert m.proc_status(p)["VmSwap"] == 520 * 4


def test_equal_priorities_take_turns_page_by_page(machine):
    m = machine(swap=[SwapDevice(size_mib=64, priority=3), SwapDevice(size_mib=64, priority=3),
                      SwapDevice(size_mib=64, priority=1)])
    p = m.spawn("p")
    a = m.mmap(p, 4 * PAGE)
    m.touch(p, a, 4 * PAGE)
    seen = []
    for i in range(4):                          # one page at a time: A, B, A, B
        m.madvise(p, a + i * PAGE, PAGE, "pageout")
        seen.append(used(m))
    assert seen == [{0: 4, 1: 0, 2: 0}, {0: 4, 1: 4, 2: 0},
                    {0: 8, 1: 4, 2: 0}, {0: 8, 1: 8, 2: 0}]
    swapped_out(m, 101 * PAGE, p)               # 101 more: the next turn is A's, so 51 / 50
    assert used(m) == {0: (2 + 51) * 4, 1: (2 + 50) * 4, 2: 0}


def test_new_area_joins_the_end_of_its_priority_rotation(machine):
    m = machine(swap=[SwapDevice(size_mib=64, priority=5), SwapDevice(size_mib=64, priority=5)])
    p, _ = swapped_out(m, PAGE)                 # A; rotation is now B, A
    m.swapon(64, priority=5)                    # C: B, A, C
    swapped_out(m, 2 * PAGE, p)                 # B, then A
    assert used(m) == {0: 8, 1: 4, 2: 0}


# ---------------------------------------------------------------------------- MADV_PAGEOUT

def test_pageout_moves_anon_to_swap(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = m.mmap(p, 4 * MiB)
    m.touch(p, a, 4 * MiB)
    mi0, st0, vm0 = m.meminfo(), m.proc_status(p), m.vmstat()
    m.madvise(p, a, 4 * MiB, "pageout")
    st, d, dv = m.proc_status(p), diff(mi0, m.meminfo()), diff(vm0, m.vmstat())
    # 4 MiB = 1024 pages = 4096 kB
    assert diff(st0, st)["VmRSS"] == diff(st0, st)["RssAnon"] == -4096
    assert st["VmSwap"] == 4096 and st["RssAnon"] == 0
    assert d["SwapFree"] == -4096 and d["SwapTotal"] == 0
    assert d["AnonPages"] == -4096 and d["Inactive(anon)"] + d["Active(anon)"] == -4096
    assert d["MemFree"] == 4096                 # the page tables stay: they hold swap entries
    assert d["PageTables"] == 0 and d["SwapCached"] == 0 and d["Committed_AS"] == 0
    assert dv["pswpout"] == 1024 and dv.get("pswpin", 0) == 0
    assert m.swaps()[0]["used"] == 4096
    assert m.mincore(p, a, 4 * MiB).tolist() == [0] * 1024
    assert st["VmSize"] == st0["VmSize"]


def test_pageout_skips_zero_page_and_untouched(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 512 * 1024, write=False)      # the shared zero page, no RSS
    vm0, mi0 = m.vmstat(), m.meminfo()
    m.madvise(p, a, 1 * MiB, "pageout")
    assert diff(vm0, m.vmstat())["pswpout"] == 0
    assert diff(mi0, m.meminfo())["SwapFree"] == 0


def test_pageout_without_swap_keeps_pages_active(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    mi0, vm0 = m.meminfo(), m.vmstat()
    m.madvise(p, a, 1 * MiB, "pageout")
    d = diff(mi0, m.meminfo())
    assert m.proc_status(p)["VmRSS"] == 1024 and m.proc_status(p)["VmSwap"] == 0
    assert d["MemFree"] == 0 and d["AnonPages"] == 0
    assert d["Active(anon)"] == 1024 and d["Inactive(anon)"] == -1024   # activate_locked
    assert diff(vm0, m.vmstat())["pswpout"] == 0


def test_pageout_when_swap_is_full(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=1)])  # 255 slots
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)                      # 256 pages
    m.touch(p, a, 1 * MiB)
    mi0, vm0 = m.meminfo(), m.vmstat()
    m.madvise(p, a, 1 * MiB, "pageout")
    d, st = diff(mi0, m.meminfo()), m.proc_status(p)
    assert diff(vm0, m.vmstat())["pswpout"] == 255
    assert st["VmSwap"] == 1020 and st["VmRSS"] == 4
    assert m.meminfo()["SwapFree"] == 0
    assert d["MemFree"] == 1020 and d["AnonPages"] == -1020
    assert d["Active(anon)"] == 4 and d["Inactive(anon)"] == -1024     # 1 page kept, activated
    assert m.mincore(p, a, 1 * MiB).tolist() == [0] * 255 + [1]
    vm1 = m.vmstat()
    m.madvise(p, a, 1 * MiB, "pageout")         # still full: nothing moves
    assert diff(vm1, m.vmstat())["pswpout"] == 0 and m.proc_status(p)["VmRSS"] == 4


def test_pageout_skips_pages_shared_with_a_child(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    m.fork(p)
    vm0, mi0 = m.vmstat(), m.meminfo()
    m.madvise(p, a, 1 * MiB, "pageout")         # folio_maybe_mapped_shared: skipped
    assert diff(vm0, m.vmstat())["pswpout"] == 0
    assert diff(mi0, m.meminfo())["SwapFree"] == 0
    assert m.proc_status(p)["VmRSS"] == 1024 and m.proc_status(p)["VmSwap"] == 0


def test_pageout_of_locked_range_einval(machine, fails):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = m.mmap(p, 64 * PAGE)
    m.mlock(p, a, 64 * PAGE)
    fails(m, errno.EINVAL, m.madvise, p, a, 64 * PAGE, "pageout")   # can_madv_lru_vma


def test_pageout_swaps_out_shared_anonymous_memory(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, a, 1 * MiB)
    mi0, vm0 = m.meminfo(), m.vmstat()
    m.madvise(p, a, 1 * MiB, "pageout")         # the only mapper: not skipped as shared
    d, st = diff(mi0, m.meminfo()), m.proc_status(p)
    assert diff(vm0, m.vmstat())["pswpout"] == 256
    assert d["Shmem"] == -1024 and d["SwapFree"] == -1024 and d["MemFree"] == 1024
    assert st["RssShmem"] == 0
    assert st["VmSwap"] == 0                    # MM_SWAPENTS counts anon swap entries only


# ---------------------------------------------------------------------------- swap-in

def test_read_swapin_is_major_and_keeps_the_swap_copy(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    mi0, st0, vm0 = m.meminfo(), m.proc_status(p), m.vmstat()
    assert m.touch(p, a + 20 * PAGE, 1, write=False) == 1
    d, dv, ds = diff(mi0, m.meminfo()), diff(vm0, m.vmstat()), diff(st0, m.proc_status(p))
    assert dv["pgmajfault"] == 1 and dv["pgfault"] == 1
    assert dv["pswpin"] == 1                    # an idle mapping's first swap-in: one page
    # the read page sits in the swap cache: its copy stays valid
    assert d["SwapCached"] == 4 and d["SwapFree"] == 0
    assert d["MemFree"] == -4 and d["Inactive(anon)"] == 4
    assert d["AnonPages"] == 4
    assert ds["VmRSS"] == ds["RssAnon"] == 4 and ds["VmSwap"] == -4
    assert resident(m, p, a, 1 * MiB) == [20]
    # the page next to it: a window of 2 (pages 21 and 22); page 22 is then a swap-cache hit,
    # a minor fault without I/O
    mi1, vm1 = m.meminfo(), m.vmstat()
    assert m.touch(p, a + 21 * PAGE, 1, write=False) == 1
    assert diff(vm1, m.vmstat())["pswpin"] == 2 and resident(m, p, a, 1 * MiB) == [20, 21, 22]
    vm2 = m.vmstat()
    assert m.touch(p, a + 22 * PAGE, 1, write=False) == 1
    dv = diff(vm2, m.vmstat())
    assert dv["pgfault"] == 1 and dv["pgmajfault"] == 0 and dv["pswpin"] == 0
    d = diff(mi1, m.meminfo())
    assert d["MemFree"] == -8 and d["SwapCached"] == 8 and d["AnonPages"] == 8
    assert m.proc_status(p)["VmSwap"] == 1024 - 12 and m.proc_status(p)["VmRSS"] == 12
    assert m.touch(p, a + 20 * PAGE, PAGE, write=False) == 0     # mapped now: no fault


def test_write_swapin_drops_the_swap_copy(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    mi0, vm0 = m.meminfo(), m.vmstat()
    assert m.touch(p, a + 20 * PAGE, 1, write=True) == 1
    d, dv = diff(mi0, m.meminfo()), diff(vm0, m.vmstat())
    assert dv["pgmajfault"] == 1 and dv["pswpin"] == 1
    assert d["SwapCached"] == 0                 # should_try_to_free_swap on a write
    assert d["SwapFree"] == 4
    assert d["MemFree"] == -4
    assert m.proc_status(p)["VmSwap"] == 1020 and m.proc_status(p)["RssAnon"] == 4
    assert len(resident(m, p, a, 1 * MiB)) == 1


def test_read_swapin_frees_the_slot_when_swap_is_over_half_full(machine, diff):
    """vm_swap_full: used * 2 > total. 255 slots: 128 used is full, 127 is not."""
    m = machine(swap=[SwapDevice(size_mib=1)])
    p, a = swapped_out(m, 128 * PAGE)
    mi0 = m.meminfo()
    m.touch(p, a + 20 * PAGE, 1, write=False)   # 128 * 2 = 256 > 255: the slot is freed
    d = diff(mi0, m.meminfo())
    assert d["SwapCached"] == 0 and d["SwapFree"] == 4
    mi1 = m.meminfo()
    m.touch(p, a + 21 * PAGE, 1, write=False)   # read (with page 22) at 127 * 2 = 254: kept
    d = diff(mi1, m.meminfo())
    assert d["SwapCached"] == 8 and d["SwapFree"] == 0
    assert m.swaps()[0]["used"] == 127 * 4


def test_locked_mapping_swapin_frees_the_slot(machine, diff):
    """should_try_to_free_swap: VM_LOCKED. mlock faults a read-only mapping in with reads."""
    m = machine(swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = m.mmap(p, 64 * PAGE)
    m.touch(p, a, 64 * PAGE)
    m.mprotect(p, a, 64 * PAGE, "r")
    m.madvise(p, a, 64 * PAGE, "pageout")
    mi0, vm0 = m.meminfo(), m.vmstat()
    m.mlock(p, a, 64 * PAGE)
    d, st = diff(mi0, m.meminfo()), m.proc_status(p)
    assert diff(vm0, m.vmstat())["pswpin"] == 64
    assert d["SwapCached"] == 0 and d["SwapFree"] == 256
    assert m.meminfo()["SwapFree"] == m.meminfo()["SwapTotal"]
    assert st["VmSwap"] == 0 and st["RssAnon"] == 256 and st["VmLck"] == 256
    assert d["Mlocked"] == 256 and d["MemFree"] == -256


def test_clean_swapcache_pages_page_out_without_io(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 64 * PAGE)
    mi0 = m.meminfo()
    m.touch(p, a, 64 * PAGE, write=False)       # 64 pages back, all still in the swap cache
    assert diff(mi0, m.meminfo())["SwapCached"] == 256
    assert diff(mi0, m.meminfo())["SwapFree"] == 0
    mi1, vm1 = m.meminfo(), m.vmstat()
    m.madvise(p, a, 64 * PAGE, "pageout")
    d = diff(mi1, m.meminfo())
    assert diff(vm1, m.vmstat())["pswpout"] == 0      # the swap copies are still valid
    assert d["SwapCached"] == -256 and d["SwapFree"] == 0 and d["MemFree"] == 256
    assert m.proc_status(p)["VmSwap"] == 256 and m.proc_status(p)["VmRSS"] == 0


def test_dirty_page_is_written_again(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 64 * PAGE)
    m.touch(p, a, 64 * PAGE, write=False)
    m.touch(p, a, PAGE, write=True)             # one page dirtied after its swap-in
    vm0 = m.vmstat()
    m.madvise(p, a, 64 * PAGE, "pageout")
    assert diff(vm0, m.vmstat())["pswpout"] == 1
    assert m.meminfo()["SwapCached"] == 0 and m.proc_status(p)["VmSwap"] == 256
    assert m.meminfo()["SwapTotal"] - m.meminfo()["SwapFree"] == 256


def test_write_after_read_swapin_takes_no_fault(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    m.touch(p, a + 20 * PAGE, 1, write=False)
    mi0 = m.meminfo()
    assert m.touch(p, a + 20 * PAGE, 1, write=True) == 0
    d = diff(mi0, m.meminfo())
    assert d["SwapCached"] == 0 and d["SwapFree"] == 0


def test_fork_shares_swap_entries(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    mi0 = m.meminfo()
    c = m.fork(p)
    assert m.proc_status(c)["VmSwap"] == m.proc_status(p)["VmSwap"] == 1024
    assert m.proc_status(c)["VmRSS"] == 0
    assert diff(mi0, m.meminfo())["SwapFree"] == 0      # swap_duplicate: no new slots
    assert m.oom_badness(c) - m.proc_status(c)["VmPTE"] // 4 == 256
    # the parent reads a page in; the child's fault on it is then a swap-cache hit
    vm0 = m.vmstat()
    m.touch(p, a + 20 * PAGE, 1, write=False)
    m.touch(c, a + 20 * PAGE, 1, write=False)
    dv = diff(vm0, m.vmstat())
    assert dv["pgmajfault"] == 1 and dv["pgfault"] == 2 and dv["pswpin"] == 1
    assert m.proc_status(c)["VmSwap"] == 1020 and m.proc_status(p)["VmSwap"] == 1020
    assert diff(mi0, m.meminfo())["AnonPages"] == 4      # one page mapped by both


@pytest.mark.parametrize("first", ["parent", "child"])
def test_fork_shared_slot_freed_when_both_are_gone(machine, diff, first):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    c = m.fork(p)
    total = m.meminfo()["SwapTotal"]
    if first == "parent":
        m.munmap(p, a, 1 * MiB)
        assert m.proc_status(c)["VmSwap"] == 1024 and m.proc_status(p)["VmSwap"] == 0
    else:
        m.exit(c)
        assert m.proc_status(p)["VmSwap"] == 1024
    assert m.meminfo()["SwapFree"] == total - 1024      # the other one still needs them
    if first == "parent":
        m.exit(c)
    else:
        m.munmap(p, a, 1 * MiB)
    assert m.meminfo()["SwapFree"] == total and m.meminfo()["SwapCached"] == 0


def test_fork_child_write_swapin_copies(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    c = m.fork(p)
    mi0 = m.meminfo()
    assert m.touch(c, a + 20 * PAGE, 1, write=True) == 1
    d = diff(mi0, m.meminfo())
    # the slot is still the parent's: its page stays in the swap cache, the child gets a copy
    assert d["SwapFree"] == 0 and d["SwapCached"] == 4 and d["MemFree"] == -8
    assert m.proc_status(c)["VmSwap"] == 1020 and m.proc_status(p)["VmSwap"] == 1024
    assert m.proc_status(c)["RssAnon"] == 4


# ---------------------------------------------------------------------------- freeing slots

@pytest.mark.parametrize("op", ["dontneed", "free", "munmap", "exit"])
def test_zapping_swapped_range_frees_slots(machine, diff, op):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    total = m.meminfo()["SwapTotal"]
    assert m.meminfo()["SwapFree"] == total - 1024
    mi0 = m.meminfo()
    if op in ("dontneed", "free"):
        m.madvise(p, a, 1 * MiB, op)
        assert m.proc_status(p)["VmSwap"] == 0 and m.proc_status(p)["VmRSS"] == 0
        assert diff(mi0, m.meminfo())["MemFree"] == 0          # nothing was resident
        assert m.mincore(p, a, 1 * MiB).tolist() == [0] * 256
        assert m.touch(p, a, PAGE, write=False) == 1           # rereads as the zero page
        assert m.proc_status(p)["VmRSS"] == 0
    elif op == "munmap":
        m.munmap(p, a, 1 * MiB)
        d = diff(mi0, m.meminfo())
        assert d["MemFree"] == -d["PageTables"] > 0            # only the tables come back
        assert m.proc_status(p)["VmSwap"] == 0
    else:
        m.exit(p)
    mi = m.meminfo()
    assert mi["SwapFree"] == total and mi["SwapCached"] == 0
    assert m.swaps()[0]["used"] == 0


@pytest.mark.parametrize("op", [
    "dontneed", "munmap", "exit",
    "free",
])
def test_zapping_frees_swapcache_and_readahead_pages(machine, diff, op):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    m.touch(p, a + 20 * PAGE, 1, write=False)   # a window of 1, then of 2: 3 pages in the
    m.touch(p, a + 21 * PAGE, 1, write=False)   # swap cache, 2 of them mapped
    mi0 = m.meminfo()
    assert mi0["SwapCached"] == 12
    if op in ("dontneed", "free"):
        m.madvise(p, a, 1 * MiB, op)
    elif op == "munmap":
        m.munmap(p, a, 1 * MiB)
    else:
        m.exit(p)
    mi = m.meminfo()
    assert mi["SwapCached"] == 0 and mi["SwapFree"] == mi["SwapTotal"]
    if op == "dontneed":
        assert diff(mi0, m.meminfo())["MemFree"] == 12
    if op == "free":                            # the mapped pages stay, lazily freeable
        assert m.proc_status(p)["VmRSS"] == 8 and diff(mi0, m.meminfo())["MemFree"] == 4


def test_partial_dontneed(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    m.madvise(p, a + 64 * PAGE, 64 * PAGE, "dontneed")
    assert m.proc_status(p)["VmSwap"] == 768
    assert m.swaps()[0]["used"] == 768


# ---------------------------------------------------------------------------- swapoff

def test_swapoff_brings_everything_back(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = m.mmap(p, 4 * MiB)
    m.touch(p, a, 4 * MiB)
    st_resident = m.proc_status(p)
    m.madvise(p, a, 4 * MiB, "pageout")
    m.touch(p, a + 100 * PAGE, 1, write=True)   # 2 pages back, each alone (the second is not
    m.touch(p, a + 300 * PAGE, 1, write=True)   # next to the first: a window of 1 again)
    mi0, vm0 = m.meminfo(), m.vmstat()
    m.swapoff(0)
    mi, st = m.meminfo(), m.proc_status(p)
    assert st["VmSwap"] == 0 and st["VmRSS"] == st["RssAnon"] == st_resident["VmRSS"] == 4096
    assert mi["SwapTotal"] == mi["SwapFree"] == mi["SwapCached"] == 0
    d = diff(mi0, mi)
    assert d["SwapTotal"] == -65532 and d["CommitLimit"] == -65532
    # 1024 pages were out: 2 resident already
    assert d["AnonPages"] == (1024 - 2) * 4
    assert d["MemFree"] == -(1024 - 2) * 4
    dv = diff(vm0, m.vmstat())
    assert dv["pswpin"] == 1024 - 2 and dv.get("pgmajfault", 0) == 0
    assert m.mincore(p, a, 4 * MiB).tolist() == [1] * 1024
    assert m.swaps() == []
    assert m.touch(p, a, 4 * MiB, write=False) == 0     # all mapped again


def test_swapoff_moves_pages_only_off_that_device(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=1, priority=5), SwapDevice(size_mib=64, priority=0)])
    p, _a = swapped_out(m, 1 * MiB)              # 255 on dev 0, 1 on dev 1
    assert used(m) == {0: 1020, 1: 4}
    m.swapoff(0)
    assert used(m) == {1: 4}
    assert m.proc_status(p)["VmSwap"] == 4 and m.proc_status(p)["VmRSS"] == 1020


def test_swapoff_after_fork_shares_the_pages(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    c = m.fork(p)
    mi0 = m.meminfo()
    m.swapoff(0)
    for pid in (p, c):
        st = m.proc_status(pid)
        assert st["VmSwap"] == 0 and st["VmRSS"] == 1024
    d = diff(mi0, m.meminfo())
    assert d["MemFree"] == -1024 and d["AnonPages"] == 1024      # one copy for both
    vm0 = m.vmstat()
    m.touch(c, a, PAGE, write=True)             # still shared: the write copies
    assert diff(vm0, m.vmstat())["pgfault"] == 1
    assert diff(mi0, m.meminfo())["MemFree"] == -1028


def test_swapoff_with_mapped_swapcache_page(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = swapped_out(m, 1 * MiB)
    m.touch(p, a + 20 * PAGE, 1, write=False)
    m.swapoff(0)
    mi = m.meminfo()
    assert mi["SwapTotal"] == mi["SwapCached"] == 0
    assert m.proc_status(p)["VmRSS"] == 1024 and m.proc_status(p)["VmSwap"] == 0


@pytest.mark.parametrize("kind", ["anon", "shmem"])
def test_swapoff_without_enough_ram_kills_the_swapoff_caller(machine, kind):
    """try_to_unuse runs with the caller marked oom_task_origin: when the swapped pages do not
    fit in RAM (locked memory holds the rest, and the area being removed takes no new pages),
    the OOM killer picks the swapoff caller itself (LONG_MAX points) and swapoff fails. Anon
    pages come back through the page tables, shmem ones through shmem_unuse."""
    m = machine(ram_mib=128, swap=[SwapDevice(size_mib=128)])
    p, _a = (swapped_out if kind == "anon" else shmem_out)(m, 64 * MiB)
    q = m.spawn("q", caps=("CAP_IPC_LOCK",))
    m.mmap(q, 96 * MiB, flags="private|anonymous|locked")      # 96 of 128 MiB pinned
    admin = m.spawn("swapoff", caps=("CAP_SYS_ADMIN",))
    with pytest.raises(OSError) as e:
        m.swapoff(0, pid=admin)
    assert e.value.errno == errno.EINTR
    pids = [x["pid"] for x in m.processes()]
    assert admin not in pids and p in pids and q in pids
    oom = [ev for ev in m.events if ev.kind == "oom"]
    assert oom and oom[-1].data["victim"] == admin
    assert [s["dev"] for s in m.swaps()] == [0]                  # reinserted
    mi = m.meminfo()
    assert mi["SwapFree"] < mi["SwapTotal"]                      # some pages stay in swap
    if kind == "anon":
        assert m.proc_status(p)["VmSwap"] > 0
    else:
        assert mi["Shmem"] < 64 * 1024


def pinned_out(machine, swap):
    """128 MiB of RAM: p has 64 MiB in swap, q pins 96 MiB, so p's pages cannot all come back."""
    m = machine(ram_mib=128, swap=swap)
    p, _a = swapped_out(m, 64 * MiB)
    q = m.spawn("q", caps=("CAP_IPC_LOCK",))
    m.mmap(q, 96 * MiB, flags="private|anonymous|locked")
    return m, p, q


def test_swapoff_caller_is_killed_even_with_oom_score_adj_min(machine):
    """oom_evaluate_task checks oom_task_origin before oom_badness, so even -1000 is chosen."""
    m, p, q = pinned_out(machine, [SwapDevice(size_mib=128)])
    admin = m.spawn("swapoff", caps=("CAP_SYS_ADMIN",), oom_score_adj=-1000)
    with pytest.raises(OSError) as e:
        m.swapoff(0, pid=admin)
    assert e.value.errno == errno.EINTR
    assert sorted(m.procs) == [1, p, q]
    assert m.vmstat()["oom_kill"] == 1


def test_swapoff_by_init_under_pressure_kills_another_and_completes(machine):
    """init is unkillable, so oom_task_origin does not apply to it: the OOM killer takes the
    biggest task (q, 96 MiB pinned against p's 64 MiB) and try_to_unuse then finishes."""
    m, p, _q = pinned_out(machine, [SwapDevice(size_mib=128)])
    m.swapoff(0)
    assert sorted(m.procs) == [1, p] and m.vmstat()["oom_kill"] == 1
    st = m.proc_status(p)
    assert st["VmSwap"] == 0 and st["VmRSS"] == 64 * 1024
    assert m.swaps() == [] and m.meminfo()["SwapCached"] == 0


def test_failed_swapoff_reclaims_to_the_other_areas(machine):
    """While try_to_unuse runs, the area is off the avail list: reclaim writes to the others."""
    m, _p, _q = pinned_out(machine, [SwapDevice(size_mib=128), SwapDevice(size_mib=1),
                                   SwapDevice(size_mib=1)])
    assert used(m) == {0: 65536, 1: 0, 2: 0}
    admin = m.spawn("swapoff", caps=("CAP_SYS_ADMIN",))
    with pytest.raises(OSError) as e:
        m.swapoff(0, pid=admin)
    assert e.value.errno == errno.EINTR
    u = used(m)
    assert u[1] == u[2] == 1020 and u[0] < 65536
    assert m.meminfo()["SwapTotal"] == (32767 + 255 + 255) * 4      # all three are back


def test_failed_swapoff_demotes_an_automatic_priority(machine):
    m, _p, _q = pinned_out(machine, [SwapDevice(size_mib=128), SwapDevice(size_mib=1),
                                   SwapDevice(size_mib=1)])
    assert prios(m) == {0: -2, 1: -3, 2: -4}
    admin = m.spawn("swapoff", caps=("CAP_SYS_ADMIN",))
    with pytest.raises(OSError):
        m.swapoff(0, pid=admin)
    # -3 -> -2 and -4 -> -3 (least_priority -4 -> -3), then swap0 gets --least_priority = -4
    assert prios(m) == {0: -4, 1: -2, 2: -3}
    assert m.swapon(1) == 3 and prios(m)[3] == -5

def test_swapoff_commit_check_mode2(machine, fails):
    """swapoff: security_vm_enough_memory_mm(current->mm, p->pages) runs while the area still
    counts, so it is refused iff Committed_AS + pages >= CommitLimit - reserves, i.e. iff
    Committed_AS >= CommitLimit-without-the-area - reserves. The caller (init) has
    CAP_SYS_ADMIN, so only the user reserve min(total_vm / 32, 32768) applies."""
    m = machine(swap=[SwapDevice(size_mib=256)], sysctl={"vm.overcommit_memory": 2})
    # CommitLimit = 262144 * 50 / 100 + 65535 = 196607 pages; without the area 131072
    assert m.meminfo()["CommitLimit"] == 196607 * 4
    init_reserve = (m.proc_status(1)["VmSize"] // 4) // 32
    edge = 131072 - init_reserve                # refused from here on
    p = m.spawn("p")
    have = m.meminfo()["Committed_AS"] // 4
    a = m.mmap(p, (edge - have) * PAGE)
    assert m.meminfo()["Committed_AS"] == edge * 4
    e = fails(m, errno.ENOMEM, m.swapoff, 0)
    assert "swapoff" in str(e)
    assert m.meminfo()["SwapTotal"] == 65535 * 4
    m.munmap(p, a, PAGE)                        # one page below the edge: allowed
    m.swapoff(0)
    mi = m.meminfo()
    assert mi["CommitLimit"] == 131072 * 4 and mi["Committed_AS"] == (edge - 1) * 4


def test_swapoff_commit_check_mode2_counts_other_areas(machine, fails):
    m = machine(swap=[SwapDevice(size_mib=256), SwapDevice(size_mib=64)],
                sysctl={"vm.overcommit_memory": 2})
    # without dev 0: 131072 + 16383 = 147455 pages
    edge = 147455 - (m.proc_status(1)["VmSize"] // 4) // 32
    p = m.spawn("p")
    a = m.mmap(p, (edge - m.meminfo()["Committed_AS"] // 4) * PAGE)
    fails(m, errno.ENOMEM, m.swapoff, 0)
    m.swapoff(1)                                # 16383 pages is fine: 196607 - 16383 left
    m.munmap(p, a, PAGE)
    fails(m, errno.ENOMEM, m.swapoff, 0)        # now the edge is 131072 - reserve
    m.munmap(p, a + PAGE, (edge - 131072 + 1) * PAGE)
    m.swapoff(0)


def test_swapoff_mode0_ignores_commitment(machine):
    """Mode 0 refuses only a single request above RAM + swap; swapoff's is never that big."""
    m = machine(swap=[SwapDevice(size_mib=256)])
    p = m.spawn("p")
    m.mmap(p, 1000 * MiB)                       # Committed_AS far above 131072 pages
    assert m.meminfo()["Committed_AS"] > m.meminfo()["CommitLimit"] - 65535 * 4
    m.swapoff(0)
    assert m.meminfo()["SwapTotal"] == 0


# ---------------------------------------------------------------------------- shmem
# Shared anonymous memory is shmem: reclaim writes it to swap (shmem_writeout) and the shmem
# object keeps the swap entry where the page was, so no swap PTE is left (VmSwap stays 0);
# the next access reads it back (shmem_swapin_folio), which always frees the slot.

def shmem_out(m, nbytes: int, pid: int | None = None):
    """A process that wrote nbytes of shared anonymous memory and paged all of it out."""
    p = m.spawn("p") if pid is None else pid
    a = m.mmap(p, nbytes, flags="shared|anonymous")
    m.touch(p, a, nbytes)
    m.madvise(p, a, nbytes, "pageout")
    return p, a


def test_the_vma_view_shows_swapped_shmem_pages_as_swapped(machine):
    """page_states: a swapped shmem page has no PTE (its swap entry is in the shmem object),
    yet the VMA band must show it swapped, not untouched."""
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = shmem_out(m, 1 * MiB)
    m.touch(p, a, 64 * PAGE)                            # the first quarter comes back
    counts = m.page_states(p, a, 1 * MiB, 4)
    states = dict(zip(PAGE_STATES, counts.T.tolist()))
    assert states["swapped"] == [0, 64, 64, 64] and states["resident"] == [64, 0, 0, 0]
    assert states["untouched"] == [0, 0, 0, 0]


def test_a_sparse_4_tib_shmem_vma_costs_its_pages_not_its_size(machine):
    """The VMA view and the last munmap of a shmem object visit its entries, not every
    offset of its 2^30 pages (a pass over them would hang)."""
    m = machine(swap=[SwapDevice(size_mib=64)], sysctl={"vm.overcommit_memory": 1})
    p, size = m.spawn("p"), 4 << 40
    a = m.mmap(p, size, flags="shared|anonymous")
    m.touch(p, a, 2 * MiB)
    m.touch(p, a + size - 2 * MiB, 2 * MiB)
    m.madvise(p, a + size - 1 * MiB, 1 * MiB, "pageout")
    states = dict(zip(PAGE_STATES, m.page_states(p, a, size, 4).T.tolist()))
    assert states["resident"] == [512, 0, 0, 256] and states["swapped"] == [0, 0, 0, 256]
    m.munmap(p, a, size)                        # 768 entries out of the index, one by one
    mi = m.meminfo()
    assert mi["Shmem"] == 0 and mi["SwapFree"] == mi["SwapTotal"]


def test_shmem_pageout_without_swap_unmaps_and_keeps_the_pages(m, diff):
    """shrink_folio_list unmaps the folio before shmem_writeout finds no swap: the pages stay
    in the shmem object, on the active list (AOP_WRITEPAGE_ACTIVATE), and no longer mapped."""
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, a, 1 * MiB)
    mi0, vm0 = m.meminfo(), m.vmstat()
    m.madvise(p, a, 1 * MiB, "pageout")
    d = diff(mi0, m.meminfo())
    assert diff(vm0, m.vmstat())["pswpout"] == 0
    assert d["Shmem"] == d["MemFree"] == d["SwapFree"] == 0
    assert d["Mapped"] == -1024 and m.proc_status(p)["RssShmem"] == 0
    assert d["Active(anon)"] == 1024 and d["Inactive(anon)"] == -1024
    assert m.mincore(p, a, 1 * MiB).tolist() == [1] * 256   # still in the page cache
    vm1 = m.vmstat()
    assert m.touch(p, a, 1 * MiB) == 256                     # minor faults map them again
    assert diff(vm1, m.vmstat())["pgmajfault"] == 0 and m.proc_status(p)["RssShmem"] == 1024


def test_shmem_swapin_on_touch_is_major_and_restores_shmem(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = shmem_out(m, 1 * MiB)
    assert m.mincore(p, a, 1 * MiB).tolist() == [0] * 256
    mi0, vm0, st0 = m.meminfo(), m.vmstat(), m.proc_status(p)
    assert m.touch(p, a + 20 * PAGE, 1, write=False) == 1
    d, dv, ds = diff(mi0, m.meminfo()), diff(vm0, m.vmstat()), diff(st0, m.proc_status(p))
    assert dv["pgmajfault"] == dv["pgfault"] == 1
    assert dv["pswpin"] == 1                    # no readahead history: one page
    assert m.procs[p].stall_kind == "swapin"    # the task waits for the read
    # the faulted page is shmem again and its slot is freed
    assert d["Shmem"] == 4 and d["SwapFree"] == 4 and d["SwapCached"] == 0
    assert d["MemFree"] == -4 and d["Mapped"] == 4
    assert ds["RssShmem"] == ds["VmRSS"] == 4 and ds["VmSwap"] == 0
    assert resident(m, p, a, 1 * MiB) == [20]
    # page 21 (offset 22, next to 21): a window of 2 aligned on the device, offsets 22..23
    vm1 = m.vmstat()
    assert m.touch(p, a + 21 * PAGE, 1, write=False) == 1
    assert diff(vm1, m.vmstat())["pswpin"] == 2 and resident(m, p, a, 1 * MiB) == [20, 21, 22]
    # page 22 comes from the swap cache: a minor fault, no I/O, its slot freed
    mi1, vm1 = m.meminfo(), m.vmstat()
    assert m.touch(p, a + 22 * PAGE, 1, write=False) == 1
    d, dv = diff(mi1, m.meminfo()), diff(vm1, m.vmstat())
    assert dv["pgmajfault"] == dv["pswpin"] == 0 and dv["pgfault"] == 1
    assert d["Shmem"] == d["SwapFree"] == 4 and d["SwapCached"] == -4 and d["MemFree"] == 0
    # all of it, from page 0: that hit makes a window of 4 (offsets 0..3, less the header:
    # pages 0..2), its 2 hits one of 4 (pages 3..6), 3 hits one of 8 (pages 7..14), then
    # windows of 8 (pages 15..19 of 15..22 still out; 23..30, ..., 247..254; 255): 34 reads
    vm2 = m.vmstat()
    assert m.touch(p, a, 1 * MiB, write=False) == 256 - 3
    dv = diff(vm2, m.vmstat())
    assert dv["pgmajfault"] == 34 and dv["pswpin"] == 256 - 3
    mi, st = m.meminfo(), m.proc_status(p)
    assert diff(mi0, mi)["Shmem"] == 1024 and mi["SwapFree"] == mi["SwapTotal"]
    assert mi["SwapCached"] == 0 and st["RssShmem"] == 1024 and st["VmSwap"] == 0


def test_shmem_swapped_out_by_another_mapper_is_found_by_both(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, a, 1 * MiB)
    c = m.fork(p)                               # a shared mapping's PTEs are not copied:
    m.touch(c, a, 1 * MiB, write=False)         # the child faults the same pages in
    m.madvise(p, a, 1 * MiB, "pageout")         # mapped twice: skipped as shared
    assert m.vmstat()["pswpout"] == 0
    m.madvise(c, a, 1 * MiB, "dontneed")        # c's PTEs are gone; p is the only mapper now
    m.madvise(p, a, 1 * MiB, "pageout")
    assert m.vmstat()["pswpout"] == 256 and m.meminfo()["Shmem"] == 0
    vm0 = m.vmstat()
    assert m.touch(c, a, PAGE) == 1             # the child reads the page p swapped out
    assert diff(vm0, m.vmstat())["pgmajfault"] == 1
    assert m.touch(p, a, PAGE) == 1             # and p finds it in the shmem object: minor
    assert diff(vm0, m.vmstat())["pgmajfault"] == 1
    assert m.proc_status(p)["RssShmem"] == m.proc_status(c)["RssShmem"] == 4
    assert m.meminfo()["Shmem"] == 4


def test_reclaim_swaps_shmem_when_swap_exists(machine):
    """get_scan_count's anon share covers shmem: direct reclaim and kswapd write it to swap."""
    m = machine(ram_mib=64, swap=[SwapDevice(size_mib=64)])
    old = m.spawn("old")
    s = m.mmap(old, 24 * MiB, flags="shared|anonymous")
    m.touch(old, s, 24 * MiB)
    hog = m.spawn("hog")
    h = m.mmap(hog, 40 * MiB)
    m.touch(hog, h, 40 * MiB)                   # 64 MiB of anon + shmem in 64 MiB of RAM
    m.step(100)                                 # kswapd balances the node
    mi, vs = m.meminfo(), m.vmstat()
    assert vs["oom_kill"] == 0 and vs["pswpin"] == 0
    assert vs["pgsteal_direct"] > 0 and vs["pgsteal_kswapd"] > 0
    shmem_swapped = 24 * 1024 - mi["Shmem"]
    assert shmem_swapped > 0 and m.proc_status(old)["VmSwap"] == 0
    # every page written out is a swap entry: the hog's PTEs or the shmem object's
    assert vs["pswpout"] * 4 == mi["SwapTotal"] - mi["SwapFree"] \
        == m.proc_status(hog)["VmSwap"] + shmem_swapped
    assert m.proc_status(old)["RssShmem"] <= mi["Shmem"]
    assert m.proc_status(hog)["RssAnon"] + m.proc_status(hog)["VmSwap"] == 40 * 1024


def test_reclaim_never_swaps_shmem_without_swap(machine):
    m = machine(ram_mib=64)
    old = m.spawn("old")
    s = m.mmap(old, 16 * MiB, flags="shared|anonymous")
    m.touch(old, s, 16 * MiB)
    r = m.spawn("reader")
    m.write_file(r, "/data", 0, offset=24 * MiB)
    m.read_file(r, "/data", 24 * MiB)           # 24 MiB of clean page cache
    hog = m.spawn("hog")
    h = m.mmap(hog, 24 * MiB)
    m.touch(hog, h, 24 * MiB)
    m.step(100)
    mi, vs = m.meminfo(), m.vmstat()
    assert vs["oom_kill"] == 0 and vs["pgsteal_direct"] + vs["pgsteal_kswapd"] > 0
    assert vs["pswpout"] == 0 and mi["Cached"] - mi["Shmem"] < 24 * 1024   # the cache paid
    assert mi["Shmem"] == m.proc_status(old)["RssShmem"] == 16 * 1024


def test_swapoff_brings_shmem_back(machine, diff):
    """try_to_unuse → shmem_unuse: the pages go back into the shmem object, not into the page
    tables (the next touch maps them with minor faults)."""
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = shmem_out(m, 1 * MiB)
    m.touch(p, a + 20 * PAGE, 1, write=False)   # 1 back (no readahead history: 1 page)
    mi0, vm0 = m.meminfo(), m.vmstat()
    m.swapoff(0)
    mi, dv = m.meminfo(), diff(vm0, m.vmstat())
    assert mi["SwapTotal"] == mi["SwapFree"] == mi["SwapCached"] == 0 and m.swaps() == []
    d = diff(mi0, mi)
    assert d["Shmem"] == 1020 and d["MemFree"] == -(256 - 1) * 4
    assert dv["pswpin"] == 256 - 1 and dv.get("pgmajfault", 0) == 0
    assert m.proc_status(p)["RssShmem"] == 4
    assert m.mincore(p, a, 1 * MiB).tolist() == [1] * 256
    vm1 = m.vmstat()
    assert m.touch(p, a, 1 * MiB, write=False) == 255
    assert diff(vm1, m.vmstat())["pgmajfault"] == 0 and m.proc_status(p)["RssShmem"] == 1024


@pytest.mark.parametrize("op", ["exit", "munmap"])
def test_the_last_mapper_going_frees_shmem_swap_slots(machine, diff, op):
    m = machine(swap=[SwapDevice(size_mib=64)])
    p, a = shmem_out(m, 1 * MiB)
    m.touch(p, a + 20 * PAGE, 1, write=False)   # 20 and 21 back in the object, 22 read
    m.touch(p, a + 21 * PAGE, 1, write=False)   # ahead into the swap cache
    c = m.fork(p)
    mi0 = m.meminfo()
    assert mi0["SwapTotal"] - mi0["SwapFree"] == 1016 and mi0["SwapCached"] == 4
    m.exit(p)                                   # the child still maps the object
    assert diff(mi0, m.meminfo())["SwapFree"] == 0 and m.meminfo()["Shmem"] == 8
    if op == "exit":
        m.exit(c)
    else:
        m.munmap(c, a, 1 * MiB)
    mi = m.meminfo()
    assert mi["SwapFree"] == mi["SwapTotal"] and mi["SwapCached"] == mi["Shmem"] == 0
    assert m.swaps()[0]["used"] == 0


def test_shmem_swap_is_charged_to_the_memcg_and_swapin_charges_it_back(machine):
    m = machine(swap=[SwapDevice(size_mib=64)])
    m.cgroup_create("/g")
    p = m.spawn("p", cgroup="/g")
    a = m.mmap(p, 4 * MiB, flags="shared|anonymous")
    m.touch(p, a, 4 * MiB)
    m.madvise(p, a, 4 * MiB, "pageout")
    st = m.cgroup_stat("/g")
    assert st["memory.current"] == 0 and st["memory.swap.current"] == 4 * MiB
    m.cgroup_move(p, "/")                       # the charge stays with the swap entries' memcg
    m.touch(p, a + 20 * PAGE, PAGE)
    st = m.cgroup_stat("/g")
    # the page (no readahead history: alone), charged in a batch of 64, 63 of them in stock
    assert st["memory.current"] == 64 * PAGE and st["stock"] == 63 * PAGE
    assert st["memory.swap.current"] == 4 * MiB - PAGE
    assert m.cgroup_stat("/")["memory.swap.current"] == 4 * MiB - PAGE


def test_shmem_swap_max_refusals_keep_the_pages_in_ram(machine, diff):
    m = machine(swap=[SwapDevice(size_mib=64)])
    m.cgroup_create("/some", swap_max=1 * MiB)
    p = m.spawn("p", cgroup="/some")
    a = m.mmap(p, 4 * MiB, flags="shared|anonymous")
    m.touch(p, a, 4 * MiB)
    vm0 = m.vmstat()
    m.madvise(p, a, 4 * MiB, "pageout")
    st = m.cgroup_stat("/some")
    assert st["memory.swap.current"] == 1 * MiB and st["memory.current"] == 3 * MiB
    assert st["memory.swap.events"]["max"] == 768
    assert diff(vm0, m.vmstat())["pswpout"] == 256 and m.meminfo()["Shmem"] == 3 * 1024


def test_memory_max_reclaims_shmem_to_swap(machine):
    m = machine(512, swap=[SwapDevice(size_mib=256)])
    m.cgroup_create("/lim", memory_max=32 * MiB)
    p = m.spawn("big", cgroup="/lim")
    a = m.mmap(p, 48 * MiB, flags="shared|anonymous")
    m.touch(p, a, 48 * MiB)
    st = m.cgroup_stat("/lim")
    assert st["memory.current"] <= 32 * MiB
    assert st["memory.current"] + st["memory.swap.current"] == 48 * MiB
    assert st["memory.events"]["max"] > 0 and st["memory.events"]["oom"] == 0
    assert p in m.procs and m.meminfo()["Shmem"] * 1024 == st["memory.current"]
