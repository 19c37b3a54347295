"""Order > 0 allocations: THP faults, kernel stacks at fork, and direct compaction.

The fragmented machine: one 32 MiB Normal zone with vm.min_free_kbytes=0 (so a process can
use every page), filled by one process whose every other page is then dropped
(MADV_DONTNEED): half the zone is free, in single pages. Its page tables are made first, so
they sit together and the other pageblocks hold only movable pages (oomtui has no
migratetype grouping to keep unmovable pages apart, so the test does it).
"""

from __future__ import annotations

import pytest

PAGE = 4096
MiB = 1 << 20
TiB = 1 << 40
HPAGE = 2 * MiB
ZONE_PAGES = 8192


def fill_and_fragment(m, *, tables_first=True):
    """Fill the zone with one process's pages, then free every other one: (pid, addr, pages)."""
    pid = m.spawn("frag")
    free = m.zoneinfo()["Normal"]["free"]
    pages = free - 2 - -(-free // 512)  # leave room for its PUD, PMD and PTE tables
    addr = m.mmap(pid, pages * PAGE, addr=TiB, flags="private|anonymous|fixed")
    m.madvise(pid, addr, pages * PAGE, "nohugepage")  # 4 KiB pages even with thp="always"
    if tables_first:
        for chunk in range(0, pages, 512):
            m.touch(pid, addr + chunk * PAGE, PAGE)
    m.touch(pid, addr, pages * PAGE)
    assert m.zoneinfo()["Normal"]["free"] <= 1
    for i in range(1, pages, 2):
        m.madvise(pid, addr + i * PAGE, PAGE, "dontneed")
    return pid, addr, pages


@pytest.fixture
def fragmented(machine):
    def make(thp="madvise", tables_first=True):
        m = machine(None, zones={"Normal": ZONE_PAGES}, thp=thp, sysctl={"vm.min_free_kbytes": 0})
        return (m, *fill_and_fragment(m, tables_first=tables_first))
    return make


def huge_map(m, pid, advice=None):
    addr = m.mmap(pid, HPAGE, addr=2 * TiB, flags="private|anonymous|fixed")
    if advice:
        m.madvise(pid, addr, HPAGE, advice)
    return addr


def compaction_counters(m):
    vm = m.vmstat()
    return {k: vm[k] for k in ("compact_stall", "compact_success", "compact_fail",
                               "thp_fault_alloc", "thp_fault_fallback", "oom_kill")}


def test_thp_fault_on_free_memory(machine):
    """thp=always: each untouched, wholly mapped 2 MiB takes one fault and one huge page."""
    m = machine(256, thp="always")
    pid = m.spawn("app")
    addr = m.mmap(pid, 2 * HPAGE, addr=TiB, flags="private|anonymous|fixed")
    assert m.touch(pid, addr, PAGE) == 1  # one write fault maps the whole first 2 MiB
    assert m.touch(pid, addr, 2 * HPAGE) == 1
    st = m.proc_status(pid)
    assert (st["RssAnon"], st["VmPTE"]) == (4096, 16)  # PUD, PMD and two deposited PTE tables
    assert m.meminfo()["AnonHugePages"] == 4096
    vm = m.vmstat()
    assert (vm["thp_fault_alloc"], vm["nr_anon_transparent_hugepages"], vm["compact_stall"]) == (2, 2, 0)


def test_thp_split_by_partial_unmap(machine):
    m = machine(256, thp="always")
    pid = m.spawn("app")
    addr = m.mmap(pid, 2 * HPAGE, addr=TiB, flags="private|anonymous|fixed")
    m.touch(pid, addr, 2 * HPAGE)
    m.munmap(pid, addr + PAGE, PAGE)
    assert m.meminfo()["AnonHugePages"] == 2048  # the first THP is split, the second intact
    assert m.proc_status(pid)["RssAnon"] == 4096 - 4


def test_thp_needs_a_whole_aligned_range_and_a_write(machine):
    m = machine(256, thp="always")
    pid = m.spawn("app")
    addr = m.mmap(pid, HPAGE, addr=TiB + PAGE, flags="private|anonymous|fixed")  # straddles
    m.touch(pid, addr, HPAGE)
    other = m.mmap(pid, HPAGE, addr=2 * TiB, flags="private|anonymous|fixed")
    m.touch(pid, other, HPAGE, write=False)  # a read maps the zero page
    assert m.meminfo()["AnonHugePages"] == 0
    assert m.vmstat()["thp_fault_alloc"] == 0


def test_thp_modes(machine):
    """madvise mode: only MADV_HUGEPAGE VMAs; never: none; MADV_NOHUGEPAGE opts out of always."""
    got = {}
    for thp, advice in (("madvise", None), ("madvise", "hugepage"), ("never", "hugepage"),
                        ("always", "nohugepage")):
        m = machine(256, thp=thp)
        pid = m.spawn("app")
        m.touch(pid, huge_map(m, pid, advice), HPAGE)
        got[thp, advice] = m.meminfo()["AnonHugePages"]
    assert got == {("madvise", None): 0, ("madvise", "hugepage"): 2048,
                   ("never", "hugepage"): 0, ("always", "nohugepage"): 0}


def test_fragmented_zone_has_only_single_pages(fragmented):
    m, _, _, pages = fragmented()
    info = m.buddyinfo()["Normal"]
    assert sum(info[2:]) == 0  # not even 16 KiB contiguous
    assert m.zoneinfo()["Normal"]["free"] >= pages // 2


@pytest.mark.slow
def test_madvised_thp_fault_compacts_and_succeeds(fragmented):
    m, pid, addr, pages = fragmented()
    before = m.vmstat()
    resident = m.proc_status(pid)["RssAnon"]
    huge = huge_map(m, pid, "hugepage")
    assert m.touch(pid, huge, HPAGE) == 1
    vm = m.vmstat()
    assert compaction_counters(m) == {"compact_stall": 1, "compact_success": 1, "compact_fail": 0,
                                      "thp_fault_alloc": 1, "thp_fault_fallback": 0, "oom_kill": 0}
    assert m.meminfo()["AnonHugePages"] == 2048
    # The fault's page tables took free pages at the end of the first pageblock: async
    # compaction moved that block's first 32 pages, then gave it up at an unmovable page and
    # emptied the second: its 256 used pages moved to the zone's top.
    src, dst = m.compaction_moves()
    assert len(src) == vm["pgmigrate_success"] - before["pgmigrate_success"] == 32 + 256
    assert (src[:32] < 512).all() and ((src[32:] >= 512) & (src[32:] < 1024)).all()
    assert (dst >= 1024).all()
    assert vm["compact_isolated"] - before["compact_isolated"] == 2 * 288  # sources and targets
    ev = [e for e in m.events if e.kind == "compaction"]
    assert [(e.data["zone"], e.data["order"], e.data["moved"], e.data["success"]) for e in ev] == \
        [("Normal", 9, 288, True)]
    # The moved pages are the process's own data: everything it kept reads back without a fault.
    assert m.proc_status(pid)["RssAnon"] == resident + 2048
    for i in range(0, pages, 2):
        assert m.touch(pid, addr + i * PAGE, PAGE) == 0
    assert list(m.mincore(pid, addr, 4 * PAGE)) == [1, 0, 1, 0]


def test_unmadvised_thp_falls_back_without_compacting(fragmented):
    """defrag=madvise: outside MADV_HUGEPAGE a THP fault only tries the free lists."""
    m, pid, _, _ = fragmented(thp="always")
    huge = huge_map(m, pid)
    assert m.touch(pid, huge, HPAGE) == 512
    assert compaction_counters(m) == {"compact_stall": 0, "compact_success": 0, "compact_fail": 0,
                                      "thp_fault_alloc": 0, "thp_fault_fallback": 1, "oom_kill": 0}
    assert m.meminfo()["AnonHugePages"] == 0


def test_costly_order_compaction_cannot_help_falls_back_never_kills(fragmented):
    """A page table in every pageblock: no block can be emptied. Async compaction before and
    after reclaim fails, and the THP falls back to 4 KiB pages without an OOM kill."""
    m, pid, _, _ = fragmented(tables_first=False)
    huge = huge_map(m, pid, "hugepage")
    assert m.touch(pid, huge, HPAGE) == 512
    assert compaction_counters(m) == {"compact_stall": 2, "compact_success": 0, "compact_fail": 2,
                                      "thp_fault_alloc": 0, "thp_fault_fallback": 1, "oom_kill": 0}
    assert m.vmstat()["pgmigrate_success"] == 0
    assert [e.data["result"] for e in m.events if e.kind == "compaction"] == ["complete", "complete"]
    assert pid in {p["pid"] for p in m.processes()}


def test_fork_kernel_stack_compacts(fragmented):
    """An order-2 kernel stack is unmovable: async compaction runs before any reclaim."""
    m, pid, _, _ = fragmented()
    child = m.fork(pid)
    counters = compaction_counters(m)
    assert (counters["compact_stall"], counters["compact_success"], counters["oom_kill"]) == (1, 1, 0)
    ev = [e for e in m.events if e.kind == "compaction"]
    assert [(e.data["order"], e.data["success"]) for e in ev] == [(2, True)]
    assert m.meminfo()["KernelStack"] == 3 * 16
    assert child in {p["pid"] for p in m.processes()}
