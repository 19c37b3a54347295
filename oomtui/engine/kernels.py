"""Every numba kernel of the engine: the per-page hot paths.

One module on purpose: numba's on-disk cache misses edits that cross modules. Kernels take
the state groups of state.py (namedtuples of arrays) and scalars, allocate nothing, and cost
in proportion to the pages they handle, never to the size of RAM.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from oomtui.engine.state import (
    ANON, EMPTY, F_ACTIVE, F_DIRTY, F_LAZYFREE, F_REFERENCED, F_SWAPCACHE, FILE, FREE, KERNEL,
    LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE,
    MAX_ORDER, MM_ANONPAGES, MM_FILEPAGES, MM_MAJFLT, MM_MINFLT, MM_SHMEMPAGES, MM_SWAPENTS,
    NR_ANON, NR_DIRTY, NR_SWAPCACHED, PSWPIN, PSWPOUT,
    NR_FILE, NR_LAZYFREE, NR_MAPPED, NR_MLOCK, NR_PAGETABLE, NR_SHMEM, NR_ZONES, PAGETABLE,
    PGALLOC, PGFAULT, PGFREE, PGMAJFAULT, PTE_KIND, PTE_NONE, PTE_PRESENT, PTE_SHIFT, PTE_WRITE,
    PTE_SWAP, PTE_YOUNG, PTE_ZERO, SHMEM, V_ANON, V_SHARED, WMARK_LOW, WMARK_MIN,
)

# _nrt=False: kernels never allocate, and without numba's reference counting a call between
# kernels costs ~2 ns instead of ~50 ns (every array argument was incref'd and decref'd).
JIT = dict(cache=True, nogil=True, _nrt=False)
SWAP_RA_PAGES = 8  # 1 << vm.page-cluster (default 3)

# Fault-kernel result slots (out array).
OUT_MINFLT, OUT_MAJFLT, OUT_NEW_ANON = range(3)
NR_OUT = 3


# ---------------------------------------------------------------------------------------------
# Doubly linked lists over frames (buddy free lists and LRU lists share the link arrays: a
# page is never on both).

@njit(**JIT)
def list_add_head(nxt, prv, head, tail, i, j, p):
    h = head[i, j]
    prv[p] = -1
    nxt[p] = h
    if h >= 0:
        prv[h] = p
    else:
        tail[i, j] = p
    head[i, j] = p


@njit(**JIT)
def list_del(nxt, prv, head, tail, i, j, p):
    n = nxt[p]
    q = prv[p]
    if q >= 0:
        nxt[q] = n
    else:
        head[i, j] = n
    if n >= 0:
        prv[n] = q
    else:
        tail[i, j] = q
    nxt[p] = -1
    prv[p] = -1


# ---------------------------------------------------------------------------------------------
# Buddy allocator (mm/page_alloc.c)

@njit(**JIT)
def zone_of(k, pfn):
    zn = k.zn
    for z in range(NR_ZONES):
        if pfn < zn.start[z + 1]:
            return z
    return NR_ZONES - 1


@njit(**JIT)
def free_block(k, z, pfn, order):
    """__free_one_page: merge with free buddies of the same zone, then list the block."""
    fr, zn = k.fr, k.zn
    zn.free[z] += 1 << order
    while order < MAX_ORDER:
        buddy = pfn ^ (1 << order)
        if buddy < zn.start[z] or buddy + (1 << order) > zn.start[z + 1]:
            break
        if fr.order[buddy] != order:
            break
        list_del(fr.next, fr.prev, zn.free_head, zn.free_tail, z, order, buddy)
        zn.free_count[z, order] -= 1
        fr.order[buddy] = -1
        pfn = min(pfn, buddy)
        order += 1
    fr.order[pfn] = order
    list_add_head(fr.next, fr.prev, zn.free_head, zn.free_tail, z, order, pfn)
    zn.free_count[z, order] += 1


@njit(**JIT)
def buddy_init(k):
    """Hand every frame of every zone to the buddy allocator (memblock_free_all)."""
    fr, zn = k.fr, k.zn
    for z in range(NR_ZONES):
        p = zn.start[z]
        end = zn.start[z + 1]
        while p < end:
            order = MAX_ORDER
            while order > 0 and ((p & ((1 << order) - 1)) != 0 or p + (1 << order) > end):
                order -= 1
            free_block(k, z, p, order)
            p += 1 << order


@njit(**JIT)
def take_block(k, z, order):
    """__rmqueue_smallest + expand: smallest block ≥ order, split, keep the low part."""
    fr, zn = k.fr, k.zn
    for o in range(order, MAX_ORDER + 1):
        p = zn.free_head[z, o]
        if p < 0:
            continue
        list_del(fr.next, fr.prev, zn.free_head, zn.free_tail, z, o, p)
        zn.free_count[z, o] -= 1
        fr.order[p] = -1
        while o > order:
            o -= 1
            half = p + (1 << o)
            fr.order[half] = o
            list_add_head(fr.next, fr.prev, zn.free_head, zn.free_tail, z, o, half)
            zn.free_count[z, o] += 1
        zn.free[z] -= 1 << order
        return p
    return -1


@njit(**JIT)
def zone_watermark_ok(k, z, order, mark, highest):
    """__zone_watermark_ok for ALLOC_WMARK_* without reserve flags (KERNEL.md §5)."""
    zn = k.zn
    free = zn.free[z] - ((1 << order) - 1)
    if free <= zn.wmark[z, mark] + zn.reserve[z, highest]:
        return False
    if order == 0:
        return True
    for o in range(order, MAX_ORDER + 1):
        if zn.free_count[z, o] > 0:
            return True
    return False


@njit(**JIT)
def alloc_from_zones(k, order, highest, mark, ftype, owner):
    """get_page_from_freelist: walk the zonelist from `highest` down; -1 if no zone passes."""
    fr, zn, ctr = k.fr, k.zn, k.ctr
    for z in range(highest, -1, -1):
        if zn.start[z + 1] == zn.start[z]:
            continue
        if not zone_watermark_ok(k, z, order, mark, highest):
            continue
        p = take_block(k, z, order)
        if p < 0:
            continue
        for q in range(p, p + (1 << order)):
            fr.type[q] = ftype
            fr.owner[q] = owner
        ctr.vm[PGALLOC] += 1 << order
        return p
    return -1


@njit(**JIT)
def alloc_pages(k, order, highest, ftype, owner):
    """__alloc_pages: the fast path at the low watermark, then the slow path's pass at min."""
    fr, zn, ctr = k.fr, k.zn, k.ctr
    p = alloc_from_zones(k, order, highest, WMARK_LOW, ftype, owner)
    if p < 0:
        p = alloc_from_zones(k, order, highest, WMARK_MIN, ftype, owner)
    return p


