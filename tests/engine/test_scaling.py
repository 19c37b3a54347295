"""What a call costs does not grow with what it does not touch: counted, not timed."""

from __future__ import annotations

from oomtui.engine import rmap, vma
from oomtui.engine.vma import Mm, Vma

PAGE = 4096
MiB = 1 << 20


def counting(monkeypatch, module, name) -> list:
    """Replace module.name by a wrapper that counts its calls; returns the counter."""
    calls, real = [], getattr(module, name)

    def wrapper(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def live_rows(rm) -> int:
    return int((rm.end > rm.start).sum())  # a dropped VMA's row is left empty


def test_a_fork_makes_the_reverse_map_rows_of_the_child_only(m, monkeypatch):
    """50 processes with a touched mapping each: the fork after them makes one row per VMA
    of the child, and builds nothing again."""
    procs = [m.spawn(f"p{i}") for i in range(50)]
    for p in procs:
        m.touch(p, m.mmap(p, 64 * 1024), 64 * 1024)
    m.k  # the reverse map is up to date
    made = counting(monkeypatch, rmap, "_row")
    built = counting(monkeypatch, rmap.RmapIndex, "_build")
    child = m.fork(procs[0])
    m.k
    assert sorted(mm for _, mm in made) == [m.procs[child].mm.id] * len(m.procs[child].mm.vmas)
    assert built == []
    assert live_rows(m.k.rm) == sum(len(q.mm.vmas) for q in m.procs.values())


def test_the_work_of_a_fork_does_not_grow_with_the_other_processes(machine, monkeypatch):
    """Ten forks among 10 and among 80 processes make the same rows and nothing more."""
    def rows_made(others: int) -> int:
        m = machine(ram_mib=256)
        procs = [m.spawn(f"p{i}") for i in range(others)]
        for p in procs:
            m.touch(p, m.mmap(p, 64 * 1024), 64 * 1024)
        m.k
        with monkeypatch.context() as patch:
            made = counting(patch, rmap, "_row")
            built = counting(patch, rmap.RmapIndex, "_build")
            for _ in range(10):
                m.fork(procs[0])
                m.k
        assert built == []
        return len(made)

    assert rows_made(10) == rows_made(80) == 10 * 2  # the child's stack and mapping


def test_the_work_of_mapping_a_page_does_not_grow_with_the_other_mappings(m, monkeypatch):
    """Mapping and touching one page at a time (mappings that cannot merge): the 100 after
    2000 make as many rows as the 100 after 100, one each."""
    p = m.spawn("p")

    def rows_made(n: int) -> int:
        with monkeypatch.context() as patch:
            made = counting(patch, rmap, "_row")
            for i in range(n):
                m.touch(p, m.mmap(p, PAGE, prot="r" if i % 2 else "rw"), PAGE, write=False)
                m.k
        return len(made)

    rows_made(100)
    first = rows_made(100)
    rows_made(1800)
    assert first == rows_made(100) == 100
    assert live_rows(m.k.rm) == sum(len(q.mm.vmas) for q in m.procs.values())


def test_vma_lookups_bisect_instead_of_scanning(monkeypatch):
    """4096 disjoint one-page VMAs: find, overlapping and carve look at O(log N) of them."""
    mm = Mm(0)
    for i in range(4096):
        mm.insert(Vma((1 << 30) + 2 * i * PAGE, (1 << 30) + (2 * i + 1) * PAGE, 3))
    starts, ends = counting(monkeypatch, vma, "_start"), counting(monkeypatch, vma, "_end")
    target = (1 << 30) + 2 * 3000 * PAGE
    assert mm.find(target).start == target
    assert [v.start for v in mm.overlapping(target, target + 3 * PAGE)] == [target, target + 2 * PAGE]
    assert len(mm.carve(target, target + PAGE)) == 1
    assert len(starts) + len(ends) <= 5 * 13  # 5 bisections of 13 steps at most
    assert len(mm.vmas) == 4095


def test_unmapping_and_exiting_leave_the_reverse_map_as_it_is(m, monkeypatch):
    """A removed mapping's rows match no page once its PTEs are gone, so munmap and exit
    leave the reverse map as it is until the next mapping; then it makes a row only for the
    VMA that changed (the new mapping, merged with the piece munmap left)."""
    p, q = m.spawn("p"), m.spawn("q")
    for i in range(4):  # rows enough that the dropped ones do not outnumber them
        m.spawn(f"r{i}")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    m.touch(q, m.mmap(q, 1 * MiB), 1 * MiB)
    m.k
    made = counting(monkeypatch, rmap, "_row")
    m.munmap(p, a, 512 * 1024)
    m.exit(q)
    m.touch(p, a + 512 * 1024, 512 * 1024)  # reclaim may walk the (stale) reverse map
    assert made == []
    m.mmap(p, 1 * MiB)
    m.k
    assert [mm for _, mm in made] == [m.procs[p].mm.id]


def test_page_counts_kept_up_to_date_equal_a_recount(m):
    """VmSize, VmLck, VmData, VmStk, VmLib and the commit charge follow every kind of change
    (insert and carve keep them, in-place resizes count again) without a scan per call."""
    p = m.spawn("p")
    mm = m.procs[p].mm
    a = m.mmap(p, 8 * MiB)
    m.mprotect(p, a + MiB, MiB, "r")
    m.mlock(p, a + 4 * MiB, MiB)
    m.write_file(p, "/lib.so", MiB)
    m.mmap(p, MiB, prot="rx", flags="private", file="/lib.so")
    b = m.mremap(p, a + 6 * MiB, 2 * MiB, 3 * MiB)
    m.sbrk(p, 3 * PAGE)
    m.sbrk(p, -PAGE)
    m.munmap(p, a + 2 * MiB, 5 * PAGE)
    m.madvise(p, b, MiB, "hugepage")
    c = m.fork(p)
    for q in (mm, m.procs[c].mm):
        assert q._counts() == vma._count(q.vmas)
    assert m.proc_status(p)["VmLck"] == 1024 and m.proc_status(p)["VmLib"] == 1024


def test_writing_past_ram_scans_no_more_at_a_shorter_tick(machine):
    """A writer throttled on writeback sleeps until more than a reclaim batch is written,
    however short the tick, so its direct reclaim does not scan every list to the last
    priority once per tick: 1 ms ticks scan no more than 10 ms ones for the same write."""
    scanned = {}
    for tick_ms in (10, 1):
        m = machine(ram_mib=128, tick_ms=tick_ms)
        m.write_file(m.spawn("writer"), "/big", 256 * MiB)
        scanned[tick_ms] = m.vmstat()["pgscan_direct"]
    assert 0 < scanned[1] <= scanned[10]


class Watched(list):
    """A list of VMAs that counts the items read from it."""
    read = 0

    def __getitem__(self, i):
        got = super().__getitem__(i)
        Watched.read += len(got) if isinstance(i, slice) else 1
        return got

    def __iter__(self):
        for v in super().__iter__():
            Watched.read += 1
            yield v

    def __reversed__(self):
        for v in super().__reversed__():
            Watched.read += 1
            yield v


def test_finding_a_free_range_reads_few_vmas():
    """4096 one-page VMAs with one-page holes and one 3-page hole among them (top-down,
    bottom-up and hinted searches): each search reads O(log N) of the VMAs."""
    from oomtui.engine.vma import MMAP_BASE
    mm = Mm(0)
    base = MMAP_BASE - 2 * 4096 * PAGE
    for i in range(4096):
        start = base + 2 * i * PAGE + (2 * PAGE if i >= 1000 else 0)
        mm.insert(Vma(start, start + PAGE, 3))
    mm.unmapped_area(PAGE, None)  # the gap index is built once
    mm.vmas = Watched(mm.vmas)
    Watched.read = 0
    assert mm.unmapped_area(3 * PAGE, None) == base + 1999 * PAGE  # the hole below VMA 1000
    assert mm.unmapped_area(1 << 45, None) < base
    assert mm.unmapped_area(PAGE, base + PAGE) == base + PAGE
    assert Watched.read <= 3 * 2 * 13  # three searches, two bisections of 13 steps each


def test_mapping_and_unmapping_among_many_mappings_reads_few_of_them(m):
    """4096 one-page mappings that cannot merge (and their page tables, one PMD's worth):
    mapping one more and unmapping one of them read O(log N) of the VMAs, not each (as a
    check that a page table's span is still mapped once did)."""
    p = m.spawn("p")
    addrs = [m.mmap(p, PAGE, prot="r" if i % 2 else "rw") for i in range(4096)]
    for a in addrs[::64]:
        m.touch(p, a, PAGE, write=False)
    mm = m.procs[p].mm
    mm.vmas = Watched(mm.vmas)
    Watched.read = 0
    m.munmap(p, addrs[2048], PAGE)
    m.mmap(p, PAGE, prot="x")
    assert Watched.read <= 20 * 13  # some twenty bisections of 13 steps, against 4096 VMAs
