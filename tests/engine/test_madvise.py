"""madvise(2) advice (KERNEL.md §9 madvise): dontneed, free, willneed, cold, pageout, hugepage."""

from __future__ import annotations

import errno

import pytest

PAGE = 4096
MiB = 1 << 20


@pytest.fixture
def written(m):
    """p with a 1 MiB private anon mapping fully written."""
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    return m, p, a


def test_dontneed_drops_rss_and_rereads_zero_page(written, diff):
    m, p, a = written
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "dontneed")
    st = m.proc_status(p)
    assert st["RssAnon"] == 0 and st["VmRSS"] == 0
    assert st["VmSize"] == 132 + 1024          # the VMA stays
    d = diff(mi0, m.meminfo())
    assert d["AnonPages"] == -1024
    assert d["Inactive(anon)"] + d["Active(anon)"] == -1024
    assert d["MemFree"] == 1024 - d["PageTables"]   # pages freed (+ any emptied PTE table)
    assert d["Committed_AS"] == 0                   # still charged
    assert m.mincore(p, a, 1 * MiB).tolist() == [0] * 256
    mi1 = m.meminfo()
    assert m.touch(p, a, 1 * MiB, write=False) == 256     # zero page again
    assert m.proc_status(p)["RssAnon"] == 0
    assert m.meminfo()["AnonPages"] == mi1["AnonPages"]


def test_dontneed_partial(written):
    m, p, a = written
    m.madvise(p, a + 256 * 1024, 256 * 1024, "dontneed")
    assert m.proc_status(p)["RssAnon"] == 768
    mc = m.mincore(p, a, 1 * MiB).tolist()
    assert mc == [1] * 64 + [0] * 64 + [1] * 128


def test_dontneed_private_file_rereads_file(m):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="rw", flags="private", file="/data/f")
    m.touch(p, a, 1 * MiB, write=True)      # CoW copies
    assert m.proc_status(p)["RssAnon"] == 1024
    m.madvise(p, a, 1 * MiB, "dontneed")
    assert m.proc_status(p)["RssAnon"] == 0
    m.touch(p, a, 1 * MiB, write=False)     # back to the page-cache pages
    st = m.proc_status(p)
    assert st["RssFile"] == 1024 and st["RssAnon"] == 0


def test_free_keeps_rss_and_moves_to_inactive_file(written, diff):
    m, p, a = written
    mi0, st0 = m.meminfo(), m.proc_status(p)
    m.madvise(p, a, 1 * MiB, "free")
    d = diff(mi0, m.meminfo())
    assert m.proc_status(p)["RssAnon"] == st0["RssAnon"] == 1024
    assert d["AnonPages"] == 0 and d["MemFree"] == 0
    assert d["Inactive(anon)"] + d["Active(anon)"] == -1024
    assert d["Inactive(file)"] == 1024 and d["Active(file)"] == 0
    assert d["Cached"] == 0            # lazy-free pages are still anon pages, not page cache
    assert m.mincore(p, a, 1 * MiB).tolist() == [1] * 256


def test_free_on_zero_page_and_untouched_is_harmless(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 512 * 1024, write=False)
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "free")
    d = diff(mi0, m.meminfo())
    assert d["Inactive(file)"] == 0 and d["AnonPages"] == 0


def test_new_pages_go_to_inactive_anon(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    mi0 = m.meminfo()
    m.touch(p, a, 1 * MiB)
    d = diff(mi0, m.meminfo())
    assert d["Inactive(anon)"] == 1024 and d["Active(anon)"] == 0


def test_cold_keeps_pages_resident_on_inactive(written, diff):
    m, p, a = written
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "cold")
    d = diff(mi0, m.meminfo())
    assert m.proc_status(p)["RssAnon"] == 1024
    assert d["Active(anon)"] == 0 and d["Inactive(anon)"] == 0 and d["MemFree"] == 0


def test_pageout_without_swap_leaves_anon_resident(written, diff):
    m, p, a = written
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "pageout")
    assert m.proc_status(p)["RssAnon"] == 1024
    assert m.proc_status(p)["VmSwap"] == 0
    d = diff(mi0, m.meminfo())
    assert d["MemFree"] == 0 and d["AnonPages"] == 0
    assert d["Active(anon)"] + d["Inactive(anon)"] == 0


def test_pageout_without_swap_activates_anon(written, diff):
    """vmscan.c shrink_folio_list: an anon folio that cannot get a swap slot goes to
    activate_locked, so MADV_PAGEOUT with no swap moves the pages to the *active* anon list."""
    m, p, a = written
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "pageout")
    d = diff(mi0, m.meminfo())
    assert d["Active(anon)"] == 1024 and d["Inactive(anon)"] == -1024