@njit(**JIT)
def free_pages(k, p, order):
    fr, zn, ctr = k.fr, k.zn, k.ctr
    for q in range(p, p + (1 << order)):
        fr.type[q] = FREE
        fr.flags[q] = 0
        fr.owner[q] = -1
        fr.index[q] = -1
        fr.mapcount[q] = 0
        fr.mlock[q] = 0
        fr.swap[q] = -1
    ctr.vm[PGFREE] += 1 << order
    free_block(k, zone_of(k, p), p, order)


@njit(**JIT)
def allocatable_pages(k, highest):
    """Order-0 pages the allocator would still hand out before every zone hits min."""
    zn = k.zn
    total = 0
    for z in range(highest, -1, -1):
        mark = zn.wmark[z, WMARK_MIN] + zn.reserve[z, highest]
        if zn.free[z] > mark:
            total += zn.free[z] - mark
    return total


# ---------------------------------------------------------------------------------------------
# LRU lists (mm/swap.c, include/linux/mm_inline.h)

@njit(**JIT)
def lru_list_for(k, p):
    fr = k.fr
    if fr.mlock[p] > 0:
        return LRU_UNEVICTABLE
    if fr.flags[p] & F_LAZYFREE:
        return LRU_INACTIVE_FILE
    active = 1 if fr.flags[p] & F_ACTIVE else 0
    if fr.type[p] == FILE:
        return LRU_INACTIVE_FILE + active
    return LRU_INACTIVE_ANON + active


@njit(**JIT)
def lru_add(k, p):
    fr, lru = k.fr, k.lru
    lst = lru_list_for(k, p)
    fr.lru[p] = lst
    list_add_head(fr.next, fr.prev, lru.head, lru.tail, 0, lst, p)
    lru.size[0, lst] += 1


@njit(**JIT)
def lru_del(k, p):
    fr, lru = k.fr, k.lru
    lst = fr.lru[p]
    if lst < 0:
        return
    list_del(fr.next, fr.prev, lru.head, lru.tail, 0, lst, p)
    lru.size[0, lst] -= 1
    fr.lru[p] = -1


@njit(**JIT)
def lru_update(k, p):
    """Move a page to the list its flags now call for."""
    fr, lru = k.fr, k.lru
    if fr.lru[p] != lru_list_for(k, p):
        lru_del(k, p)
        lru_add(k, p)


@njit(**JIT)
def mlock_page(k, p, delta):
    """mlock_folio / munlock_folio: count locked mappings; unevictable while any remain."""
    fr, lru, ctr = k.fr, k.lru, k.ctr
    before = fr.mlock[p]
    fr.mlock[p] = before + delta
    if before == 0 and delta > 0:
        ctr.vm[NR_MLOCK] += 1
    elif before + delta == 0:
        ctr.vm[NR_MLOCK] -= 1
    lru_update(k, p)


# ---------------------------------------------------------------------------------------------
# Hash tables: int64 keys → int64 values, open addressing with linear probing.

@njit(**JIT)
def ht_hash(key, mask):
    h = np.uint64(key)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return np.int64(h & np.uint64(mask))


@njit(**JIT)
def ht_get(keys, vals, key):
    mask = keys.size - 1
    i = ht_hash(key, mask)
    while keys[i] != EMPTY:
        if keys[i] == key:
            return vals[i]
        i = (i + 1) & mask
    return -1


@njit(**JIT)
def ht_put(keys, vals, count, key, val):
    mask = keys.size - 1
    i = ht_hash(key, mask)
    while keys[i] != EMPTY and keys[i] != key:
        i = (i + 1) & mask
    if keys[i] == EMPTY:
        count[0] += 1
    keys[i] = key
    vals[i] = val


@njit(**JIT)
def ht_del(keys, vals, count, key):
    """Remove with backward-shift deletion (no tombstones)."""
    mask = keys.size - 1
    i = ht_hash(key, mask)
    while keys[i] != key:
        if keys[i] == EMPTY:
            return
        i = (i + 1) & mask
    count[0] -= 1
    j = i
    while True:
        j = (j + 1) & mask
        if keys[j] == EMPTY:
            break
        k = ht_hash(keys[j], mask)
        # keys[j] may move into the hole at i unless its home lies cyclically in (i, j].
        if (i <= j and (k <= i or k > j)) or (i > j and k <= i and k > j):
            keys[i] = keys[j]
            vals[i] = vals[j]
            i = j
    keys[i] = EMPTY
    vals[i] = EMPTY


@njit(**JIT)
def ht_rehash(old_keys, old_vals, keys, vals, count):
    for i in range(old_keys.size):
        if old_keys[i] != EMPTY:
            ht_put(keys, vals, count, old_keys[i], old_vals[i])


