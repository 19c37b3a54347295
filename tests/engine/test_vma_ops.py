"""mmap / munmap / mremap / mprotect / brk / sbrk / mincore on the VMA level (KERNEL.md §3, §9)."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from oomtui.engine.machine import Killed

PAGE = 4096
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
TASK_SIZE = (1 << 47) - PAGE


# ---------------------------------------------------------------- fresh process layout

def test_fresh_process_has_only_the_stack(m):
    p = m.spawn("p")
    st = m.proc_status(p)
    assert st["VmSize"] == 132 and st["VmStk"] == 132 and st["VmPeak"] == 132
    assert st["VmRSS"] == 0 and st["VmData"] == 0 and st["VmLck"] == 0
    assert st["VmPTE"] == 0 and st["VmSwap"] == 0 and st["VmHWM"] == 0


def test_heap_starts_empty_at_a_fixed_aligned_base(m):
    p, q = m.spawn("p"), m.spawn("q")
    b = m.brk(p)
    assert b == m.brk(q)
    assert b % PAGE == 0 and 0 < b < TASK_SIZE
    assert m.sbrk(p, 0) == b


# ---------------------------------------------------------------- mmap

def test_mmap_returns_page_aligned_distinct_ranges(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    b = m.mmap(p, 1 * MiB)
    assert a % PAGE == 0 and b % PAGE == 0
    assert a + 1 * MiB <= b or b + 1 * MiB <= a
    assert a + 1 * MiB <= TASK_SIZE and b + 1 * MiB <= TASK_SIZE


def test_mmap_grows_vmsize_and_vmdata(m):
    p = m.spawn("p")
    m.mmap(p, 5000)                                    # rounded up to 8 kB
    m.mmap(p, 1 * MiB, prot="r")                       # VmSize only
    m.mmap(p, 1 * MiB, flags="shared|anonymous")       # VmSize only
    st = m.proc_status(p)
    assert st["VmSize"] == 132 + 8 + 1024 + 1024
    assert st["VmData"] == 8
    assert st["VmRSS"] == 0
    assert st["VmPeak"] == st["VmSize"]


def test_mmap_tib_noreserve(machine):
    m = machine(sysctl={"vm.overcommit_memory": 1})
    p = m.spawn("p")
    m.mmap(p, 1 * TiB, flags="private|anonymous|noreserve")
    st = m.proc_status(p)
    assert st["VmSize"] == 132 + (1 << 30)
    assert st["VmPTE"] == 0 and st["VmRSS"] == 0


def test_mmap_fixed_replaces_existing_mapping(m, fixed_map, diff):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    mi0 = m.meminfo()
    assert m.mmap(p, 1 * MiB, prot="r", flags="private|anonymous|fixed", addr=a) == a
    d = diff(mi0, m.meminfo())
    st = m.proc_status(p)
    assert st["VmSize"] == 132 + 1024 and st["RssAnon"] == 0 and st["VmData"] == 0
    assert d["AnonPages"] == -1024
    assert d["Committed_AS"] == -1024                 # old rw mapping un-charged, new r free
    assert m.mincore(p, a, 1 * MiB).tolist() == [0] * 256


def test_mmap_fixed_at_top_of_user_space(m):
    p = m.spawn("p")
    a = TASK_SIZE - 1 * MiB
    assert m.mmap(p, 1 * MiB, flags="private|anonymous|fixed", addr=a) == a
    assert m.touch(p, a, 1 * MiB) == 256


def test_mmap_beyond_user_space_is_enomem(m, fails):
    p = m.spawn("p")
    fails(m, errno.ENOMEM, m.mmap, p, 1 << 60)                  # 1 EiB
    fails(m, errno.ENOMEM, m.mmap, p, TASK_SIZE + PAGE)
    fails(m, errno.ENOMEM, m.mmap, p, 2**64 - 1)                # PAGE_ALIGN overflows to 0
    fails(m, errno.ENOMEM, m.mmap, p, 2 * MiB, flags="private|anonymous|fixed",
          addr=TASK_SIZE - 1 * MiB)                             # runs past TASK_SIZE


# ---------------------------------------------------------------- munmap

def test_munmap_middle_splits_and_frees(m, fixed_map, diff):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 8 * MiB)
    m.touch(p, a, 8 * MiB)
    mi0 = m.meminfo()
    m.munmap(p, a + 2 * MiB, 2 * MiB)
    st, d = m.proc_status(p), diff(mi0, m.meminfo())
    assert st["VmSize"] == 132 + 6144 and st["RssAnon"] == 6144
    assert d["AnonPages"] == -2048 and d["Committed_AS"] == -2048
    assert d["PageTables"] == -4                        # the PTE table of that 2 MiB region
    assert d["MemFree"] == 2048 + 4
    assert m.mincore(p, a, 2 * MiB).tolist() == [1] * 512
    assert m.mincore(p, a + 4 * MiB, 4 * MiB).tolist() == [1] * 1024
    with pytest.raises(OSError) as ei:
        m.mincore(p, a + 2 * MiB, PAGE)
    assert ei.value.errno == errno.ENOMEM


def test_munmap_spanning_holes_and_mappings(m, fixed_map):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * MiB)
    b = fixed_map(m, p, TiB + 2 * MiB, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    m.touch(p, b, 1 * MiB)
    m.munmap(p, TiB, 4 * MiB)                           # a, hole, b, hole
    st = m.proc_status(p)
    assert st["VmSize"] == 132 and st["VmRSS"] == 0 and st["VmPTE"] == 0


def test_munmap_of_pure_hole_is_fine(m):
    p = m.spawn("p")
    digest = m.state_digest()
    m.munmap(p, TiB, 1 * MiB)
    assert m.state_digest() == digest


def test_munmap_unaligned_length_rounds_up(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.munmap(p, a, PAGE + 1)                            # removes 2 pages
    assert m.proc_status(p)["VmSize"] == 132 + 1024 - 8


# ---------------------------------------------------------------- mremap

def test_mremap_grows_in_place_then_moves(m, fixed_map, diff):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * MiB)
    fixed_map(m, p, TiB + 2 * MiB, 1 * MiB)            # a neighbour 1 MiB above a's end
    m.touch(p, a, 1 * MiB)
    mi0 = m.meminfo()
    assert m.mremap(p, a, 1 * MiB, 2 * MiB) == a       # room up to the neighbour
    assert diff(mi0, m.meminfo())["Committed_AS"] == 1024
    assert m.proc_status(p)["VmSize"] == 132 + 3072
    digest = m.state_digest()
    with pytest.raises(OSError) as ei:
        m.mremap(p, a, 2 * MiB, 3 * MiB, may_move=False)
    assert ei.value.errno == errno.ENOMEM and m.state_digest() == digest
    b = m.mremap(p, a, 2 * MiB, 3 * MiB)
    assert b != a and b % PAGE == 0
    st = m.proc_status(p)
    assert st["VmSize"] == 132 + 4096 and st["RssAnon"] == 1024     # pages moved, not copied
    assert m.mincore(p, b, 3 * MiB).tolist() == [1] * 256 + [0] * 512
    assert diff(mi0, m.meminfo())["Committed_AS"] == 2048
    assert diff(mi0, m.meminfo())["AnonPages"] == 0
    with pytest.raises(OSError) as ei:
        m.mincore(p, a, PAGE)
    assert ei.value.errno == errno.ENOMEM


def test_mremap_shrink_frees_tail(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    mi0 = m.meminfo()
    assert m.mremap(p, a, 1 * MiB, 256 * 1024) == a
    d = diff(mi0, m.meminfo())
    assert d["AnonPages"] == -768 and d["Committed_AS"] == -768
    assert m.proc_status(p)["VmSize"] == 132 + 256


def test_mremap_old_range_not_in_one_vma_is_efault(m, fails, fixed_map):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * MiB)
    fails(m, errno.EFAULT, m.mremap, p, a, 2 * MiB, 4 * MiB)        # runs into a hole
    fails(m, errno.EFAULT, m.mremap, p, TiB + 64 * MiB, PAGE, 2 * PAGE)   # no VMA at all


# ---------------------------------------------------------------- mprotect

def test_mprotect_split_and_access(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.mprotect(p, a + 256 * 1024, 256 * 1024, "r")
    assert m.touch(p, a, 256 * 1024) == 64
    assert m.touch(p, a + 256 * 1024, 256 * 1024, write=False) == 64
    assert m.touch(p, a + 512 * 1024, 512 * 1024) == 128
    assert p in [x["pid"] for x in m.processes()]
    assert m.proc_status(p)["VmData"] == 768            # the "r" part is no longer data
    with pytest.raises(Killed):
        m.touch(p, a + 256 * 1024, PAGE, write=True)
    assert m.events[-1].kind == "sigsegv" and m.events[-1].data["code"] == "SEGV_ACCERR"


def test_mprotect_rw_after_read_fault_then_write_allocates(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="r")
    m.touch(p, a, 1 * MiB, write=False)
    m.mprotect(p, a, 1 * MiB, "rw")
    assert m.touch(p, a, 1 * MiB) == 256
    assert m.proc_status(p)["RssAnon"] == 1024


def test_mprotect_keeps_resident_pages(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    m.mprotect(p, a, 1 * MiB, "none")
    assert m.proc_status(p)["RssAnon"] == 1024
    assert m.mincore(p, a, 1 * MiB).tolist() == [1] * 256


def test_mprotect_errors(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    fails(m, errno.EINVAL, m.mprotect, p, a + 1, PAGE, "r")
    fails(m, errno.EINVAL, m.mprotect, p, a, PAGE, "rq")
    fails(m, errno.ENOMEM, m.mprotect, p, TiB, PAGE, "r")


# ---------------------------------------------------------------- brk / sbrk

def test_brk_grow_touch_shrink(m, diff):
    p = m.spawn("p")
    b0 = m.brk(p)
    mi0 = m.meminfo()
    assert m.brk(p, b0 + 10000) == b0 + 10000          # the raw break is returned unaligned
    st = m.proc_status(p)
    assert st["VmSize"] == 132 + 12 and st["VmData"] == 12     # PAGE_ALIGN(10000) = 12288
    assert diff(mi0, m.meminfo())["Committed_AS"] == 12
    assert m.touch(p, b0, 10000) == 3
    assert m.proc_status(p)["RssAnon"] == 12
    assert m.brk(p, b0) == b0
    st = m.proc_status(p)
    assert st["VmSize"] == 132 and st["RssAnon"] == 0
    d = diff(mi0, m.meminfo())
    assert d["Committed_AS"] == 0 and d["AnonPages"] == 0


def test_brk_below_start_returns_unchanged_break(m):
    p = m.spawn("p")
    b0 = m.brk(p)
    m.brk(p, b0 + 1 * MiB)
    digest = m.state_digest()
    assert m.brk(p, b0 - PAGE) == b0 + 1 * MiB
    assert m.state_digest() == digest


def test_sbrk_returns_old_break(m):
    p = m.spawn("p")
    b0 = m.brk(p)
    assert m.sbrk(p, 1 * MiB) == b0
    assert m.sbrk(p, 1 * MiB) == b0 + 1 * MiB
    assert m.sbrk(p, -1 * MiB) == b0 + 2 * MiB
    assert m.brk(p) == b0 + 1 * MiB
    assert m.proc_status(p)["VmData"] == 1024


def test_brk_heap_is_readable_as_zero_page(m):
    p = m.spawn("p")
    b0 = m.brk(p)
    m.sbrk(p, 1 * MiB)
    assert m.touch(p, b0, 1 * MiB, write=False) == 256
    assert m.proc_status(p)["RssAnon"] == 0
    assert m.mincore(p, b0, 1 * MiB).tolist() == [1] * 256


# ---------------------------------------------------------------- mincore

def test_mincore_shape_and_states(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 8 * PAGE, write=False)           # zero page
    m.touch(p, a + 16 * PAGE, 8 * PAGE)            # real pages
    mc = m.mincore(p, a, 1 * MiB)
    assert isinstance(mc, np.ndarray) and mc.dtype == np.uint8 and mc.shape == (256,)
    assert mc.tolist() == [1] * 8 + [0] * 8 + [1] * 8 + [0] * 232
    assert m.mincore(p, a, 1).shape == (1,)                  # length rounds up to a page
    assert m.mincore(p, a, PAGE + 1).shape == (2,)


def test_mincore_file_mapping_reports_page_cache(m):
    # KERNEL.md §9: mincore reports pages resident in page tables / page cache
    p = m.spawn("p")
    m.write_file(p, "/data/f", 64 * PAGE)
    a = m.mmap(p, 64 * PAGE, prot="r", flags="private", file="/data/f")
    assert m.mincore(p, a, 64 * PAGE).tolist() == [1] * 64


def test_mincore_errors(m, fails, fixed_map):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * MiB)
    fails(m, errno.EINVAL, m.mincore, p, a + 100, PAGE)
    fails(m, errno.ENOMEM, m.mincore, p, a, 2 * MiB)       # runs into the hole after a
    fails(m, errno.ENOMEM, m.mincore, p, a + 4 * MiB, PAGE)


# ---------------------------------------------------------------- the free-gap index

def _linear_unmapped_area(vmas, length):
    """get_unmapped_area by walking every VMA: top-down below MMAP_BASE, then bottom-up."""
    from oomtui.engine.vma import MMAP_BASE, MMAP_MIN_ADDR
    ceiling = MMAP_BASE
    for v in reversed(vmas):
        if v.start < ceiling:
            if v.end <= ceiling - length:
                return ceiling - length
            ceiling = v.start
    if ceiling - length >= MMAP_MIN_ADDR:
        return ceiling - length
    floor = TASK_SIZE // 3 & ~(PAGE - 1)
    for v in vmas:
        if v.end > floor:
            if floor + length <= v.start:
                return floor
            floor = max(floor, v.end)
    return floor if floor + length <= TASK_SIZE else None


def test_the_gap_index_finds_what_a_walk_of_every_vma_finds():
    """Random inserts, carves, merges and resizes near MMAP_BASE, TASK_UNMAPPED_BASE and the
    top: the indexed gaps stay those between the VMAs, and the search answers as a walk."""
    from oomtui.engine.gaps import Gaps
    from oomtui.engine.vma import MMAP_BASE, Mm, Vma
    rng = np.random.default_rng(7)
    spots = [MMAP_BASE, TASK_SIZE // 3 & ~(PAGE - 1), TASK_SIZE, 1 << 30]
    mm = Mm(0)
    mm.unmapped_area(PAGE, None)  # builds the index, kept up to date from here
    for step in range(3000):
        at = int(spots[rng.integers(4)]) + int(rng.integers(-64, 64)) * PAGE
        at = min(max(at, 1 << 16), TASK_SIZE - 64 * PAGE)
        size = int(rng.integers(1, 64)) * PAGE
        op = rng.integers(4)
        if op == 0:
            mm.carve(at, at + size)
            mm.insert(Vma(at, at + size, int(rng.integers(1, 3))))
            mm.merge_around(at, at + size)
        elif op == 1:
            mm.carve(at, at + size)
        elif op == 2:
            start = mm.unmapped_area(size, None)
            mm.insert(Vma(start, start + size, 3))
        else:
            v = mm.find(at)
            nxt = mm.overlapping(v.end, v.end + size) if v else [1]
            if v and not nxt and v.end + size <= TASK_SIZE:
                mm.resize(v, v.end + size)
        fresh = Gaps()
        for i, v in enumerate(mm.vmas + [None]):
            top, floor = (v.start if v else TASK_SIZE), (mm.vmas[i - 1].end if i else 1 << 16)
            fresh.set(top >> 12, (top - floor) >> 12)
        assert mm._gaps.largest == fresh.largest, step
        for length in (PAGE, 64 * PAGE, 1 << 40, 90 * TiB, MMAP_BASE):
            try:
                got = mm.unmapped_area(length, None)
            except OSError as e:
                assert e.errno == errno.ENOMEM
                got = None
            assert got == _linear_unmapped_area(mm.vmas, length), (step, length)



# ---------------------------------------------------------------- vm.max_map_count and splits

def _at_the_limit(m, spare=0):
    """A process with its stack and a 16-page mapping, at vm.max_map_count minus `spare`."""
    p = m.spawn("p")
    a = m.mmap(p, 16 * PAGE)
    m.sysctl("vm.max_map_count", len(m.procs[p].mm.vmas) + spare)
    return p, a


def test_unmapping_the_middle_of_a_mapping_at_the_limit_is_refused(m, fails):
    """vms_gather_munmap_vmas: a split in three is refused at the limit; cutting off a head
    or a tail (the count does not grow) is not, and neither is a middle below the limit."""
    p, a = _at_the_limit(m)
    fails(m, errno.ENOMEM, m.munmap, p, a + PAGE, PAGE)
    fails(m, errno.ENOMEM, m.mremap, p, a, 8 * PAGE, 4 * PAGE)  # shrinks out of a middle
    m.munmap(p, a, PAGE)
    m.munmap(p, a + 15 * PAGE, PAGE)
    m.sysctl("vm.max_map_count", len(m.procs[p].mm.vmas) + 1)
    m.munmap(p, a + 4 * PAGE, PAGE)
    assert len(m.procs[p].mm.vmas) == 3


def test_changing_part_of_a_mapping_splits_it_within_the_limit(m, fails):
    """split_vma refuses at vm.max_map_count VMAs: a middle takes two splits (the second one
    meets one more VMA), a head or a tail one; a change that merges with the neighbour or
    changes nothing splits nothing."""
    p, a = _at_the_limit(m, spare=1)
    fails(m, errno.ENOMEM, m.mprotect, p, a + PAGE, PAGE, "r")
    fails(m, errno.ENOMEM, m.mlock, p, a + PAGE, PAGE)
    fails(m, errno.ENOMEM, m.madvise, p, a + PAGE, PAGE, "hugepage")
    m.mprotect(p, a + 4 * PAGE, PAGE, "rw")  # already rw: nothing to split
    m.mprotect(p, a, PAGE, "r")  # a head: one split, at one under the limit
    fails(m, errno.ENOMEM, m.mprotect, p, a + 15 * PAGE, PAGE, "r")  # a tail, at the limit
    m.mprotect(p, a + PAGE, PAGE, "r")  # merges into the head before it: no split
    assert [(v.end - v.start) // PAGE for v in m.procs[p].mm.vmas][:2] == [2, 14]