def test_willneed_on_anon_changes_nothing_visible(written, diff):
    m, p, a = written
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "willneed")
    d = diff(mi0, m.meminfo())
    assert d["MemFree"] == 0 and d["AnonPages"] == 0
    assert m.proc_status(p)["RssAnon"] == 1024


@pytest.mark.parametrize("advice", ["hugepage", "nohugepage"])
def test_hugepage_hints_accepted_and_change_no_memory(m, advice, diff):
    p = m.spawn("p")
    a = m.mmap(p, 4 * MiB)
    mi0 = m.meminfo()
    m.madvise(p, a, 4 * MiB, advice)
    assert diff(mi0, m.meminfo())["MemFree"] == 0
    assert m.proc_status(p)["VmRSS"] == 0


@pytest.mark.parametrize("advice", ["dontneed", "free", "cold", "pageout"])
def test_lru_advice_on_locked_range_is_einval(m, fails, advice):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="private|anonymous|locked")
    fails(m, errno.EINVAL, m.madvise, p, a, 1 * MiB, advice)
    assert m.proc_status(p)["RssAnon"] == 1024


def test_willneed_on_locked_range_is_fine(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="private|anonymous|locked")
    m.madvise(p, a, 1 * MiB, "willneed")
    assert m.proc_status(p)["VmLck"] == 1024


def test_free_on_shared_anon_is_einval(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, a, 1 * MiB)
    fails(m, errno.EINVAL, m.madvise, p, a, 1 * MiB, "free")


def test_free_on_private_file_is_einval(m, fails):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="rw", flags="private", file="/data/f")
    fails(m, errno.EINVAL, m.madvise, p, a, 1 * MiB, "free")


def test_dontneed_on_shared_anon_unmaps_but_keeps_shmem(m, diff):
    # zapping a shmem mapping drops the PTEs; the pages stay in the shmem object
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, a, 1 * MiB)
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "dontneed")
    d = diff(mi0, m.meminfo())
    assert m.proc_status(p)["RssShmem"] == 0
    assert d["Shmem"] == 0 and d["Mapped"] == -1024
    m.touch(p, a, 1 * MiB, write=False)     # refault finds the same shmem pages
    assert m.meminfo()["Shmem"] == mi0["Shmem"]
    assert m.proc_status(p)["RssShmem"] == 1024


def test_bad_advice_and_hole(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    fails(m, errno.EINVAL, m.madvise, p, a, 1 * MiB, "sequential-ish")
    fails(m, errno.EINVAL, m.madvise, p, a + 1, PAGE, "dontneed")
    m.munmap(p, a, 1 * MiB)
    fails(m, errno.ENOMEM, m.madvise, p, a, 1 * MiB, "dontneed")


def test_dontneed_after_fork_affects_only_the_caller(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    c = m.fork(p)
    m.madvise(c, a, 1 * MiB, "dontneed")
    assert m.proc_status(c)["RssAnon"] == 0
    assert m.proc_status(p)["RssAnon"] == 1024
    assert m.mincore(p, a, 1 * MiB).tolist() == [1] * 256


def test_write_after_free_takes_no_fault(written, diff):
    # MADV_FREE clears the dirty bit but keeps the PTE writable: a later write does not fault;
    # the page stays lazy-free on the file LRU until reclaim finds it dirty again
    m, p, a = written
    m.madvise(p, a, 1 * MiB, "free")
    mi0 = m.meminfo()
    assert m.touch(p, a, 1 * MiB) == 0
    d = diff(mi0, m.meminfo())
    assert d["Inactive(file)"] == 0 and d["AnonPages"] == 0 and d["MemFree"] == 0
    assert m.proc_status(p)["RssAnon"] == 1024


def test_willneed_on_file_reads_ahead(m, diff):
    p = m.spawn("p")
    m.write_file(p, "/data/sparse", PAGE, offset=1 * MiB)     # pages 0..255 not cached
    a = m.mmap(p, 1 * MiB, prot="r", flags="private", file="/data/sparse")
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "willneed")
    d = diff(mi0, m.meminfo())
    assert d["Cached"] == 1024 and d["Dirty"] == 0
    assert m.proc_status(p)["RssFile"] == 0                   # read into the cache, not mapped
    vs0 = m.vmstat()
    m.touch(p, a, 1 * MiB, write=False)
    assert m.vmstat()["pgmajfault"] == vs0["pgmajfault"]


def test_pageout_drops_clean_private_file_pages(m, diff):
    p = m.spawn("p")
    m.write_file(p, "/data/sparse", PAGE, offset=1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="r", flags="private", file="/data/sparse")
    m.touch(p, a, 1 * MiB, write=False)                        # clean page cache, mapped
    mi0 = m.meminfo()
    m.madvise(p, a, 1 * MiB, "pageout")
    d = diff(mi0, m.meminfo())
    assert m.proc_status(p)["RssFile"] == 0
    assert d["Cached"] == -1024 and d["Mapped"] == -1024 and d["MemFree"] >= 1024