# ---------------------------------------------------------------------------------------------
# Page tables. A level-0 table (PTE page) maps 2 MiB and owns a pool row of 512 entries; level
# 1 (PMD page) spans 1 GiB, level 2 (PUD page) 512 GiB. Each is one physical frame.

@njit(**JIT)
def pt_key(mm, level, idx):
    return (mm << 28) | (level << 26) | idx


@njit(**JIT)
def pt_alloc_table(k, mm):
    fr, zn, ctr, pt, mms = k.fr, k.zn, k.ctr, k.pt, k.mms
    # GFP_PGTABLE_USER: a kernel allocation, highest zone Normal.
    p = alloc_pages(k, 0, 2, PAGETABLE, mm)
    if p >= 0:
        ctr.vm[NR_PAGETABLE] += 1
        mms.nr_pt[mm] += 1
    return p


@njit(**JIT)
def pt_row(k, mm, vpage, create):
    """The pool row of the PTE table mapping vpage; allocates missing levels if `create`."""
    fr, zn, ctr, pt, mms = k.fr, k.zn, k.ctr, k.pt, k.mms
    row = ht_get(pt.keys, pt.vals, pt_key(mm, 0, vpage >> 9))
    if row >= 0 or not create:
        return row
    for level in (2, 1):
        key = pt_key(mm, level, vpage >> (9 * (level + 1)))
        if ht_get(pt.keys, pt.vals, key) < 0:
            p = pt_alloc_table(k, mm)
            if p < 0:
                return -1
            ht_put(pt.keys, pt.vals, pt.count, key, p)
    p = pt_alloc_table(k, mm)
    if p < 0:
        return -1
    pt.nfree[0] -= 1
    row = pt.free_rows[pt.nfree[0]]
    pt.row_pfn[row] = p
    pt.pte[row, :] = PTE_NONE
    ht_put(pt.keys, pt.vals, pt.count, pt_key(mm, 0, vpage >> 9), row)
    return row


@njit(**JIT)
def pt_free_range(k, mm, level, lo, hi):
    """free_pgtables: free this mm's level-`level` tables with index in [lo, hi]."""
    fr, zn, ctr, pt, mms = k.fr, k.zn, k.ctr, k.pt, k.mms
    for idx in range(lo, hi + 1):
        key = pt_key(mm, level, idx)
        v = ht_get(pt.keys, pt.vals, key)
        if v < 0:
            continue
        ht_del(pt.keys, pt.vals, pt.count, key)
        if level == 0:
            pfn = pt.row_pfn[v]
            pt.row_pfn[v] = -1
            pt.free_rows[pt.nfree[0]] = v
            pt.nfree[0] += 1
        else:
            pfn = v
        free_pages(k, pfn, 0)
        ctr.vm[NR_PAGETABLE] -= 1
        mms.nr_pt[mm] -= 1


# ---------------------------------------------------------------------------------------------
# Page cache (one hash: file id and page offset → pfn)

@njit(**JIT)
def pc_key(file_id, pgoff):
    return (file_id << 36) | pgoff


@njit(**JIT)
def pc_lookup(k, file_id, pgoff):
    pc = k.pc
    return ht_get(pc.keys, pc.vals, pc_key(file_id, pgoff))


@njit(**JIT)
def pc_add(k, file_id, pgoff, shmem):
    """A new page-cache page (filemap_add_folio / shmem_alloc_folio); -1 when out of memory."""
    fr, zn, lru, ctr, pc = k.fr, k.zn, k.lru, k.ctr, k.pc
    p = alloc_pages(k, 0, 3, SHMEM if shmem else FILE, file_id)
    if p < 0:
        return -1
    fr.index[p] = pgoff
    ht_put(pc.keys, pc.vals, pc.count, pc_key(file_id, pgoff), p)
    ctr.vm[NR_FILE] += 1
    if shmem:
        ctr.vm[NR_SHMEM] += 1
    lru_add(k, p)
    return p


@njit(**JIT)
def pc_remove(k, p):
    """Drop an unmapped page from the page cache and free it."""
    fr, zn, lru, ctr, pc = k.fr, k.zn, k.lru, k.ctr, k.pc
    ht_del(pc.keys, pc.vals, pc.count, pc_key(fr.owner[p], fr.index[p]))
    ctr.vm[NR_FILE] -= 1
    if fr.type[p] == SHMEM:
        ctr.vm[NR_SHMEM] -= 1
    if fr.flags[p] & F_DIRTY:
        ctr.vm[NR_DIRTY] -= 1
    lru_del(k, p)
    free_pages(k, p, 0)


@njit(**JIT)
def set_dirty(k, p):
    fr, ctr = k.fr, k.ctr
    if fr.type[p] == FILE and not fr.flags[p] & F_DIRTY:
        fr.flags[p] |= F_DIRTY
        ctr.vm[NR_DIRTY] += 1


@njit(**JIT)
def mark_accessed(k, p):
    """folio_mark_accessed: referenced once, activated on the second use."""
    fr, lru = k.fr, k.lru
    if fr.flags[p] & F_REFERENCED and not fr.flags[p] & F_ACTIVE and fr.mlock[p] == 0:
        fr.flags[p] = (fr.flags[p] & ~F_REFERENCED) | F_ACTIVE
        lru_update(k, p)
    else:
        fr.flags[p] |= F_REFERENCED


@njit(**JIT)
def pc_fill_cost(k, file_id, pgoff, npages):
    """Frames a read or write of these file pages would add to the page cache."""
    pc = k.pc
    n = 0
    for i in range(npages):
        if pc_lookup(k, file_id, pgoff + i) < 0:
            n += 1
    return n


