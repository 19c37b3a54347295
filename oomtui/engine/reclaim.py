"""Who runs page reclaim (mm/vmscan.c; KERNEL.md §6): kswapd0's share of a tick and direct
reclaim for an allocation. The reclaim itself (LRU scans, shrink_slab, swap-out, writeback
requests) is in the kernels; Memcg.global_reclaim points them at every memcg, with each
group's memory.min/low protection.
"""

from __future__ import annotations

from oomtui.engine import kernels as K
from oomtui.engine import state as S

SCAN_US = 1  # direct reclaim and compaction cost CPU per page they scan (a model constant)


class Reclaim:
    """kswapd0 and direct reclaim for a Machine `m`."""

    def __init__(self, m):
        self.m = m
        self.kswapd_was_awake = False  # for the wake and sleep events

    def kswapd(self) -> None:
        """kswapd0's share of a tick (balance_pgdat), with its wake and sleep as events."""
        m = self.m
        state = m.rs.state
        if not state[S.RS_KSWAPD_AWAKE]:
            return
        if not self.kswapd_was_awake:
            self.kswapd_was_awake = True
            m.log("kswapd", 0, "kswapd0 woke: free pages below the low watermark")
        freed = m.memcg.global_reclaim(K.kswapd_run)
        if not state[S.RS_KSWAPD_AWAKE]:
            self.kswapd_was_awake = False
            hopeless = state[S.RS_KSWAPD_FAILURES] >= K.MAX_RECLAIM_RETRIES
            m.log("kswapd", 0, "kswapd0 gave up after 16 fruitless runs" if hopeless
                  else "kswapd0 went to sleep: a zone is above its high watermark",
                  freed=int(freed))

    def direct(self, current) -> int:
        """try_to_free_pages for an allocation: pages freed; the task stalls meanwhile."""
        m = self.m
        scanned = m.ctr.vm[S.PGSCAN_DIRECT]
        freed = m.memcg.global_reclaim(K.direct_reclaim)
        m.stalls.stall(current, "reclaim", int(m.ctr.vm[S.PGSCAN_DIRECT] - scanned) * SCAN_US)
        return freed
