"""madvise, mlock and mincore over a range of one VMA."""

from __future__ import annotations

from oomtui.engine.kernels.hashtable import ht_get
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lru import lru_update, mlock_page
from oomtui.engine.kernels.mapping import split_huge_page, swap_put, unmap_page
from oomtui.engine.kernels.pagecache import pc_lookup, pc_remove
from oomtui.engine.kernels.pagetables import pt_key, pte_table
from oomtui.engine.kernels.reclaim import shmem_writeout
from oomtui.engine.kernels.swap import folio_alloc_swap, swapcache_del
from oomtui.engine.kernels.workingset import workingset_eviction
from oomtui.engine.state import (
    ANON, FILE, F_ALL, F_ACTIVE, F_DIRTY, F_LAZYFREE, F_REFERENCED, F_SWAPCACHE, F_THP,
    F_WRITEBACK, MM_SWAPENTS, NR_LAZYFREE, PC_SWAP, PSWPOUT, PTE_KIND, PTE_NONE, PTE_PRESENT,
    PTE_SHIFT, PTE_SWAP, PTE_YOUNG, PTE_ZERO, SHMEM,
)


@kernel
def swap_out(k, mm, row, idx, p):
    """Reclaim one exclusive anon page to swap (add_to_swap + try_to_unmap + pageout).

    A clean swap-cache copy is reused without I/O. False when no slot can be had.
    """
    fr, ctr, sw, pt, mms = k.fr, k.ctr, k.sw, k.pt, k.mms
    if fr.flags[p] & F_SWAPCACHE:
        slot = fr.swap[p]
        if fr.flags[p] & F_DIRTY:
            ctr.vm[PSWPOUT] += 1  # dirtied since swap-in: written again
    else:
        slot = folio_alloc_swap(fr=k.fr, lru=k.lru, sw=k.sw, p=p)
        if slot < 0:
            return False
        ctr.vm[PSWPOUT] += 1
    pt.pte[row, idx] = (slot << PTE_SHIFT) | PTE_SWAP
    sw.map[slot] += 1
    mms.rss[mm, MM_SWAPENTS] += 1
    sw.shadow[slot] = workingset_eviction(fr=k.fr, lru=k.lru, p=p)
    if fr.flags[p] & F_SWAPCACHE:
        swapcache_del(fr=k.fr, lru=k.lru, ctr=k.ctr, sw=k.sw, p=p)
    unmap_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, sw=k.sw, mms=k.mms, mm=mm, p=p, locked=False)
    return True


MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT = range(4)


