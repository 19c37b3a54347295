"""LRU lists (mm/swap.c, include/linux/mm_inline.h): which list a page belongs on, moving it
there, mlock's unevictable list, activation, and the cost reclaim notes per list.
"""

from __future__ import annotations

from oomtui.engine.constants import SWAP_CLUSTER_MAX
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lists import list_add_head, list_del
from oomtui.engine.state import (
    FILE, F_ACTIVE, F_LAZYFREE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE, NR_MLOCK,
    PGACTIVATE,
)


@kernel
def lru_list_for(fr, p):
    if fr.mlock[p] > 0:
        return LRU_UNEVICTABLE
    if fr.flags[p] & F_LAZYFREE:
        return LRU_INACTIVE_FILE
    active = 1 if fr.flags[p] & F_ACTIVE else 0
    if fr.type[p] == FILE:
        return LRU_INACTIVE_FILE + active
    return LRU_INACTIVE_ANON + active


@kernel
def lru_add(fr, lru, p):
    """Onto the list its flags call for, in the lruvec of the memcg it is charged to."""
    lst = lru_list_for(fr=fr, p=p)
    fr.lru[p] = lst
    list_add_head(nxt=fr.next, prv=fr.prev, head=lru.head, tail=lru.tail, i=fr.memcg[p], j=lst, p=p)
    lru.size[fr.memcg[p], lst] += 1


@kernel
def lru_del(fr, lru, p):
    lst = fr.lru[p]
    if lst < 0:
        return
    list_del(nxt=fr.next, prv=fr.prev, head=lru.head, tail=lru.tail, i=fr.memcg[p], j=lst, p=p)
    lru.size[fr.memcg[p], lst] -= 1
    fr.lru[p] = -1


@kernel
def lru_update(fr, lru, p):
    """Move a page to the list its flags now call for."""
    if fr.lru[p] != lru_list_for(fr=fr, p=p):
        lru_del(fr=fr, lru=lru, p=p)
        lru_add(fr=fr, lru=lru, p=p)


@kernel
def mlock_page(fr, lru, ctr, p, delta):
    """mlock_folio / munlock_folio: count locked mappings; unevictable while any remain."""
    before = fr.mlock[p]
    fr.mlock[p] = before + delta
    if before == 0 and delta > 0:
        ctr.vm[NR_MLOCK] += 1
    elif before + delta == 0:
        ctr.vm[NR_MLOCK] -= 1
    lru_update(fr=fr, lru=lru, p=p)


@kernel
def activate(fr, lru, ctr, p):
    fr.flags[p] |= F_ACTIVE
    ctr.vm[PGACTIVATE] += 1
    lru_add(fr=fr, lru=lru, p=p)


@kernel
def note_cost(lru, cg, file, nr_io, nr_rotated):
    """lru_note_cost: what reclaiming from a list cost, added to the lruvec and every
    ancestor's, each halving both costs once they pass a quarter of its LRU pages (its
    hierarchical usage: every charged page is an LRU page; the root's own pages are not
    charged, so its LRU lists count them)."""
    cost = nr_io * SWAP_CLUSTER_MAX + nr_rotated
    while cg >= 0:
        if file:
            lru.file_cost[cg] += cost
        else:
            lru.anon_cost[cg] += cost
        pages = lru.usage[cg] + (lru.size[0].sum() if cg == 0 else 0)
        if lru.anon_cost[cg] + lru.file_cost[cg] > pages // 4:
            lru.anon_cost[cg] //= 2
            lru.file_cost[cg] //= 2
        cg = lru.parent[cg]
