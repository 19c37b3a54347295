"""Swap-in (mm/swap_state.c, mm/shmem.c, mm/swapfile.c): a page read back from its slot with
readahead around it, a shmem page's, and swapoff's try_to_unuse.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.constants import ZONE_MOVABLE
from oomtui.engine.kernels.buddy import alloc_pages_nowait
from oomtui.engine.kernels.hashtable import ht_put
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lru import lru_add, lru_update
from oomtui.engine.kernels.mapping import free_anon_page, map_page, new_anon_page
from oomtui.engine.kernels.memcg import charged_page
from oomtui.engine.kernels.pagecache import pc_key
from oomtui.engine.kernels.results import stop
from oomtui.engine.kernels.swap import swap_dev_of, swapcache_add, swapcache_del
from oomtui.engine.kernels.workingset import workingset_refault
from oomtui.engine.state import (
    ANON, EMPTY, MM_SWAPENTS, NR_FILE, NR_SHMEM, PSWPIN, PTE_KIND, PTE_PRESENT, PTE_SHIFT, PTE_SWAP,
    RS_PAGE_CLUSTER, SHMEM,
)


@kernel
def swap_window(sw, rs, slot):
    """swap_cluster_readahead's window: 2^vm.page-cluster device offsets around the slot's,
    aligned on the device (offset 0 is the header page, so slot = base + offset - 1)."""
    ra = 1 << rs.state[RS_PAGE_CLUSTER]
    d = swap_dev_of(sw=sw, slot=slot)
    offset = slot - sw.base[d] + 1
    first = offset & ~(ra - 1)
    lo = sw.base[d] + max(first, 1) - 1
    hi = sw.base[d] + min(first + ra, sw.size[d] + 1) - 1
    return lo, hi


@kernel
def swapin_refault(fr, lru, ctr, sw, p, slot):
    """__read_swap_cache_async: a page read back from swap refaults its shadow; a recent
    refault makes it active."""
    if sw.shadow[slot] >= 0:
        shadow = sw.shadow[slot]
        sw.shadow[slot] = -1
        workingset_refault(fr=fr, lru=lru, ctr=ctr, sw=sw, p=p, shadow=shadow, file=0)
        if fr.lru[p] >= 0:
            lru_update(fr=fr, lru=lru, p=p)


@kernel
def swap_in(fr, zn, lru, ctl, ctr, sw, rs, slot):
    """swapin_readahead: the slot's page from the swap cache, else read it and, if memory
    allows without reclaim, the rest of its window. Each page is charged to the memcg its
    swap entry is charged to (mem_cgroup_swapin_charge_folio). Returns (pfn, major); pfn is
    a failure code (NO_MEMORY, MEMCG_FULL) when the slot's page could not be had."""
    p = sw.cache[slot]
    if p >= 0:
        return p, False
    p = new_anon_page(fr=fr, zn=zn, lru=lru, ctl=ctl, ctr=ctr, rs=rs, anon_id=sw.owner[slot],
                      index=sw.index[slot], cg=sw.memcg[slot])
    if p < 0:
        return p, True
    swapin_refault(fr=fr, lru=lru, ctr=ctr, sw=sw, p=p, slot=slot)
    swapcache_add(fr=fr, ctr=ctr, sw=sw, p=p, slot=slot)
    ctr.vm[PSWPIN] += 1
    lo, hi = swap_window(sw=sw, rs=rs, slot=slot)
    for s in range(lo, hi):
        if sw.map[s] == 0 or sw.cache[s] >= 0:
            continue
        q = alloc_pages_nowait(fr=fr, zn=zn, ctr=ctr, order=0, highest=ZONE_MOVABLE, ftype=ANON,
                               owner=sw.owner[s])
        if q < 0 or charged_page(fr=fr, zn=zn, ctr=ctr, lru=lru, ctl=ctl, p=q, cg=sw.memcg[s]) < 0:
            break
        fr.index[q] = sw.index[s]
        swapin_refault(fr=fr, lru=lru, ctr=ctr, sw=sw, p=q, slot=s)
        lru_add(fr=fr, lru=lru, p=q)
        swapcache_add(fr=fr, ctr=ctr, sw=sw, p=q, slot=s)
        ctr.vm[PSWPIN] += 1
    return p, True


