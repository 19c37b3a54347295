"""Writeback (mm/page-writeback.c, fs/fs-writeback.c): the flusher threads."""

from __future__ import annotations

from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lists import list_add_tail
from oomtui.engine.kernels.lru import lru_del
from oomtui.engine.state import (
    F_ALL, F_ACTIVE, F_DIRTY, F_RECLAIM, F_WRITEBACK, LRU_INACTIVE_FILE, NR_DIRTY, NR_WRITEBACK,
    NR_WRITTEN, PGROTATED, RS_DQ_COUNT, RS_DQ_HEAD, RS_EXPIRED, RS_NOW, RS_WB_COUNT, RS_WB_WANTED,
)


@kernel
def writeback_run(k, budget, bg_thresh):
    """One tick of the flushers. First the writes submitted last tick complete
    (folio_end_writeback: PG_reclaim pages rotate to the inactive tail for reclaim), then up
    to `budget` of the oldest dirty pages are submitted while there is a reason to write:
    more dirty pages than bg_thresh (background writeback), pages dirtied at or before the
    periodic writeback's cutoff (expired), or pages reclaim asked for. Returns pages submitted."""
    fr, lru, ctr, st = k.fr, k.lru, k.ctr, k.rs.state
    for i in range(st[RS_WB_COUNT]):
        p = fr.wbq[i]
        fr.flags[p] &= F_ALL ^ F_WRITEBACK
        ctr.vm[NR_WRITEBACK] -= 1
        ctr.vm[NR_WRITTEN] += 1
        if fr.flags[p] & F_RECLAIM:
            fr.flags[p] &= F_ALL ^ F_RECLAIM
            if fr.lru[p] >= 0 and fr.mlock[p] == 0 and not fr.flags[p] & F_DIRTY:
                lru_del(fr=k.fr, lru=k.lru, p=p)  # folio_rotate_reclaimable → lru_move_tail
                fr.flags[p] &= F_ALL ^ F_ACTIVE
                cg = fr.memcg[p]
                fr.lru[p] = LRU_INACTIVE_FILE
                list_add_tail(nxt=fr.next, prv=fr.prev, head=lru.head, tail=lru.tail, i=cg,
                              j=LRU_INACTIVE_FILE, p=p)
                lru.size[cg, LRU_INACTIVE_FILE] += 1
                ctr.vm[PGROTATED] += 1
    st[RS_WB_COUNT] = 0
    n = 0
    cap = fr.dirtyq.size
    for _ in range(st[RS_DQ_COUNT]):
        head = st[RS_DQ_HEAD]
        if n == budget or not (ctr.vm[NR_DIRTY] > bg_thresh or st[RS_WB_WANTED] > 0
                               or fr.dirtyq_tick[head] <= st[RS_EXPIRED]):
            break
        p = fr.dirtyq[head]
        st[RS_DQ_HEAD] = (head + 1) % cap
        st[RS_DQ_COUNT] -= 1
        if fr.flags[p] & F_WRITEBACK:  # re-dirtied while its last write is in flight: later
            tail = (st[RS_DQ_HEAD] + st[RS_DQ_COUNT]) % cap
            fr.dirtyq[tail], fr.dirtyq_tick[tail] = p, st[RS_NOW]
            st[RS_DQ_COUNT] += 1
            continue
        st[RS_WB_WANTED] = max(st[RS_WB_WANTED] - 1, 0)
        # folio_clear_dirty_for_io + folio_start_writeback
        fr.flags[p] = (fr.flags[p] & (F_ALL ^ F_DIRTY)) | F_WRITEBACK
        ctr.vm[NR_DIRTY] -= 1
        ctr.vm[NR_WRITEBACK] += 1
        fr.wbq[st[RS_WB_COUNT]] = p
        st[RS_WB_COUNT] += 1
        n += 1
    return n