@njit(**JIT)
def pc_fill(k, file_id, pgoff, npages, shmem, dirty):
    """read()/write()/readahead through the page cache; returns pages newly read in."""
    fr, zn, lru, ctr, pc = k.fr, k.zn, k.lru, k.ctr, k.pc
    added = 0
    for i in range(npages):
        p = pc_lookup(k, file_id, pgoff + i)
        if p < 0:
            p = pc_add(k, file_id, pgoff + i, shmem)
            if p < 0:
                return -1
            added += 1
        mark_accessed(k, p)  # filemap_read and the write path both mark folios accessed
        if dirty:
            set_dirty(k, p)
    return added


# ---------------------------------------------------------------------------------------------
# Mapping and unmapping one page

@njit(**JIT)
def rss_kind(k, p):
    fr = k.fr
    t = fr.type[p]
    if t == ANON:
        return MM_ANONPAGES
    if t == SHMEM:
        return MM_SHMEMPAGES
    return MM_FILEPAGES


@njit(**JIT)
def map_page(k, mm, p, locked):
    fr, lru, ctr, mms = k.fr, k.lru, k.ctr, k.mms
    fr.mapcount[p] += 1
    mms.rss[mm, rss_kind(k, p)] += 1
    if fr.mapcount[p] == 1:
        ctr.vm[NR_ANON if fr.type[p] == ANON else NR_MAPPED] += 1  # AnonPages / Mapped
    if locked:
        mlock_page(k, p, 1)


@njit(**JIT)
def free_anon_page(k, p):
    fr, zn, lru, ctr = k.fr, k.zn, k.lru, k.ctr
    if fr.flags[p] & F_LAZYFREE:
        ctr.vm[NR_LAZYFREE] -= 1
    lru_del(k, p)
    free_pages(k, p, 0)


@njit(**JIT)
def unmap_page(k, mm, p, locked):
    """Drop one mapping of p; an anon page nobody maps (or needs in the swap cache) is freed."""
    fr, zn, lru, ctr, sw, mms = k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms
    if locked:
        mlock_page(k, p, -1)
    fr.mapcount[p] -= 1
    mms.rss[mm, rss_kind(k, p)] -= 1
    if fr.mapcount[p] > 0:
        return
    if fr.type[p] != ANON:
        ctr.vm[NR_MAPPED] -= 1
        return
    ctr.vm[NR_ANON] -= 1
    if fr.flags[p] & F_SWAPCACHE:
        if sw.map[fr.swap[p]] > 0:
            return  # other swap PTEs will fault it back in from the swap cache
        swapcache_del(k, p)
    free_anon_page(k, p)


@njit(**JIT)
def new_anon_page(k, anon_id, index):
    fr, zn, lru, ctr = k.fr, k.zn, k.lru, k.ctr
    # GFP_HIGHUSER_MOVABLE: highest zone Movable. New anon pages start inactive (since 5.9).
    p = alloc_pages(k, 0, 3, ANON, anon_id)
    if p < 0:
        return -1
    fr.index[p] = index
    lru_add(k, p)
    return p


# ---------------------------------------------------------------------------------------------
# Swap slots and the swap cache (mm/swapfile.c, mm/swap_state.c)

@njit(**JIT)
def swap_dev_of(k, slot):
    sw = k.sw
    for d in range(sw.base.size):
        if sw.base[d] <= slot < sw.base[d] + sw.size[d]:
            return d
    return -1


@njit(**JIT)
def swap_alloc_slot(k):
    """get_swap_pages: the highest-priority device with room; equal priorities take turns."""
    sw = k.sw
    best = -1
    for d in range(sw.base.size):
        if sw.active[d] == 0 or sw.top[d] == 0:
            continue
        if best < 0 or sw.prio[d] > sw.prio[best] or (
                sw.prio[d] == sw.prio[best] and sw.seq[d] < sw.seq[best]):
            best = d
    if best < 0:
        return -1
    sw.top[best] -= 1
    sw.used[best] += 1
    sw.clock[0] += 1
    sw.seq[best] = sw.clock[0]  # plist_requeue: to the back of its priority
    return sw.stack[sw.base[best] + sw.top[best]]


@njit(**JIT)
def swap_free_slot(k, slot):
    sw = k.sw
    d = swap_dev_of(k, slot)
    sw.stack[sw.base[d] + sw.top[d]] = slot
    sw.top[d] += 1
    sw.used[d] -= 1
    sw.owner[slot] = -1
    sw.index[slot] = -1


@njit(**JIT)
def vm_swap_full(k):
    """vm_swap_full: more than half of the swap space in use."""
    sw = k.sw
    used = 0
    total = 0
    for d in range(sw.base.size):
        if sw.active[d]:
            used += sw.used[d]
            total += sw.size[d]
    return used * 2 > total


@njit(**JIT)
def swapcache_add(k, p, slot):
    fr, ctr, sw = k.fr, k.ctr, k.sw
    fr.flags[p] |= F_SWAPCACHE
    fr.swap[p] = slot
    sw.cache[slot] = p
    ctr.vm[NR_SWAPCACHED] += 1
    ctr.vm[NR_FILE] += 1  # swap-cache pages count in nr_file_pages (meminfo subtracts them)


@njit(**JIT)
def swapcache_del(k, p):
    """The page leaves the swap cache; its slot is freed if no swap PTE needs it."""
    fr, ctr, sw = k.fr, k.ctr, k.sw
    slot = fr.swap[p]
    sw.cache[slot] = -1
    fr.swap[p] = -1
    fr.flags[p] &= ~F_SWAPCACHE
    ctr.vm[NR_SWAPCACHED] -= 1
    ctr.vm[NR_FILE] -= 1
    if sw.map[slot] == 0:
        swap_free_slot(k, slot)


