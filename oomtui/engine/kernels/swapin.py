"""Swap-in (mm/swap_state.c, mm/shmem.c, mm/swapfile.c; KERNEL.md §8): a page read back from
its slot with adaptive readahead around it (around the faulting address in its VMA for an anon
fault, around the slot on its device for shmem and swapoff), a shmem page's, and swapoff's
try_to_unuse.

Readahead pages are allocated without reclaim (the kernel's may reclaim), and the swap device
counts as an SSD (VMA readahead, which the kernel turns off when a rotating disk is swapped
to). swapoff reads with the cluster readahead (the kernel's unuse_pte_range uses the VMA's).
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
    ANON, CRA_HITS, CRA_OFFSET, CRA_PAGES, EMPTY, F_ALL, F_READAHEAD, MM_SWAPENTS, NR_FILE,
    NR_SHMEM, PSWPIN, PTE_KIND, PTE_PRESENT, PTE_SHIFT, PTE_SWAP, RA_ADDR, RA_HITS, RA_VMA, RA_WIN,
    RS_PAGE_CLUSTER, SHMEM,
)


SWAP_RA_ORDER_CEILING = 5  # the VMA readahead window is at most 2^5 pages (64-bit)
SWAP_RA_HITS_MAX = 63  # the hits field of swap_readahead_info: PAGE_SHIFT / 2 bits


@kernel
def swapin_nr_pages(prev_offset, offset, hits, max_pages, prev_win):
    """__swapin_nr_pages (KERNEL.md §8): hits + 2 pages, rounded up to a power of two; with no
    hits, 2 for a fault next to the previous one, else 1; at most max_pages, at least half the
    previous window."""
    pages = hits + 2
    if pages == 2:
        if offset != prev_offset + 1 and offset != prev_offset - 1:
            pages = 1
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    return max(min(pages, max_pages), prev_win // 2)


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
    """The slot's page from the swap cache, else read (charged to the memcg its swap entry is
    charged to, mem_cgroup_swapin_charge_folio). Returns (pfn, major); pfn is a failure code
    (NO_MEMORY, MEMCG_FULL) when the page could not be had."""
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
    return p, True


@kernel
def read_ahead(fr, zn, lru, ctl, ctr, sw, slot):
    """One readahead page: read into the swap cache as PG_readahead if memory allows without
    reclaim and the memcg takes the charge. False when it could not be had (readahead stops)."""
    if sw.map[slot] == 0 or sw.cache[slot] >= 0:
        return True
    q = alloc_pages_nowait(fr=fr, zn=zn, ctr=ctr, order=0, highest=ZONE_MOVABLE, ftype=ANON,
                           owner=sw.owner[slot])
    if q < 0 or charged_page(fr=fr, zn=zn, ctr=ctr, lru=lru, ctl=ctl, p=q, cg=sw.memcg[slot]) < 0:
        return False
    fr.index[q] = sw.index[slot]
    swapin_refault(fr=fr, lru=lru, ctr=ctr, sw=sw, p=q, slot=slot)
    lru_add(fr=fr, lru=lru, p=q)
    swapcache_add(fr=fr, ctr=ctr, sw=sw, p=q, slot=slot)
    fr.flags[q] |= F_READAHEAD
    ctr.vm[PSWPIN] += 1
    return True


@kernel
def readahead_hit(fr, p):
    """folio_test_clear_readahead: the first fault on a page read ahead is a readahead hit."""
    hit = fr.flags[p] & F_READAHEAD != 0
    fr.flags[p] &= F_ALL ^ F_READAHEAD
    return hit


@kernel
def swap_cluster_readahead(fr, zn, lru, ctl, ctr, sw, rs, slot):
    """swap_cluster_readahead (shmem, swapoff): the slot's page, and the aligned window of
    swapin_nr_pages device offsets around it (offset 0 is the header page, so slot = base +
    offset - 1), sized by the readahead hits since the last window, kept for the whole
    machine. A swap-cache hit counts a readahead hit. Returns (pfn, major) as swap_in."""
    p = sw.cache[slot]
    if p >= 0:
        if readahead_hit(fr=fr, p=p):
            sw.ra[CRA_HITS] += 1
        return p, False
    p, major = swap_in(fr=fr, zn=zn, lru=lru, ctl=ctl, ctr=ctr, sw=sw, rs=rs, slot=slot)
    if p < 0:
        return p, major
    d = swap_dev_of(sw=sw, slot=slot)
    offset = slot - sw.base[d] + 1
    pages = 1
    max_pages = 1 << rs.state[RS_PAGE_CLUSTER]
    if max_pages > 1:  # swapin_nr_pages
        hits = sw.ra[CRA_HITS]
        sw.ra[CRA_HITS] = 0
        pages = swapin_nr_pages(prev_offset=sw.ra[CRA_OFFSET], offset=offset, hits=hits,
                                max_pages=max_pages, prev_win=sw.ra[CRA_PAGES])
        if not hits:
            sw.ra[CRA_OFFSET] = offset
        sw.ra[CRA_PAGES] = pages
    first = offset & ~(pages - 1)
    lo = sw.base[d] + max(first, 1) - 1
    hi = sw.base[d] + min(first + pages, sw.size[d] + 1) - 1
    for s in range(lo, hi):
        if not read_ahead(fr=fr, zn=zn, lru=lru, ctl=ctl, ctr=ctr, sw=sw, slot=s):
            break
    return p, major


@kernel
def vma_bounds(rm, mm, anon_id, u):
    """The pages [start, end) of mm's VMA of anon_id that holds page u (the reverse map's
    row); (u, u + 1) if none is found."""
    for j in range(np.searchsorted(rm.anon_keys, anon_id), rm.anon_keys.size):
        if rm.anon_keys[j] != anon_id:
            break
        r = rm.anon_rows[j]
        if rm.mm[r] == mm and rm.start[r] <= u < rm.end[r]:
            return rm.start[r], rm.end[r]
    return u, u + 1


@kernel
def swap_vma_readahead(k, mm, row, u, anon_id, slot):
    """do_swap_page's swap-in of page u of an anon VMA: from the swap cache (a readahead hit
    raises the VMA's hits, swap_update_readahead), else read with the window swap_vma_ra_win
    sizes from the last fault's page, window and hits: the PTEs of the window in the same page
    table and VMA that hold swap entries are read ahead. One readahead state is kept per mm,
    for the VMA it swapped in last (the kernel keeps one per VMA): another VMA starts afresh.
    Returns (pfn, major) as swap_in."""
    fr, sw, ra = k.fr, k.sw, k.mms.swap_ra[mm]
    start, end = vma_bounds(rm=k.rm, mm=mm, anon_id=anon_id, u=u)
    if ra[RA_VMA] != start:
        ra[:] = 0
        ra[RA_VMA] = start
    p = sw.cache[slot]
    if p >= 0:
        if readahead_hit(fr=fr, p=p):
            ra[RA_HITS] = min(ra[RA_HITS] + 1, SWAP_RA_HITS_MAX)
        ra[RA_ADDR] = u
        return p, False
    p, major = swap_in(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, sw=k.sw,
                       rs=k.rs, slot=slot)
    if p < 0:
        return p, major
    max_win = 1 << min(k.rs.state[RS_PAGE_CLUSTER], SWAP_RA_ORDER_CEILING)
    if max_win == 1:
        return p, major
    prev = ra[RA_ADDR]
    win = swapin_nr_pages(prev_offset=prev, offset=u, hits=ra[RA_HITS], max_pages=max_win,
                          prev_win=ra[RA_WIN])
    ra[RA_ADDR], ra[RA_WIN], ra[RA_HITS] = u, win, 0
    if win == 1:
        return p, major
    if u == prev + 1:  # swap_vma_ra_win: ahead of a forward run, behind a backward one
        left = u
    elif prev == u + 1:
        left = u - win + 1
    else:
        left = u - (win - 1) // 2
    lo = max(left, start, u & ~511)
    hi = min(left + win, end, (u & ~511) + 512)
    for v in range(lo, hi):
        e = k.pt.pte[row, v & 511]
        if v != u and e & PTE_KIND == PTE_SWAP and not read_ahead(
                fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, sw=k.sw,
                slot=e >> PTE_SHIFT):
            break
    return p, major


@kernel
def shmem_swapin(k, file_id, pgoff, slot):
    """shmem_swapin_folio: the slot's page, read (swapin_readahead, charged to the memcg of the
    swap entry) unless it is in the swap cache, takes the swap entry's place in the shmem
    mapping; it leaves the swap cache and the slot is freed. Returns (pfn, major) as swap_in."""
    fr, ctr, sw = k.fr, k.ctr, k.sw
    p, major = swap_cluster_readahead(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr,
                                      sw=k.sw, rs=k.rs, slot=slot)
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
            p, major = swap_cluster_readahead(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl,
                                              ctr=k.ctr, sw=k.sw, rs=k.rs, slot=slot)
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
