"""Dirty page cache and the flushers (mm/page-writeback.c, fs/fs-writeback.c).

The flushers write WRITE_MIB_S = 100 MiB/s: 256 pages per 10 ms tick, submitted in one tick and
complete in the next (meminfo Writeback shows them in between). They write when there are more
dirty pages than the background threshold, when pages have expired (periodic writeback), or
when reclaim asked. Writers above the freerun ceiling are paced by balance_dirty_pages.
"""

from __future__ import annotations

import pytest

PAGE = 4096
MiB = 1 << 20
BATCH = 256  # pages the flushers submit per tick


def limits(m):
    """domain_dirty_limits from global_dirtyable_memory, recomputed from meminfo."""
    mi = m.meminfo()
    free = mi["MemFree"] // 4
    avail = free - min(free, m.totalreserve) + (mi["Active(file)"] + mi["Inactive(file)"]) // 4 + 1
    thresh = 20 * PAGE // 100 * avail // PAGE
    bg = 10 * PAGE // 100 * avail // PAGE
    return bg, thresh


def test_dirty_limits_follow_the_ratios_of_dirtyable_memory(machine):
    m = machine(512)
    bg, thresh = m.dirty_limits()
    assert (bg, thresh) == limits(m) and 0 < bg < thresh
    m.sysctl("vm.dirty_background_ratio", 30)
    m.sysctl("vm.dirty_ratio", 20)
    assert m.dirty_limits() == (thresh // 2, thresh)  # background >= dirty: halved


def test_dirty_bytes_set_the_thresholds_in_pages_and_zero_their_ratios(machine):
    """domain_dirty_limits: DIV_ROUND_UP(bytes, PAGE_SIZE) pages; writing the bytes zeroes the
    ratio, writing a (changed) ratio zeroes the bytes."""
    m = machine(512)
    bg, thresh = m.dirty_limits()
    m.sysctl("vm.dirty_bytes", 10 * MiB + 1)
    assert m.sysctl("vm.dirty_ratio") == 0
    assert bg > 2561 and m.dirty_limits() == (1280, 2561)  # ceil((10 MiB + 1) / 4 KiB); the
    # background threshold from its ratio is now above the dirty one: halved
    m.sysctl("vm.dirty_background_bytes", 4 * MiB)
    assert m.sysctl("vm.dirty_background_ratio") == 0
    assert m.dirty_limits() == (1024, 2561)
    m.sysctl("vm.dirty_background_bytes", 20 * MiB)
    assert m.dirty_limits() == (1280, 2561)  # background >= dirty: halved
    m.sysctl("vm.dirty_ratio", 0)  # unchanged: dirty_bytes stays
    assert m.sysctl("vm.dirty_bytes") == 10 * MiB + 1
    m.sysctl("vm.dirty_ratio", 20)
    m.sysctl("vm.dirty_background_ratio", 10)
    assert m.sysctl("vm.dirty_bytes") == m.sysctl("vm.dirty_background_bytes") == 0
    assert m.dirty_limits() == (bg, thresh)


def test_below_the_background_threshold_nothing_is_written_until_it_expires(machine):
    m = machine(512, sysctl={"vm.dirty_expire_centisecs": 100, "vm.dirty_writeback_centisecs": 50})
    w = m.spawn("writer")
    m.write_file(w, "/log", 1 * MiB)
    m.step(99)
    assert m.meminfo()["Dirty"] == 1024 and m.vmstat()["nr_written"] == 0
    m.step(1)  # tick 100: the periodic writeback finds pages dirtied 1 s ago
    mi = m.meminfo()
    assert (mi["Dirty"], mi["Writeback"]) == (0, 1024)
    m.step(1)
    mi = m.meminfo()
    assert (mi["Dirty"], mi["Writeback"], m.vmstat()["nr_written"]) == (0, 0, 256)
    assert mi["Cached"] == 1024  # written pages stay cached, clean


def test_zero_writeback_interval_disables_periodic_writeback(machine):
    m = machine(512, sysctl={"vm.dirty_expire_centisecs": 100, "vm.dirty_writeback_centisecs": 0})
    w = m.spawn("writer")
    m.write_file(w, "/log", 1 * MiB)
    m.step(500)
    assert m.meminfo()["Dirty"] == 1024


def test_background_writeback_writes_at_the_disk_rate_down_to_the_threshold(machine):
    m = machine(512)
    w = m.spawn("writer")
    m.write_file(w, "/big", 0)  # the file (its dentry and inode slabs) exists before the limits
    bg, _ = m.dirty_limits()
    m.write_file(w, "/big", (bg + 3 * BATCH) * PAGE)
    m.step(1)
    assert m.meminfo()["Writeback"] == BATCH * 4
    assert m.meminfo()["Dirty"] == (bg + 2 * BATCH) * 4
    m.step(3)
    mi = m.meminfo()
    assert m.vmstat()["nr_written"] == 3 * BATCH  # the third batch completes at tick 4
    assert (mi["Dirty"], mi["Writeback"]) == (bg * 4, 0)
    m.step(10)
    assert m.meminfo()["Dirty"] == bg * 4  # at the threshold: background writeback stops


def test_a_writer_below_the_freerun_ceiling_is_not_throttled(machine):
    m = machine(512)
    w = m.spawn("writer")
    m.write_file(w, "/f", 0)
    bg, thresh = m.dirty_limits()
    m.write_file(w, "/f", (bg + thresh) // 2 * PAGE)
    assert m.procs[w].stall_us == 0


def test_a_writer_at_the_setpoint_is_paced_at_the_write_bandwidth(machine):
    """pos_ratio is 1 at the setpoint ((freerun + limit) / 2): the writer's rate is the write
    bandwidth, 25600 pages/s, so n pages cost ceil(n * 1000 / 25600) ms."""
    m = machine(512)
    w = m.spawn("writer")
    m.write_file(w, "/f", 0)
    bg, thresh = m.dirty_limits()
    freerun = (thresh + bg) // 2
    setpoint = (freerun + thresh) // 2
    m.write_file(w, "/f", freerun * PAGE)
    n = setpoint - freerun
    m.write_file(w, "/f", n * PAGE, offset=freerun * PAGE)
    assert m.procs[w].stall_us == -(-n * 1000 // 25600) * 1000
    assert m.processes()[-1]["state"] == "dirty"
    assert [e.kind for e in m.events][-1] == "dirty"


def test_a_writer_at_the_dirty_limit_waits_the_longest_pause_and_it_is_not_memory_pressure(machine):
    m = machine(512)
    _, thresh = m.dirty_limits()
    w = m.spawn("writer")
    m.write_file(w, "/f", thresh * PAGE)
    assert m.procs[w].stall_us == 200_000  # MAX_PAUSE: HZ / 5
    m.step(20)
    assert m.procs[w].stall_us == 0
    assert m.pressure()["some"]["total"] == 0  # waiting for I/O is not a memory stall


def test_reclaim_waits_for_the_flushers_then_drops_the_written_pages(machine):
    """No swap: a hog needs the RAM a dirty cache holds. Reclaim marks the dirty pages
    PG_reclaim and wakes the flushers; the hog waits for the writes; the written pages rotate
    to the inactive tail and are dropped. Nobody is OOM-killed."""
    m = machine(64)
    w = m.spawn("writer")
    m.write_file(w, "/log", 24 * MiB)
    hog = m.spawn("hog")
    a = m.mmap(hog, 44 * MiB)
    m.touch(hog, a, 44 * MiB)
    vs = m.vmstat()
    assert vs["oom_kill"] == 0 and vs["nr_written"] > 0 and vs["pgrotated"] > 0
    assert m.procs[hog].stall_us > 0 and m.processes()[-1]["state"] == "reclaim"
    assert m.meminfo()["Cached"] < 24 * 1024


@pytest.mark.parametrize("advice", ["pageout", "dontneed"])
def test_pages_under_writeback_are_not_dropped(machine, advice):
    m = machine(512, sysctl={"vm.dirty_expire_centisecs": 10, "vm.dirty_writeback_centisecs": 10})
    w = m.spawn("writer")
    m.write_file(w, "/f", 64 * PAGE)
    a = m.mmap(w, 64 * PAGE, flags="shared", file="/f")
    m.touch(w, a, 64 * PAGE, write=False)
    m.step(10)
    assert m.meminfo()["Writeback"] == 256
    m.madvise(w, a, 64 * PAGE, advice)
    assert m.meminfo()["Cached"] == 256