@njit(**JIT)
def swap_put(k, mm, slot):
    """free_swap_and_cache: one swap PTE is gone; free what nobody needs any more."""
    fr, zn, lru, ctr, sw, mms = k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms
    sw.map[slot] -= 1
    mms.rss[mm, MM_SWAPENTS] -= 1
    if sw.map[slot] > 0:
        return
    p = sw.cache[slot]
    if p < 0:
        swap_free_slot(k, slot)
        return
    swapcache_del(k, p)
    if fr.mapcount[p] == 0:
        free_anon_page(k, p)


@njit(**JIT)
def swap_out(k, mm, row, idx, p):
    """Reclaim one exclusive anon page to swap (add_to_swap + try_to_unmap + pageout).

    A clean swap-cache copy is reused without I/O. False when no slot is free.
    """
    fr, zn, lru, ctr, sw, pt, mms = k.fr, k.zn, k.lru, k.ctr, k.sw, k.pt, k.mms
    if fr.flags[p] & F_SWAPCACHE:
        slot = fr.swap[p]
    else:
        slot = swap_alloc_slot(k)
        if slot < 0:
            return False
        ctr.vm[PSWPOUT] += 1
        sw.owner[slot] = fr.owner[p]
        sw.index[slot] = fr.index[p]
    pt.pte[row, idx] = (slot << PTE_SHIFT) | PTE_SWAP
    sw.map[slot] += 1
    mms.rss[mm, MM_SWAPENTS] += 1
    if fr.flags[p] & F_SWAPCACHE:
        swapcache_del(k, p)
    unmap_page(k, mm, p, False)
    return True


@njit(**JIT)
def swap_window(k, slot):
    """swap_cluster_readahead's window: the aligned 2^page_cluster slots around `slot`."""
    sw = k.sw
    d = swap_dev_of(k, slot)
    lo = max(slot & ~(SWAP_RA_PAGES - 1), sw.base[d])
    hi = min((slot & ~(SWAP_RA_PAGES - 1)) + SWAP_RA_PAGES, sw.base[d] + sw.size[d])
    return lo, hi


@njit(**JIT)
def swap_in_cost(k, slot):
    """Pages a swap-in of `slot` reads: the missing pages of its readahead window."""
    sw = k.sw
    if sw.cache[slot] >= 0:
        return 0
    lo, hi = swap_window(k, slot)
    n = 0
    for s in range(lo, hi):
        if sw.map[s] > 0 and sw.cache[s] < 0:
            n += 1
    return n


@njit(**JIT)
def swap_in(k, slot):
    """swapin_readahead: the slot's page from the swap cache, else read it and its window.

    Returns (pfn, major); pfn -1 when memory ran out.
    """
    fr, zn, lru, ctr, sw = k.fr, k.zn, k.lru, k.ctr, k.sw
    p = sw.cache[slot]
    if p >= 0:
        return p, False
    lo, hi = swap_window(k, slot)
    for s in range(lo, hi):
        if sw.map[s] == 0 or sw.cache[s] >= 0:
            continue
        q = new_anon_page(k, sw.owner[s], sw.index[s])
        if q < 0:
            return -1, True
        swapcache_add(k, q, s)
        ctr.vm[PSWPIN] += 1
    return sw.cache[slot], True


# ---------------------------------------------------------------------------------------------
# Faults (mm/memory.c: handle_mm_fault and friends)

@njit(**JIT)
def tables_missing(k, mm, v, last_pmd, last_pud):
    """Tables a first touch in v's 2 MiB chunk allocates (PTE, plus PMD/PUD not yet counted)."""
    pt = k.pt
    n = 1
    if v >> 18 != last_pmd and ht_get(pt.keys, pt.vals, pt_key(mm, 1, v >> 18)) < 0:
        n += 1
    if v >> 27 != last_pud and ht_get(pt.keys, pt.vals, pt_key(mm, 2, v >> 27)) < 0:
        n += 1
    return n


@njit(**JIT)
def fault_cost(k, mm, vstart, npages, vflags, file_id, file_pgoff, write):
    """Frames (pages + page tables) that fault_range would allocate: its dry run."""
    fr, pt, pc, sw = k.fr, k.pt, k.pc, k.sw
    frames = 0
    last_window = -1
    v = vstart
    end = vstart + npages
    last_pmd = -1
    last_pud = -1
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = ht_get(pt.keys, pt.vals, pt_key(mm, 0, v >> 9))
        if row < 0:
            frames += tables_missing(k, mm, v, last_pmd, last_pud)
            last_pmd = v >> 18
            last_pud = v >> 27
        for u in range(v, chunk_end):
            i = u - vstart
            e = PTE_NONE if row < 0 else pt.pte[row, u & 511]
            kind = e & PTE_KIND
            if kind == PTE_SWAP:
                slot = e >> PTE_SHIFT
                if slot >> 3 != last_window:  # a window is read once
                    frames += swap_in_cost(k, slot)
                    last_window = slot >> 3
                if write:
                    frames += 1  # the CoW copy if another mm still shares the slot
            elif vflags & V_SHARED:
                if kind != PTE_PRESENT and pc_lookup(k, file_id, file_pgoff + i) < 0:
                    frames += 1
            elif kind == PTE_PRESENT:
                p = e >> PTE_SHIFT
                if write and not e & PTE_WRITE and not (fr.type[p] == ANON and fr.mapcount[p] == 1):
                    frames += 1
            elif kind == PTE_ZERO:
                if write:
                    frames += 1
            elif file_id >= 0:
                if pc_lookup(k, file_id, file_pgoff + i) < 0:
                    frames += 1
                if write:
                    frames += 1
            elif write:
                frames += 1
        v = chunk_end
    return frames


