"""Workingset detection (mm/workingset.c; KERNEL.md §6): evicted pages leave shadow entries,
and a page that comes back within the size of the workingset starts on the active list.

The age of the memcg's lruvec goes up by one for every eviction and activation; a refault's
distance is the age now minus the age at its eviction. A file page is "recent" when the
distance is at most Active(file) (plus all anon when swap is available), an anon page when it
is at most all file pages (plus Active(anon) with swap).
"""

from __future__ import annotations

from oomtui.engine import SwapDevice

PAGE = 4096
MiB = 1 << 20


def cached(m, pid, path, nbytes, reads):
    m.write_file(pid, path, 0, offset=nbytes)  # sparse: sized, nothing cached
    for _ in range(reads):
        m.read_file(pid, path, nbytes)


def evict_file(m, pid, path, nbytes):
    """Map, fault in and MADV_PAGEOUT a clean file: every page is evicted, in file order."""
    a = m.mmap(pid, nbytes, prot="r", flags="shared", file=path)
    m.touch(pid, a, nbytes, write=False)
    m.madvise(pid, a, nbytes, "pageout")
    m.munmap(pid, a, nbytes)


def test_file_refaults_within_the_active_list_size_are_activated(m):
    """/b's 2048 pages are evicted in order, page i at age base + i. When page i refaults the
    distance is 2048 - i (+ activations so far, which also grow Active(file)): pages 1024..2047
    are within Active(file) = 1024 + activations and start active; pages 0..1023 do not."""
    r = m.spawn("reader")
    cached(m, r, "/a", 4 * MiB, reads=2)  # 1024 active pages
    cached(m, r, "/b", 8 * MiB, reads=0)
    evict_file(m, r, "/b", 8 * MiB)
    mi = m.meminfo()
    assert (mi["Active(file)"], mi["Inactive(file)"]) == (4096, 0)
    m.read_file(r, "/b", 8 * MiB)
    vs = m.vmstat()
    assert vs["workingset_refault_file"] == 2048
    assert vs["workingset_activate_file"] == 1024
    assert vs["workingset_restore_file"] == 0  # none had been active before
    mi = m.meminfo()
    assert (mi["Active(file)"], mi["Inactive(file)"]) == (8192, 4096)


def test_a_page_read_for_the_first_time_is_no_refault(m):
    r = m.spawn("reader")
    cached(m, r, "/a", 4 * MiB, reads=1)
    vs = m.vmstat()
    assert vs["workingset_refault_file"] == 0 and m.meminfo()["Inactive(file)"] == 4096


def test_anon_pages_swapped_out_and_back_refault_from_their_swap_shadows(machine):
    m = machine(256, swap=[SwapDevice(size_mib=64)])
    p = m.spawn("app")
    cached(m, p, "/cache", 16 * MiB, reads=1)  # 4096 inactive file pages: the anon workingset
    a = m.mmap(p, 8 * MiB)
    m.touch(p, a, 8 * MiB)
    m.madvise(p, a, 8 * MiB, "pageout")
    assert m.proc_status(p)["VmSwap"] == 8192
    m.touch(p, a, 8 * MiB, write=False)
    vs = m.vmstat()
    assert vs["workingset_refault_anon"] == 2048  # every page read back, readahead included
    assert vs["workingset_activate_anon"] == 2048  # distance <= 2048 <= 4096 file pages
    assert m.meminfo()["Active(anon)"] == 8192


def test_shadows_go_with_the_swap_slot(machine):
    m = machine(256, swap=[SwapDevice(size_mib=64)])
    p = m.spawn("app")
    a = m.mmap(p, 1 * MiB)
    m.touch(p, a, 1 * MiB)
    m.madvise(p, a, 1 * MiB, "pageout")
    m.munmap(p, a, 1 * MiB)  # the swap entries are freed, and their shadows
    assert int((m.sw.shadow >= 0).sum()) == 0
