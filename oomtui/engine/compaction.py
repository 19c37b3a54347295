"""Order > 0 allocations: transparent huge pages and direct compaction, mixed into Machine.

**Allocation of order > 0** (KERNEL.md §5) goes through `Machine._drive` with a `SlowPath`:
costly orders (> 3, a THP) and unmovable ones (a kernel stack, order 2) start with async
direct compaction; each direct reclaim is followed by direct compaction; a costly order then
fails (never OOM-kills: no __GFP_RETRY_MAYFAIL here), a small one retries while
should_reclaim_retry or should_compact_retry allow (raising the compaction priority), then
calls the OOM killer. compact_stall counts runs that were not skipped, compact_success /
compact_fail whether the allocation tried after the run then succeeded.

**Compaction** itself is kernels.compact_zone (mm/compaction.c): a migrate scanner from the
zone start, a free scanner from its end, COMPACT_CLUSTER_MAX pages isolated and migrated at a
time, cached scanner positions and deferral after failed sync runs, as the kernel does. Not
modelled: migratetypes and pageblock skip hints, the free-list fast searches
(fast_find_migrateblock, fast_isolate_freepages; the free scanner checks every pfn instead),
capture of the freed block, kcompactd and proactive compaction.

**A transparent huge page** is an order-9 block (2 MiB, 512-aligned pfns) whose 512 frames
stay individual anon pages: each on the LRU, each mapped by its own PTE at the virtual offset
matching its pfn (the PTE table stands for the page table the kernel deposits with a huge PMD,
so VmPTE is the same), all charged to one memcg. The frames carry F_THP while the THP is
intact; meminfo AnonHugePages counts them (vmstat nr_anon_transparent_hugepages counts THPs).
The first time any subpage is handled on its own (unmapped, CoW-copied, reclaimed, made
lazy-free, moved by mremap to a misaligned or partial range) the whole THP is split: the
kernel's split_huge_pmd and split of the folio in one step (it would keep counting a THP still
PMD-mapped by another process after fork). Compaction steps over THPs (compound pages). LRU
ageing sees 512 pages with their own accessed bits rather than one folio.

**A THP fault** (do_huge_pmd_anonymous_page): a write fault on a private anonymous VMA with
THP enabled (thp="always" unless MADV_NOHUGEPAGE; thp="madvise" only with MADV_HUGEPAGE),
where the 2 MiB-aligned range lies wholly in the VMA and has no page table yet (pmd_none).
With the kernel's default defrag "madvise", a MADV_HUGEPAGE VMA allocates with GFP_TRANSHUGE
(direct reclaim and compaction, no kswapd wakeup), any other with GFP_TRANSHUGE_LIGHT (free
lists only). Failure, or a memcg charge refused, falls back to 4 KiB pages
(thp_fault_fallback, thp_fault_fallback_charge). A read fault maps the zero page as before
(the kernel maps the huge zero page).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.config import ZONE_NAMES
from oomtui.engine.state import (
    ANON,
    HPAGE_PMD_NR,
    HPAGE_PMD_ORDER,
    PAGE_SHIFT,
    V_ANON,
    V_HUGEPAGE,
    V_LOCKED,
    V_NOHUGEPAGE,
    V_SHARED,
    WMARK_LOW,
    WMARK_MIN,
    ZONE_MOVABLE,
)

HPAGE_SIZE = HPAGE_PMD_NR << PAGE_SHIFT
COMPACT_MAX_DEFER_SHIFT = 6
MAX_COMPACT_RETRIES = 16
RESULT_NAMES = ("not_suitable_zone", "skipped", "deferred", "no_suitable_page", "continue",
                "complete", "partial_skipped", "contended", "success")
PRIO_NAMES = ("sync_full", "sync_light", "async")
SCAN_US = 1  # as reclaim: CPU time per page a compaction scanner looks at
RETRY, FAIL, OOM = range(3)  # what _slowpath_step tells _drive


@dataclass
class SlowPath:
    """__alloc_pages_slowpath's state for one allocation of order > 0."""
    order: int
    highest: int  # the highest zone the allocation may use
    movable: bool  # GFP_MOVABLE: no async compaction first unless costly
    direct: bool = True  # __GFP_DIRECT_RECLAIM: may reclaim and compact
    step: str = "start"  # what the next failed attempt leads to
    prio: int = K.COMPACT_PRIO_ASYNC  # compact_priority
    retries: int = 0  # compaction_retries
    result: int = K.COMPACT_SKIPPED  # the last direct compaction's compact_result
    compacted: bool = False  # the attempt under way follows a direct compaction
    progress: bool = False  # did_some_progress of the last direct reclaim
    no_progress: int = 0  # no_progress_loops
    pfn: int = -1  # what the last attempt got