@njit(**JIT)
def fault_range(k, mm, vstart, npages, vflags, file_id, file_pgoff, anon_id, anon_pgoff, locked, write, out):
    """Access npages from vstart in one VMA (permissions already checked by the caller).

    Counts minor/major faults and new anon pages into out; returns False if memory ran out
    midway (callers check fault_cost first, so that only happens if the two disagree).
    """
    fr, zn, lru, ctr, pt, pc, sw, mms = k.fr, k.zn, k.lru, k.ctr, k.pt, k.pc, k.sw, k.mms
    shared = (vflags & V_SHARED) != 0
    shmem = shared and (vflags & V_ANON) != 0  # MAP_SHARED|MAP_ANONYMOUS is shmem
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pt_row(k, mm, v, True)
        if row < 0:
            return False
        for u in range(v, chunk_end):
            i = u - vstart
            e = pt.pte[row, u & 511]
            kind = e & PTE_KIND
            major = False
            new_anon = False
            faulted = False
            if kind == PTE_SWAP:
                # do_swap_page: map the page read-only unless this write makes it exclusive.
                slot = e >> PTE_SHIFT
                p, major = swap_in(k, slot)
                if p < 0:
                    return False
                fr.owner[p] = anon_id
                fr.index[p] = anon_pgoff + i
                sw.map[slot] -= 1
                mms.rss[mm, MM_SWAPENTS] -= 1
                map_page(k, mm, p, locked)
                e = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
                if write and sw.map[slot] == 0 and fr.mapcount[p] == 1:
                    e |= PTE_WRITE
                    swapcache_del(k, p)  # written: the swap copy goes stale
                elif locked or vm_swap_full(k):
                    if sw.map[slot] == 0 and fr.mapcount[p] == 1:
                        swapcache_del(k, p)  # should_try_to_free_swap
                pt.pte[row, u & 511] = e
                kind = PTE_PRESENT
                faulted = True
            if kind == PTE_PRESENT and (not write or e & PTE_WRITE):
                pt.pte[row, u & 511] = e | PTE_YOUNG  # the accessed bit is set
                if write:
                    p = e >> PTE_SHIFT
                    set_dirty(k, p)
                    if fr.flags[p] & F_LAZYFREE:
                        fr.flags[p] |= F_DIRTY  # re-dirtied: MADV_FREE no longer drops it
                if faulted:
                    count_fault(k, mm, major, out)
                continue
            if kind == PTE_ZERO and not write:
                pt.pte[row, u & 511] = e | PTE_YOUNG
                continue
            if shared:
                # do_shared_fault / wp_page_shared: the page cache page itself is mapped.
                if kind == PTE_PRESENT:
                    p = e >> PTE_SHIFT
                else:
                    p = pc_lookup(k, file_id, file_pgoff + i)
                    if p < 0:
                        p = pc_add(k, file_id, file_pgoff + i, shmem)
                        if p < 0:
                            return False
                        major = not shmem  # a shmem page is zero-filled, a file page read
                    map_page(k, mm, p, locked)
                pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
                if write:
                    pte |= PTE_WRITE
                    set_dirty(k, p)
            elif kind == PTE_PRESENT:
                # do_wp_page: reuse an exclusive anon page, else copy it (CoW).
                old = e >> PTE_SHIFT
                if fr.type[old] == ANON and fr.mapcount[old] == 1 and not (
                        fr.flags[old] & F_SWAPCACHE and sw.map[fr.swap[old]] > 0):
                    p = old
                    if fr.flags[p] & F_LAZYFREE:
                        fr.flags[p] |= F_DIRTY
                    if fr.flags[p] & F_SWAPCACHE:
                        swapcache_del(k, p)  # wp reuse frees the stale swap copy
                else:
                    p = new_anon_page(k, anon_id, anon_pgoff + i)
                    if p < 0:
                        return False
                    new_anon = True
                    unmap_page(k, mm, old, locked)
                    map_page(k, mm, p, locked)
                pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
            elif kind == PTE_ZERO or (file_id < 0 and write):
                # do_anonymous_page on a write, or the CoW of the zero page.
                p = new_anon_page(k, anon_id, anon_pgoff + i)
                if p < 0:
                    return False
                new_anon = True
                map_page(k, mm, p, locked)
                pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
            elif file_id < 0:
                pte = PTE_ZERO | PTE_YOUNG  # read of untouched private anon: the zero page
            else:
                # do_read_fault / do_cow_fault on a private file mapping.
                c = pc_lookup(k, file_id, file_pgoff + i)
                if c < 0:
                    c = pc_add(k, file_id, file_pgoff + i, False)
                    if c < 0:
                        return False
                    major = True
                if write:
                    p = new_anon_page(k, anon_id, anon_pgoff + i)
                    if p < 0:
                        return False
                    new_anon = True
                    pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
                else:
                    p = c
                    pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
                map_page(k, mm, p, locked)
            pt.pte[row, u & 511] = pte
            if new_anon:
                out[OUT_NEW_ANON] += 1
            count_fault(k, mm, major, out)
        v = chunk_end
    return True


@njit(**JIT)
def count_fault(k, mm, major, out):
    """mm_account_fault: pgfault always, then the task's major or minor count."""
    ctr, mms = k.ctr, k.mms
    ctr.vm[PGFAULT] += 1
    if major:
        ctr.vm[PGMAJFAULT] += 1
        mms.flt[mm, MM_MAJFLT] += 1
        out[OUT_MAJFLT] += 1
    else:
        mms.flt[mm, MM_MINFLT] += 1
        out[OUT_MINFLT] += 1


@njit(**JIT)
def zap_range(k, mm, vstart, npages, locked):
    """zap_pte_range: clear every entry in the range; returns the pages unmapped."""
    fr, zn, lru, ctr, pt, sw, mms = k.fr, k.zn, k.lru, k.ctr, k.pt, k.sw, k.mms
    n = 0
    v = vstart
    end = vstart + npages
    while v < end:
        row = pt_row(k, mm, v, False)
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        if row < 0:
            v = chunk_end
            continue
        for u in range(v, chunk_end):
            e = pt.pte[row, u & 511]
            if (e & PTE_KIND) == PTE_PRESENT:
                unmap_page(k, mm, e >> PTE_SHIFT, locked)
                n += 1
            elif (e & PTE_KIND) == PTE_SWAP:
                swap_put(k, mm, e >> PTE_SHIFT)
            pt.pte[row, u & 511] = PTE_NONE
        v = chunk_end
    return n


