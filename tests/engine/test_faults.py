"""Page faults on anonymous, file and shmem memory (KERNEL.md §9), SIGSEGV, physical ENOMEM.

Fixed mappings at 1 TiB start a fresh 512 GiB slot: the first touch there allocates a PUD, a PMD
and a PTE table (3 pages = 12 kB); each further 2 MiB region touched costs one more PTE table.
"""

from __future__ import annotations

import errno

import numpy as np
import pytest

from oomtui.engine.machine import Killed

PAGE = 4096
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40


def test_write_touch_allocates_one_fault_per_page(m, fixed_map, diff):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 4 * MiB)
    mi0, st0, vs0 = m.meminfo(), m.proc_status(p), m.vmstat()
    assert m.touch(p, a, 4 * MiB, write=True) == 1024
    dmi, dst = diff(mi0, m.meminfo()), diff(st0, m.proc_status(p))
    assert m.vmstat()["pgfault"] - vs0["pgfault"] == 1024
    assert dst["RssAnon"] == 4096 and dst["VmRSS"] == 4096
    assert dst["RssFile"] == 0 and dst["RssShmem"] == 0
    # PUD + PMD + 2 PTE tables (4 MiB, 2 MiB-aligned)
    assert dst["VmPTE"] == 16
    assert dmi["AnonPages"] == 4096
    assert dmi["PageTables"] == 16
    assert dmi["MemFree"] == -(4096 + 16)
    # new anon pages go to the inactive anon list (since 5.9)
    assert dmi["Inactive(anon)"] == 4096 and dmi["Active(anon)"] == 0


def test_read_touch_maps_zero_page(m, fixed_map, diff):
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * MiB)
    mi0, st0 = m.meminfo(), m.proc_status(p)
    assert m.touch(p, a, 1 * MiB, write=False) == 256
    dmi, dst = diff(mi0, m.meminfo()), diff(st0, m.proc_status(p))
    assert dst["VmRSS"] == 0 and dst["RssAnon"] == 0
    assert dmi["AnonPages"] == 0
    assert dst["VmPTE"] == 12  # the page tables are real: PUD + PMD + PTE
    assert dmi["MemFree"] == -12  # only the page tables
    mc = m.mincore(p, a, 1 * MiB)
    assert mc.dtype == np.uint8 and mc.shape == (256,)
    assert mc.tolist() == [1] * 256


