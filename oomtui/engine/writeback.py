"""Dirty page cache and its writeback (mm/page-writeback.c, fs/fs-writeback.c; KERNEL.md §6):
the flusher threads' tick, the dirty thresholds, balance_dirty_pages for writers, and
reclaim waiting for writeback. Writing pages out is kernels.writeback_run's.
"""

from __future__ import annotations

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.state import PAGE_SHIFT

PAGE = 1 << PAGE_SHIFT
WRITE_MIB_S = 100  # what the flushers write to disk per second (a model constant)
MAX_PAUSE_MS = 200  # balance_dirty_pages: MAX_PAUSE = max(HZ/5, 1)
RATELIMIT_CALC_SHIFT = 10


class Writeback:
    """Writeback for a Machine `m`."""

    def __init__(self, m):
        self.m = m

    def flush(self) -> None:
        """The flusher threads' tick: periodic writeback every dirty_writeback_centisecs of
        what is older than dirty_expire_centisecs, background writeback above the background
        threshold, and what reclaim asked for; at most WRITE_MIB_S."""
        m = self.m
        st = m.rs.state
        if not st[S.RS_DQ_COUNT] and not st[S.RS_WB_COUNT]:
            return
        tick_ms = m.config.tick_ms
        interval = m.sysctl("vm.dirty_writeback_centisecs") * 10 // tick_ms
        if interval and m.tick % interval == 0:  # wb_workfn → wb_check_old_data_flush
            st[S.RS_EXPIRED] = m.tick - m.sysctl("vm.dirty_expire_centisecs") * 10 // tick_ms
        K.writeback_run(k=m.k, budget=self._budget(), bg_thresh=self.dirty_limits()[0])

    def _budget(self) -> int:
        return WRITE_MIB_S * 256 * self.m.config.tick_ms // 1000  # pages per tick

    def wait(self, current) -> bool:
        """reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK): reclaim found nothing it could free
        while file pages are dirty or under writeback, so the allocating task sleeps while the
        flushers write what reclaim asked for: a tick, or until more than SWAP_CLUSTER_MAX
        pages are written (__acct_reclaim_writeback wakes it) when a tick writes fewer. Less
        than a reclaim batch would leave the next direct reclaim short of its goal, scanning
        every list to the last priority each time. False if nothing is dirty."""
        m = self.m
        vm, st = m.ctr.vm, m.rs.state
        if not vm[S.NR_DIRTY] + vm[S.NR_WRITEBACK]:
            return False
        st[S.RS_WB_WANTED] = max(st[S.RS_WB_WANTED], vm[S.NR_DIRTY])
        bg_thresh = self.dirty_limits()[0]
        pages = max(self._budget(), K.SWAP_CLUSTER_MAX + 1)
        K.writeback_run(k=m.k, budget=pages, bg_thresh=bg_thresh)  # submit
        K.writeback_run(k=m.k, budget=0, bg_thresh=bg_thresh)  # and see it complete
        write_us = pages * 1_000_000 // (WRITE_MIB_S * 256)
        m.stalls.stall(current, "reclaim", max(m.config.tick_ms * 1000, write_us))
        return True

    def dirty_limits(self) -> tuple[int, int]:
        """domain_dirty_limits over global_dirtyable_memory: (background, dirty) thresholds in
        pages, from free pages above the reserves plus the file LRU, or DIV_ROUND_UP(bytes,
        PAGE_SIZE) where vm.dirty_bytes or vm.dirty_background_bytes is set."""
        m = self.m
        free = int(m.zn.free.sum())
        lru = m.lru.size.sum(axis=0)  # the node's LRU lists: every memcg's added up
        avail = free - min(free, m.totalreserve) + int(lru[2] + lru[3]) + 1
        nbytes, bg_bytes = m.sysctl("vm.dirty_bytes"), m.sysctl("vm.dirty_background_bytes")
        thresh = -(-nbytes // PAGE) if nbytes else \
            m.sysctl("vm.dirty_ratio") * PAGE // 100 * avail // PAGE
        bg_thresh = -(-bg_bytes // PAGE) if bg_bytes else \
            m.sysctl("vm.dirty_background_ratio") * PAGE // 100 * avail // PAGE
        if bg_thresh >= thresh:
            bg_thresh = thresh // 2
        return bg_thresh, thresh

    def balance_dirty_pages(self, p, pages_dirtied: int) -> None:
        """balance_dirty_pages for one writer in the global domain: free to dirty up to the
        freerun ceiling (thresh + bg_thresh) / 2; above it paced at the write bandwidth times
        pos_ratio (1 at the setpoint, 0 at the limit), at most MAX_PAUSE per call. The
        kernel's dirty_ratelimit estimate is taken to be the write bandwidth (one writer)."""
        m = self.m
        bg_thresh, thresh = self.dirty_limits()
        vm = m.ctr.vm
        dirty = int(vm[S.NR_DIRTY] + vm[S.NR_WRITEBACK])
        freerun = (thresh + bg_thresh) // 2  # dirty_freerun_ceiling
        if dirty <= freerun:
            return
        setpoint = (freerun + thresh) // 2
        x = ((setpoint - dirty) << RATELIMIT_CALC_SHIFT) // ((thresh - setpoint) | 1)
        pos = x  # pos_ratio_polynom: 1 + x³, clamped to [0, 2]
        pos = pos * x >> RATELIMIT_CALC_SHIFT
        pos = pos * x >> RATELIMIT_CALC_SHIFT
        pos = min(max(pos + (1 << RATELIMIT_CALC_SHIFT), 0), 2 << RATELIMIT_CALC_SHIFT)
        rate = WRITE_MIB_S * 256 * pos >> RATELIMIT_CALC_SHIFT  # pages/s
        pause_ms = MAX_PAUSE_MS if not rate else min(-(-pages_dirtied * 1000 // rate), MAX_PAUSE_MS)
        if p.stall_kind != "dirty" or not p.stall_us:
            kb = PAGE >> 10
            m.log("dirty", p.pid, f"{p.comm}[{p.pid}] throttled writing: {dirty * kb} kB dirty "
                  f"or under writeback, above the freerun ceiling {freerun * kb} kB",
                  dirty=dirty, freerun=freerun, limit=thresh)
        m.stalls.stall(p, "dirty", pause_ms * 1000)
