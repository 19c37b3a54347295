"""Page tables. A level-0 table (PTE page) maps 2 MiB and owns a pool row of 512 entries; level
1 (PMD page) spans 1 GiB, level 2 (PUD page) 512 GiB. Each is one physical frame.
"""

from __future__ import annotations

from oomtui.engine.constants import ZONE_NORMAL
from oomtui.engine.kernels.buddy import alloc_pages, free_pages
from oomtui.engine.kernels.hashtable import ht_del, ht_get, ht_put
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.results import NEED_ROOM
from oomtui.engine.state import NR_PAGETABLE, PAGETABLE, PTE_NONE


@kernel
def pt_key(mm, level, idx):
    return (mm << 28) | (level << 26) | idx


@kernel
def pt_alloc_table(fr, zn, ctr, pt, mms, rs, mm):
    # GFP_PGTABLE_USER: a kernel allocation, highest zone Normal.
    p = alloc_pages(fr=fr, zn=zn, ctr=ctr, rs=rs, order=0, highest=ZONE_NORMAL, ftype=PAGETABLE,
                    owner=mm)
    if p >= 0:
        ctr.vm[NR_PAGETABLE] += 1
        mms.nr_pt[mm] += 1
    return p


@kernel
def pte_table(pt, mm, vpage):
    """The pool row of the PTE table mapping vpage, or -1 if there is none."""
    return ht_get(keys=pt.keys, vals=pt.vals, key=pt_key(mm=mm, level=0, idx=vpage >> 9))


@kernel
def pt_row(fr, zn, ctr, pt, mms, rs, mm, vpage):
    """The pool row of the PTE table mapping vpage, allocating missing levels (-1 when no
    memory, NEED_ROOM when the pool or its hash must grow first)."""
    row = pte_table(pt=pt, mm=mm, vpage=vpage)
    if row >= 0:
        return row
    if pt.nfree[0] == 0 or (pt.count[0] + 3) * 2 > pt.keys.size:
        return NEED_ROOM  # Python grows the pool and the hash, then resumes
    for level in (2, 1):
        key = pt_key(mm=mm, level=level, idx=vpage >> (9 * (level + 1)))
        if ht_get(keys=pt.keys, vals=pt.vals, key=key) < 0:
            p = pt_alloc_table(fr=fr, zn=zn, ctr=ctr, pt=pt, mms=mms, rs=rs, mm=mm)
            if p < 0:
                return -1
            ht_put(keys=pt.keys, vals=pt.vals, count=pt.count, key=key, val=p)
    p = pt_alloc_table(fr=fr, zn=zn, ctr=ctr, pt=pt, mms=mms, rs=rs, mm=mm)
    if p < 0:
        return -1
    pt.nfree[0] -= 1
    row = pt.free_rows[pt.nfree[0]]
    pt.row_pfn[row] = p
    pt.pte[row, :] = PTE_NONE
    ht_put(keys=pt.keys, vals=pt.vals, count=pt.count, key=pt_key(mm=mm, level=0, idx=vpage >> 9),
           val=row)
    return row


@kernel
def pt_free_range(k, mm, level, lo, hi):
    """free_pgtables: free this mm's level-`level` tables with index in [lo, hi]."""
    ctr, pt, mms = k.ctr, k.pt, k.mms
    for idx in range(lo, hi + 1):
        key = pt_key(mm=mm, level=level, idx=idx)
        v = ht_get(keys=pt.keys, vals=pt.vals, key=key)
        if v < 0:
            continue
        ht_del(keys=pt.keys, vals=pt.vals, count=pt.count, key=key)
        if level == 0:
            pfn = pt.row_pfn[v]
            pt.row_pfn[v] = -1
            pt.free_rows[pt.nfree[0]] = v
            pt.nfree[0] += 1
        else:
            pfn = v
        free_pages(fr=k.fr, zn=k.zn, ctr=k.ctr, p=pfn, order=0)
        ctr.vm[NR_PAGETABLE] -= 1
        mms.nr_pt[mm] -= 1