def test_write_after_read_takes_a_second_fault(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    assert m.touch(p, a, 1 * MiB, write=False) == 256
    mi0 = m.meminfo()
    assert m.touch(p, a, 1 * MiB, write=True) == 256
    assert m.proc_status(p)["RssAnon"] == 1024
    d = diff(mi0, m.meminfo())
    assert d["AnonPages"] == 1024 and d["MemFree"] == -1024  # tables already exist


def test_present_pages_take_no_fault(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 512 * 1024, write=False)          # zero page for the first half
    m.touch(p, a + 512 * 1024, 512 * 1024)          # real pages for the second half
    digest_counts = m.vmstat()["pgfault"]
    assert m.touch(p, a, 512 * 1024, write=False) == 0
    assert m.touch(p, a + 512 * 1024, 512 * 1024, write=False) == 0
    assert m.touch(p, a + 512 * 1024, 512 * 1024, write=True) == 0
    assert m.vmstat()["pgfault"] == digest_counts


def test_partial_overlap_faults_only_new_pages(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    assert m.touch(p, a, 256 * 1024) == 64
    assert m.touch(p, a, 1 * MiB) == 192


def test_touch_covers_every_page_of_an_unaligned_range(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    # bytes [a+4000, a+4200) span pages 0 and 1
    assert m.touch(p, a + 4000, 200) == 2
    assert m.proc_status(p)["RssAnon"] == 8


def test_vmhwm_and_vmpeak_keep_the_peak(m):
    p = m.spawn("p")
    a = m.mmap(p, 2 * MiB)
    m.touch(p, a, 2 * MiB)
    m.munmap(p, a, 2 * MiB)
    st = m.proc_status(p)
    assert st["VmRSS"] == 0 and st["VmHWM"] == 2048
    assert st["VmSize"] == 132 and st["VmPeak"] == 132 + 2048


def test_rss_identity(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    s = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.write_file(p, "/data/f", 1 * MiB)
    f = m.mmap(p, 1 * MiB, prot="r", flags="private", file="/data/f")
    m.touch(p, a, 1 * MiB)
    m.touch(p, s, 512 * 1024)
    m.touch(p, f, 256 * 1024, write=False)
    st = m.proc_status(p)
    assert (st["RssAnon"], st["RssShmem"], st["RssFile"]) == (1024, 512, 256)
    assert st["VmRSS"] == st["RssAnon"] + st["RssFile"] + st["RssShmem"]


# ---------------------------------------------------------------- shmem

def test_shared_anon_is_shmem(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 4 * MiB, flags="shared|anonymous")
    m.touch(p, a, PAGE)  # create the page tables first
    mi0, st0 = m.meminfo(), m.proc_status(p)
    assert m.touch(p, a + PAGE, 4 * MiB - PAGE) == 1023
    d, ds = diff(mi0, m.meminfo()), diff(st0, m.proc_status(p))
    assert ds["RssShmem"] == 4092 and ds["RssAnon"] == 0
    assert d["Shmem"] == 4092
    assert d["Cached"] == 4092            # Cached includes Shmem
    assert d["AnonPages"] == 0
    assert d["Mapped"] == 4092            # shmem pages mapped in page tables
    assert d["Active(anon)"] + d["Inactive(anon)"] == 4092  # shmem lives on the anon LRU
    assert d["Active(file)"] + d["Inactive(file)"] == 0
    assert d["MemFree"] == -4092 - d["PageTables"]


def test_shmem_read_fault_allocates(m):
    # shmem has no zero page: a read fault allocates a page in the shmem object
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, a, 1 * MiB, write=False)
    assert m.proc_status(p)["RssShmem"] == 1024
    assert m.meminfo()["Shmem"] == 1024


def test_shmem_freed_on_munmap(m, diff):
    p = m.spawn("p")
    mi0 = m.meminfo()
    a = m.mmap(p, 4 * MiB, flags="shared|anonymous")
    m.touch(p, a, 4 * MiB)
    m.munmap(p, a, 4 * MiB)
    d = diff(mi0, m.meminfo())
    assert d["Shmem"] == 0 and d["Cached"] == 0 and d["Committed_AS"] == 0
    # upper-level tables may stay when a neighbouring VMA (the stack) shares their range
    assert d["MemFree"] == -d["PageTables"]


# ---------------------------------------------------------------- file mappings

def _sparse_file(m, pid, path, cached_tail_offset):
    """A file whose only cached page is its last one (a sparse write far into it)."""
    m.write_file(pid, path, PAGE, offset=cached_tail_offset)


def test_file_private_read_uncached_is_major_fault(m, diff):
    p = m.spawn("p")
    _sparse_file(m, p, "/data/sparse", 4 * MiB)
    a = m.mmap(p, 4 * MiB, prot="r", flags="private", file="/data/sparse")
    mi0, st0, vs0 = m.meminfo(), m.proc_status(p), m.vmstat()
    assert m.touch(p, a, PAGE, write=False) == 1
    vs = m.vmstat()
    assert vs["pgmajfault"] - vs0["pgmajfault"] == 1
    assert vs["pgfault"] - vs0["pgfault"] == 1
    d, ds = diff(mi0, m.meminfo()), diff(st0, m.proc_status(p))
    assert ds["RssFile"] == 4 and ds["RssAnon"] == 0
    assert d["Cached"] >= 4          # at least the page (readahead may bring more)
    assert d["Mapped"] == 4
    assert d["AnonPages"] == 0


def test_file_private_read_cached_is_minor(m, diff):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="r", flags="private", file="/data/f")
    mi0, vs0 = m.meminfo(), m.vmstat()
    assert m.touch(p, a, 1 * MiB, write=False) >= 1
    assert m.vmstat()["pgmajfault"] == vs0["pgmajfault"]
    d = diff(mi0, m.meminfo())
    assert d["Cached"] == 0           # the pages were already in the page cache
    assert d["Mapped"] == 1024
    assert m.proc_status(p)["RssFile"] == 1024
    assert m.proc_status(p)["RssAnon"] == 0


def test_file_private_write_cows_into_anon(m, diff):
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="rw", flags="private", file="/data/f")
    m.touch(p, a, PAGE, write=False)
    mi0, st0 = m.meminfo(), m.proc_status(p)
    assert m.touch(p, a, PAGE, write=True) == 1
    d, ds = diff(mi0, m.meminfo()), diff(st0, m.proc_status(p))
    assert ds["RssFile"] == -4 and ds["RssAnon"] == 4
    assert d["AnonPages"] == 4 and d["Mapped"] == -4
    assert d["Cached"] == 0 and d["Dirty"] == 0   # the file page itself is untouched
    assert d["MemFree"] == -4


def test_file_shared_write_dirties_page_cache(m, diff):
    p = m.spawn("p")
    _sparse_file(m, p, "/data/s", 1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="rw", flags="shared", file="/data/s")
    m.touch(p, a, PAGE, write=False)   # page 0 now cached (clean) and mapped
    mi0 = m.meminfo()
    assert m.touch(p, a, PAGE, write=True) == 1   # write-protect fault: dirty it
    d = diff(mi0, m.meminfo())
    assert d["Dirty"] == 4
    assert d["AnonPages"] == 0 and d["Cached"] == 0
    st = m.proc_status(p)
    assert st["RssFile"] == 4 and st["RssAnon"] == 0


# ---------------------------------------------------------------- populate

def test_populate_writable_private_allocates(m, diff):
    p = m.spawn("p")
    mi0 = m.meminfo()
    a = m.mmap(p, 2 * MiB, flags="private|anonymous|populate")
    assert m.proc_status(p)["RssAnon"] == 2048
    assert diff(mi0, m.meminfo())["AnonPages"] == 2048
    assert m.mincore(p, a, 2 * MiB).tolist() == [1] * 512
    assert m.touch(p, a, 2 * MiB) == 0


def test_populate_readonly_private_maps_zero_page(m):
    # populate_vma_page_range uses a read fault unless the mapping is private + writable
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="r", flags="private|anonymous|populate")
    assert m.proc_status(p)["VmRSS"] == 0
    assert m.mincore(p, a, 1 * MiB).tolist() == [1] * 256


