"""The buddy page allocator (mm/page_alloc.c): free lists per zone and order, the watermark
check, the fast path, and waking kswapd when an allocation dips below the low watermark.
"""

from __future__ import annotations

from oomtui.engine.constants import MAX_RECLAIM_RETRIES, ZONE_NORMAL
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lists import list_add_head, list_del
from oomtui.engine.state import (
    FREE, KERNEL, MAX_ORDER, NR_ZONES, PGALLOC, PGFREE, RS_KSWAPD_AWAKE, RS_KSWAPD_FAILURES,
    RS_KSWAPD_HIGHEST, RS_KSWAPD_ORDER, WMARK_HIGH, WMARK_LOW, WMARK_MIN,
)

PAGE_ALLOC_COSTLY_ORDER = 3


@kernel
def zone_of(zn, pfn):
    for z in range(NR_ZONES):
        if pfn < zn.start[z + 1]:
            return z
    return NR_ZONES - 1


@kernel
def free_block(fr, zn, z, pfn, order):
    """__free_one_page: merge with free buddies of the same zone, then list the block."""
    zn.free[z] += 1 << order
    while order < MAX_ORDER:
        buddy = pfn ^ (1 << order)
        if buddy < zn.start[z] or buddy + (1 << order) > zn.start[z + 1]:
            break
        if fr.order[buddy] != order:
            break
        list_del(nxt=fr.next, prv=fr.prev, head=zn.free_head, tail=zn.free_tail, i=z, j=order,
                 p=buddy)
        zn.free_count[z, order] -= 1
        fr.order[buddy] = -1
        pfn = min(pfn, buddy)
        order += 1
    fr.order[pfn] = order
    list_add_head(nxt=fr.next, prv=fr.prev, head=zn.free_head, tail=zn.free_tail, i=z, j=order,
                  p=pfn)
    zn.free_count[z, order] += 1


@kernel
def buddy_init(k):
    """Hand every frame of every zone to the buddy allocator (memblock_free_all)."""
    zn = k.zn
    for z in range(NR_ZONES):
        p = zn.start[z]
        end = zn.start[z + 1]
        while p < end:
            order = MAX_ORDER
            while order > 0 and ((p & ((1 << order) - 1)) != 0 or p + (1 << order) > end):
                order -= 1
            free_block(fr=k.fr, zn=k.zn, z=z, pfn=p, order=order)
            p += 1 << order


@kernel
def take_block(fr, zn, z, order):
    """__rmqueue_smallest + expand: smallest block ≥ order, split, keep the low part."""
    for o in range(order, MAX_ORDER + 1):
        p = zn.free_head[z, o]
        if p < 0:
            continue
        list_del(nxt=fr.next, prv=fr.prev, head=zn.free_head, tail=zn.free_tail, i=z, j=o, p=p)
        zn.free_count[z, o] -= 1
        fr.order[p] = -1
        while o > order:
            o -= 1
            half = p + (1 << o)
            fr.order[half] = o
            list_add_head(nxt=fr.next, prv=fr.prev, head=zn.free_head, tail=zn.free_tail, i=z, j=o,
                          p=half)
            zn.free_count[z, o] += 1
        zn.free[z] -= 1 << order
        return p
    return -1


@kernel
def zone_watermark_ok(zn, z, order, mark, highest):
    """__zone_watermark_ok for ALLOC_WMARK_* without reserve flags (KERNEL.md §5)."""
    free = zn.free[z] - ((1 << order) - 1)
    if free <= zn.wmark[z, mark] + zn.reserve[z, highest]:
        return False
    if order == 0:
        return True
    for o in range(order, MAX_ORDER + 1):
        if zn.free_count[z, o] > 0:
            return True
    return False


@kernel
def alloc_from_zones(fr, zn, ctr, order, highest, mark, ftype, owner):
    """get_page_from_freelist: walk the zonelist from `highest` down; -1 if no zone passes."""
    for z in range(highest, -1, -1):
        if zn.start[z + 1] == zn.start[z]:
            continue
        if not zone_watermark_ok(zn=zn, z=z, order=order, mark=mark, highest=highest):
            continue
        p = take_block(fr=fr, zn=zn, z=z, order=order)
        if p < 0:
            continue
        for q in range(p, p + (1 << order)):
            fr.type[q] = ftype
            fr.owner[q] = owner
        ctr.vm[PGALLOC] += 1 << order
        return p
    return -1


@kernel
def alloc_pages(fr, zn, ctr, rs, order, highest, ftype, owner):
    """__alloc_pages' fast path at low, then (waking kswapd) a try at min. -1 sends the caller
    back to Python for the slow path: direct reclaim, retries, the OOM killer (KERNEL.md §5).
    Reclaim is kept out of this call graph so that every kernel compiles quickly."""
    p = alloc_from_zones(fr=fr, zn=zn, ctr=ctr, order=order, highest=highest, mark=WMARK_LOW,
                         ftype=ftype, owner=owner)
    if p >= 0:
        return p
    wakeup_kswapd(zn=zn, rs=rs, order=order, highest=highest)
    return alloc_from_zones(fr=fr, zn=zn, ctr=ctr, order=order, highest=highest, mark=WMARK_MIN,
                            ftype=ftype, owner=owner)


@kernel
def alloc_pages_nowait(fr, zn, ctr, order, highest, ftype, owner):
    """An opportunistic allocation that never reclaims (readahead)."""
    return alloc_from_zones(fr=fr, zn=zn, ctr=ctr, order=order, highest=highest, mark=WMARK_LOW,
                            ftype=ftype, owner=owner)


@kernel
def free_pages(fr, zn, ctr, p, order):
    for q in range(p, p + (1 << order)):
        fr.type[q] = FREE
        fr.flags[q] = 0
        fr.owner[q] = -1
        fr.index[q] = -1
        fr.mapcount[q] = 0
        fr.mlock[q] = 0
        fr.swap[q] = -1
        fr.memcg[q] = -1
    ctr.vm[PGFREE] += 1 << order
    free_block(fr=fr, zn=zn, z=zone_of(zn=zn, pfn=p), pfn=p, order=order)


@kernel
def node_balanced(zn, order, highest):
    """pgdat_balanced: any usable zone above its high watermark."""
    for z in range(highest + 1):
        if zn.start[z + 1] > zn.start[z] and zone_watermark_ok(zn=zn, z=z, order=order,
                                                               mark=WMARK_HIGH, highest=highest):
            return True
    return False


@kernel
def wakeup_kswapd(zn, rs, order, highest):
    st = rs.state
    st[RS_KSWAPD_ORDER] = max(st[RS_KSWAPD_ORDER], order)
    st[RS_KSWAPD_HIGHEST] = max(st[RS_KSWAPD_HIGHEST], highest)
    if st[RS_KSWAPD_FAILURES] >= MAX_RECLAIM_RETRIES:
        return  # hopeless node: kswapd stays asleep until direct reclaim succeeds
    if not node_balanced(zn=zn, order=order, highest=highest):
        st[RS_KSWAPD_AWAKE] = 1


@kernel
def kernel_alloc(fr, zn, ctr, rs, order, owner):
    """A kernel allocation (GFP_KERNEL: highest zone Normal, down to min)."""
    return alloc_pages(fr=fr, zn=zn, ctr=ctr, rs=rs, order=order, highest=ZONE_NORMAL,
                       ftype=KERNEL, owner=owner)
