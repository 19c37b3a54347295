"""Mapping and unmapping pages (mm/rmap.c, mm/memory.c): the mapcount and RSS counters, a
new anon page, freeing an anon page nobody maps, dropping a swap entry, and splitting a THP
back into small pages.
"""

from __future__ import annotations

from oomtui.engine.constants import ZONE_MOVABLE
from oomtui.engine.kernels.buddy import alloc_pages, free_pages
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lru import lru_add, lru_del, mlock_page
from oomtui.engine.kernels.memcg import charged_page, uncharge
from oomtui.engine.kernels.results import NO_MEMORY
from oomtui.engine.kernels.swap import swap_free_slot, swapcache_del
from oomtui.engine.state import (
    ANON, F_ALL, F_LAZYFREE, F_SWAPCACHE, F_THP, HPAGE_PMD_NR, MM_ANONPAGES, MM_FILEPAGES,
    MM_SHMEMPAGES, MM_SWAPENTS, NR_ANON, NR_ANON_THPS, NR_LAZYFREE, NR_MAPPED, SHMEM,
)


@kernel
def rss_kind(fr, p):
    t = fr.type[p]
    if t == ANON:
        return MM_ANONPAGES
    if t == SHMEM:
        return MM_SHMEMPAGES
    return MM_FILEPAGES


@kernel
def map_page(fr, lru, ctr, mms, mm, p, locked):
    fr.mapcount[p] += 1
    mms.rss[mm, rss_kind(fr=fr, p=p)] += 1
    if fr.mapcount[p] == 1:
        ctr.vm[NR_ANON if fr.type[p] == ANON else NR_MAPPED] += 1  # AnonPages / Mapped
    if locked:
        mlock_page(fr=fr, lru=lru, ctr=ctr, p=p, delta=1)


@kernel
def free_anon_page(fr, zn, lru, ctr, p):
    if fr.flags[p] & F_LAZYFREE:
        ctr.vm[NR_LAZYFREE] -= 1
    lru_del(fr=fr, lru=lru, p=p)
    uncharge(lru=lru, cg=fr.memcg[p], n=1)
    free_pages(fr=fr, zn=zn, ctr=ctr, p=p, order=0)


@kernel
def unmap_page(fr, zn, lru, ctr, sw, mms, mm, p, locked):
    """Drop one mapping of p; an anon page nobody maps (or needs in the swap cache) is freed."""
    if fr.flags[p] & F_THP:
        split_huge_page(fr=fr, ctr=ctr, p=p)
    if locked:
        mlock_page(fr=fr, lru=lru, ctr=ctr, p=p, delta=-1)
    fr.mapcount[p] -= 1
    mms.rss[mm, rss_kind(fr=fr, p=p)] -= 1
    if fr.mapcount[p] > 0:
        return
    if fr.type[p] != ANON:
        ctr.vm[NR_MAPPED] -= 1
        return
    ctr.vm[NR_ANON] -= 1
    if fr.flags[p] & F_SWAPCACHE:
        if sw.map[fr.swap[p]] > 0:
            return  # other swap PTEs will fault it back in from the swap cache
        swapcache_del(fr=fr, lru=lru, ctr=ctr, sw=sw, p=p)
    free_anon_page(fr=fr, zn=zn, lru=lru, ctr=ctr, p=p)


@kernel
def new_anon_page(fr, zn, lru, ctl, ctr, rs, anon_id, index, cg):
    """A new anon page charged to cg, or NO_MEMORY / MEMCG_FULL."""
    # GFP_HIGHUSER_MOVABLE: highest zone Movable. New anon pages start inactive (since 5.9).
    p = alloc_pages(fr=fr, zn=zn, ctr=ctr, rs=rs, order=0, highest=ZONE_MOVABLE, ftype=ANON,
                    owner=anon_id)
    if p < 0:
        return NO_MEMORY
    p = charged_page(fr=fr, zn=zn, ctr=ctr, lru=lru, ctl=ctl, p=p, cg=cg)
    if p < 0:
        return p
    fr.index[p] = index
    lru_add(fr=fr, lru=lru, p=p)
    return p


@kernel
def swap_put(fr, zn, lru, ctr, sw, mms, mm, slot):
    """One swap PTE is gone."""
    mms.rss[mm, MM_SWAPENTS] -= 1
    free_swap_and_cache(fr=fr, zn=zn, lru=lru, ctr=ctr, sw=sw, slot=slot)


@kernel
def free_swap_and_cache(fr, zn, lru, ctr, sw, slot):
    """free_swap_and_cache: one reference to the slot is gone; free what nobody needs any more."""
    sw.map[slot] -= 1
    if sw.map[slot] > 0:
        return
    p = sw.cache[slot]
    if p < 0:
        swap_free_slot(sw=sw, lru=lru, slot=slot)
        return
    swapcache_del(fr=fr, lru=lru, ctr=ctr, sw=sw, p=p)
    if fr.mapcount[p] == 0:
        free_anon_page(fr=fr, zn=zn, lru=lru, ctr=ctr, p=p)


@kernel
def split_huge_page(fr, ctr, p):
    """split_huge_pmd + split_folio of the THP holding p: its 512 pages go on as 4 KiB pages
    (AnonHugePages drops by 2 MiB). Called before a subpage is handled on its own."""
    head = p & ~(HPAGE_PMD_NR - 1)
    for q in range(head, head + HPAGE_PMD_NR):
        fr.flags[q] &= F_ALL ^ F_THP
    ctr.vm[NR_ANON_THPS] -= HPAGE_PMD_NR