class CompactionCalls:
    """THP faults, the order > 0 slow path, direct compaction and its view."""

    def _alloc_pages(self, order: int, highest: int, ftype: int, owner: int, current, *,
                     movable: bool = True, direct: bool = True, kswapd: bool = True) -> int:
        """alloc_pages through the slow path: the block's first pfn, or -1 when the
        allocation failed or `current` was killed on the way."""
        slow = SlowPath(order, highest, movable, direct)

        def attempt(done, out):
            if kswapd:
                slow.pfn = K.alloc_pages(self.fr, self.zn, self.ctr, self.rs, order, highest, ftype, owner)
            else:  # the fast path at low, then the slow path's try at min, waking nobody
                slow.pfn = K.alloc_from_zones(self.fr, self.zn, self.ctr, order, highest, WMARK_LOW,
                                              ftype, owner)
                if slow.pfn < 0:
                    slow.pfn = K.alloc_from_zones(self.fr, self.zn, self.ctr, order, highest,
                                                  WMARK_MIN, ftype, owner)
            return K.stop(out, 1, 0 if slow.pfn >= 0 else K.NO_MEMORY)

        return slow.pfn if self._drive(attempt, current, slow=slow if order else None)[1] else -1

    def _slowpath_step(self, slow: SlowPath, current) -> int:
        """__alloc_pages_slowpath after a failed attempt of order > 0 (KERNEL.md §5): what to
        do before the next attempt (RETRY), or FAIL, or OOM."""
        if not slow.direct:
            return FAIL  # no __GFP_DIRECT_RECLAIM
        costly = slow.order > K.PAGE_ALLOC_COSTLY_ORDER
        if slow.step == "start":
            slow.step = "reclaim"
            if costly or not slow.movable:  # step 3: async compaction before any reclaim
                self._direct_compact(slow, current)
                return RETRY
        if slow.step == "reclaim":  # step 5: reclaim and retry, then compact and retry
            slow.progress = self._direct_reclaim(current) > 0
            slow.step = "compact"
            return RETRY
        if slow.step == "compact":
            slow.step = "decide"
            self._direct_compact(slow, current)
            return RETRY
        slow.step = "reclaim"
        if costly:
            return FAIL  # step 6: a costly order without __GFP_RETRY_MAYFAIL
        slow.no_progress = 0 if slow.progress else slow.no_progress + 1
        if slow.no_progress <= K.MAX_RECLAIM_RETRIES and K.should_reclaim_retry(
                self.k, slow.order, slow.highest):
            return RETRY
        if slow.progress and self._should_compact_retry(slow):
            return RETRY
        slow.no_progress = 0  # an OOM kill counts as progress
        return OOM

    def _should_compact_retry(self, slow: SlowPath) -> bool:
        """should_compact_retry: after a skipped run, retry if reclaim could make it
        suitable; after a successful one, a few times; else raise the priority."""
        if slow.result == K.COMPACT_SKIPPED:
            return K.compaction_zonelist_suitable(self.k, slow.order, slow.highest)
        costly = slow.order > K.PAGE_ALLOC_COSTLY_ORDER
        if slow.result == K.COMPACT_SUCCESS:
            slow.retries += 1
            if slow.retries <= (MAX_COMPACT_RETRIES // 4 if costly else MAX_COMPACT_RETRIES):
                return True
        min_priority = K.COMPACT_PRIO_SYNC_LIGHT if costly else K.COMPACT_PRIO_SYNC_FULL
        if slow.prio > min_priority:
            slow.prio -= 1
            slow.retries = 0
            return True
        return False

    def _direct_compact(self, slow: SlowPath, current) -> None:
        """__alloc_pages_direct_compact up to the allocation attempt that follows it."""
        slow.result = self._try_to_compact_pages(slow, current)
        if slow.result != K.COMPACT_SKIPPED:
            self.ctr.vm[S.COMPACTSTALL] += 1
            slow.compacted = True

    def _compact_outcome(self, slow: SlowPath, allocated: bool) -> None:
        """The attempt after a direct compaction: compact_success (the zone's deferral is
        reset) or compact_fail."""
        slow.compacted = False
        if allocated:
            self.ctr.vm[S.COMPACTSUCCESS] += 1
            self._compaction_defer_reset(K.zone_of(self.zn, slow.pfn), slow.order, True)
        else:
            self.ctr.vm[S.COMPACTFAIL] += 1

    def _try_to_compact_pages(self, slow: SlowPath, current) -> int:
        """try_to_compact_pages: compact each zone of the zonelist, unless deferred, until
        one could satisfy the order; returns the highest compact_result seen."""
        rc = K.COMPACT_SKIPPED
        for z in range(slow.highest, -1, -1):
            if not self.managed[z]:
                continue
            if slow.prio > K.COMPACT_PRIO_SYNC_FULL and self._compaction_deferred(z, slow.order):
                rc = max(rc, K.COMPACT_DEFERRED)
                continue
            status = K.compact_zone(self.k, z, slow.order, slow.prio, slow.highest)
            rc = max(rc, status)
            if status != K.COMPACT_SKIPPED:
                self._compaction_ran(z, slow, status, current)
            if status == K.COMPACT_SUCCESS:
                self._compaction_defer_reset(z, slow.order, False)
                break
            if slow.prio != K.COMPACT_PRIO_ASYNC and status in (K.COMPACT_COMPLETE,
                                                                K.COMPACT_PARTIAL_SKIPPED):
                self._defer_compaction(z, slow.order)
        return rc

    def _compaction_ran(self, z: int, slow: SlowPath, status: int, current) -> None:
        """The allocating task stalls while it compacts; the run is an event for the UI."""
        cc = self.zn.cc
        scanned = int(cc[S.CC_MIGRATE_SCANNED] + cc[S.CC_FREE_SCANNED])
        self._stall(current, "compaction", scanned * SCAN_US)
        moved = int(cc[S.CC_MOVED])
        self._event("compaction", current.pid if current is not None else 0,
                    f"compaction of zone {ZONE_NAMES[z]} for order {slow.order} "
                    f"({PRIO_NAMES[slow.prio]}): {moved} pages moved, {RESULT_NAMES[status]}",
                    zone=ZONE_NAMES[z], order=slow.order, priority=PRIO_NAMES[slow.prio],
                    moved=moved, result=RESULT_NAMES[status], success=status == K.COMPACT_SUCCESS,
                    migrate_scanned=int(cc[S.CC_MIGRATE_SCANNED]),
                    free_scanned=int(cc[S.CC_FREE_SCANNED]))

    # -- deferral (mm/compaction.c) -------------------------------------------------------------

    def _defer_compaction(self, z: int, order: int) -> None:
        """defer_compaction: skip the next 2^shift compactions of the zone at this order."""
        zn = self.zn
        zn.compact_considered[z] = 0
        zn.compact_defer_shift[z] = min(zn.compact_defer_shift[z] + 1, COMPACT_MAX_DEFER_SHIFT)
        zn.compact_order_failed[z] = min(zn.compact_order_failed[z], order)

    def _compaction_deferred(self, z: int, order: int) -> bool:
        """compaction_deferred: True while the zone's deferral lasts."""
        zn = self.zn
        if order < zn.compact_order_failed[z]:
            return False
        limit = 1 << int(zn.compact_defer_shift[z])
        zn.compact_considered[z] += 1
        if zn.compact_considered[z] >= limit:
            zn.compact_considered[z] = limit
            return False
        return True

    def _compaction_defer_reset(self, z: int, order: int, alloc_success: bool) -> None:
        """compaction_defer_reset: compaction worked (or is expected to) at this order."""
        zn = self.zn
        if alloc_success:
            zn.compact_considered[z] = 0
            zn.compact_defer_shift[z] = 0
        if order >= zn.compact_order_failed[z]:
            zn.compact_order_failed[z] = order + 1

    # -- THP faults -----------------------------------------------------------------------------

    def _thp_enabled(self, v) -> bool:
        """thp_vma_allowable_order for a private anonymous VMA at PMD order."""
        mode = self.config.thp
        if mode == "never" or v.flags & V_NOHUGEPAGE or v.flags & V_SHARED or not v.flags & V_ANON:
            return False
        if mode == "madvise" and not v.flags & V_HUGEPAGE:
            return False
        # transhuge_vma_suitable: virtual address and page offset aligned alike
        return ((v.start >> PAGE_SHIFT) - v.pgoff) % HPAGE_PMD_NR == 0

    def _thp_fault(self, p, v, haddr: int) -> tuple[bool, bool]:
        """do_huge_pmd_anonymous_page at haddr: (mapped, alive). Not mapped: fall back to
        4 KiB pages (the allocation or the memcg charge failed)."""
        # defrag "madvise": GFP_TRANSHUGE for MADV_HUGEPAGE VMAs, else GFP_TRANSHUGE_LIGHT
        pfn = self._alloc_pages(HPAGE_PMD_ORDER, ZONE_MOVABLE, ANON, v.anon, p,
                                direct=bool(v.flags & V_HUGEPAGE), kswapd=False)
        if pfn < 0:
            self.ctr.vm[S.THP_FAULT_FALLBACK] += 1
            return False, True
        mm, vpage, index = p.mm.id, haddr >> PAGE_SHIFT, v.pgoff_at(haddr)
        faults, alive = self._drive(lambda done, out: K.do_huge_pmd_anonymous_page(
            self.k, mm, vpage, pfn, v.anon, index, bool(v.flags & V_LOCKED), out), p)
        if not alive:  # no page table could be had: the block was never mapped
            K.free_pages(self.fr, self.zn, self.ctr, pfn, HPAGE_PMD_ORDER)
        return faults > 0, alive

    def _thp_ranges(self, p, v, s: int, e: int, write: bool) -> list[int]:
        """The 2 MiB-aligned ranges of [s, e) a fault would try to back with a THP."""
        if not write or not self._thp_enabled(v):
            return []
        first = max(-(-v.start // HPAGE_SIZE) * HPAGE_SIZE, s & ~(HPAGE_SIZE - 1))
        last = min(e - 1, (v.end & ~(HPAGE_SIZE - 1)) - HPAGE_SIZE)
        return [h for h in range(first, last + 1, HPAGE_SIZE)
                if K.pte_table(self.pt, p.mm.id, h >> PAGE_SHIFT) < 0]  # pmd_none

    # -- views ----------------------------------------------------------------------------------

    def buddyinfo(self) -> dict[str, list[int]]:
        """/proc/buddyinfo: free blocks of each order (0..10), per populated zone."""
        return {name: [int(n) for n in self.zn.free_count[z]]
                for z, name in enumerate(ZONE_NAMES) if self.managed[z]}

    def compaction_moves(self) -> tuple[np.ndarray, np.ndarray]:
        """The last compaction run's migrations as (from_pfns, to_pfns), in order (at most
        COMPACT_TRACE of them): what a physical-memory map animates."""
        n = min(int(self.zn.cc[S.CC_MOVED]), S.COMPACT_TRACE)
        return self.zn.moved_from[:n].copy(), self.zn.moved_to[:n].copy()
