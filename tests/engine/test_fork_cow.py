"""fork() and copy-on-write (KERNEL.md §9 fork/CoW, §3 fork charging, §2 inheritance).

The parent's private anon pages live in a fixed 4 MiB mapping at 1 TiB: parent VmPTE = PUD + PMD
+ 2 PTE tables = 16 kB, and dup_mmap copies those page tables for the child.
"""

from __future__ import annotations

import errno

import pytest

PAGE = 4096
MiB = 1 << 20
TiB = 1 << 40


@pytest.fixture
def forked(m, fixed_map):
    """Parent p with 4 MiB written at 1 TiB, forked into c. Returns (m, p, c, addr, mi_before)."""
    p = m.spawn("p")
    a = fixed_map(m, p, TiB, 4 * MiB)
    assert m.touch(p, a, 4 * MiB) == 1024
    mi0 = m.meminfo()
    c = m.fork(p)
    return m, p, c, a, mi0


def test_child_pid_ppid_and_comm(forked):
    m, p, c, a, _ = forked
    assert c == p + 1
    st = m.proc_status(c)
    assert st["PPid"] == p and st["Pid"] == c and st["Name"] == "p"
    assert {"pid": c, "ppid": p, "comm": "p"}.items() <= next(
        x for x in m.processes() if x["pid"] == c).items()


def test_child_counts_shared_pages_in_rss(forked):
    m, p, c, a, _ = forked
    sp, sc = m.proc_status(p), m.proc_status(c)
    assert sp["RssAnon"] == sc["RssAnon"] == 4096
    assert sc["VmSize"] == sp["VmSize"] == 132 + 4096
    assert sc["VmPTE"] == sp["VmPTE"] == 16    # copied page tables
    assert m.mincore(c, a, 4 * MiB).tolist() == [1] * 1024


def test_fork_costs_stack_pgd_and_page_tables_only(forked, diff):
    m, p, c, a, mi0 = forked
    d = diff(mi0, m.meminfo())
    assert d["AnonPages"] == 0                 # pages are shared, not copied
    assert d["KernelStack"] == 16
    assert d["PageTables"] == 4 + 16           # child PGD + copied PUD/PMD/2 PTE
    assert d["MemFree"] == -(16 + 4 + 16)
    assert d["Committed_AS"] == 132 + 4096     # every VM_ACCOUNT VMA charged again


def test_cow_write_copies_exactly_one_page(forked, diff):
    m, p, c, a, _ = forked
    mi0, sp0, sc0 = m.meminfo(), m.proc_status(p), m.proc_status(c)
    assert m.touch(c, a, PAGE) == 1
    d = diff(mi0, m.meminfo())
    assert d["MemFree"] == -4 and d["AnonPages"] == 4
    assert m.proc_status(c)["RssAnon"] == sc0["RssAnon"]   # one page swapped for another
    assert m.proc_status(p)["RssAnon"] == sp0["RssAnon"]


def test_write_to_no_longer_shared_page_reuses_it(forked, diff):
    m, p, c, a, _ = forked
    m.touch(c, a, PAGE)             # child copies page 0; the original is now parent-only
    mi0 = m.meminfo()
    assert m.touch(p, a, PAGE) == 1  # write-protect fault, but the page is reused
    d = diff(mi0, m.meminfo())
    assert d["MemFree"] == 0 and d["AnonPages"] == 0


def test_parent_writes_all_then_child_reuses_all(forked, diff):
    m, p, c, a, _ = forked
    mi0 = m.meminfo()
    assert m.touch(p, a, 4 * MiB) == 1024
    assert diff(mi0, m.meminfo())["MemFree"] == -4096
    mi1 = m.meminfo()
    assert m.touch(c, a, 4 * MiB) == 1024   # every page is exclusive to the child now
    assert diff(mi1, m.meminfo())["MemFree"] == 0
    assert m.meminfo()["AnonPages"] - mi0["AnonPages"] == 4096
    assert m.touch(c, a, 4 * MiB) == 0
    assert m.touch(p, a, 4 * MiB) == 0


