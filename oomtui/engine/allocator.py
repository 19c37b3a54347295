"""The allocation slow path (mm/page_alloc.c: __alloc_pages_slowpath; KERNEL.md §5).

Per-page work happens in resumable kernels (kernels/): a kernel stops when its tables must
grow, when a memcg charge was refused or went over memory.high, or when an allocation failed
at the min watermark. `Allocator.run` drives one to the end and handles each stop:

- over memory.high: Memcg.handle_over_high (reclaim, then the throttle penalty);
- a memcg charge refused: Memcg.charge_failed (reclaim in the memcg, retry, memcg OOM);
- order 0 out of memory: direct reclaim (Reclaim.direct) and retry while it makes progress or
  should_reclaim_retry allows (16 fruitless tries at most), waiting for writeback when only
  dirty pages are left, then the OOM killer (OomKiller.kill), whose victim may be `current`;
- order > 0 (a `SlowPath`): async compaction first for costly or unmovable orders, each
  direct reclaim followed by direct compaction (compaction.py), a costly order then fails
  (never OOM-kills: no __GFP_RETRY_MAYFAIL here), a small one retries while
  should_reclaim_retry or should_compact_retry allow (raising the compaction priority), then
  calls the OOM killer. compact_stall counts runs that were not skipped, compact_success /
  compact_fail whether the allocation tried after the run then succeeded.

The outcome is an `AllocResult`: an allocation that fails while its task lives says why in
`error` (the call that asked raises it), never through state left on the machine.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.compaction import compaction_defer_reset
from oomtui.engine.reclaim import SCAN_US
from oomtui.engine.state import WMARK_LOW, WMARK_MIN

SWAPIN_US = 100  # a swap-in stalls for a 4 KiB random read from an SSD (a model constant)
MAX_COMPACT_RETRIES = 16
RETRY, FAIL, OOM = range(3)  # what a failed order > 0 attempt leads to


@dataclass(frozen=True)
class AllocResult:
    """How a driven kernel ended."""
    faults: int = 0  # page faults it took
    ok: bool = True  # it ran to the end
    error: OSError | None = None  # not ok while the task lives: ENOMEM (a memcg charge failed
    # with nobody to kill) or EAGAIN (the OOM killer waits for a victim to exit)
    new_anon: bool = False  # it gave a VMA its first anonymous page
    pfn: int = -1  # the block alloc_pages got


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


class Allocator:
    """The slow path of a Machine `m`, which hands it how to grow the tables a kernel
    stopped for, grow()."""

    def __init__(self, m, *, grow):
        self.m = m
        self.grow = grow
        self.out = np.zeros(K.NR_OUT, dtype=np.int64)  # the kernels' out words (scratch)

    def run(self, call, current, *, origin: bool = False, oom: bool = True,
            slow: SlowPath | None = None) -> AllocResult:
        """Run a resumable kernel to the end: call(done, out) -> ok. Not ok if `current`
        died, if the allocation failed (see AllocResult.error), or, with oom=False or a failed
        order > 0 allocation, memory ran out. origin: `current` is the OOM killer's first pick
        (oom_task_origin, swapoff)."""
        m = self.m
        done = faults = no_progress = memcg_tries = 0
        new_anon = False
        out = self.out
        ctl = m.scratch.ctl
        ctl[S.LC_CHARGE_TO] = m.memcg.of(current).id
        ctl[S.LC_OVER_HIGH] = 0
        ctl[S.LC_INLINE_RECLAIM] = not m.memcg.protected  # protection is computed per reclaim

        def result(ok: bool, error: OSError | None = None) -> AllocResult:
            return AllocResult(faults, ok, error, new_anon)

        while True:
            out[:] = 0
            scanned = m.ctr.vm[S.PGSCAN_DIRECT]
            ok = call(done, out)
            m.stalls.stall(current, "reclaim", int(m.ctr.vm[S.PGSCAN_DIRECT] - scanned) * SCAN_US)
            done += int(out[K.OUT_DONE])
            faults += int(out[K.OUT_MINFLT] + out[K.OUT_MAJFLT])
            m.stalls.stall(current, "swapin", int(out[K.OUT_SWPIN]) * SWAPIN_US)
            new_anon = new_anon or bool(out[K.OUT_NEW_ANON])
            status = out[K.OUT_STATUS]
            if slow is not None and slow.compacted:
                self._compact_outcome(slow, ok)
            if ok or status == K.STATUS_HIGH:
                m.memcg.handle_over_high(current)  # on the way back to user space
                if ok:
                    return result(True)
                continue
            if status == K.STATUS_ROOM:
                self.grow()
                continue
            if status == K.STATUS_MEMCG:
                try:
                    memcg_tries = m.memcg.charge_failed(current, memcg_tries)
                except OSError as e:  # nobody to kill in the memcg, or a victim still exiting
                    return result(False, e)
                if current is not None and current.pid not in m.procs:
                    return result(False)
                continue
            if slow is not None:
                verdict = self._slowpath_step(slow, current)
                if verdict == RETRY:
                    continue
                if verdict == FAIL:
                    return result(False)
            else:
                fruitless = out[K.OUT_RECLAIMED]  # the kernel already ran direct reclaim
                if not fruitless and m.reclaim.direct(current) or m.writeback.wait(current):
                    no_progress = 0
                    continue
                no_progress += 1
                if no_progress <= K.MAX_RECLAIM_RETRIES and K.should_reclaim_retry(
                    k=m.k, order=0, highest=S.ZONE_MOVABLE
                ):
                    continue
                if not oom:
                    return result(False)
                no_progress = 0
            try:
                self._may_oom(current, origin=origin, order=slow.order if slow else 0)
            except OSError as e:
                if e.errno == errno.ENOTRECOVERABLE:
                    raise
                return result(False, e)  # a victim is still exiting: the task would wait
            if current is not None and current.pid not in m.procs:
                return result(False)

    def alloc_pages(self, order: int, highest: int, ftype: int, owner: int, current, *,
                    movable: bool = True, direct: bool = True, kswapd: bool = True) -> AllocResult:
        """alloc_pages through the slow path; the result's pfn is the block's first page
        (-1 when not ok)."""
        m = self.m
        slow = SlowPath(order, highest, movable, direct)

        def attempt(done, out):
            if kswapd:
                slow.pfn = K.alloc_pages(fr=m.fr, zn=m.zn, ctr=m.ctr, rs=m.rs, order=order,
                                         highest=highest, ftype=ftype, owner=owner)
            else:  # the fast path at low, then the slow path's try at min, waking nobody
                for mark in (WMARK_LOW, WMARK_MIN):
                    slow.pfn = K.alloc_from_zones(fr=m.fr, zn=m.zn, ctr=m.ctr, order=order,
                                                  highest=highest, mark=mark, ftype=ftype,
                                                  owner=owner)
                    if slow.pfn >= 0:
                        break
            return K.stop(out=out, done=1, failed=0 if slow.pfn >= 0 else K.NO_MEMORY)

        res = self.run(attempt, current, slow=slow if order else None)
        return AllocResult(res.faults, res.ok, res.error, res.new_anon, slow.pfn if res.ok else -1)

    def _may_oom(self, current, *, origin: bool = False, order: int = 0) -> None:
        """__alloc_pages_may_oom → out_of_memory (KERNEL.md §1): kill a victim or panic."""
        m = self.m
        for z in range(S.NR_ZONES):  # one last try at the high watermark
            if K.zone_watermark_ok(
                zn=m.zn, z=z, order=order, mark=S.WMARK_HIGH, highest=S.ZONE_MOVABLE
            ) and m.managed[z]:
                return
        m.oom.kill(current, origin=origin, totalpages=m.totalram + m.swap_areas.total_pages())

    # -- order > 0 ------------------------------------------------------------------------------

    def _slowpath_step(self, slow: SlowPath, current) -> int:
        """__alloc_pages_slowpath after a failed attempt of order > 0 (KERNEL.md §5): what to
        do before the next attempt (RETRY), or FAIL, or OOM."""
        m = self.m
        if not slow.direct:
            return FAIL  # no __GFP_DIRECT_RECLAIM
        costly = slow.order > K.PAGE_ALLOC_COSTLY_ORDER
        if slow.step == "start":
            slow.step = "reclaim"
            if costly or not slow.movable:  # step 3: async compaction before any reclaim
                self._direct_compact(slow, current)
                return RETRY
        if slow.step == "reclaim":  # step 5: reclaim and retry, then compact and retry
            slow.progress = m.reclaim.direct(current) > 0
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
                k=m.k, order=slow.order, highest=slow.highest):
            return RETRY
        if slow.progress and self._should_compact_retry(slow):
            return RETRY
        slow.no_progress = 0  # an OOM kill counts as progress
        return OOM

    def _should_compact_retry(self, slow: SlowPath) -> bool:
        """should_compact_retry: after a skipped run, retry if reclaim could make it
        suitable; after a successful one, a few times; else raise the priority."""
        if slow.result == K.COMPACT_SKIPPED:
            return K.compaction_zonelist_suitable(
                k=self.m.k, order=slow.order, highest=slow.highest
            )
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
        slow.result = self.m.compaction.try_to_compact_pages(slow.order, slow.prio, slow.highest,
                                                             current)
        if slow.result != K.COMPACT_SKIPPED:
            self.m.ctr.vm[S.COMPACTSTALL] += 1
            slow.compacted = True

    def _compact_outcome(self, slow: SlowPath, allocated: bool) -> None:
        """The attempt after a direct compaction: compact_success (the zone's deferral is
        reset) or compact_fail."""
        m = self.m
        slow.compacted = False
        if allocated:
            m.ctr.vm[S.COMPACTSUCCESS] += 1
            compaction_defer_reset(m.zn, K.zone_of(zn=m.zn, pfn=slow.pfn), slow.order, True)
        else:
            m.ctr.vm[S.COMPACTFAIL] += 1