@kernel
def madvise_range(k, mm, vstart, npages, advice, locked):
    """MADV_FREE / COLD / PAGEOUT on present pages mapped only by this mm (mm/madvise.c)."""
    fr, ctr, pt = k.fr, k.ctr, k.pt
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pte_table(pt=k.pt, mm=mm, vpage=v)
        if row < 0:
            v = chunk_end
            continue
        for u in range(v, chunk_end):
            e = pt.pte[row, u & 511]
            if (e & PTE_KIND) == PTE_SWAP and advice == MADV_FREE:
                swap_put(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, sw=k.sw, mms=k.mms, mm=mm,
                         slot=e >> PTE_SHIFT)  # the data is garbage
                pt.pte[row, u & 511] = PTE_NONE
            if (e & PTE_KIND) != PTE_PRESENT:
                continue
            p = e >> PTE_SHIFT
            if fr.mapcount[p] != 1:
                continue  # shared with another mm: left alone
            if advice == MADV_FREE:
                if fr.flags[p] & F_THP:
                    split_huge_page(fr=k.fr, ctr=k.ctr, p=p)  # pages turn lazy-free one by one
                if fr.flags[p] & F_SWAPCACHE:
                    # madvise_free_pte_range: folio_free_swap
                    swapcache_del(fr=fr, lru=k.lru, ctr=ctr, sw=k.sw, p=p)
                if fr.type[p] == ANON and not fr.flags[p] & F_LAZYFREE:
                    # folio_mark_lazyfree: clean, and onto the inactive file list.
                    fr.flags[p] &= F_ALL ^ (F_DIRTY | F_ACTIVE | F_REFERENCED)
                    fr.flags[p] |= F_LAZYFREE
                    ctr.vm[NR_LAZYFREE] += 1
                    lru_update(fr=k.fr, lru=k.lru, p=p)
                    pt.pte[row, u & 511] = e & ~PTE_YOUNG
            elif advice == MADV_COLD:
                fr.flags[p] &= F_ALL ^ (F_ACTIVE | F_REFERENCED)
                pt.pte[row, u & 511] = e & ~PTE_YOUNG
                lru_update(fr=k.fr, lru=k.lru, p=p)
            elif advice == MADV_PAGEOUT:
                # reclaim_pages → shrink_folio_list: clean file pages drop; anon and shmem
                # pages that get no swap slot go to activate_locked (back on the active list).
                fr.flags[p] &= F_ALL ^ F_REFERENCED
                pt.pte[row, u & 511] = e & ~PTE_YOUNG
                if fr.type[p] == FILE:
                    if not fr.flags[p] & (F_DIRTY | F_WRITEBACK) and fr.mlock[p] == 0:
                        unmap_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, sw=k.sw, mms=k.mms,
                                   mm=mm, p=p, locked=locked)
                        pt.pte[row, u & 511] = PTE_NONE
                        pc_remove(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, pc=k.pc, p=p,
                                  shadow=workingset_eviction(fr=k.fr, lru=k.lru, p=p))
                elif fr.flags[p] & F_LAZYFREE and not fr.flags[p] & F_DIRTY:
                    unmap_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, sw=k.sw, mms=k.mms, mm=mm,
                               p=p, locked=locked)  # clean lazyfree: freed
                    pt.pte[row, u & 511] = PTE_NONE
                elif fr.mlock[p] == 0:
                    if fr.flags[p] & F_LAZYFREE:  # re-dirtied: swap-backed again
                        fr.flags[p] &= F_ALL ^ (F_LAZYFREE | F_DIRTY)
                        ctr.vm[NR_LAZYFREE] -= 1
                    if fr.type[p] == SHMEM:
                        swapped = shmem_writeout(k=k, p=p, may_swap=True)
                    else:
                        swapped = swap_out(k=k, mm=mm, row=row, idx=u & 511, p=p)
                    if not swapped:
                        fr.flags[p] |= F_ACTIVE  # no swap slot: activate_locked
                        lru_update(fr=k.fr, lru=k.lru, p=p)
        v = chunk_end


@kernel
def mlock_range(k, mm, vstart, npages, delta):
    """mlock_pte_range: add or drop one locked mapping on every present page."""
    pt = k.pt
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pte_table(pt=k.pt, mm=mm, vpage=v)
        if row >= 0:
            for u in range(v, chunk_end):
                e = pt.pte[row, u & 511]
                if (e & PTE_KIND) == PTE_PRESENT:
                    mlock_page(fr=k.fr, lru=k.lru, ctr=k.ctr, p=e >> PTE_SHIFT, delta=delta)
        v = chunk_end


@kernel
def mincore_range(k, mm, vstart, npages, file_id, file_pgoff, out):
    """mincore_pte_range: mapped pages, else page-cache residency for file-backed VMAs."""
    pt, sw = k.pt, k.sw
    for i in range(npages):
        v = vstart + i
        row = ht_get(keys=pt.keys, vals=pt.vals, key=pt_key(mm=mm, level=0, idx=v >> 9))
        kind = PTE_NONE if row < 0 else pt.pte[row, v & 511] & PTE_KIND
        if kind == PTE_PRESENT or kind == PTE_ZERO:
            out[i] = 1
        elif kind == PTE_SWAP:
            out[i] = 1 if sw.cache[pt.pte[row, v & 511] >> PTE_SHIFT] >= 0 else 0
        elif file_id >= 0:
            # a shmem swap entry: its swap cache
            c = pc_lookup(pc=k.pc, file_id=file_id, pgoff=file_pgoff + i)
            out[i] = 1 if c >= 0 or c <= PC_SWAP and sw.cache[PC_SWAP - c] >= 0 else 0
        else:
            out[i] = 0