# ---------------------------------------------------------------- SIGSEGV

def test_sigsegv_maperr_after_faulting_the_good_pages(m, fixed_map):
    mi_boot = m.meminfo()
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * MiB)
    vs0 = m.vmstat()
    with pytest.raises(Killed) as ei:
        m.touch(p, a, 2 * MiB)   # the second MiB is unmapped
    # the 256 good pages were faulted; the bad access never reaches handle_mm_fault
    assert m.vmstat()["pgfault"] - vs0["pgfault"] == 256
    e = ei.value
    assert (e.errno, e.pid, e.signal, e.code, e.addr, e.faults) == (
        errno.EFAULT, p, "SIGSEGV", "SEGV_MAPERR", a + 1 * MiB, 256)
    ev = m.events[-1]
    assert ev.kind == "sigsegv" and ev.pid == p and ev.tick == 0
    assert ev.data["addr"] == a + 1 * MiB
    assert ev.data["code"] == "SEGV_MAPERR"
    assert p not in [q["pid"] for q in m.processes()]
    mi = m.meminfo()
    for k in ("MemFree", "AnonPages", "Committed_AS", "KernelStack", "PageTables"):
        assert mi[k] == mi_boot[k], k


def test_touch_outside_every_vma_is_sigsegv_not_a_success(m, fixed_map):
    """A touch wholly past a 1 MiB mapping takes no fault and kills (SEGV_MAPERR at its first
    byte's page); the call raises Killed instead of answering "0 faults"."""
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 1 * MiB)
    with pytest.raises(Killed) as ei:
        m.touch(p, a + 1 * MiB + 100, 10)
    e = ei.value
    assert (e.errno, e.signal, e.code, e.addr, e.faults) == (
        errno.EFAULT, "SIGSEGV", "SEGV_MAPERR", a + 1 * MiB, 0)
    assert "SIGSEGV" in str(e) and f"p[{p}]" in str(e)
    assert p not in m.procs
    assert m.inputs.entries[-1].error[:2] == ("Killed", errno.EFAULT)  # replays the same way


