"""read_file / write_file and the page cache (KERNEL.md §6 LRU, §10 meminfo)."""

from __future__ import annotations

import errno

PAGE = 4096
MiB = 1 << 20


def test_write_creates_dirty_inactive_file_pages(m, diff):
    p = m.spawn("p")
    mi0, vs0 = m.meminfo(), m.vmstat()
    assert m.write_file(p, "/data/f", 1 * MiB) == 1 * MiB
    d = diff(mi0, m.meminfo())
    assert d["Cached"] == 1024 and d["Dirty"] == 1024
    assert d["Inactive(file)"] == 1024 and d["Active(file)"] == 0
    assert d["SReclaimable"] == 4 + 16          # the file's dentry and inode: a new slab of each
    assert d["MemFree"] == -1024 - 20
    assert d["AnonPages"] == 0 and d["Shmem"] == 0 and d["Mapped"] == 0
    assert m.vmstat()["pgmajfault"] == vs0["pgmajfault"]
    st = m.proc_status(p)
    assert st["VmRSS"] == 0                     # read/write do not map pages


def test_read_of_cached_pages_changes_nothing_in_size(m, diff):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    mi0 = m.meminfo()
    assert m.read_file(p, "/data/f", 1 * MiB) == 1 * MiB
    d = diff(mi0, m.meminfo())
    assert d["Cached"] == 0 and d["MemFree"] == 0 and d["Dirty"] == 0


def test_read_fills_clean_page_cache_for_holes(m, diff):
    p = m.spawn("p")
    m.write_file(p, "/data/sparse", PAGE, offset=1 * MiB)      # size 1 MiB + 4 kB
    mi0, vs0 = m.meminfo(), m.vmstat()
    assert m.read_file(p, "/data/sparse", 1 * MiB) == 1 * MiB
    d = diff(mi0, m.meminfo())
    assert d["Cached"] == 1024 and d["Dirty"] == 0
    assert d["MemFree"] == -1024
    assert d["Inactive(file)"] + d["Active(file)"] == 1024
    assert m.vmstat()["pgmajfault"] == vs0["pgmajfault"]       # read() is not a page fault


def test_read_stops_at_eof(m):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 10000)
    assert m.read_file(p, "/data/f", 1 * MiB) == 10000
    assert m.read_file(p, "/data/f", PAGE, offset=8192) == 10000 - 8192
    assert m.read_file(p, "/data/f", PAGE, offset=20000) == 0


def test_write_extends_and_rewrites(m, diff):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    mi0 = m.meminfo()
    m.write_file(p, "/data/f", 1 * MiB)                         # same pages again
    assert diff(mi0, m.meminfo())["Cached"] == 0
    m.write_file(p, "/data/f", 1 * MiB, offset=1 * MiB)         # extend by 1 MiB
    d = diff(mi0, m.meminfo())
    assert d["Cached"] == 1024 and d["Dirty"] == 1024
    assert m.read_file(p, "/data/f", 4 * MiB) == 2 * MiB


def test_unaligned_write_touches_covering_pages(m, diff):
    p = m.spawn("p")
    mi0 = m.meminfo()
    m.write_file(p, "/data/g", 200, offset=4000)                # bytes 4000..4199: pages 0,1
    d = diff(mi0, m.meminfo())
    # page 0 is partially written, page 1 too; both are cached and dirty
    assert d["Cached"] == 8 and d["Dirty"] == 8


def test_files_are_shared_between_processes(m, diff):
    p, q = m.spawn("p"), m.spawn("q")
    m.write_file(p, "/data/f", 1 * MiB)
    mi0 = m.meminfo()
    assert m.read_file(q, "/data/f", 1 * MiB) == 1 * MiB
    assert diff(mi0, m.meminfo())["Cached"] == 0
    a = m.mmap(q, 1 * MiB, prot="r", flags="shared", file="/data/f")
    m.touch(q, a, 1 * MiB, write=False)
    assert m.proc_status(q)["RssFile"] == 1024
    assert diff(mi0, m.meminfo())["Mapped"] == 1024


def test_memavailable_counts_file_lru_not_anon(m):
    p = m.spawn("p")
    mi0 = m.meminfo()
    m.write_file(p, "/data/f", 64 * MiB)
    mi1 = m.meminfo()
    # MemFree falls by 64 MiB but the file LRU is (mostly) available again
    assert mi1["MemFree"] == mi0["MemFree"] - 65536 - 20  # and the file's dentry and inode slabs
    assert mi1["MemAvailable"] > mi0["MemAvailable"] - 65536
    a = m.mmap(p, 64 * MiB)
    m.touch(p, a, 64 * MiB)
    mi2 = m.meminfo()
    assert mi1["MemAvailable"] - mi2["MemAvailable"] == mi1["MemFree"] - mi2["MemFree"]


def test_missing_file_enoent(m, fails):
    p = m.spawn("p")
    fails(m, errno.ENOENT, m.read_file, p, "/data/nope", PAGE)
    fails(m, errno.ENOENT, m.mmap, p, PAGE, prot="r", flags="private", file="/data/nope")


def test_second_read_activates(m, diff):
    # KERNEL.md §6: new page cache -> inactive file; referenced again -> active
    p = m.spawn("p")
    m.write_file(p, "/data/sparse", PAGE, offset=1 * MiB)
    mi0 = m.meminfo()
    m.read_file(p, "/data/sparse", 1 * MiB)
    d = diff(mi0, m.meminfo())
    assert d["Inactive(file)"] == 1024 and d["Active(file)"] == 0
    m.read_file(p, "/data/sparse", 1 * MiB)
    d = diff(mi0, m.meminfo())
    assert d["Inactive(file)"] == 0 and d["Active(file)"] == 1024
    assert d["Cached"] == 1024


def test_cold_deactivates_mapped_file_pages(m, diff):
    p = m.spawn("p")
    m.write_file(p, "/data/sparse", PAGE, offset=1 * MiB)
    m.read_file(p, "/data/sparse", 1 * MiB)
    m.read_file(p, "/data/sparse", 1 * MiB)          # now on the active file list
    a = m.mmap(p, 1 * MiB, prot="r", flags="private", file="/data/sparse")
    m.touch(p, a, 1 * MiB, write=False)
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "cold")
    d = diff(mi0, m.meminfo())
    assert d["Active(file)"] == -1024 and d["Inactive(file)"] == 1024
    assert m.proc_status(p)["RssFile"] == 1024 and d["Cached"] == 0