@njit(**JIT)
def copy_range(k, src, dst, vstart, npages, private):
    """copy_pte_range for fork: share pages, write-protect private ones in both mms.

    Returns False if a page table could not be allocated (callers precheck with fork_cost).
    """
    fr, zn, lru, ctr, pt, sw, mms = k.fr, k.zn, k.lru, k.ctr, k.pt, k.sw, k.mms
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        srow = pt_row(k, src, v, False)
        if srow < 0:
            v = chunk_end
            continue
        drow = -1
        for u in range(v, chunk_end):
            e = pt.pte[srow, u & 511]
            kind = e & PTE_KIND
            if kind == PTE_NONE:
                continue
            if drow < 0:
                drow = pt_row(k, dst, u, True)
                if drow < 0:
                    return False
            if kind == PTE_SWAP:
                sw.map[e >> PTE_SHIFT] += 1  # swap_duplicate
                mms.rss[dst, MM_SWAPENTS] += 1
            elif kind == PTE_PRESENT:
                p = e >> PTE_SHIFT
                map_page(k, dst, p, False)
                if private:
                    e &= ~PTE_WRITE
                    pt.pte[srow, u & 511] = e
            pt.pte[drow, u & 511] = e & ~PTE_YOUNG
        v = chunk_end
    return True


@njit(**JIT)
def fork_cost(k, mm, vstart, npages):
    """Page tables fork would allocate to copy this range (PTE tables, plus upper levels)."""
    pt = k.pt
    n = 0
    last_pmd = -1
    last_pud = -1
    c = vstart >> 9
    while c <= (vstart + npages - 1) >> 9:
        if ht_get(pt.keys, pt.vals, pt_key(mm, 0, c)) >= 0:
            n += 1
            if c >> 9 != last_pmd:
                n += 1
                last_pmd = c >> 9
            if c >> 18 != last_pud:
                n += 1
                last_pud = c >> 18
        c += 1
    return n


@njit(**JIT)
def move_range(k, mm, old, new, npages):
    """move_page_tables for mremap: entries move, pages keep their rmap index."""
    fr, zn, ctr, pt, mms = k.fr, k.zn, k.ctr, k.pt, k.mms
    v = 0
    while v < npages:
        chunk_end = min(npages, v + 512 - ((old + v) & 511))
        srow = pt_row(k, mm, old + v, False)
        if srow >= 0:
            for u in range(v, chunk_end):
                e = pt.pte[srow, (old + u) & 511]
                if e == PTE_NONE:
                    continue
                drow = pt_row(k, mm, new + u, True)
                if drow < 0:
                    return False
                pt.pte[drow, (new + u) & 511] = e
                pt.pte[srow, (old + u) & 511] = PTE_NONE
        v = chunk_end
    return True


@njit(**JIT)
def move_cost(k, mm, old, new, npages):
    """Page tables move_range allocates at the destination."""
    pt = k.pt
    n = 0
    last_pte = -1
    last_pmd = -1
    last_pud = -1
    for u in range(npages):
        row = ht_get(pt.keys, pt.vals, pt_key(mm, 0, (old + u) >> 9))
        if row < 0 or pt.pte[row, (old + u) & 511] == PTE_NONE:
            continue
        d = new + u
        if d >> 9 != last_pte and ht_get(pt.keys, pt.vals, pt_key(mm, 0, d >> 9)) < 0:
            n += tables_missing(k, mm, d, last_pmd, last_pud)
            last_pte = d >> 9
            last_pmd = d >> 18
            last_pud = d >> 27
    return n


# ---------------------------------------------------------------------------------------------
# madvise, mlock, mincore over a range of one VMA

MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT = range(4)


@njit(**JIT)
def madvise_range(k, mm, vstart, npages, advice, locked):
    """MADV_FREE / COLD / PAGEOUT on present pages mapped only by this mm (mm/madvise.c)."""
    fr, zn, lru, ctr, pt, pc, sw, mms = k.fr, k.zn, k.lru, k.ctr, k.pt, k.pc, k.sw, k.mms
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pt_row(k, mm, v, False)
        if row < 0:
            v = chunk_end
            continue
        for u in range(v, chunk_end):
            e = pt.pte[row, u & 511]
            if (e & PTE_KIND) == PTE_SWAP and advice == MADV_FREE:
                swap_put(k, mm, e >> PTE_SHIFT)  # the data is garbage
                pt.pte[row, u & 511] = PTE_NONE
            if (e & PTE_KIND) != PTE_PRESENT:
                continue
            p = e >> PTE_SHIFT
            if fr.mapcount[p] != 1:
                continue  # shared with another mm: left alone
            if advice == MADV_FREE:
                if fr.type[p] == ANON and not fr.flags[p] & F_LAZYFREE:
                    # folio_mark_lazyfree: clean, and onto the inactive file list.
                    fr.flags[p] = (fr.flags[p] & ~(F_DIRTY | F_ACTIVE | F_REFERENCED)) | F_LAZYFREE
                    ctr.vm[NR_LAZYFREE] += 1
                    lru_update(k, p)
                    pt.pte[row, u & 511] = e & ~PTE_YOUNG
            elif advice == MADV_COLD:
                fr.flags[p] &= ~(F_ACTIVE | F_REFERENCED)
                pt.pte[row, u & 511] = e & ~PTE_YOUNG
                lru_update(k, p)
            elif advice == MADV_PAGEOUT:
                # reclaim_pages → shrink_folio_list: clean file pages drop; anon and shmem
                # pages that get no swap slot go to activate_locked (back on the active list).
                fr.flags[p] &= ~F_REFERENCED
                pt.pte[row, u & 511] = e & ~PTE_YOUNG
                if fr.type[p] == FILE:
                    if not fr.flags[p] & F_DIRTY and fr.mlock[p] == 0:
                        unmap_page(k, mm, p, locked)
                        pt.pte[row, u & 511] = PTE_NONE
                        pc_remove(k, p)
                elif fr.flags[p] & F_LAZYFREE and not fr.flags[p] & F_DIRTY:
                    unmap_page(k, mm, p, locked)  # clean lazyfree: freed
                    pt.pte[row, u & 511] = PTE_NONE
                elif fr.mlock[p] == 0:
                    if fr.flags[p] & F_LAZYFREE:  # re-dirtied: swap-backed again
                        fr.flags[p] &= ~(F_LAZYFREE | F_DIRTY)
                        ctr.vm[NR_LAZYFREE] -= 1
                    if fr.type[p] == SHMEM or not swap_out(k, mm,
                                                           row, u & 511, p):
                        fr.flags[p] |= F_ACTIVE  # no swap slot: activate_locked
                        lru_update(k, p)
        v = chunk_end


