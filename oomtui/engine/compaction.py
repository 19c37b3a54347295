"""Direct compaction (mm/compaction.c; KERNEL.md §5) for the allocation slow path.

**Compaction** itself is kernels.compact_zone: a migrate scanner from the zone start, a free
scanner from its end, COMPACT_CLUSTER_MAX pages isolated and migrated at a time, cached
scanner positions and deferral after failed sync runs, as the kernel does. Not modelled:
migratetypes and pageblock skip hints, the free-list fast searches (fast_find_migrateblock,
fast_isolate_freepages; the free scanner checks every pfn instead), capture of the freed
block, kcompactd and proactive compaction. When the slow path compacts is allocator.py's.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.config import ZONE_NAMES
from oomtui.engine.reclaim import SCAN_US

COMPACT_MAX_DEFER_SHIFT = 6
RESULT_NAMES = ("not_suitable_zone", "skipped", "deferred", "no_suitable_page", "continue",
                "complete", "partial_skipped", "contended", "success")
PRIO_NAMES = ("sync_full", "sync_light", "async")


# -- deferral (mm/compaction.c) -------------------------------------------------------------------

def defer_compaction(zn, z: int, order: int) -> None:
    """defer_compaction: skip the next 2^shift compactions of the zone at this order."""
    zn.compact_considered[z] = 0
    zn.compact_defer_shift[z] = min(zn.compact_defer_shift[z] + 1, COMPACT_MAX_DEFER_SHIFT)
    zn.compact_order_failed[z] = min(zn.compact_order_failed[z], order)


def compaction_deferred(zn, z: int, order: int) -> bool:
    """compaction_deferred: True while the zone's deferral lasts."""
    if order < zn.compact_order_failed[z]:
        return False
    limit = 1 << int(zn.compact_defer_shift[z])
    zn.compact_considered[z] += 1
    if zn.compact_considered[z] >= limit:
        zn.compact_considered[z] = limit
        return False
    return True


def compaction_defer_reset(zn, z: int, order: int, alloc_success: bool) -> None:
    """compaction_defer_reset: compaction worked (or is expected to) at this order."""
    if alloc_success:
        zn.compact_considered[z] = 0
        zn.compact_defer_shift[z] = 0
    if order >= zn.compact_order_failed[z]:
        zn.compact_order_failed[z] = order + 1


class Compaction:
    """Direct compaction for a Machine `m`, and its views."""

    def __init__(self, m):
        self.m = m

    def try_to_compact_pages(self, order: int, prio: int, highest: int, current) -> int:
        """try_to_compact_pages: compact each zone of the zonelist, unless deferred, until
        one could satisfy the order; returns the highest compact_result seen."""
        m = self.m
        rc = K.COMPACT_SKIPPED
        for z in range(highest, -1, -1):
            if not m.managed[z]:
                continue
            if prio > K.COMPACT_PRIO_SYNC_FULL and compaction_deferred(m.zn, z, order):
                rc = max(rc, K.COMPACT_DEFERRED)
                continue
            status = K.compact_zone(k=m.k, z=z, order=order, prio=prio, highest=highest)
            rc = max(rc, status)
            if status != K.COMPACT_SKIPPED:
                self._ran(z, order, prio, status, current)
            if status == K.COMPACT_SUCCESS:
                compaction_defer_reset(m.zn, z, order, False)
                break
            if prio != K.COMPACT_PRIO_ASYNC and status in (K.COMPACT_COMPLETE,
                                                           K.COMPACT_PARTIAL_SKIPPED):
                defer_compaction(m.zn, z, order)
        return rc

    def _ran(self, z: int, order: int, prio: int, status: int, current) -> None:
        """The allocating task stalls while it compacts; the run is an event for the UI."""
        m = self.m
        cc = m.zn.cc
        scanned = int(cc[S.CC_MIGRATE_SCANNED] + cc[S.CC_FREE_SCANNED])
        m.stalls.stall(current, "compaction", scanned * SCAN_US)
        moved = int(cc[S.CC_MOVED])
        m.log("compaction", current.pid if current is not None else 0,
              f"compaction of zone {ZONE_NAMES[z]} for order {order} "
              f"({PRIO_NAMES[prio]}): {moved} pages moved, {RESULT_NAMES[status]}",
              zone=ZONE_NAMES[z], order=order, priority=PRIO_NAMES[prio],
              moved=moved, result=RESULT_NAMES[status], success=status == K.COMPACT_SUCCESS,
              migrate_scanned=int(cc[S.CC_MIGRATE_SCANNED]),
              free_scanned=int(cc[S.CC_FREE_SCANNED]))

    # -- views ------------------------------------------------------------------------------------

    def buddyinfo(self) -> dict[str, list[int]]:
        """/proc/buddyinfo: free blocks of each order (0..10), per populated zone."""
        m = self.m
        return {name: [int(n) for n in m.zn.free_count[z]]
                for z, name in enumerate(ZONE_NAMES) if m.managed[z]}

    def compaction_moves(self) -> tuple[np.ndarray, np.ndarray]:
        """The last compaction run's migrations as (from_pfns, to_pfns), in order (at most
        COMPACT_TRACE of them): what a physical-memory map animates."""
        zn = self.m.zn
        n = min(int(zn.cc[S.CC_MOVED]), S.COMPACT_TRACE)
        return zn.moved_from[:n].copy(), zn.moved_to[:n].copy()