@kernel
def shmem_swapin(k, file_id, pgoff, slot):
    """shmem_swapin_folio: the slot's page, read (swapin_readahead, charged to the memcg of the
    swap entry) unless it is in the swap cache, takes the swap entry's place in the shmem
    mapping; it leaves the swap cache and the slot is freed. Returns (pfn, major) as swap_in."""
    fr, ctr, sw = k.fr, k.ctr, k.sw
    p, major = swap_in(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, sw=k.sw, rs=k.rs,
                       slot=slot)
    if p < 0:
        return p, major
    sw.map[slot] -= 1  # swap_free_nr: the mapping's reference
    # delete_from_swap_cache: the slot is freed
    swapcache_del(fr=k.fr, lru=k.lru, ctr=k.ctr, sw=k.sw, p=p)
    fr.type[p] = SHMEM  # read into the swap cache like any swapped page, now the file's own
    fr.owner[p] = file_id
    fr.index[p] = pgoff
    ht_put(keys=k.pc.keys, vals=k.pc.vals, count=k.pc.count, key=pc_key(file_id=file_id,
                                                                        pgoff=pgoff), val=p)
    ctr.vm[NR_FILE] += 1
    ctr.vm[NR_SHMEM] += 1
    return p, major


def swap_unuse(k, d, out):
    """try_to_unuse: swap every page of device d back in, in every mm (unuse_pte) by mm and
    address (the page tables' keys sorted in numpy: kernels allocate nothing; not in the
    order the hash holds them, which changes as it grows), then in every shmem object."""
    return swap_unuse_in(k=k, d=d, order=np.argsort(k.pt.keys, kind="stable"), out=out)


@kernel
def swap_unuse_in(k, d, order, out):
    """swap_unuse over the page-table hash's slots in `order`.

    Locked VMAs never hold swap entries (mlocked pages are unevictable), so no mlock here.
    """
    pt, sw, mms = k.pt, k.sw, k.mms
    lo = sw.base[d]
    hi = lo + sw.size[d]
    for i in order:
        key = pt.keys[i]
        if key == EMPTY or (key >> 26) & 3 != 0:
            continue
        mm = key >> 28
        row = pt.vals[i]
        for j in range(512):
            e = pt.pte[row, j]
            if (e & PTE_KIND) != PTE_SWAP or not lo <= (e >> PTE_SHIFT) < hi:
                continue
            slot = e >> PTE_SHIFT
            p, major = swap_in(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, sw=k.sw,
                               rs=k.rs, slot=slot)
            if p < 0:
                return stop(out=out, done=0, failed=p)
            sw.map[slot] -= 1
            mms.rss[mm, MM_SWAPENTS] -= 1
            map_page(fr=k.fr, lru=k.lru, ctr=k.ctr, mms=k.mms, mm=mm, p=p, locked=False)
            pt.pte[row, j] = (p << PTE_SHIFT) | PTE_PRESENT
            if sw.map[slot] == 0:
                swapcache_del(fr=k.fr, lru=k.lru, ctr=k.ctr, sw=k.sw, p=p)
    for slot in range(lo, hi):  # shmem_unuse: the slots still referenced are shmem pages'
        if sw.map[slot] > 0:
            p, _ = shmem_swapin(k=k, file_id=sw.owner[slot], pgoff=sw.index[slot], slot=slot)
            if p < 0:
                return stop(out=out, done=0, failed=p)
    for slot in range(lo, hi):  # what is left in the swap cache is mapped or unneeded
        p = sw.cache[slot]
        if p >= 0:
            swapcache_del(fr=k.fr, lru=k.lru, ctr=k.ctr, sw=k.sw, p=p)
            if k.fr.mapcount[p] == 0:
                free_anon_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, p=p)
    return stop(out=out, done=0, failed=0)
