"""Reclaim (KERNEL.md §5, §6, §8, §9): the allocation slow path's direct reclaim, kswapd, the
LRU lists, get_scan_count's anon/file balance, swap-out, writeback, mlock and MADV_FREE.

Everything is driven through the public API: a process makes memory pressure by faulting in
more anonymous memory than is free, and the test reads meminfo/vmstat/zoneinfo/proc_status and
mincore to see what reclaim took.

Conventions: meminfo and proc_status are kB, vmstat and zoneinfo are pages. "Clean" page cache
is made by creating a sparse file (a zero-length write at its end) and reading it: read() adds
clean pages, so the only dirty pages are the ones a test writes on purpose.

Numbers on a 64 MiB machine: DMA managed 3840 pages, min/low/high
187/233/279, protection[Movable] 49; DMA32 managed 12544, min/low/high 612/765/918. Tests read
them from zoneinfo() rather than trusting these.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine import SwapDevice
from oomtui.engine import kernels as K
from oomtui.engine import state as S

PAGE = 4096
MiB = 1 << 20
KB_PER_PAGE = PAGE // 1024
MOVABLE = 3  # highest zone index of user pages (GFP_HIGHUSER_MOVABLE): protection column


def clean_file(m, pid, path, nbytes, reads=1):
    """A file of nbytes whose pages are all in the page cache and clean, read `reads` times
    (a second read activates the pages: folio_mark_accessed)."""
    m.write_file(pid, path, 0, offset=nbytes)  # sparse: sets the size, caches nothing
    for _ in range(reads):
        assert m.read_file(pid, path, nbytes) == nbytes


def anon(m, pid, nbytes):
    """mmap + write-touch nbytes of private anonymous memory; returns the address."""
    a = m.mmap(pid, nbytes)
    m.touch(pid, a, nbytes)
    return a


def resident(m, pid, addr, nbytes) -> int:
    """Pages of [addr, addr+nbytes) that mincore reports resident."""
    return int(np.count_nonzero(m.mincore(pid, addr, nbytes)))


def file_resident(m, pid, path, nbytes) -> int:
    """Page-cache pages of the file's first nbytes (mincore on a fresh read-only mapping,
    which faults nothing in and does not touch the LRU)."""
    a = m.mmap(pid, nbytes, prot="r", flags="private", file=path)
    n = resident(m, pid, a, nbytes)
    m.munmap(pid, a, nbytes)
    return n


def stat(m, *names):
    vs = m.vmstat()
    return {n: vs[n] for n in names}


# ------------------------------------------------------------------------------ no swap

def test_no_swap_anon_is_never_reclaimed_and_the_cache_goes_first(machine):
    m = machine(ram_mib=64)
    old = m.spawn("old")
    a = anon(m, old, 8 * MiB)
    r = m.spawn("reader")
    clean_file(m, r, "/data", 24 * MiB)
    mi0, vs0 = m.meminfo(), m.vmstat()
    assert mi0["Cached"] == 24 * 1024 and mi0["AnonPages"] == 8 * 1024
    hog = m.spawn("hog")
    anon(m, hog, 48 * MiB)  # free is ~31 MiB: at least 17 MiB must come out of the cache
    mi, vs = m.meminfo(), m.vmstat()
    assert vs["pswpout"] == 0 and mi["SwapTotal"] == 0
    assert vs["oom_kill"] == 0 and sorted(m.procs) == [1, old, r, hog]
    # every anonymous page is still there: the old process's and all of the hog's
    assert resident(m, old, a, 8 * MiB) == 2048
    assert m.proc_status(old)["RssAnon"] == 8 * 1024
    assert m.proc_status(hog)["RssAnon"] == 48 * 1024
    assert mi["AnonPages"] == mi0["AnonPages"] + 48 * 1024
    # ...and the page cache paid for it, page by page
    dropped = mi0["Cached"] - mi["Cached"]
    assert dropped >= 48 * 1024 - mi0["MemFree"]
    stolen = (vs["pgsteal_direct"] - vs0["pgsteal_direct"]) + (vs["pgsteal_kswapd"] - vs0["pgsteal_kswapd"])
    assert stolen * KB_PER_PAGE == dropped
    assert vs["allocstall"] > vs0["allocstall"]
    assert vs["pgscan_direct"] - vs0["pgscan_direct"] >= vs["pgsteal_direct"] - vs0["pgsteal_direct"]


def test_no_swap_scans_only_the_file_lists(machine):
    """get_scan_count: no swap ⇒ SCAN_FILE; inactive anon pages are not even looked at
    (no anon page is activated or rotated by the scan)."""
    m = machine(ram_mib=64)
    old = m.spawn("old")
    anon(m, old, 16 * MiB)
    r = m.spawn("reader")
    clean_file(m, r, "/data", 24 * MiB)
    mi0, vs0 = m.meminfo(), m.vmstat()
    hog = m.spawn("hog")
    anon(m, hog, 32 * MiB)
    mi, vs = m.meminfo(), m.vmstat()
    assert mi["Inactive(anon)"] == mi0["Inactive(anon)"] + 32 * 1024  # new anon starts inactive
    assert mi["Active(anon)"] == mi0["Active(anon)"] == 0
    assert vs["pgactivate"] == vs0["pgactivate"]
    scanned = vs["pgscan_direct"] - vs0["pgscan_direct"]
    stolen = vs["pgsteal_direct"] - vs0["pgsteal_direct"]
    assert scanned == stolen > 0  # clean, unmapped, once-read cache: every page scanned is freed


# -------------------------------------------------------------------------------- swap

def test_with_swap_a_big_once_read_cache_is_trimmed_before_any_swapping(machine):
    """cache_trim_mode: plenty of inactive file pages ⇒ the file lists only, even with swap."""
    m = machine(ram_mib=64, swap=[SwapDevice(size_mib=64)])
    old = m.spawn("old")
    a = anon(m, old, 8 * MiB)
    r = m.spawn("reader")
    clean_file(m, r, "/data", 32 * MiB)
    mi0 = m.meminfo()
    hog = m.spawn("hog")
    anon(m, hog, 24 * MiB)  # needs ~10 MiB back: well within the 32 MiB cache
    mi = m.meminfo()
    assert mi["Cached"] < mi0["Cached"]
    assert m.vmstat()["pswpout"] == 0
    assert mi["SwapFree"] == mi["SwapTotal"]
    assert resident(m, old, a, 8 * MiB) == 2048


def test_with_swap_anon_is_swapped_once_the_cache_is_small(machine):
    m = machine(ram_mib=64, swap=[SwapDevice(size_mib=64)])
    old = m.spawn("old")
    a = anon(m, old, 24 * MiB)
    r = m.spawn("reader")
    clean_file(m, r, "/small", 1 * MiB)
    hog = m.spawn("hog")
    anon(m, hog, 40 * MiB)  # 64 MiB of anon in a 64 MiB machine: some of it must go to swap
    mi, vs = m.meminfo(), m.vmstat()
    assert vs["oom_kill"] == 0 and hog in m.procs and old in m.procs
    assert vs["pswpout"] > 0
    assert mi["Cached"] <= 1024
    swapped = m.proc_status(old)["VmSwap"] + m.proc_status(hog)["VmSwap"]
    assert m.proc_status(old)["VmSwap"] > 0  # the oldest anon pages were the coldest
    assert swapped > 0
    # nothing was swapped back in, so every page written to swap is one PTE's swap entry
    assert vs["pswpin"] == 0
    assert swapped == vs["pswpout"] * KB_PER_PAGE == mi["SwapTotal"] - mi["SwapFree"]
    # resident + swapped = all of each process's anon memory
    assert m.proc_status(old)["RssAnon"] + m.proc_status(old)["VmSwap"] == 24 * 1024
    assert m.proc_status(hog)["RssAnon"] + m.proc_status(hog)["VmSwap"] == 40 * 1024
    assert resident(m, old, a, 24 * MiB) * KB_PER_PAGE == m.proc_status(old)["RssAnon"]
    assert mi["AnonPages"] == m.proc_status(old)["RssAnon"] + m.proc_status(hog)["RssAnon"]


def _swappiness_run(machine, swappiness, *, small_once_read_mib=0):
    """128 MiB + 128 MiB swap: a 40 MiB file read twice (all on the active file list), 40 MiB of
    anon, then a 60 MiB hog. Both the anon and the file lists are large."""
    m = machine(ram_mib=128, swap=[SwapDevice(size_mib=128)],
                sysctl={"vm.swappiness": swappiness})
    r = m.spawn("reader")
    clean_file(m, r, "/hot", 40 * MiB, reads=2)
    if small_once_read_mib:
        clean_file(m, r, "/once", small_once_read_mib * MiB)
    a = m.spawn("anon")
    anon(m, a, 40 * MiB)
    mi0 = m.meminfo()
    assert mi0["Active(file)"] == 40 * 1024 and mi0["Inactive(anon)"] == 40 * 1024
    h = m.spawn("hog")
    anon(m, h, 60 * MiB)
    assert m.vmstat()["oom_kill"] == 0
    return m, mi0, a


def test_swappiness_0_vs_200_decides_which_list_pays(machine):
    """SCAN_FRACT: ap = swappiness·(T+1)/(a+1), fp = (200 − swappiness)·(T+1)/(f+1).
    The file list is all active (inactive file low: no cache_trim_mode), so the balance decides:
    swappiness 0 never swaps, swappiness 200 never touches the file lists."""
    m0, before0, _ = _swappiness_run(machine, 0)
    m200, before200, a200 = _swappiness_run(machine, 200)
    v0, v200 = m0.vmstat(), m200.vmstat()
    mi0, mi200 = m0.meminfo(), m200.meminfo()
    # swappiness 0: the file cache paid, no swap I/O
    assert v0["pswpout"] == 0 and mi0["SwapFree"] == mi0["SwapTotal"]
    assert mi0["Cached"] < before0["Cached"] - 16 * 1024
    # swappiness 200: anon paid, the cache is untouched
    assert v200["pswpout"] > 0 and m200.proc_status(a200)["VmSwap"] > 0
    assert mi200["Cached"] == before200["Cached"] == 40 * 1024
    assert mi200["Active(file)"] + mi200["Inactive(file)"] == 40 * 1024


def test_swappiness_200_ignores_the_file_lists_even_with_a_small_inactive_file(machine):
    """Kernel: prepare_scan_control sets cache_trim_mode only if inactive_file >> priority AND
    !(may_deactivate & DEACTIVATE_FILE); inactive_is_low(file) (512 inactive vs 10240 active
    pages) sets DEACTIVATE_FILE, so SCAN_FRACT applies and fp = 0 at swappiness 200."""
    m, before, a = _swappiness_run(machine, 200, small_once_read_mib=2)
    mi, vs = m.meminfo(), m.vmstat()
    assert vs["pswpout"] > 0
    assert before["Cached"] == 42 * 1024
    # Freshly faulted anon pages are young, so a direct reclaim may scan down to priority 0,
    # where get_scan_count uses SCAN_EQUAL: at most one SWAP_CLUSTER_MAX batch of file pages.
    # Without the fix, cache_trim_mode dropped 21 MiB of cache here and swapped nothing.
    assert before["Cached"] - mi["Cached"] <= 32 * 4
    assert vs["pgsteal_direct"] - vs["pswpout"] <= 32


# ------------------------------------------------------------------------- what is exempt

def test_mlocked_anon_pages_are_never_swapped(machine):
    m = machine(ram_mib=64, swap=[SwapDevice(size_mib=64)])
    locker = m.spawn("locker")
    a = m.mmap(locker, 8 * MiB)
    m.mlock(locker, a, 8 * MiB)  # RLIMIT_MEMLOCK default is 8 MiB: exactly allowed
    assert m.meminfo()["Mlocked"] == 8 * 1024
    hog = m.spawn("hog")
    anon(m, hog, 72 * MiB)  # more than RAM: swapping is certain
    mi, vs = m.meminfo(), m.vmstat()
    assert vs["pswpout"] > 0 and vs["oom_kill"] == 0
    assert m.proc_status(hog)["VmSwap"] > 0
    assert m.proc_status(locker)["VmSwap"] == 0
    assert m.proc_status(locker)["RssAnon"] == 8 * 1024
    assert resident(m, locker, a, 8 * MiB) == 2048
    assert mi["Mlocked"] == 8 * 1024 and mi["Unevictable"] >= 8 * 1024


def test_mlocked_file_pages_are_never_dropped(machine):
    m = machine(ram_mib=64)
    r = m.spawn("reader")
    clean_file(m, r, "/locked", 8 * MiB)
    clean_file(m, r, "/other", 24 * MiB)
    locker = m.spawn("locker")
    a = m.mmap(locker, 8 * MiB, prot="r", flags="private", file="/locked")
    m.mlock(locker, a, 8 * MiB)  # read faults: the page-cache pages themselves are locked
    assert m.meminfo()["Mlocked"] == 8 * 1024
    hog = m.spawn("hog")
    anon(m, hog, 40 * MiB)  # the cache must shrink by more than 8 MiB
    mi = m.meminfo()
    assert m.vmstat()["oom_kill"] == 0
    # /locked was read first, so unlocked it would have been the oldest cache and gone first;
    # instead /other lost more than /locked's whole size
    assert file_resident(m, r, "/other", 24 * MiB) < (24 - 8) * 256
    assert resident(m, locker, a, 8 * MiB) == 2048
    assert file_resident(m, r, "/locked", 8 * MiB) == 2048
    assert mi["Mlocked"] == 8 * 1024 and mi["Cached"] >= 8 * 1024
    assert m.proc_status(locker)["RssFile"] == 8 * 1024


# ---------------------------------------------------------------------------- writeback

def _squeeze_cache(machine, dirty: bool):
    m = machine(ram_mib=64)
    w = m.spawn("writer")
    if dirty:
        m.write_file(w, "/log", 24 * MiB)
    else:
        clean_file(m, w, "/log", 24 * MiB)
    mi0, vs0 = m.meminfo(), m.vmstat()
    hog = m.spawn("hog")
    anon(m, hog, 44 * MiB)
    return m, mi0, vs0


def test_dirty_file_pages_are_written_before_they_are_dropped(machine):
    m, mi0, vs0 = _squeeze_cache(machine, dirty=True)
    assert mi0["Dirty"] == mi0["Cached"] == 24 * 1024 and vs0["nr_written"] == 0
    mi, vs = m.meminfo(), m.vmstat()
    written = vs["nr_written"] - vs0["nr_written"]
    dropped = (mi0["Cached"] - mi["Cached"]) // KB_PER_PAGE
    assert dropped > 0
    assert written >= dropped                         # no page left the cache unwritten
    assert mi["Dirty"] == mi0["Dirty"] - written * KB_PER_PAGE
    assert mi["Dirty"] <= mi["Cached"]
    assert vs["pgrotated"] - vs0["pgrotated"] > 0      # written pages went back on the list
    assert vs["pswpout"] == 0


def test_clean_file_pages_are_dropped_without_writeback(machine):
    m, mi0, vs0 = _squeeze_cache(machine, dirty=False)
    mi, vs = m.meminfo(), m.vmstat()
    assert mi0["Dirty"] == mi["Dirty"] == 0
    assert mi["Cached"] < mi0["Cached"]
    assert vs["nr_written"] == 0 and vs["pgrotated"] == vs0["pgrotated"]


# ------------------------------------------------------------------------- second chance

def test_a_page_used_twice_survives_the_scan_that_evicts_a_page_used_once(machine):
    """folio_mark_accessed: the second read moves the page to the active list, which reclaim
    does not scan while the inactive list is big enough. /twice is read *before* /once, so
    without activation its pages would be the oldest on the inactive list and go first."""
    m = machine(ram_mib=64)
    r = m.spawn("reader")
    clean_file(m, r, "/twice", 8 * MiB, reads=2)
    clean_file(m, r, "/once", 16 * MiB, reads=1)
    mi0 = m.meminfo()
    assert mi0["Active(file)"] == 8 * 1024 and mi0["Inactive(file)"] == 16 * 1024
    hog = m.spawn("hog")
    anon(m, hog, 44 * MiB)  # ~8 MiB must be reclaimed, less than /once holds
    assert m.vmstat()["oom_kill"] == 0
    once = file_resident(m, r, "/once", 16 * MiB)
    assert once < 4096  # reclaim happened, and it took from /once
    assert file_resident(m, r, "/twice", 8 * MiB) == 2048
    assert m.meminfo()["Cached"] == 8 * 1024 + once * KB_PER_PAGE


def _mapped_pair_run(machine, touch_a_again: bool):
    """Two 8 MiB files faulted in through read-only mappings (not read(): their pages carry no
    PG_referenced, only the accessed bit of the PTE), /a before /b, then 8 MiB of once-read
    cache /c. Squeeze 1 scans /a and /b once (accessed → KEEP, PG_referenced set, accessed bit
    cleared) and frees part of /c; squeeze 2 needs more than /c has left."""
    m = machine(ram_mib=64)
    r = m.spawn("reader")
    p = m.spawn("mapper")
    for path in ("/a", "/b"):
        m.write_file(r, path, 0, offset=8 * MiB)
    a = m.mmap(p, 8 * MiB, prot="r", flags="private", file="/a")
    b = m.mmap(p, 8 * MiB, prot="r", flags="private", file="/b")
    m.touch(p, a, 8 * MiB, write=False)
    m.touch(p, b, 8 * MiB, write=False)
    clean_file(m, r, "/c", 8 * MiB)
    assert m.meminfo()["Inactive(file)"] == 24 * 1024 and m.meminfo()["Mapped"] == 16 * 1024
    hog = m.spawn("hog")
    anon(m, hog, 40 * MiB)
    # squeeze 1: the mapped pages were scanned but kept, only /c lost pages
    assert m.vmstat()["pgscan_direct"] > m.vmstat()["pgsteal_direct"] > 0
    assert (resident(m, p, a, 8 * MiB), resident(m, p, b, 8 * MiB)) == (2048, 2048)
    assert file_resident(m, r, "/c", 8 * MiB) < 2048
    if touch_a_again:
        m.touch(p, a, 8 * MiB, write=False)
    anon(m, hog, 8 * MiB)
    assert m.vmstat()["oom_kill"] == 0
    return m, resident(m, p, a, 8 * MiB), resident(m, p, b, 8 * MiB)


def test_a_mapped_page_gets_a_second_chance_and_is_activated_if_used_again(machine):
    """folio_check_references: a mapped page with its accessed bit set is kept on its first
    scan; if it was accessed again by the next scan (PG_referenced + young) it is activated,
    otherwise it is reclaimed. /a is older than /b on the inactive list."""
    m, ra, rb = _mapped_pair_run(machine, touch_a_again=False)
    assert ra < 2048 and rb == 2048           # oldest first: /a goes
    assert m.vmstat()["pgactivate"] == 0
    m, ra, rb = _mapped_pair_run(machine, touch_a_again=True)
    assert ra == 2048 and rb < 2048           # /a, used again, is activated; /b goes instead
    assert m.vmstat()["pgactivate"] >= 2048
    assert m.meminfo()["Active(file)"] > 0


# --------------------------------------------------------------------------- MADV_FREE

def _lazyfree_run(machine, advise: bool):
    m = machine(ram_mib=64, swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = anon(m, p, 16 * MiB)
    if advise:
        m.madvise(p, a, 16 * MiB, "free")
    vs0, mi0 = m.vmstat(), m.meminfo()
    hog = m.spawn("hog")
    anon(m, hog, 52 * MiB)  # ~12 MiB must be reclaimed: less than the 16 MiB given up
    assert m.vmstat()["oom_kill"] == 0
    return m, p, a, vs0, mi0


def test_madv_free_pages_are_dropped_without_io(machine):
    m, p, a, vs0, mi0 = _lazyfree_run(machine, advise=True)
    assert vs0["nr_lazyfree"] == 4096 and mi0["Inactive(file)"] == 16 * 1024
    assert mi0["AnonPages"] == 16 * 1024  # lazily freed pages are still anon pages, still mapped
    vs, st = m.vmstat(), m.proc_status(p)
    assert vs["pswpout"] == 0 and vs["nr_written"] == 0
    assert st["VmSwap"] == 0
    assert st["RssAnon"] < 16 * 1024                   # some pages were simply freed
    assert vs["nr_lazyfree"] * KB_PER_PAGE == st["RssAnon"]
    assert resident(m, p, a, 16 * MiB) * KB_PER_PAGE == st["RssAnon"]
    dropped = 4096 - st["RssAnon"] // KB_PER_PAGE
    faults = m.touch(p, a, 16 * MiB, write=False)      # dropped pages read back as zeros:
    assert faults == dropped                           # one minor fault each maps the zero page
    assert m.vmstat()["pswpin"] == 0 and m.vmstat()["pgmajfault"] == vs["pgmajfault"]
    assert m.proc_status(p)["RssAnon"] == st["RssAnon"]


def test_without_madv_free_the_same_pressure_swaps(machine):
    """Control for the test above: the identical run without the advice does swap."""
    m, p, a, vs0, mi0 = _lazyfree_run(machine, advise=False)
    assert vs0["nr_lazyfree"] == 0
    assert m.vmstat()["pswpout"] > 0


def test_madv_free_pages_written_again_are_kept(machine):
    """A lazily freed page that is written again is swap-backed again: reclaim must not drop
    it (its new contents would be lost)."""
    m = machine(ram_mib=64, swap=[SwapDevice(size_mib=64)])
    p = m.spawn("p")
    a = anon(m, p, 16 * MiB)
    m.madvise(p, a, 16 * MiB, "free")
    m.touch(p, a, 4 * MiB)  # the first 4 MiB are re-dirtied
    hog = m.spawn("hog")
    anon(m, hog, 52 * MiB)
    st = m.proc_status(p)
    assert m.vmstat()["oom_kill"] == 0
    kept = resident(m, p, a, 4 * MiB)
    swapped_entries = st["VmSwap"] // KB_PER_PAGE
    assert kept + swapped_entries >= 1024  # every re-dirtied page is in RAM or in swap
    assert resident(m, p, a + 4 * MiB, 12 * MiB) < 3072  # the clean lazy ones were dropped


# ------------------------------------------------------------------------------- kswapd

def below_low(z) -> bool:
    """No zone passes the low watermark for a user (Movable-highest) allocation."""
    return all(v["free"] <= v["low"] + v["protection"][MOVABLE]
               for v in z.values() if v["managed"])


def balanced(z) -> bool:
    """pgdat_balanced: some zone passes its high watermark."""
    return any(v["free"] > v["high"] + v["protection"][MOVABLE]
               for v in z.values() if v["managed"])


def kswapd_events(report):
    return [e.message for e in report.events if e.kind == "kswapd"]


def test_kswapd_sleeps_while_every_zone_is_above_low(machine):
    m = machine(ram_mib=64)
    p = m.spawn("p")
    anon(m, p, 8 * MiB)
    r = m.step(10)
    assert kswapd_events(r) == []
    assert stat(m, "pageoutrun", "pgscan_kswapd") == {"pageoutrun": 0, "pgscan_kswapd": 0}


def test_kswapd_wakes_below_low_and_sleeps_above_high(machine):
    m = machine(ram_mib=64)
    r = m.spawn("reader")
    clean_file(m, r, "/big", 80 * MiB)  # more than RAM: the cache fills memory to the min mark
    z = m.zoneinfo()
    assert below_low(z) and not balanced(z)
    vs0 = m.vmstat()
    assert vs0["pageoutrun"] == 0
    rep = m.step()
    assert kswapd_events(rep) == ["kswapd0 woke: free pages below the low watermark",
                                  "kswapd0 went to sleep: a zone is above its high watermark"]
    woke, slept = [e for e in rep.events if e.kind == "kswapd"]
    assert woke.tick == slept.tick == rep.tick == 1
    vs = m.vmstat()
    assert vs["pageoutrun"] == 1
    assert vs["pgscan_kswapd"] > 0 and vs["pgsteal_kswapd"] > 0
    assert vs["pgscan_direct"] == vs0["pgscan_direct"]  # all of it kswapd's own work
    assert slept.data["freed"] == vs["pgsteal_kswapd"]
    z = m.zoneinfo()
    assert balanced(z)
    assert any(v["free"] >= v["high"] for v in z.values() if v["managed"])
    # asleep now: the next ticks do nothing
    rep = m.step(5)
    assert kswapd_events(rep) == []
    assert m.vmstat()["pageoutrun"] == 1


def test_kswapd_gives_up_after_16_fruitless_runs_until_direct_reclaim_succeeds(machine):
    m = machine(ram_mib=64)  # no swap, no page cache: nothing at all is reclaimable
    p = m.spawn("p")
    x = m.mmap(p, 62 * MiB)
    z = m.zoneinfo()
    dma, dma32 = z["DMA"], z["DMA32"]
    # allocate just past both low marks (and well short of min): kswapd is woken, no direct
    # reclaim, no OOM; page tables take a few pages of the 40 margin
    n = (dma32["free"] - dma32["low"]) + (dma["free"] - dma["low"] - dma["protection"][MOVABLE]) + 40
    m.touch(p, x, n * PAGE)
    z = m.zoneinfo()
    assert below_low(z)
    assert all(v["free"] > v["min"] + v["protection"][MOVABLE] for v in z.values() if v["managed"])
    assert m.vmstat()["allocstall"] == 0
    events = []
    for _ in range(16):
        events += [(e.tick, e.message) for e in m.step().events if e.kind == "kswapd"]
    assert events == [(1, "kswapd0 woke: free pages below the low watermark"),
                      (16, "kswapd0 gave up after 16 fruitless runs")]
    vs = m.vmstat()
    assert vs["pageoutrun"] == 16 and vs["pgscan_kswapd"] == vs["pgsteal_kswapd"] == 0
    # more allocations below low do not wake a hopeless kswapd
    m.touch(p, x + n * PAGE, 16 * PAGE)
    assert kswapd_events(m.step(5)) == []
    assert m.vmstat()["pageoutrun"] == 16
    # a direct reclaim that frees something revives it: reading a file below min reclaims
    # the file's own first pages
    clean_file(m, p, "/f", 4 * MiB)
    vs = m.vmstat()
    assert vs["allocstall"] > 0 and vs["pgsteal_direct"] > 0
    rep = m.step()
    assert kswapd_events(rep)[:1] == ["kswapd0 woke: free pages below the low watermark"]
    assert m.vmstat()["pageoutrun"] == 17


def test_file_is_tiny_counts_the_high_watermarks_of_managed_zones_only(machine):
    """prepare_scan_control sums high_wmark_pages over for_each_managed_zone_pgdat. An empty
    zone has watermarks too: Movable's min is min(max(0 // 1024, 32), 128) = 32 pages with
    nothing managed, and its high 32 + 2 * 0 = 32; the sum leaves it out."""
    m = machine(64)
    zi = m.zoneinfo()
    assert zi["Movable"]["managed"] == 0 and zi["Movable"]["high"] == 32
    assert K.total_high_wmark(zn=m.zn) == zi["DMA"]["high"] + zi["DMA32"]["high"]
    assert int(m.zn.wmark[:, S.WMARK_HIGH].sum()) - K.total_high_wmark(zn=m.zn) == 32


def test_kswapd_starts_each_run_without_memcg_low_reclaim(machine):
    """balance_pgdat's scan_control starts with memcg_low_reclaim 0, whatever the last direct
    or memcg reclaim (which may retry below memory.low) left: kswapd never reclaims a group
    under its memory.low."""
    m = machine(64)
    m.lru.scope[S.SCOPE_LOW_RECLAIM] = 1          # as a direct reclaim's retry leaves it
    m.rs.state[S.RS_KSWAPD_AWAKE] = 1
    m.memcg.global_reclaim(K.kswapd_run)
    assert m.lru.scope[S.SCOPE_LOW_RECLAIM] == 0