def test_sigsegv_write_to_readonly_is_accerr(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="r")
    with pytest.raises(Killed):
        m.touch(p, a, PAGE, write=True)
    ev = m.events[-1]
    assert (ev.kind, ev.pid, ev.data["code"], ev.data["addr"]) == ("sigsegv", p, "SEGV_ACCERR", a)


def test_sigsegv_read_of_prot_none_is_accerr(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="none")
    with pytest.raises(Killed):
        m.touch(p, a + 8 * PAGE, PAGE, write=False)
    ev = m.events[-1]
    assert (ev.kind, ev.data["code"], ev.data["addr"]) == ("sigsegv", "SEGV_ACCERR", a + 8 * PAGE)


def test_sigsegv_at_mprotected_page_midway(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.mprotect(p, a + 512 * 1024, 512 * 1024, "none")
    vs0 = m.vmstat()
    with pytest.raises(Killed) as ei:
        m.touch(p, a, 1 * MiB, write=True)
    assert m.vmstat()["pgfault"] - vs0["pgfault"] == 128 == ei.value.faults
    ev = m.events[-1]
    assert (ev.kind, ev.data["code"], ev.data["addr"]) == ("sigsegv", "SEGV_ACCERR", a + 512 * 1024)


def test_sigsegv_kills_only_the_offender(m):
    p = m.spawn("p")
    q = m.spawn("q")
    a = m.mmap(q, 1 * MiB)
    m.touch(q, a, 1 * MiB)
    with pytest.raises(Killed):
        m.touch(p, TiB, PAGE)
    pids = [x["pid"] for x in m.processes()]
    assert p not in pids and q in pids
    assert m.proc_status(q)["RssAnon"] == 1024
    with pytest.raises(OSError) as ei:
        m.proc_status(p)
    assert ei.value.errno == errno.ESRCH
    with pytest.raises(OSError) as ei:
        m.touch(p, a, PAGE)
    assert ei.value.errno == errno.ESRCH


def test_read_of_readonly_mapping_is_fine(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="r")
    assert m.touch(p, a, 1 * MiB, write=False) == 256
    assert p in [x["pid"] for x in m.processes()]


# ---------------------------------------------------------------- physical exhaustion

def test_touch_beyond_ram_without_swap_ends_in_the_oom_killer(machine):
    # 256 MiB, no swap: nothing can be reclaimed from anon memory, so after direct reclaim
    # fails the allocating process (the only big one) is the OOM killer's victim.
    m = machine(ram_mib=256)
    p = m.spawn("p")
    small = m.spawn("small")
    a = m.mmap(p, 250 * MiB)   # 64000 pages <= 65536: mode 0 accepts
    faults = m.touch(p, a, 250 * MiB)
    assert 0 < faults < 64000
    assert p not in [x["pid"] for x in m.processes()]
    assert small in [x["pid"] for x in m.processes()]
    oom = [e for e in m.events if e.kind == "oom"]
    assert len(oom) == 1 and oom[0].data["victim"] == p
    assert f"Killed process {p} (p)" in oom[0].message
    assert "invoked oom-killer" in oom[0].data["report"]
    assert m.vmstat()["oom_kill"] == 1
    assert m.vmstat()["allocstall"] > 0
    assert m.meminfo()["AnonPages"] == 0   # the victim's memory is freed when it exits


def test_file_private_write_to_uncached_page(m, diff):
    # do_cow_fault: the file page is read (major fault, page cache +1) and copied to anon
    p = m.spawn("p")
    _sparse_file(m, p, "/data/sparse", 1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="rw", flags="private", file="/data/sparse")
    mi0, vs0 = m.meminfo(), m.vmstat()
    assert m.touch(p, a, PAGE, write=True) == 1
    assert m.vmstat()["pgmajfault"] - vs0["pgmajfault"] == 1
    d = diff(mi0, m.meminfo())
    st = m.proc_status(p)
    assert (st["RssAnon"], st["RssFile"]) == (4, 0)
    assert d["AnonPages"] == 4 and d["Cached"] >= 4 and d["Dirty"] == 0


def test_file_shared_write_to_uncached_page(m, diff):
    p = m.spawn("p")
    _sparse_file(m, p, "/data/s", 1 * MiB)
    a = m.mmap(p, 1 * MiB, prot="rw", flags="shared", file="/data/s")
    mi0, vs0 = m.meminfo(), m.vmstat()
    assert m.touch(p, a, PAGE, write=True) == 1
    assert m.vmstat()["pgmajfault"] - vs0["pgmajfault"] == 1
    d = diff(mi0, m.meminfo())
    assert d["Dirty"] == 4 and d["Cached"] >= 4 and d["AnonPages"] == 0
    assert m.proc_status(p)["RssFile"] == 4


def test_munmap_part_of_locked_mapping(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="private|anonymous|locked")
    mi0 = m.meminfo()
    m.munmap(p, a, 256 * 1024)
    assert m.proc_status(p)["VmLck"] == 768
    d = diff(mi0, m.meminfo())
    assert d["Mlocked"] == -256 and d["Unevictable"] == -256 and d["AnonPages"] == -256


def test_write_only_mapping_is_readable_on_x86(m):
    # x86 has no write-only PTEs: a PROT_WRITE VMA is accessible, a read fault maps the zero page
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, prot="w")
    assert m.touch(p, a, 1 * MiB, write=False) == 256
    assert p in [x["pid"] for x in m.processes()]
    assert m.touch(p, a, 1 * MiB, write=True) == 256
    assert m.proc_status(p)["RssAnon"] == 1024


def test_touch_across_two_vmas_with_different_prot(m, fixed_map):
    p = m.spawn("p")
    fixed_map(m, p, TiB, 1 * MiB)
    fixed_map(m, p, TiB + 1 * MiB, 1 * MiB, prot="r")
    assert m.touch(p, TiB, 2 * MiB, write=False) == 512
    with pytest.raises(Killed):
        m.touch(p, TiB, 2 * MiB, write=True)
    ev = m.events[-1]
    assert (ev.kind, ev.data["code"], ev.data["addr"]) == ("sigsegv", "SEGV_ACCERR", TiB + MiB)


def test_mincore_answers_up_to_2_to_the_24_pages_at_once(m):
    """64 GiB of MAP_NORESERVE address space: one 16 MiB vector, every page absent; one page
    more is refused instead of building an answer as large as the range."""
    p = m.spawn("p")
    a = m.mmap(p, 1 << 46, flags="private|anonymous|noreserve")
    m.touch(p, a, PAGE)
    out = m.mincore(p, a, 1 << 36)
    assert out.size == 1 << 24 and int(out.sum()) == 1
    with pytest.raises(OSError) as ei:
        m.mincore(p, a, (1 << 36) + PAGE)
    assert ei.value.errno == errno.EINVAL
