"""Whole ranges of a VMA's pages: unmapping (zap_page_range), copying at fork
(copy_page_range) and moving (mremap's move_page_tables).
"""

from __future__ import annotations

from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.mapping import map_page, split_huge_page, swap_put, unmap_page
from oomtui.engine.kernels.pagetables import pt_row, pte_table
from oomtui.engine.kernels.results import stop
from oomtui.engine.state import (
    F_THP, MM_SWAPENTS, PTE_KIND, PTE_NONE, PTE_PRESENT, PTE_SHIFT, PTE_SWAP, PTE_WRITE, PTE_YOUNG,
)


@kernel
def zap_range(k, mm, vstart, npages, locked):
    """zap_pte_range: clear every entry in the range; returns the pages unmapped."""
    pt = k.pt
    n = 0
    v = vstart
    end = vstart + npages
    while v < end:
        row = pte_table(pt=k.pt, mm=mm, vpage=v)
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        if row < 0:
            v = chunk_end
            continue
        for u in range(v, chunk_end):
            e = pt.pte[row, u & 511]
            if (e & PTE_KIND) == PTE_PRESENT:
                unmap_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, sw=k.sw, mms=k.mms, mm=mm,
                           p=e >> PTE_SHIFT, locked=locked)
                n += 1
            elif (e & PTE_KIND) == PTE_SWAP:
                swap_put(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, sw=k.sw, mms=k.mms, mm=mm,
                         slot=e >> PTE_SHIFT)
            pt.pte[row, u & 511] = PTE_NONE
        v = chunk_end
    return n


@kernel
def copy_range(k, src, dst, vstart, npages, private, out):
    """copy_pte_range for fork: share pages, write-protect private ones in both mms.

    False when a page table could not be allocated: out[OUT_DONE] pages are copied.
    """
    pt, sw, mms = k.pt, k.sw, k.mms
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        srow = pte_table(pt=k.pt, mm=src, vpage=v)
        if srow < 0:
            v = chunk_end
            continue
        used = False
        for u in range(v, chunk_end):
            used = used or pt.pte[srow, u & 511] != PTE_NONE
        if not used:
            v = chunk_end
            continue
        # Allocate first: the allocation may reclaim and rewrite the source entries.
        drow = pt_row(fr=k.fr, zn=k.zn, ctr=k.ctr, pt=k.pt, mms=k.mms, rs=k.rs, mm=dst, vpage=v)
        if drow < 0:
            return stop(out=out, done=v - vstart, failed=drow)
        for u in range(v, chunk_end):
            e = pt.pte[srow, u & 511]
            kind = e & PTE_KIND
            if kind == PTE_NONE:
                continue
            if kind == PTE_SWAP:
                sw.map[e >> PTE_SHIFT] += 1  # swap_duplicate
                mms.rss[dst, MM_SWAPENTS] += 1
            elif kind == PTE_PRESENT:
                p = e >> PTE_SHIFT
                map_page(fr=k.fr, lru=k.lru, ctr=k.ctr, mms=k.mms, mm=dst, p=p, locked=False)
                if private:
                    e &= ~PTE_WRITE
                    pt.pte[srow, u & 511] = e
            pt.pte[drow, u & 511] = e & ~PTE_YOUNG
        v = chunk_end
    return stop(out=out, done=npages, failed=0)


@kernel
def move_range(k, mm, old, new, npages, out):
    """move_page_tables for mremap: entries move, pages keep their rmap index."""
    fr, pt = k.fr, k.pt
    v = 0
    while v < npages:
        chunk_end = min(npages, v + 512 - ((old + v) & 511))
        srow = pte_table(pt=k.pt, mm=mm, vpage=old + v)
        if srow >= 0:
            for u in range(v, chunk_end):
                if pt.pte[srow, (old + u) & 511] == PTE_NONE:
                    continue
                drow = pt_row(fr=k.fr, zn=k.zn, ctr=k.ctr, pt=k.pt, mms=k.mms, rs=k.rs, mm=mm,
                              vpage=new + u)
                if drow < 0:
                    return stop(out=out, done=u, failed=drow)
                e = pt.pte[srow, (old + u) & 511]  # reread: the allocation may have reclaimed
                if (e & PTE_KIND) == PTE_PRESENT and fr.flags[e >> PTE_SHIFT] & F_THP and (
                        (new - old) & 511 or (old + u) & ~511 < old or ((old + u) | 511) >= old + npages):
                    # move_huge_pmd needs a whole aligned PMD
                    split_huge_page(fr=k.fr, ctr=k.ctr, p=e >> PTE_SHIFT)
                pt.pte[drow, (new + u) & 511] = e
                pt.pte[srow, (old + u) & 511] = PTE_NONE
        v = chunk_end
    return stop(out=out, done=npages, failed=0)