def test_read_after_fork_does_not_copy(forked, diff):
    m, p, c, a, _ = forked
    mi0 = m.meminfo()
    assert m.touch(c, a, 4 * MiB, write=False) == 0   # pages are mapped (read-only) already
    assert diff(mi0, m.meminfo())["MemFree"] == 0


def test_child_exit_makes_parent_pages_exclusive(forked, diff):
    m, p, c, a, mi_before_fork = forked
    m.exit(c)
    d = diff(mi_before_fork, m.meminfo())
    assert d["MemFree"] == 0 and d["Committed_AS"] == 0 and d["PageTables"] == 0
    mi0 = m.meminfo()
    assert m.touch(p, a, 4 * MiB) == 1024   # still write-protected: faults, but reuses
    assert diff(mi0, m.meminfo())["MemFree"] == 0


def test_parent_exit_reparents_child_to_init(forked):
    m, p, c, a, _ = forked
    m.exit(p)
    assert m.proc_status(c)["PPid"] == 1
    assert m.proc_status(c)["RssAnon"] == 4096
    mi0 = m.meminfo()
    m.touch(c, a, 4 * MiB)                   # exclusive now: no copies
    assert m.meminfo()["MemFree"] == mi0["MemFree"]


def test_grandchild_shares_too(forked, diff):
    m, p, c, a, _ = forked
    g = m.fork(c)
    assert m.proc_status(g)["RssAnon"] == 4096
    mi0 = m.meminfo()
    m.touch(p, a, PAGE)   # page shared by three: copy
    m.touch(c, a, PAGE)   # still shared by c and g: copy
    m.touch(g, a, PAGE)   # now g's alone: reuse
    assert diff(mi0, m.meminfo())["MemFree"] == -8


def test_shared_anon_not_copied_on_write_after_fork(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, a, 1 * MiB)
    c = m.fork(p)
    mi0 = m.meminfo()
    m.touch(c, a, 1 * MiB)   # same shmem pages: no copy
    d = diff(mi0, m.meminfo())
    assert d["Shmem"] == 0 and d["AnonPages"] == 0
    assert d["MemFree"] == -d["PageTables"]
    assert m.proc_status(c)["RssShmem"] == 1024
    assert m.proc_status(p)["RssShmem"] == 1024


def test_fork_charges_only_vm_account_mappings(m, diff):
    p = m.spawn("p")
    m.mmap(p, 1 * MiB)                               # VM_ACCOUNT
    m.mmap(p, 1 * MiB, prot="r")                     # not accounted
    m.mmap(p, 1 * MiB, flags="shared|anonymous")     # shmem: charged once at mmap
    m.mmap(p, 1 * MiB, flags="private|anonymous|noreserve")  # mode 0: not accounted
    mi0 = m.meminfo()
    m.fork(p)
    assert diff(mi0, m.meminfo())["Committed_AS"] == 132 + 1024


def test_vm_locked_not_inherited(m, diff):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.mlock(p, a, 1 * MiB)
    mi0 = m.meminfo()
    c = m.fork(p)
    assert m.proc_status(p)["VmLck"] == 1024
    assert m.proc_status(c)["VmLck"] == 0
    assert m.proc_status(c)["RssAnon"] == 1024
    d = diff(mi0, m.meminfo())
    assert d["Mlocked"] == 0 and d["Unevictable"] == 0


def test_mlockall_future_not_inherited(m):
    p = m.spawn("p")
    m.mlockall(p, "future")
    c = m.fork(p)
    m.mmap(c, 1 * MiB)
    assert m.proc_status(c)["VmLck"] == 0
    assert m.proc_status(c)["RssAnon"] == 0