@njit(**JIT)
def mlock_range(k, mm, vstart, npages, delta):
    """mlock_pte_range: add or drop one locked mapping on every present page."""
    fr, zn, lru, ctr, pt, mms = k.fr, k.zn, k.lru, k.ctr, k.pt, k.mms
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pt_row(k, mm, v, False)
        if row >= 0:
            for u in range(v, chunk_end):
                e = pt.pte[row, u & 511]
                if (e & PTE_KIND) == PTE_PRESENT:
                    mlock_page(k, e >> PTE_SHIFT, delta)
        v = chunk_end


@njit(**JIT)
def mincore_range(k, mm, vstart, npages, file_id, file_pgoff, out):
    """mincore_pte_range: mapped pages, else page-cache residency for file-backed VMAs."""
    pt, pc, sw = k.pt, k.pc, k.sw
    for i in range(npages):
        v = vstart + i
        row = ht_get(pt.keys, pt.vals, pt_key(mm, 0, v >> 9))
        kind = PTE_NONE if row < 0 else pt.pte[row, v & 511] & PTE_KIND
        if kind == PTE_PRESENT or kind == PTE_ZERO:
            out[i] = 1
        elif kind == PTE_SWAP:
            out[i] = 1 if sw.cache[pt.pte[row, v & 511] >> PTE_SHIFT] >= 0 else 0
        elif file_id >= 0 and pc_lookup(k, file_id, file_pgoff + i) >= 0:
            out[i] = 1
        else:
            out[i] = 0


@njit(**JIT)
def drop_file_pages(k, file_id, npages):
    """Free every cached page of a file (an unlinked shmem object's last reference)."""
    fr, zn, lru, ctr, pc = k.fr, k.zn, k.lru, k.ctr, k.pc
    for pgoff in range(npages):
        p = pc_lookup(k, file_id, pgoff)
        if p >= 0:
            pc_remove(k, p)


@njit(**JIT)
def swapoff_cost(k, d):
    """Pages try_to_unuse must read back: the device's used slots not in the swap cache."""
    sw = k.sw
    n = 0
    for slot in range(sw.base[d], sw.base[d] + sw.size[d]):
        if sw.map[slot] > 0 and sw.cache[slot] < 0:
            n += 1
    return n


@njit(**JIT)
def swap_unuse(k, d):
    """try_to_unuse: swap every page of device d back in, in every mm (unuse_pte).

    Locked VMAs never hold swap entries (mlocked pages are unevictable), so no mlock here.
    """
    fr, zn, lru, ctr, pt, sw, mms = k.fr, k.zn, k.lru, k.ctr, k.pt, k.sw, k.mms
    lo = sw.base[d]
    hi = lo + sw.size[d]
    for i in range(pt.keys.size):
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
            p, major = swap_in(k, slot)
            if p < 0:
                return False
            sw.map[slot] -= 1
            mms.rss[mm, MM_SWAPENTS] -= 1
            map_page(k, mm, p, False)
            pt.pte[row, j] = (p << PTE_SHIFT) | PTE_PRESENT
            if sw.map[slot] == 0:
                swapcache_del(k, p)
    return True


@njit(**JIT)
def kernel_alloc(k, order, owner):
    """A kernel allocation (GFP_KERNEL: highest zone Normal, down to min)."""
    fr, zn, ctr = k.fr, k.zn, k.ctr
    return alloc_pages(k, order, 2, KERNEL, owner)


# ---------------------------------------------------------------------------------------------
# Recounts for invariant checks (tests only: a pass over every frame)

@njit(**JIT)
def recount(k, out_types, out_lru, out_free_zone, out_mlocked, out_dirty, out_lazy):
    fr, zn, lru = k.fr, k.zn, k.lru
    for p in range(fr.type.size):
        out_types[fr.type[p]] += 1
        if fr.lru[p] >= 0:
            out_lru[fr.lru[p]] += 1
        if fr.mlock[p] > 0:
            out_mlocked[0] += 1
        if fr.type[p] == FILE and fr.flags[p] & F_DIRTY:
            out_dirty[0] += 1
        if fr.type[p] == ANON and fr.flags[p] & F_LAZYFREE:
            out_lazy[0] += 1
    for z in range(NR_ZONES):
        for o in range(MAX_ORDER + 1):
            p = zn.free_head[z, o]
            while p >= 0:
                out_free_zone[z] += 1 << o
                p = fr.next[p]
