"""The reverse map (mm/rmap.c): the PTEs that map a page, their young bits, and unmapping a
page from all of them.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.kernels.hashtable import ht_get
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.mapping import rss_kind, split_huge_page
from oomtui.engine.kernels.pagetables import pt_key
from oomtui.engine.state import (
    ANON, F_THP, MM_SWAPENTS, NR_ANON, NR_MAPPED, PTE_KIND, PTE_NONE, PTE_PRESENT, PTE_SHIFT,
    PTE_SWAP, PTE_YOUNG,
)


@kernel(inline="always")  # per page on the reclaim path
def rmap_walk(k, p):
    """Find every PTE mapping p; fills rm.out_* and returns how many."""
    fr, pt, rm = k.fr, k.pt, k.rm
    if fr.type[p] == ANON:
        keys, rows = rm.anon_keys, rm.anon_rows
    else:
        keys, rows = rm.file_keys, rm.file_rows
    ident = fr.owner[p]
    idx = fr.index[p]
    n = 0
    for j in range(np.searchsorted(keys, ident), keys.size):
        if keys[j] != ident or n == rm.out_mm.size:
            break
        r = rows[j]
        if not rm.pgoff[r] <= idx < rm.pgoff[r] + rm.end[r] - rm.start[r]:
            continue
        v = rm.start[r] + idx - rm.pgoff[r]
        row = ht_get(keys=pt.keys, vals=pt.vals, key=pt_key(mm=rm.mm[r], level=0, idx=v >> 9))
        if row < 0:
            continue
        e = pt.pte[row, v & 511]
        if (e & PTE_KIND) == PTE_PRESENT and (e >> PTE_SHIFT) == p:
            rm.out_mm[n] = rm.mm[r]
            rm.out_row[n] = row
            rm.out_idx[n] = v & 511
            rm.out_flags[n] = rm.flags[r]
            n += 1
    return n


@kernel(inline="always")  # per page on the reclaim path
def folio_referenced(k, p):
    """Test and clear the accessed bit of every mapping; returns (young PTEs, vm_flags)."""
    pt, rm = k.pt, k.rm
    n = rmap_walk(k=k, p=p)
    young = 0
    vm_flags = 0
    for i in range(n):
        e = pt.pte[rm.out_row[i], rm.out_idx[i]]
        vm_flags |= rm.out_flags[i]
        if e & PTE_YOUNG:
            young += 1
            pt.pte[rm.out_row[i], rm.out_idx[i]] = e & ~PTE_YOUNG
    return young, vm_flags


@kernel(inline="always")  # per page on the reclaim path
def try_to_unmap(k, p, slot):
    """Unmap p everywhere; anon mappings become swap entries for `slot`. False if a mapping
    could not be found (the page is then kept)."""
    fr, ctr, pt, sw, mms, rm = k.fr, k.ctr, k.pt, k.sw, k.mms, k.rm
    if fr.mapcount[p] == 0:
        return True
    n = rmap_walk(k=k, p=p)
    if n != fr.mapcount[p]:
        return False
    if fr.flags[p] & F_THP:
        split_huge_page(fr=k.fr, ctr=k.ctr, p=p)  # try_to_unmap(TTU_SPLIT_HUGE_PMD)
    kind = rss_kind(fr=k.fr, p=p)
    for i in range(n):
        mm = rm.out_mm[i]
        if slot >= 0:
            pt.pte[rm.out_row[i], rm.out_idx[i]] = (slot << PTE_SHIFT) | PTE_SWAP
            sw.map[slot] += 1
            mms.rss[mm, MM_SWAPENTS] += 1
        else:
            pt.pte[rm.out_row[i], rm.out_idx[i]] = PTE_NONE
        mms.rss[mm, kind] -= 1
    fr.mapcount[p] = 0
    ctr.vm[NR_ANON if fr.type[p] == ANON else NR_MAPPED] -= 1
    return True