def test_oom_score_adj_and_min_inherited(m, fails):
    p = m.spawn("p")
    m.set_oom_score_adj(p, -300, caps=("CAP_SYS_RESOURCE",))   # min follows: -300
    c = m.fork(p)
    assert next(x for x in m.processes() if x["pid"] == c)["oom_score_adj"] == -300
    m.set_oom_score_adj(c, -300)            # not below the inherited min
    fails(m, errno.EACCES, m.set_oom_score_adj, c, -301)


def test_rlimits_inherited(m):
    p = m.spawn("p")
    m.prlimit(p, "AS", 64 * MiB)
    m.prlimit(p, "MEMLOCK", 1 * MiB)
    c = m.fork(p)
    assert m.prlimit(c, "AS") == 64 * MiB
    assert m.prlimit(c, "MEMLOCK") == 1 * MiB
    assert m.prlimit(c, "DATA") == 2**64 - 1


def test_heap_inherited(m):
    p = m.spawn("p")
    b0 = m.brk(p)
    m.brk(p, b0 + 1 * MiB)
    c = m.fork(p)
    assert m.brk(c) == b0 + 1 * MiB
    assert m.proc_status(c)["VmData"] == 1024


def test_oom_score_of_parent_and_child_equal_after_fork(forked):
    m, p, c, a, _ = forked
    assert m.oom_badness(p) == m.oom_badness(c)
    assert m.oom_score(p) == m.oom_score(c)


def test_child_hiwater_starts_at_current_rss(m):
    # dup_mm: hiwater_rss = current rss, hiwater_vm = total_vm (the parent's peaks are not copied)
    p = m.spawn("p")
    a = m.mmap(p, 8 * MiB)
    m.touch(p, a, 8 * MiB)
    m.munmap(p, a, 4 * MiB)
    assert m.proc_status(p)["VmHWM"] == 8192 and m.proc_status(p)["VmPeak"] == 132 + 8192
    c = m.fork(p)
    st = m.proc_status(c)
    assert st["VmHWM"] == 4096 and st["VmPeak"] == 132 + 4096


def test_fork_does_not_copy_ptes_of_shared_and_file_mappings(m):
    # dup_mmap/vma_needs_copy: VMAs without an anon_vma are not copied; faults refill them
    p = m.spawn("p")
    s = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, s, 1 * MiB)
    m.write_file(p, "/data/f", 1 * MiB)
    f = m.mmap(p, 1 * MiB, prot="r", flags="private", file="/data/f")
    m.touch(p, f, 1 * MiB, write=False)
    c = m.fork(p)
    st = m.proc_status(c)
    assert (st["RssShmem"], st["RssFile"], st["VmPTE"]) == (0, 0, 0)
    vs0 = m.vmstat()
    m.touch(c, s, 1 * MiB, write=False)          # minor faults find the shmem pages
    m.touch(c, f, 1 * MiB, write=False)          # and the page cache
    assert m.vmstat()["pgmajfault"] == vs0["pgmajfault"]
    st = m.proc_status(c)
    assert (st["RssShmem"], st["RssFile"]) == (1024, 1024)


def test_fork_does_not_copy_zero_page_only_vma(m):
    # a VMA that only ever took read faults has no anon_vma: its zero-page PTEs are not copied
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB, write=False)
    c = m.fork(p)
    assert m.mincore(c, a, 1 * MiB).tolist() == [0] * 256
    assert m.proc_status(c)["VmPTE"] == 0
    assert m.mincore(p, a, 1 * MiB).tolist() == [1] * 256


def test_fork_copies_whole_vma_once_it_has_anon_pages(m):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 512 * 1024, write=False)
    m.touch(p, a + 512 * 1024, PAGE)              # one write: the VMA gets an anon_vma
    c = m.fork(p)
    assert m.mincore(c, a, 1 * MiB).tolist() == [1] * 129 + [0] * 127
    assert m.proc_status(c)["RssAnon"] == 4
