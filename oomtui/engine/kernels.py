"""Every numba kernel of the engine: the per-page hot paths.

One module on purpose: numba's on-disk cache misses edits that cross modules. Kernels take
the state groups of state.py (namedtuples of arrays) and scalars, allocate nothing, and cost
in proportion to the pages they handle, never to the size of RAM.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from oomtui.engine.state import (
    ANON, EMPTY, F_ACTIVE, F_DIRTY, F_LAZYFREE, F_RECLAIM, F_REFERENCED, F_SWAPCACHE, F_WRITEBACK,
    FILE, FREE, KERNEL, NR_DIRTIED, NR_WRITEBACK, RS_DQ_COUNT, RS_DQ_HEAD, RS_EXPIRED, RS_NOW,
    RS_WB_COUNT, RS_WB_WANTED, F_WORKINGSET, WORKINGSET_ACTIVATE, WORKINGSET_REFAULT,
    WORKINGSET_RESTORE,
    LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE,
    MAX_ORDER, MM_ANONPAGES, MM_FILEPAGES, MM_MAJFLT, MM_MINFLT, MM_SHMEMPAGES, MM_SWAPENTS,
    NR_ANON, NR_DIRTY, NR_SWAPCACHED, PC_SWAP, PSWPIN, PSWPOUT,
    NR_FILE, NR_LAZYFREE, NR_MAPPED, NR_MLOCK, NR_PAGETABLE, NR_SHMEM, NR_ZONES, PAGETABLE,
    PGALLOC, PGFAULT, PGFREE, PGMAJFAULT, PTE_KIND, PTE_NONE, PTE_PRESENT, PTE_SHIFT, PTE_WRITE,
    PTE_SWAP, PTE_YOUNG, PTE_ZERO, SHMEM, V_ANON, V_SHARED, WMARK_LOW, WMARK_MIN,
    ALLOCSTALL, PAGEOUTRUN, PGACTIVATE, PGDEACTIVATE, PGROTATED, PGSCAN_DIRECT, PGSCAN_KSWAPD,
    PGSTEAL_DIRECT, PGSTEAL_KSWAPD, RS_KSWAPD_AWAKE,
    RS_KSWAPD_FAILURES, RS_KSWAPD_HIGHEST, RS_KSWAPD_ORDER, RS_PAGE_CLUSTER, RS_SWAPPINESS,
    NR_LRU_LISTS, NR_WRITTEN, LC_CGROUP_RECLAIM, LC_IMMEDIATE, LC_INLINE_RECLAIM, LC_CHARGE_TO, LC_LOW_RECLAIM, LC_LOW_SKIPPED, LC_NWALK,
    LC_OVER_HIGH, LC_OVER_LIMIT,
    V_EXEC, V_WRITE, WMARK_HIGH,
    CC_FREE_PFN, CC_FREE_SCANNED, CC_MIGRATE_PFN, CC_MIGRATE_SCANNED, CC_MOVED, CC_NR_FREE,
    CC_NR_MIGRATE, CC_ORDER, CC_SYNC, CC_WHOLE_ZONE, COMPACT_CLUSTER_MAX, COMPACTFREE_SCANNED,
    COMPACTISOLATED, COMPACTMIGRATE_SCANNED, F_THP, HPAGE_PMD_NR, HPAGE_PMD_ORDER, NR_ANON_THPS,
    PGMIGRATE_FAIL, PGMIGRATE_SUCCESS, THP_FAULT_ALLOC, THP_FAULT_FALLBACK,
    THP_FAULT_FALLBACK_CHARGE,
    CACHE_DENTRY, CACHE_INODE, NR_RECLAIMABLE_CACHES, NR_SLAB_R, NR_SLAB_U, RS_SLAB_DEFERRED,
    RS_VFS_DENOM, RS_VFS_PRESSURE, SL_HEAD, SL_NEG, SL_OBJS, SL_ROOM, SL_SLABS, SL_UNUSED, SLAB,
    SLAB_MIN_ORDER, SLAB_OBJSIZE, SLAB_ORDER, SLABS_SCANNED,
)

# _nrt=False: kernels never allocate, and without numba's reference counting a call between
# kernels costs ~2 ns instead of ~50 ns (every array argument was incref'd and decref'd).
JIT = dict(cache=True, nogil=True, _nrt=False)
SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12
MAX_RECLAIM_RETRIES = 16
PAGE_ALLOC_COSTLY_ORDER = 3

# Fault-kernel result slots (out array).
# Results of resumable kernels (out array): fault counts, pages done, and why they stopped.
OUT_MINFLT, OUT_MAJFLT, OUT_NEW_ANON, OUT_DONE, OUT_STATUS, OUT_SWPIN = range(6)
OUT_RECLAIMED = 6  # 1: the kernel's own direct reclaim just freed nothing
NR_OUT = 7
# Why a resumable kernel stopped: done; no free page (reclaim or OOM-kill); tables must grow;
# a memcg is at memory.max (memcg reclaim or OOM); over memory.high by more than a charge batch.
STATUS_OK, STATUS_NOMEM, STATUS_ROOM, STATUS_MEMCG, STATUS_HIGH = range(5)
# The same as failure codes of page allocations: -status.
NO_MEMORY, NEED_ROOM, MEMCG_FULL, OVER_HIGH = -1, -2, -3, -4
MEMCG_CHARGE_BATCH = 64


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
def list_add_tail(nxt, prv, head, tail, i, j, p):
    t = tail[i, j]
    nxt[p] = -1
    prv[p] = t
    if t >= 0:
        nxt[t] = p
    else:
        head[i, j] = p
    tail[i, j] = p


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
def zone_of(zn, pfn):
    for z in range(NR_ZONES):
        if pfn < zn.start[z + 1]:
            return z
    return NR_ZONES - 1


@njit(**JIT)
def free_block(fr, zn, z, pfn, order):
    """__free_one_page: merge with free buddies of the same zone, then list the block."""
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
    zn = k.zn
    for z in range(NR_ZONES):
        p = zn.start[z]
        end = zn.start[z + 1]
        while p < end:
            order = MAX_ORDER
            while order > 0 and ((p & ((1 << order) - 1)) != 0 or p + (1 << order) > end):
                order -= 1
            free_block(k.fr, k.zn, z, p, order)
            p += 1 << order


@njit(**JIT)
def take_block(fr, zn, z, order):
    """__rmqueue_smallest + expand: smallest block ≥ order, split, keep the low part."""
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


@njit(**JIT)
def alloc_from_zones(fr, zn, ctr, order, highest, mark, ftype, owner):
    """get_page_from_freelist: walk the zonelist from `highest` down; -1 if no zone passes."""
    for z in range(highest, -1, -1):
        if zn.start[z + 1] == zn.start[z]:
            continue
        if not zone_watermark_ok(zn, z, order, mark, highest):
            continue
        p = take_block(fr, zn, z, order)
        if p < 0:
            continue
        for q in range(p, p + (1 << order)):
            fr.type[q] = ftype
            fr.owner[q] = owner
        ctr.vm[PGALLOC] += 1 << order
        return p
    return -1


@njit(**JIT)
def alloc_pages(fr, zn, ctr, rs, order, highest, ftype, owner):
    """__alloc_pages' fast path at low, then (waking kswapd) a try at min. -1 sends the caller
    back to Python for the slow path: direct reclaim, retries, the OOM killer (KERNEL.md §5).
    Reclaim is kept out of this call graph so that every kernel compiles quickly."""
    p = alloc_from_zones(fr, zn, ctr, order, highest, WMARK_LOW, ftype, owner)
    if p >= 0:
        return p
    wakeup_kswapd(zn, rs, order, highest)
    return alloc_from_zones(fr, zn, ctr, order, highest, WMARK_MIN, ftype, owner)


@njit(**JIT)
def alloc_pages_nowait(fr, zn, ctr, order, highest, ftype, owner):
    """An opportunistic allocation that never reclaims (readahead)."""
    return alloc_from_zones(fr, zn, ctr, order, highest, WMARK_LOW, ftype, owner)


@njit(**JIT)
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
    free_block(fr, zn, zone_of(zn, p), p, order)


# ---------------------------------------------------------------------------------------------
# LRU lists (mm/swap.c, include/linux/mm_inline.h)

@njit(**JIT)
def lru_list_for(fr, p):
    if fr.mlock[p] > 0:
        return LRU_UNEVICTABLE
    if fr.flags[p] & F_LAZYFREE:
        return LRU_INACTIVE_FILE
    active = 1 if fr.flags[p] & F_ACTIVE else 0
    if fr.type[p] == FILE:
        return LRU_INACTIVE_FILE + active
    return LRU_INACTIVE_ANON + active


@njit(**JIT)
def lru_add(fr, lru, p):
    """Onto the list its flags call for, in the lruvec of the memcg it is charged to."""
    lst = lru_list_for(fr, p)
    fr.lru[p] = lst
    list_add_head(fr.next, fr.prev, lru.head, lru.tail, fr.memcg[p], lst, p)
    lru.size[fr.memcg[p], lst] += 1


@njit(**JIT)
def lru_del(fr, lru, p):
    lst = fr.lru[p]
    if lst < 0:
        return
    list_del(fr.next, fr.prev, lru.head, lru.tail, fr.memcg[p], lst, p)
    lru.size[fr.memcg[p], lst] -= 1
    fr.lru[p] = -1


@njit(**JIT)
def lru_update(fr, lru, p):
    """Move a page to the list its flags now call for."""
    if fr.lru[p] != lru_list_for(fr, p):
        lru_del(fr, lru, p)
        lru_add(fr, lru, p)


@njit(**JIT)
def mlock_page(fr, lru, ctr, p, delta):
    """mlock_folio / munlock_folio: count locked mappings; unevictable while any remain."""
    before = fr.mlock[p]
    fr.mlock[p] = before + delta
    if before == 0 and delta > 0:
        ctr.vm[NR_MLOCK] += 1
    elif before + delta == 0:
        ctr.vm[NR_MLOCK] -= 1
    lru_update(fr, lru, p)


# ---------------------------------------------------------------------------------------------
# Workingset detection (mm/workingset.c; KERNEL.md §6): an evicted page leaves a shadow with
# its lruvec's non-resident age; a refault within the workingset's size activates the page.

SHADOW_AGE_BITS = 46


@njit(**JIT)
def workingset_age_nonresident(lru, cg, n):
    while cg >= 0:
        lru.nonresident_age[cg] += n
        cg = lru.parent[cg]


@njit(**JIT)
def workingset_eviction(fr, lru, p):
    """The shadow of p: its memcg, the age it was evicted at and PG_workingset."""
    cg = fr.memcg[p]
    eviction = lru.nonresident_age[cg] & ((1 << SHADOW_AGE_BITS) - 1)
    workingset_age_nonresident(lru, cg, 1)
    return (np.int64(cg) << (SHADOW_AGE_BITS + 1)) | (eviction << 1) | (
        1 if fr.flags[p] & F_WORKINGSET else 0)


@njit(**JIT)
def lruvec_size(lru, cg, lst):
    """lruvec_page_state: a memcg's list, its descendants' included."""
    total = 0
    for c in range(lru.parent.size):
        a = c
        while a >= 0 and a != cg:
            a = lru.parent[a]
        if a == cg:
            total += lru.size[c, lst]
    return total


@njit(**JIT)
def workingset_refault(fr, lru, ctr, sw, p, shadow, file):
    """workingset_refault for the new page p (not yet on an LRU) that refaults `shadow`."""
    ctr.vm[WORKINGSET_REFAULT + file] += 1
    cg = shadow >> (SHADOW_AGE_BITS + 1)
    eviction = (shadow >> 1) & ((1 << SHADOW_AGE_BITS) - 1)
    distance = (lru.nonresident_age[cg] - eviction) & ((1 << SHADOW_AGE_BITS) - 1)
    # workingset_test_recent: what could have been kept, had the page been active
    size = lruvec_size(lru, cg, LRU_ACTIVE_FILE)
    if not file:
        size += lruvec_size(lru, cg, LRU_INACTIVE_FILE)
    if swap_space_left(sw) and swap_room(lru, cg):
        size += lruvec_size(lru, cg, LRU_ACTIVE_ANON)
        if file:
            size += lruvec_size(lru, cg, LRU_INACTIVE_ANON)
    if distance > size:
        return
    fr.flags[p] |= F_ACTIVE
    workingset_age_nonresident(lru, fr.memcg[p], 1)
    ctr.vm[WORKINGSET_ACTIVATE + file] += 1
    c = fr.memcg[p]
    while c >= 0:
        if file:
            lru.activate_file[c] += 1
        else:
            lru.activate_anon[c] += 1
        c = lru.parent[c]
    if shadow & 1:  # it was active before it was evicted
        fr.flags[p] |= F_WORKINGSET
        note_cost(lru, fr.memcg[p], file, 1, 0)  # lru_note_cost_refault
        ctr.vm[WORKINGSET_RESTORE + file] += 1


# ---------------------------------------------------------------------------------------------
# memcg page counters (mm/memcontrol.c, mm/page_counter.c; KERNEL.md §7). Charges are exact,
# page by page: no per-cpu stock of MEMCG_CHARGE_BATCH pages.

@njit(**JIT)
def try_charge(lru, cg, n):
    """page_counter_try_charge: n pages on cg and every ancestor, or on none of them; then
    the memcg over its memory.max is in ctl[LC_OVER_LIMIT]. Charges that leave a level over
    memory.high add up in ctl[LC_OVER_HIGH] (current->memcg_nr_pages_over_high)."""
    c = cg
    while c >= 0:
        if lru.usage[c] + n > lru.max[c]:
            lru.ctl[LC_OVER_LIMIT] = c
            return False
        c = lru.parent[c]
    over = False
    c = cg
    while c >= 0:
        lru.usage[c] += n
        lru.peak[c] = max(lru.peak[c], lru.usage[c])
        over = over or lru.usage[c] > lru.high[c]
        c = lru.parent[c]
    if over:
        lru.ctl[LC_OVER_HIGH] += n
    return True


@njit(**JIT)
def uncharge(lru, cg, n):
    while cg >= 0:
        lru.usage[cg] -= n
        cg = lru.parent[cg]


@njit(**JIT)
def try_charge_swap(lru, cg):
    """__mem_cgroup_try_charge_swap: one swap entry against memory.swap.max at every level;
    a refusal counts in the limited group's swap.events (max and fail)."""
    c = cg
    while c >= 0:
        if lru.swap[c] + 1 > lru.swap_max[c]:
            lru.swap_fail[c] += 1
            return False
        c = lru.parent[c]
    while cg >= 0:
        lru.swap[cg] += 1
        cg = lru.parent[cg]
    return True


@njit(**JIT)
def uncharge_swap(lru, cg):
    """mem_cgroup_uncharge_swap for one entry (cg -1: not charged)."""
    while cg >= 0:
        lru.swap[cg] -= 1
        cg = lru.parent[cg]


@njit(**JIT)
def swap_room(lru, cg):
    """mem_cgroup_get_nr_swap_pages > 0: every level below its memory.swap.max."""
    while cg >= 0:
        if lru.swap[cg] >= lru.swap_max[cg]:
            return False
        cg = lru.parent[cg]
    return True


@njit(**JIT)
def charged_page(fr, zn, ctr, lru, p, cg):
    """mem_cgroup_charge after the allocation: the page, or MEMCG_FULL (page freed again)."""
    if not try_charge(lru, cg, 1):
        free_pages(fr, zn, ctr, p, 0)
        return MEMCG_FULL
    fr.memcg[p] = cg
    return p


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
def pt_alloc_table(fr, zn, ctr, pt, mms, rs, mm):
    # GFP_PGTABLE_USER: a kernel allocation, highest zone Normal.
    p = alloc_pages(fr, zn, ctr, rs, 0, 2, PAGETABLE, mm)
    if p >= 0:
        ctr.vm[NR_PAGETABLE] += 1
        mms.nr_pt[mm] += 1
    return p


@njit(**JIT)
def pte_table(pt, mm, vpage):
    """The pool row of the PTE table mapping vpage, or -1 if there is none."""
    return ht_get(pt.keys, pt.vals, pt_key(mm, 0, vpage >> 9))


@njit(**JIT)
def pt_row(fr, zn, ctr, pt, mms, rs, mm, vpage):
    """The pool row of the PTE table mapping vpage, allocating missing levels (-1 when no
    memory, NEED_ROOM when the pool or its hash must grow first)."""
    row = pte_table(pt, mm, vpage)
    if row >= 0:
        return row
    if pt.nfree[0] == 0 or (pt.count[0] + 3) * 2 > pt.keys.size:
        return NEED_ROOM  # Python grows the pool and the hash, then resumes
    for level in (2, 1):
        key = pt_key(mm, level, vpage >> (9 * (level + 1)))
        if ht_get(pt.keys, pt.vals, key) < 0:
            p = pt_alloc_table(fr, zn, ctr, pt, mms, rs, mm)
            if p < 0:
                return -1
            ht_put(pt.keys, pt.vals, pt.count, key, p)
    p = pt_alloc_table(fr, zn, ctr, pt, mms, rs, mm)
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
    ctr, pt, mms = k.ctr, k.pt, k.mms
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
        free_pages(k.fr, k.zn, k.ctr, pfn, 0)
        ctr.vm[NR_PAGETABLE] -= 1
        mms.nr_pt[mm] -= 1


# ---------------------------------------------------------------------------------------------
# Page cache (one hash: file id and page offset → pfn)

PC_PGOFF_BITS = 36  # a key is the file id above the page offset
PC_PGOFF_MASK = (1 << PC_PGOFF_BITS) - 1


@njit(**JIT)
def pc_key(file_id, pgoff):
    return (file_id << PC_PGOFF_BITS) | pgoff


@njit(**JIT)
def pc_lookup(pc, file_id, pgoff):
    return ht_get(pc.keys, pc.vals, pc_key(file_id, pgoff))


WALK_INVALIDATE, WALK_TRUNCATE, WALK_COUNT_SWAPPED = 0, 1, 2
NO_COUNTS = np.zeros((1, 1), np.int64)  # for the walks that count nothing


@njit(**JIT)
def pc_walk(k, file_id, first, npages, action, counts, col):
    """Act on every page-cache entry of [first, first + npages) of a file, found by a lookup
    per offset or by one pass over the index, whichever is shorter: a sparse file costs its
    entries, not its size (the kernel walks an xarray that holds only present entries).
    action: WALK_INVALIDATE (invalidate_mapping_pages), WALK_TRUNCATE (shmem_undo_range), or
    WALK_COUNT_SWAPPED (counts[bucket, col] += the swapped shmem pages, for the VMA view)."""
    pc = k.pc
    by_offset = npages <= pc.keys.size
    i = 0
    while i < (npages if by_offset else pc.keys.size):
        if by_offset:
            pgoff, p = first + i, pc_lookup(pc, file_id, first + i)
        else:
            key, p = pc.keys[i], pc.vals[i]
            pgoff = key & PC_PGOFF_MASK
            if key == EMPTY or key >> PC_PGOFF_BITS != file_id \
                    or not first <= pgoff < first + npages:
                p = -1
        if p != -1 and pc_visit(k, file_id, pgoff, p, action, counts,
                                (pgoff - first) * counts.shape[0] // npages, col) and not by_offset:
            continue  # removed: backward-shift deletion moved a later entry into slot i
        i += 1


@njit(**JIT)
def pc_visit(k, file_id, pgoff, p, action, counts, bucket, col):
    """One entry of pc_walk; True when it left the index."""
    if action == WALK_COUNT_SWAPPED:
        if p <= PC_SWAP:
            counts[bucket, col] += 1
    elif action == WALK_INVALIDATE:
        if p >= 0 and k.fr.type[p] == FILE and k.fr.mapcount[p] == 0 \
                and not k.fr.flags[p] & (F_DIRTY | F_WRITEBACK):
            pc_remove(k.fr, k.zn, k.lru, k.ctr, k.pc, p, -1)
            return True
    elif p >= 0:
        pc_remove(k.fr, k.zn, k.lru, k.ctr, k.pc, p, -1)
        return True
    elif p <= PC_SWAP:
        ht_del(k.pc.keys, k.pc.vals, k.pc.count, pc_key(file_id, pgoff))
        free_swap_and_cache(k.fr, k.zn, k.lru, k.ctr, k.sw, PC_SWAP - p)
        return True
    return False


@njit(**JIT)
def pc_add(fr, zn, lru, ctr, pc, rs, sw, file_id, pgoff, shmem):
    """A new page-cache page (filemap_add_folio / shmem_alloc_folio), or a failure code:
    NO_MEMORY, MEMCG_FULL, or NEED_ROOM when the page-cache index must grow first."""
    if (pc.count[0] + 1) * 2 > pc.keys.size:
        return NEED_ROOM
    old = pc_lookup(pc, file_id, pgoff)  # -1, or a shadow entry
    p = alloc_pages(fr, zn, ctr, rs, 0, 3, SHMEM if shmem else FILE, file_id)
    if p < 0:
        return NO_MEMORY
    p = charged_page(fr, zn, ctr, lru, p, lru.ctl[LC_CHARGE_TO])  # to the first toucher
    if p < 0:
        return p
    fr.index[p] = pgoff
    if old <= -2:
        pc.shadows[0] -= 1
        workingset_refault(fr, lru, ctr, sw, p, -2 - old, 1)
    ht_put(pc.keys, pc.vals, pc.count, pc_key(file_id, pgoff), p)
    ctr.vm[NR_FILE] += 1
    if shmem:
        ctr.vm[NR_SHMEM] += 1
    lru_add(fr, lru, p)
    return p


@njit(**JIT)
def pc_remove(fr, zn, lru, ctr, pc, p, shadow):
    """Drop an unmapped page from the page cache and free it; an evicted page leaves its
    shadow (>= 0) in its place while there is room for one (the shadow-node shrinker)."""
    key = pc_key(fr.owner[p], fr.index[p])
    if shadow >= 0 and pc.shadows[0] < fr.type.size:
        ht_put(pc.keys, pc.vals, pc.count, key, -2 - shadow)
        pc.shadows[0] += 1
    else:
        ht_del(pc.keys, pc.vals, pc.count, key)
    ctr.vm[NR_FILE] -= 1
    if fr.type[p] == SHMEM:
        ctr.vm[NR_SHMEM] -= 1
    if fr.flags[p] & F_DIRTY:
        ctr.vm[NR_DIRTY] -= 1
    lru_del(fr, lru, p)
    uncharge(lru, fr.memcg[p], 1)
    free_pages(fr, zn, ctr, p, 0)


@njit(**JIT)
def set_dirty(fr, ctr, rs, p):
    """folio_mark_dirty for a file page: counted, and queued for the flushers."""
    if fr.type[p] == FILE and not fr.flags[p] & F_DIRTY:
        fr.flags[p] |= F_DIRTY
        ctr.vm[NR_DIRTY] += 1
        ctr.vm[NR_DIRTIED] += 1
        st = rs.state
        i = (st[RS_DQ_HEAD] + st[RS_DQ_COUNT]) % fr.dirtyq.size
        fr.dirtyq[i] = p
        fr.dirtyq_tick[i] = st[RS_NOW]
        st[RS_DQ_COUNT] += 1


@njit(**JIT)
def mark_accessed(fr, lru, p):
    """folio_mark_accessed: referenced once, activated on the second use."""
    if fr.flags[p] & F_REFERENCED and not fr.flags[p] & F_ACTIVE and fr.mlock[p] == 0:
        fr.flags[p] = (fr.flags[p] & ~F_REFERENCED) | F_ACTIVE
        lru_update(fr, lru, p)
        workingset_age_nonresident(lru, fr.memcg[p], 1)  # workingset_activation
    else:
        fr.flags[p] |= F_REFERENCED


@njit(**JIT)
def pc_fill(k, file_id, pgoff, npages, shmem, dirty, out):
    """read()/write()/readahead through the page cache (resumable, like fault_range)."""
    for i in range(npages):
        p = pc_lookup(k.pc, file_id, pgoff + i)
        if p < 0:
            p = pc_add(k.fr, k.zn, k.lru, k.ctr, k.pc, k.rs, k.sw, file_id, pgoff + i, shmem)
            if p < 0:
                return stop(out, i, p)
        mark_accessed(k.fr, k.lru, p)  # filemap_read and the write path both mark folios accessed
        if dirty:
            set_dirty(k.fr, k.ctr, k.rs, p)
        if k.lru.ctl[LC_OVER_HIGH] > MEMCG_CHARGE_BATCH:
            return stop(out, i + 1, OVER_HIGH)  # try_charge_memcg handles it at once
    return stop(out, npages, 0)


@njit(**JIT)
def rss_kind(fr, p):
    t = fr.type[p]
    if t == ANON:
        return MM_ANONPAGES
    if t == SHMEM:
        return MM_SHMEMPAGES
    return MM_FILEPAGES


@njit(**JIT)
def map_page(fr, lru, ctr, mms, mm, p, locked):
    fr.mapcount[p] += 1
    mms.rss[mm, rss_kind(fr, p)] += 1
    if fr.mapcount[p] == 1:
        ctr.vm[NR_ANON if fr.type[p] == ANON else NR_MAPPED] += 1  # AnonPages / Mapped
    if locked:
        mlock_page(fr, lru, ctr, p, 1)


@njit(**JIT)
def free_anon_page(fr, zn, lru, ctr, p):
    if fr.flags[p] & F_LAZYFREE:
        ctr.vm[NR_LAZYFREE] -= 1
    lru_del(fr, lru, p)
    uncharge(lru, fr.memcg[p], 1)
    free_pages(fr, zn, ctr, p, 0)


@njit(**JIT)
def unmap_page(fr, zn, lru, ctr, sw, mms, mm, p, locked):
    """Drop one mapping of p; an anon page nobody maps (or needs in the swap cache) is freed."""
    if fr.flags[p] & F_THP:
        split_huge_page(fr, ctr, p)
    if locked:
        mlock_page(fr, lru, ctr, p, -1)
    fr.mapcount[p] -= 1
    mms.rss[mm, rss_kind(fr, p)] -= 1
    if fr.mapcount[p] > 0:
        return
    if fr.type[p] != ANON:
        ctr.vm[NR_MAPPED] -= 1
        return
    ctr.vm[NR_ANON] -= 1
    if fr.flags[p] & F_SWAPCACHE:
        if sw.map[fr.swap[p]] > 0:
            return  # other swap PTEs will fault it back in from the swap cache
        swapcache_del(fr, lru, ctr, sw, p)
    free_anon_page(fr, zn, lru, ctr, p)


@njit(**JIT)
def new_anon_page(fr, zn, lru, ctr, rs, anon_id, index, cg):
    """A new anon page charged to cg, or NO_MEMORY / MEMCG_FULL."""
    # GFP_HIGHUSER_MOVABLE: highest zone Movable. New anon pages start inactive (since 5.9).
    p = alloc_pages(fr, zn, ctr, rs, 0, 3, ANON, anon_id)
    if p < 0:
        return NO_MEMORY
    p = charged_page(fr, zn, ctr, lru, p, cg)
    if p < 0:
        return p
    fr.index[p] = index
    lru_add(fr, lru, p)
    return p


# ---------------------------------------------------------------------------------------------
# Swap slots and the swap cache (mm/swapfile.c, mm/swap_state.c)

@njit(**JIT)
def swap_dev_of(sw, slot):
    for d in range(sw.base.size):
        if sw.base[d] <= slot < sw.base[d] + sw.size[d]:
            return d
    return -1


@njit(**JIT)
def swap_alloc_slot(sw):
    """get_swap_pages: the highest-priority device with room; equal priorities take turns."""
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
def folio_alloc_swap(fr, lru, sw, p):
    """A slot for anon page p, charged to its memcg's swap counter; -1 when the devices are
    full or the memcg is at memory.swap.max."""
    cg = fr.memcg[p]
    if not try_charge_swap(lru, cg):
        return -1
    slot = swap_alloc_slot(sw)
    if slot < 0:
        uncharge_swap(lru, cg)
        return -1
    sw.owner[slot] = fr.owner[p]
    sw.index[slot] = fr.index[p]
    sw.memcg[slot] = fr.memcg[p]
    return slot


@njit(**JIT)
def swap_free_slot(sw, lru, slot):
    uncharge_swap(lru, sw.memcg[slot])
    sw.memcg[slot] = -1
    sw.shadow[slot] = -1
    d = swap_dev_of(sw, slot)
    sw.stack[sw.base[d] + sw.top[d]] = slot
    sw.top[d] += 1
    sw.used[d] -= 1
    sw.owner[slot] = -1
    sw.index[slot] = -1


@njit(**JIT)
def vm_swap_full(sw):
    """vm_swap_full: more than half of the swap space in use."""
    used = 0
    total = 0
    for d in range(sw.base.size):
        if sw.active[d]:
            used += sw.used[d]
            total += sw.size[d]
    return used * 2 > total


@njit(**JIT)
def swapcache_add(fr, ctr, sw, p, slot):
    fr.flags[p] |= F_SWAPCACHE
    fr.swap[p] = slot
    sw.cache[slot] = p
    ctr.vm[NR_SWAPCACHED] += 1
    ctr.vm[NR_FILE] += 1  # swap-cache pages count in nr_file_pages (meminfo subtracts them)


@njit(**JIT)
def swapcache_del(fr, lru, ctr, sw, p):
    """The page leaves the swap cache; its slot is freed if no swap PTE needs it."""
    slot = fr.swap[p]
    sw.cache[slot] = -1
    fr.swap[p] = -1
    fr.flags[p] &= ~(F_SWAPCACHE | F_DIRTY)
    ctr.vm[NR_SWAPCACHED] -= 1
    ctr.vm[NR_FILE] -= 1
    if sw.map[slot] == 0:
        swap_free_slot(sw, lru, slot)


@njit(**JIT)
def swap_put(fr, zn, lru, ctr, sw, mms, mm, slot):
    """One swap PTE is gone."""
    mms.rss[mm, MM_SWAPENTS] -= 1
    free_swap_and_cache(fr, zn, lru, ctr, sw, slot)


@njit(**JIT)
def free_swap_and_cache(fr, zn, lru, ctr, sw, slot):
    """free_swap_and_cache: one reference to the slot is gone; free what nobody needs any more."""
    sw.map[slot] -= 1
    if sw.map[slot] > 0:
        return
    p = sw.cache[slot]
    if p < 0:
        swap_free_slot(sw, lru, slot)
        return
    swapcache_del(fr, lru, ctr, sw, p)
    if fr.mapcount[p] == 0:
        free_anon_page(fr, zn, lru, ctr, p)


@njit(**JIT)
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
        slot = folio_alloc_swap(k.fr, k.lru, k.sw, p)
        if slot < 0:
            return False
        ctr.vm[PSWPOUT] += 1
    pt.pte[row, idx] = (slot << PTE_SHIFT) | PTE_SWAP
    sw.map[slot] += 1
    mms.rss[mm, MM_SWAPENTS] += 1
    sw.shadow[slot] = workingset_eviction(k.fr, k.lru, p)
    if fr.flags[p] & F_SWAPCACHE:
        swapcache_del(k.fr, k.lru, k.ctr, k.sw, p)
    unmap_page(k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms, mm, p, False)
    return True


@njit(**JIT)
def swap_window(sw, rs, slot):
    """swap_cluster_readahead's window: 2^vm.page-cluster device offsets around the slot's,
    aligned on the device (offset 0 is the header page, so slot = base + offset - 1)."""
    ra = 1 << rs.state[RS_PAGE_CLUSTER]
    d = swap_dev_of(sw, slot)
    offset = slot - sw.base[d] + 1
    first = offset & ~(ra - 1)
    lo = sw.base[d] + max(first, 1) - 1
    hi = sw.base[d] + min(first + ra, sw.size[d] + 1) - 1
    return lo, hi


@njit(**JIT)
def swapin_refault(fr, lru, ctr, sw, p, slot):
    """__read_swap_cache_async: a page read back from swap refaults its shadow; a recent
    refault makes it active."""
    if sw.shadow[slot] >= 0:
        shadow = sw.shadow[slot]
        sw.shadow[slot] = -1
        workingset_refault(fr, lru, ctr, sw, p, shadow, 0)
        if fr.lru[p] >= 0:
            lru_update(fr, lru, p)


@njit(**JIT)
def swap_in(fr, zn, lru, ctr, sw, rs, slot):
    """swapin_readahead: the slot's page from the swap cache, else read it and, if memory
    allows without reclaim, the rest of its window. Each page is charged to the memcg its
    swap entry is charged to (mem_cgroup_swapin_charge_folio). Returns (pfn, major); pfn is
    a failure code (NO_MEMORY, MEMCG_FULL) when the slot's page could not be had."""
    p = sw.cache[slot]
    if p >= 0:
        return p, False
    p = new_anon_page(fr, zn, lru, ctr, rs, sw.owner[slot], sw.index[slot], sw.memcg[slot])
    if p < 0:
        return p, True
    swapin_refault(fr, lru, ctr, sw, p, slot)
    swapcache_add(fr, ctr, sw, p, slot)
    ctr.vm[PSWPIN] += 1
    lo, hi = swap_window(sw, rs, slot)
    for s in range(lo, hi):
        if sw.map[s] == 0 or sw.cache[s] >= 0:
            continue
        q = alloc_pages_nowait(fr, zn, ctr, 0, 3, ANON, sw.owner[s])
        if q < 0 or charged_page(fr, zn, ctr, lru, q, sw.memcg[s]) < 0:
            break
        fr.index[q] = sw.index[s]
        swapin_refault(fr, lru, ctr, sw, q, s)
        lru_add(fr, lru, q)
        swapcache_add(fr, ctr, sw, q, s)
        ctr.vm[PSWPIN] += 1
    return p, True


@njit(**JIT)
def shmem_swapin(k, file_id, pgoff, slot):
    """shmem_swapin_folio: the slot's page, read (swapin_readahead, charged to the memcg of the
    swap entry) unless it is in the swap cache, takes the swap entry's place in the shmem
    mapping; it leaves the swap cache and the slot is freed. Returns (pfn, major) as swap_in."""
    fr, ctr, sw = k.fr, k.ctr, k.sw
    p, major = swap_in(k.fr, k.zn, k.lru, k.ctr, k.sw, k.rs, slot)
    if p < 0:
        return p, major
    sw.map[slot] -= 1  # swap_free_nr: the mapping's reference
    swapcache_del(k.fr, k.lru, k.ctr, k.sw, p)  # delete_from_swap_cache: the slot is freed
    fr.type[p] = SHMEM  # read into the swap cache like any swapped page, now the file's own
    fr.owner[p] = file_id
    fr.index[p] = pgoff
    ht_put(k.pc.keys, k.pc.vals, k.pc.count, pc_key(file_id, pgoff), p)
    ctr.vm[NR_FILE] += 1
    ctr.vm[NR_SHMEM] += 1
    return p, major


@njit(inline="always", **JIT)  # per page on the reclaim path
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
        row = ht_get(pt.keys, pt.vals, pt_key(rm.mm[r], 0, v >> 9))
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


@njit(inline="always", **JIT)  # per page on the reclaim path
def folio_referenced(k, p):
    """Test and clear the accessed bit of every mapping; returns (young PTEs, vm_flags)."""
    pt, rm = k.pt, k.rm
    n = rmap_walk(k, p)
    young = 0
    vm_flags = 0
    for i in range(n):
        e = pt.pte[rm.out_row[i], rm.out_idx[i]]
        vm_flags |= rm.out_flags[i]
        if e & PTE_YOUNG:
            young += 1
            pt.pte[rm.out_row[i], rm.out_idx[i]] = e & ~PTE_YOUNG
    return young, vm_flags


@njit(inline="always", **JIT)  # per page on the reclaim path
def try_to_unmap(k, p, slot):
    """Unmap p everywhere; anon mappings become swap entries for `slot`. False if a mapping
    could not be found (the page is then kept)."""
    fr, ctr, pt, sw, mms, rm = k.fr, k.ctr, k.pt, k.sw, k.mms, k.rm
    if fr.mapcount[p] == 0:
        return True
    n = rmap_walk(k, p)
    if n != fr.mapcount[p]:
        return False
    if fr.flags[p] & F_THP:
        split_huge_page(k.fr, k.ctr, p)  # try_to_unmap(TTU_SPLIT_HUGE_PMD)
    kind = rss_kind(k.fr, p)
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


@njit(**JIT)
def shmem_writeout(k, p, may_swap):
    """shrink_folio_list for a shmem page: try_to_unmap (shmem leaves no swap PTEs: they go to
    none), then shmem_writeout: a swap slot, whose entry replaces the page in the shmem mapping
    (swap_shmem_alloc: one reference), the write, and the page is freed. All shmem pages are
    written: the model keeps no dirty bit for them. False when the page is kept (unmapped if no
    slot could be had: AOP_WRITEPAGE_ACTIVATE)."""
    if not may_swap or not try_to_unmap(k, p, -1):
        return False
    slot = folio_alloc_swap(k.fr, k.lru, k.sw, p)
    if slot < 0:
        return False
    k.sw.map[slot] += 1
    k.sw.shadow[slot] = workingset_eviction(k.fr, k.lru, p)
    k.ctr.vm[PSWPOUT] += 1
    key = pc_key(k.fr.owner[p], k.fr.index[p])
    pc_remove(k.fr, k.zn, k.lru, k.ctr, k.pc, p, -1)
    ht_put(k.pc.keys, k.pc.vals, k.pc.count, key, PC_SWAP - slot)
    return True


@njit(**JIT)
def swap_space_left(sw):
    for d in range(sw.base.size):
        if sw.active[d] and sw.top[d] > 0:
            return True
    return False


@njit(**JIT)
def activate(fr, lru, ctr, p):
    fr.flags[p] |= F_ACTIVE
    ctr.vm[PGACTIVATE] += 1
    lru_add(fr, lru, p)


FOLIOREF_RECLAIM, FOLIOREF_KEEP, FOLIOREF_ACTIVATE = range(3)


@njit(inline="always", **JIT)  # per page on the reclaim path
def folio_check_references(k, p):
    """folio_check_references: mapped pages need a second look before they are reclaimed."""
    fr = k.fr
    young, vm_flags = folio_referenced(k, p)
    referenced = fr.flags[p] & F_REFERENCED
    fr.flags[p] &= ~F_REFERENCED
    if young:
        fr.flags[p] |= F_REFERENCED
        if referenced or young > 1:
            return FOLIOREF_ACTIVATE
        if vm_flags & V_EXEC and fr.type[p] == FILE:
            return FOLIOREF_ACTIVATE
        return FOLIOREF_KEEP
    return FOLIOREF_RECLAIM


@njit(inline="always", **JIT)  # per page on the reclaim path
def reclaim_folio(k, p, may_swap):
    """shrink_folio_list for one isolated, unreferenced page: True if it was freed."""
    fr, ctr, sw = k.fr, k.ctr, k.sw
    t = fr.type[p]
    if fr.flags[p] & F_LAZYFREE:
        if fr.flags[p] & F_DIRTY:  # written after MADV_FREE: swap-backed again
            fr.flags[p] &= ~(F_LAZYFREE | F_DIRTY)
            ctr.vm[NR_LAZYFREE] -= 1
            return False
        if not try_to_unmap(k, p, -1):
            return False
        free_anon_page(k.fr, k.zn, k.lru, k.ctr, p)
        return True
    if t == ANON:
        if fr.flags[p] & F_SWAPCACHE:
            slot = fr.swap[p]  # the page has a slot: rewritten only if it was dirtied
            if fr.flags[p] & F_DIRTY:
                ctr.vm[PSWPOUT] += 1
        else:
            if not may_swap:
                return False
            slot = folio_alloc_swap(k.fr, k.lru, k.sw, p)
            if slot < 0:
                return False
            swapcache_add(k.fr, k.ctr, k.sw, p, slot)
            ctr.vm[PSWPOUT] += 1  # pageout(): written to swap
        if not try_to_unmap(k, p, slot):
            return False
        sw.shadow[slot] = workingset_eviction(k.fr, k.lru, p)
        swapcache_del(k.fr, k.lru, k.ctr, k.sw, p)  # __remove_mapping: out of the swap cache, slot kept by the PTEs
        free_anon_page(k.fr, k.zn, k.lru, k.ctr, p)
        return True
    if t == FILE:
        if fr.flags[p] & (F_DIRTY | F_WRITEBACK):
            # Reclaim does not write file pages: it marks them PG_reclaim so they are rotated
            # for reclaim when their write completes, and wakes the flushers to write every
            # dirty page (wakeup_flusher_threads(WB_REASON_VMSCAN)).
            if fr.flags[p] & F_RECLAIM:
                k.lru.ctl[LC_IMMEDIATE] = 1  # seen again before its write completed
            fr.flags[p] |= F_RECLAIM
            if fr.flags[p] & F_DIRTY:
                k.rs.state[RS_WB_WANTED] = ctr.vm[NR_DIRTY]
            return False
        if not try_to_unmap(k, p, -1):
            return False
        pc_remove(k.fr, k.zn, k.lru, k.ctr, k.pc, p, workingset_eviction(k.fr, k.lru, p))
        return True
    return shmem_writeout(k, p, may_swap)


@njit(**JIT)
def shrink_inactive_list(k, cg, lst, nr_to_scan, may_swap, kswapd):
    """Scan nr_to_scan pages from the tail of one of cg's inactive lists; returns pages freed."""
    fr, lru, ctr = k.fr, k.lru, k.ctr
    freed = 0
    rotated = 0
    io = 0
    for _ in range(nr_to_scan):
        p = lru.tail[cg, lst]
        if p < 0:
            break
        lru_del(k.fr, k.lru, p)  # isolate
        ctr.vm[PGSCAN_KSWAPD if kswapd else PGSCAN_DIRECT] += 1
        ref = folio_check_references(k, p)
        if ref == FOLIOREF_ACTIVATE:
            activate(k.fr, k.lru, k.ctr, p)
            rotated += 1
            continue
        if ref == FOLIOREF_KEEP:
            lru_add(k.fr, k.lru, p)
            continue
        swapped = fr.type[p] == SHMEM or fr.type[p] == ANON and not fr.flags[p] & (
            F_SWAPCACHE | F_LAZYFREE)
        if reclaim_folio(k, p, may_swap):
            freed += 1
            if swapped:
                io += 1
            continue
        activate(k.fr, k.lru, k.ctr, p)  # activate_locked: dirty, no swap slot, or kept here
        rotated += 1
    ctr.vm[PGSTEAL_KSWAPD if kswapd else PGSTEAL_DIRECT] += freed
    note_cost(lru, cg, lst >= LRU_INACTIVE_FILE, io, rotated)
    return freed


@njit(**JIT)
def shrink_active_list(k, cg, lst, nr_to_scan):
    """Move pages from the tail of one of cg's active lists to the inactive list (executable
    file pages that were referenced stay active)."""
    fr, lru, ctr = k.fr, k.lru, k.ctr
    for _ in range(nr_to_scan):
        p = lru.tail[cg, lst]
        if p < 0:
            break
        lru_del(k.fr, k.lru, p)
        young, vm_flags = folio_referenced(k, p)
        if young and vm_flags & V_EXEC and fr.type[p] == FILE:
            lru_add(k.fr, k.lru, p)
            continue
        fr.flags[p] = (fr.flags[p] & ~F_ACTIVE) | F_WORKINGSET  # we are de-activating
        ctr.vm[PGDEACTIVATE] += 1
        lru_add(k.fr, k.lru, p)


@njit(**JIT)
def note_cost(lru, cg, file, nr_io, nr_rotated):
    """lru_note_cost: what reclaiming from a list cost, added to the lruvec and every
    ancestor's, each halving both costs once they pass a quarter of its LRU pages (its
    hierarchical usage: every charged page is an LRU page)."""
    cost = nr_io * SWAP_CLUSTER_MAX + nr_rotated
    while cg >= 0:
        if file:
            lru.file_cost[cg] += cost
        else:
            lru.anon_cost[cg] += cost
        if lru.anon_cost[cg] + lru.file_cost[cg] > lru.usage[cg] // 4:
            lru.anon_cost[cg] //= 2
            lru.file_cost[cg] //= 2
        cg = lru.parent[cg]


@njit(**JIT)
def isqrt(n):
    r = np.int64(np.sqrt(n))
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    return r


@njit(**JIT)
def inactive_is_low(size, inactive_lst):
    """inactive_is_low on one lruvec's list sizes: inactive × isqrt(10 × GB of the pair) < active."""
    inactive = size[inactive_lst]
    active = size[inactive_lst + 1]
    gb = (inactive + active) >> (30 - 12)
    ratio = isqrt(10 * gb) if gb else 1
    return inactive * ratio < active


@njit(**JIT)
def can_reclaim_anon(k, cg, may_swap):
    """can_reclaim_anon_pages: swapping allowed, a free slot, and room under swap.max."""
    return may_swap and swap_space_left(k.sw) and swap_room(k.lru, cg)


@njit(**JIT)
def protection(lru, cg):
    """mem_cgroup_protection for the running reclaim: (emin, elow); none for its target and
    the root (walk[0] is the target)."""
    if cg == 0 or cg == lru.walk[0]:
        return 0, 0
    return lru.emin[cg], lru.elow[cg]


SCAN_EQUAL, SCAN_FRACT, SCAN_ANON, SCAN_FILE = range(4)


@njit(**JIT)
def get_scan_count(k, cg, priority, may_swap, trim, tiny, nr):
    """get_scan_count: how many pages of each of cg's evictable lists to scan. trim
    (cache_trim_mode) and tiny (file_is_tiny) were decided for the whole reclaim."""
    lru = k.lru
    swappiness = k.rs.state[RS_SWAPPINESS]
    size = lru.size[cg]
    if not can_reclaim_anon(k, cg, may_swap):
        balance = SCAN_FILE
    elif lru.ctl[LC_CGROUP_RECLAIM] and swappiness == 0:
        balance = SCAN_FILE
    elif priority == 0 and swappiness:
        balance = SCAN_EQUAL
    elif tiny:
        balance = SCAN_ANON  # file_is_tiny: almost no file pages left, so anon it is
    elif trim:
        balance = SCAN_FILE
    else:
        balance = SCAN_FRACT
    target = lru.walk[0]  # prepare_scan_control: the target lruvec's costs
    total_cost = lru.anon_cost[target] + lru.file_cost[target]
    a = total_cost + lru.anon_cost[target]
    f = total_cost + lru.file_cost[target]
    t = a + f
    ap = swappiness * (t + 1) // (a + 1)
    fp = (200 - swappiness) * (t + 1) // (f + 1)
    emin, elow = protection(lru, cg)
    if not lru.ctl[LC_LOW_RECLAIM] and elow > emin:
        prot = elow
        lru.ctl[LC_LOW_SKIPPED] = 1
    else:
        prot = emin
    for lst in range(4):
        scan = size[lst]
        if prot:  # apply_proportional_protection
            cgroup_size = max(lru.usage[cg], prot)
            scan = max(scan - scan * prot // (cgroup_size + 1), SWAP_CLUSTER_MAX)
        scan >>= priority
        is_file = lst >= 2
        if balance == SCAN_FILE and not is_file or balance == SCAN_ANON and is_file:
            scan = 0
        elif balance == SCAN_FRACT and ap + fp:
            scan = scan * (fp if is_file else ap) // (ap + fp)
        nr[lst] = scan
    return balance


@njit(**JIT)
def shrink_lruvec(k, cg, nr_to_reclaim, priority, may_swap, kswapd, trim, tiny,
                  deactivate_anon, deactivate_file):
    """shrink_lruvec: scan cg's lists in SWAP_CLUSTER_MAX batches until the target is met."""
    nr = k.rs.scan
    get_scan_count(k, cg, priority, may_swap, trim, tiny, nr)
    size = k.lru.size[cg]
    freed = 0
    while nr[0] or nr[2] or nr[3]:
        for lst in range(4):
            if nr[lst] == 0:
                continue
            n = min(nr[lst], SWAP_CLUSTER_MAX)
            nr[lst] -= n
            if lst == LRU_ACTIVE_ANON or lst == LRU_ACTIVE_FILE:
                if deactivate_file if lst == LRU_ACTIVE_FILE else deactivate_anon:
                    shrink_active_list(k, cg, lst, n)
            else:
                freed += shrink_inactive_list(k, cg, lst, n, may_swap, kswapd)
        if freed >= nr_to_reclaim:
            break
    if can_reclaim_anon(k, cg, may_swap) and inactive_is_low(size, LRU_INACTIVE_ANON):
        shrink_active_list(k, cg, LRU_ACTIVE_ANON, SWAP_CLUSTER_MAX)  # age anon anyway
    return freed


@njit(**JIT)
def shrink_node(k, nr_to_reclaim, priority, may_swap, kswapd):
    """shrink_node → shrink_node_memcgs over the walk Python set up (the target's subtree in
    pre-order; the whole tree for global reclaim). Protected memcgs are skipped, low ones
    only on a retry (memory.events low). Direct reclaim walks partially, resuming where the
    last one stopped; kswapd always walks everything."""
    lru, zn, ctl, target = k.lru, k.zn, k.lru.ctl, k.rs.target
    nwalk = ctl[LC_NWALK]
    # prepare_scan_control: the target lruvec's sizes decide deactivation, cache trimming
    # and (global reclaim only) whether file is tiny.
    target[:] = 0
    for i in range(nwalk):
        for lst in range(NR_LRU_LISTS):
            target[lst] += lru.size[lru.walk[i], lst]
    root = lru.walk[0]
    # sc->may_deactivate: refaults since the last reclaim mean a new workingset is forming
    deactivate_anon = (lru.activate_anon[root] != lru.snap_anon[root]
                       or inactive_is_low(target, LRU_INACTIVE_ANON))
    deactivate_file = (lru.activate_file[root] != lru.snap_file[root]
                       or inactive_is_low(target, LRU_INACTIVE_FILE))
    trim = target[LRU_INACTIVE_FILE] >> priority != 0 and not deactivate_file
    tiny = False
    if not ctl[LC_CGROUP_RECLAIM]:
        file = zn.free.sum()
        for c in range(lru.size.shape[0]):
            file += lru.size[c, LRU_INACTIVE_FILE] + lru.size[c, LRU_ACTIVE_FILE]
        tiny = (file <= zn.wmark[:, WMARK_HIGH].sum() and not deactivate_anon
                and target[LRU_INACTIVE_ANON] >> priority != 0)
    start = 0 if kswapd else lru.iter[root]
    freed = 0
    for i in range(start, nwalk):
        cg = lru.walk[i]
        emin, elow = protection(lru, cg)
        protected = cg != root and cg != 0  # not mem_cgroup_unprotected
        if protected and emin >= lru.usage[cg]:
            continue  # mem_cgroup_below_min
        if protected and elow >= lru.usage[cg]:  # mem_cgroup_below_low
            if not ctl[LC_LOW_RECLAIM]:
                ctl[LC_LOW_SKIPPED] = 1
                continue
            lru.low_events[cg] += 1
        freed += shrink_lruvec(k, cg, nr_to_reclaim - freed, priority, may_swap, kswapd, trim, tiny,
                               deactivate_anon, deactivate_file)
        if cg == 0:  # every slab object is the root's (kernel memory is not charged to memcgs)
            slab_pages = k.ctr.vm[NR_SLAB_R]
            shrink_slab(k, priority)
            freed += slab_pages - k.ctr.vm[NR_SLAB_R]  # reclaim_state->reclaimed (root reclaim)
        if not kswapd and freed >= nr_to_reclaim:
            lru.iter[root] = (i + 1) % nwalk
            return freed
    if not kswapd:
        lru.iter[root] = 0
    return freed


# ---------------------------------------------------------------------------------------------
# Slab (mm/slub.c, mm/shrinker.c, fs/super.c, fs/dcache.c, fs/inode.c). oomtui packs objects
# perfectly: objects fill the slabs from the oldest, and the newest slab is freed as soon as
# the others hold every object (the kernel frees a slab only when its own last object goes,
# so its caches fragment; oomtui's do not).

@njit(**JIT)
def slab_objects(c, order):
    return (4096 << order) // SLAB_OBJSIZE[c]


@njit(**JIT)
def slab_alloc(k, c):
    """kmem_cache_alloc of one object of cache c, with a new slab when every slab is full
    (allocate_slab: the cache's order if a block is free at once, without reclaim or waking
    kswapd; else GFP_KERNEL at the smallest order). False sends the caller to the slow path."""
    sl = k.rs.slab
    if sl[c, SL_OBJS] == sl[c, SL_ROOM]:
        order = SLAB_ORDER[c]
        p = alloc_from_zones(k.fr, k.zn, k.ctr, order, 2, WMARK_LOW, SLAB, c)
        if p < 0:
            p = alloc_from_zones(k.fr, k.zn, k.ctr, order, 2, WMARK_MIN, SLAB, c)
        if p < 0:
            order = SLAB_MIN_ORDER[c]
            p = alloc_pages(k.fr, k.zn, k.ctr, k.rs, order, 2, SLAB, c)
        if p < 0:
            return False
        k.fr.index[p] = order
        k.fr.next[p] = sl[c, SL_HEAD]
        sl[c, SL_HEAD] = p
        sl[c, SL_SLABS] += 1
        sl[c, SL_ROOM] += slab_objects(c, order)
        k.ctr.vm[NR_SLAB_R if c < NR_RECLAIMABLE_CACHES else NR_SLAB_U] += 1 << order
    sl[c, SL_OBJS] += 1
    return True


@njit(**JIT)
def stat_names(k, n, negative, done, out):
    """stat(2) of names not in the dcache, one after the other (resumable): d_alloc, then the
    inode (iget) unless the name does not exist; dput leaves both cached and unused, where
    the shrinker may free them while later lookups run."""
    sl = k.rs.slab
    for i in range(done, n):
        if not slab_alloc(k, CACHE_DENTRY):
            return stop(out, i - done, NO_MEMORY)
        if not negative and not slab_alloc(k, CACHE_INODE):
            slab_free(k, CACHE_DENTRY, 1)
            return stop(out, i - done, NO_MEMORY)
        sl[CACHE_DENTRY, SL_UNUSED] += 1
        sl[CACHE_DENTRY, SL_NEG] += negative
    return stop(out, n - done, 0)


@njit(**JIT)
def slab_free(k, c, n):
    """Free n objects of cache c, and the slabs that leaves empty (discard_slab)."""
    sl = k.rs.slab
    sl[c, SL_OBJS] -= n
    while sl[c, SL_SLABS] and sl[c, SL_ROOM] - slab_objects(c, k.fr.index[sl[c, SL_HEAD]]) >= sl[c, SL_OBJS]:
        p = sl[c, SL_HEAD]
        order = k.fr.index[p]
        sl[c, SL_HEAD] = k.fr.next[p]
        sl[c, SL_SLABS] -= 1
        sl[c, SL_ROOM] -= slab_objects(c, order)
        k.ctr.vm[NR_SLAB_R if c < NR_RECLAIMABLE_CACHES else NR_SLAB_U] -= 1 << order
        free_pages(k.fr, k.zn, k.ctr, p, order)


@njit(**JIT)
def prune_dcache(k, nr):
    """prune_dcache_sb: free up to nr unused dentries from the LRU's cold end. Negative ones
    are spread evenly through the LRU; a positive one's inode goes on the inode LRU (iput)."""
    sl = k.rs.slab
    unused = sl[CACHE_DENTRY, SL_UNUSED]
    freed = min(nr, unused)
    if freed == 0:
        return 0
    negative = freed * sl[CACHE_DENTRY, SL_NEG] // unused
    sl[CACHE_DENTRY, SL_UNUSED] -= freed
    sl[CACHE_DENTRY, SL_NEG] -= negative
    sl[CACHE_INODE, SL_UNUSED] += freed - negative
    slab_free(k, CACHE_DENTRY, freed)
    return freed


@njit(**JIT)
def prune_icache(k, nr):
    """prune_icache_sb: free up to nr unused inodes (none of them has page cache)."""
    freed = min(nr, k.rs.slab[CACHE_INODE, SL_UNUSED])
    k.rs.slab[CACHE_INODE, SL_UNUSED] -= freed
    slab_free(k, CACHE_INODE, freed)
    return freed


@njit(**JIT)
def super_cache_scan(k, nr_to_scan):
    """super_cache_scan: split the batch between dentries and inodes by their counts, prune
    the dcache first (it pins the icache), and scan at least one of each."""
    sl = k.rs.slab
    dentries, inodes = sl[CACHE_DENTRY, SL_UNUSED], sl[CACHE_INODE, SL_UNUSED]
    total = dentries + inodes + 1
    freed = prune_dcache(k, nr_to_scan * dentries // total + 1)
    return freed + prune_icache(k, nr_to_scan * inodes // total + 1)


@njit(**JIT)
def shrink_slab(k, priority):
    """shrink_slab → do_shrink_slab for the one shrinker oomtui has, the superblock's (KERNEL.md
    §6 Slab shrinkers). Returns the objects freed."""
    sl, st = k.rs.slab, k.rs.state
    # super_cache_count: unused dentries and inodes, scaled by vfs_pressure_ratio
    freeable = ((sl[CACHE_DENTRY, SL_UNUSED] + sl[CACHE_INODE, SL_UNUSED]) * st[RS_VFS_PRESSURE]
                // st[RS_VFS_DENOM])
    if freeable == 0:
        return 0
    nr = st[RS_SLAB_DEFERRED]
    delta = (freeable >> priority) * 4 // 2  # DEFAULT_SEEKS
    total_scan = min((nr >> priority) + delta, 2 * freeable)
    scanned = freed = 0
    while total_scan >= 128 or total_scan >= freeable:  # SHRINK_BATCH
        nr_to_scan = min(128, total_scan)
        freed += super_cache_scan(k, nr_to_scan)
        k.ctr.vm[SLABS_SCANNED] += nr_to_scan
        total_scan -= nr_to_scan
        scanned += nr_to_scan
    st[RS_SLAB_DEFERRED] = min(max(nr + delta - scanned, 0), 2 * freeable)
    return freed


@njit(**JIT)
def drop_slab(k):
    """drop_slab (vm.drop_caches 2): shrink at priority 0 until a round frees almost nothing."""
    shift = 0
    while True:
        freed = shrink_slab(k, 0)
        if freed >> shift <= 1:
            return
        shift += 1


@njit(**JIT)
def do_try_to_free_pages(k, nr_to_reclaim):
    """do_try_to_free_pages: priority 12 down to 0 until nr_to_reclaim pages are freed; if
    nothing was freed because low-protected memcgs were skipped, once more including them."""
    ctl = k.lru.ctl
    ctl[LC_LOW_RECLAIM] = 0
    ctl[LC_IMMEDIATE] = 0
    freed = 0
    while True:
        ctl[LC_LOW_SKIPPED] = 0
        for priority in range(DEF_PRIORITY, -1, -1):
            freed += shrink_node(k, nr_to_reclaim - freed, priority, True, False)
            if freed >= nr_to_reclaim or not freed and ctl[LC_IMMEDIATE]:
                break  # reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK): wait for the flushers
        if freed or not ctl[LC_LOW_SKIPPED] or ctl[LC_LOW_RECLAIM]:
            snapshot_refaults(k.lru)
            return freed
        ctl[LC_LOW_RECLAIM] = 1


@njit(**JIT)
def snapshot_refaults(lru):
    """snapshot_refaults: the reclaim target's refault activations as reclaim ends."""
    root = lru.walk[0]
    lru.snap_anon[root] = lru.activate_anon[root]
    lru.snap_file[root] = lru.activate_file[root]


@njit(**JIT)
def direct_reclaim(k):
    """try_to_free_pages: global direct reclaim of SWAP_CLUSTER_MAX pages."""
    k.ctr.vm[ALLOCSTALL] += 1
    freed = do_try_to_free_pages(k, SWAP_CLUSTER_MAX)
    if freed:
        k.rs.state[RS_KSWAPD_FAILURES] = 0  # any successful reclaim revives a hopeless kswapd
    return freed


@njit(**JIT)
def memcg_reclaim(k, nr_pages):
    """try_to_free_mem_cgroup_pages: reclaim inside the walk's target memcg."""
    return do_try_to_free_pages(k, max(nr_pages, SWAP_CLUSTER_MAX))


@njit(**JIT)
def node_balanced(zn, order, highest):
    """pgdat_balanced: any usable zone above its high watermark."""
    for z in range(highest + 1):
        if zn.start[z + 1] > zn.start[z] and zone_watermark_ok(zn, z, order, WMARK_HIGH, highest):
            return True
    return False


@njit(**JIT)
def wakeup_kswapd(zn, rs, order, highest):
    st = rs.state
    st[RS_KSWAPD_ORDER] = max(st[RS_KSWAPD_ORDER], order)
    st[RS_KSWAPD_HIGHEST] = max(st[RS_KSWAPD_HIGHEST], highest)
    if st[RS_KSWAPD_FAILURES] >= MAX_RECLAIM_RETRIES:
        return  # hopeless node: kswapd stays asleep until direct reclaim succeeds
    if not node_balanced(zn, order, highest):
        st[RS_KSWAPD_AWAKE] = 1


@njit(**JIT)
def kswapd_run(k):
    """balance_pgdat: one kswapd run; reclaims until a zone is above high, then sleeps.

    Returns pages freed; a fruitless run counts towards the 16 that make kswapd give up.
    """
    zn, rs = k.zn, k.rs.state
    if not rs[RS_KSWAPD_AWAKE]:
        return 0
    order = rs[RS_KSWAPD_ORDER]
    highest = rs[RS_KSWAPD_HIGHEST]
    k.ctr.vm[PAGEOUTRUN] += 1
    target = 0
    for z in range(highest + 1):
        if zn.start[z + 1] > zn.start[z]:
            target += max(zn.wmark[z, WMARK_HIGH], SWAP_CLUSTER_MAX)
    freed = 0
    k.lru.ctl[LC_IMMEDIATE] = 0
    for priority in range(DEF_PRIORITY, 0, -1):
        if node_balanced(k.zn, order, highest) or not freed and k.lru.ctl[LC_IMMEDIATE]:
            break  # balanced, or throttled on writeback: the flushers must write first
        freed += shrink_node(k, target, priority, True, True)
    if freed == 0 and not node_balanced(k.zn, order, highest):
        rs[RS_KSWAPD_FAILURES] += 1
    elif freed:
        rs[RS_KSWAPD_FAILURES] = 0
    snapshot_refaults(k.lru)
    if node_balanced(k.zn, order, highest) or rs[RS_KSWAPD_FAILURES] >= MAX_RECLAIM_RETRIES:
        rs[RS_KSWAPD_AWAKE] = 0
        rs[RS_KSWAPD_ORDER] = 0
        rs[RS_KSWAPD_HIGHEST] = 0
    return freed


@njit(**JIT)
def reclaimable_pages(k):
    """zone_reclaimable_pages, for the node: file LRU pages, and anon ones if swap has room."""
    size = k.lru.size
    reclaimable = 0
    for c in range(size.shape[0]):
        reclaimable += size[c, LRU_INACTIVE_FILE] + size[c, LRU_ACTIVE_FILE]
        if swap_space_left(k.sw):
            reclaimable += size[c, LRU_INACTIVE_ANON] + size[c, LRU_ACTIVE_ANON]
    return reclaimable


@njit(**JIT)
def should_reclaim_retry(k, order, highest):
    """should_reclaim_retry: could free + reclaimable pages lift some zone over min (with a
    free block of the order, for order > 0)?"""
    zn = k.zn
    reclaimable = reclaimable_pages(k)
    for z in range(highest, -1, -1):
        if zn.start[z + 1] == zn.start[z]:
            continue
        if zn.free[z] + reclaimable > zn.wmark[z, WMARK_MIN] + zn.reserve[z, highest] and (
                order == 0 or zn.free_count[z, order:].sum() > 0):
            return True
    return False


@njit(**JIT)
def compaction_zonelist_suitable(k, order, highest):
    """compaction_zonelist_suitable: would some zone pass __compaction_suitable with its free
    pages plus reclaimable/order (the node's reclaimable pages: LRUs are not per zone here)?"""
    zn = k.zn
    available = reclaimable_pages(k) // order
    for z in range(highest, -1, -1):
        if zn.start[z + 1] > zn.start[z] and __compaction_suitable(zn, z, order, highest,
                                                                   zn.free[z] + available):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Writeback (mm/page-writeback.c, fs/fs-writeback.c): the flusher threads

@njit(**JIT)
def writeback_run(k, budget, bg_thresh):
    """One tick of the flushers. First the writes submitted last tick complete
    (folio_end_writeback: PG_reclaim pages rotate to the inactive tail for reclaim), then up
    to `budget` of the oldest dirty pages are submitted while there is a reason to write:
    more dirty pages than bg_thresh (background writeback), pages dirtied at or before the
    periodic writeback's cutoff (expired), or pages reclaim asked for. Returns pages submitted."""
    fr, lru, ctr, st = k.fr, k.lru, k.ctr, k.rs.state
    for i in range(st[RS_WB_COUNT]):
        p = fr.wbq[i]
        fr.flags[p] &= ~F_WRITEBACK
        ctr.vm[NR_WRITEBACK] -= 1
        ctr.vm[NR_WRITTEN] += 1
        if fr.flags[p] & F_RECLAIM:
            fr.flags[p] &= ~F_RECLAIM
            if fr.lru[p] >= 0 and fr.mlock[p] == 0 and not fr.flags[p] & F_DIRTY:
                lru_del(k.fr, k.lru, p)  # folio_rotate_reclaimable → lru_move_tail
                fr.flags[p] &= ~F_ACTIVE
                cg = fr.memcg[p]
                fr.lru[p] = LRU_INACTIVE_FILE
                list_add_tail(fr.next, fr.prev, lru.head, lru.tail, cg, LRU_INACTIVE_FILE, p)
                lru.size[cg, LRU_INACTIVE_FILE] += 1
                ctr.vm[PGROTATED] += 1
    st[RS_WB_COUNT] = 0
    n = 0
    cap = fr.dirtyq.size
    for _ in range(st[RS_DQ_COUNT]):
        head = st[RS_DQ_HEAD]
        if n == budget or not (ctr.vm[NR_DIRTY] > bg_thresh or st[RS_WB_WANTED] > 0
                               or fr.dirtyq_tick[head] <= st[RS_EXPIRED]):
            break
        p = fr.dirtyq[head]
        st[RS_DQ_HEAD] = (head + 1) % cap
        st[RS_DQ_COUNT] -= 1
        if fr.flags[p] & F_WRITEBACK:  # re-dirtied while its last write is in flight: later
            tail = (st[RS_DQ_HEAD] + st[RS_DQ_COUNT]) % cap
            fr.dirtyq[tail], fr.dirtyq_tick[tail] = p, st[RS_NOW]
            st[RS_DQ_COUNT] += 1
            continue
        st[RS_WB_WANTED] = max(st[RS_WB_WANTED] - 1, 0)
        fr.flags[p] = (fr.flags[p] & ~F_DIRTY) | F_WRITEBACK  # folio_clear_dirty_for_io + start
        ctr.vm[NR_DIRTY] -= 1
        ctr.vm[NR_WRITEBACK] += 1
        fr.wbq[st[RS_WB_COUNT]] = p
        st[RS_WB_COUNT] += 1
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# Faults (mm/memory.c: handle_mm_fault and friends)

FAULT_DONE, FAULT_RETRY = range(2)  # else a failure code: NO_MEMORY, NEED_ROOM, MEMCG_FULL


@njit(**JIT)
def fault_range(k, mm, vstart, npages, vflags, file_id, file_pgoff, anon_id, anon_pgoff, locked,
                write, out):
    """Access npages from vstart in one VMA (permissions already checked by the caller).

    Counts faults and new anon pages into out. Returns True when done; False when an
    allocation failed, a memcg charge failed or tables must grow: out[OUT_DONE] pages were
    done and the caller takes the slow path, then resumes.
    """
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pt_row(k.fr, k.zn, k.ctr, k.pt, k.mms, k.rs, mm, v)
        if row < 0:
            return stop(out, v - vstart, row)
        u = v
        while u < chunk_end:
            i = u - vstart
            status = fault_page(k, mm, row, u, vflags, file_id, file_pgoff + i, anon_id,
                                anon_pgoff + i, locked, write, out)
            if status == FAULT_DONE:
                u += 1
                if k.lru.ctl[LC_OVER_HIGH] > MEMCG_CHARGE_BATCH:
                    return stop(out, i + 1, OVER_HIGH)  # try_charge_memcg handles it at once
            elif status != FAULT_RETRY:
                return stop(out, i, status)
        v = chunk_end
    return stop(out, npages, 0)


@njit(**JIT)
def fault_range_reclaiming(k, mm, vstart, npages, vflags, file_id, pgoff, anon_id, locked, write,
                           out):
    """fault_range with the slow path's first step, direct reclaim, taken here instead of in
    Python when ctl allows it (no memcg protection to compute): one trip back to Python per
    32 reclaimed pages cost more than the reclaim. A separate function, so that the fault
    loop itself stays as small as it was. After a fruitless reclaim the page is tried once
    more, then out[OUT_RECLAIMED] tells the caller reclaim has been done."""
    done = 0
    while True:
        ok = fault_range(k, mm, vstart + done, npages - done, vflags, file_id, pgoff + done,
                         anon_id, pgoff + done, locked, write, out)
        done += out[OUT_DONE]
        if (ok or out[OUT_STATUS] != STATUS_NOMEM or not k.lru.ctl[LC_INLINE_RECLAIM]
                or out[OUT_RECLAIMED]):
            out[OUT_DONE] = done
            return ok
        if direct_reclaim(k) == 0:
            out[OUT_RECLAIMED] = 1


@njit(**JIT)
def stop(out, done, failed):
    """Record where a resumable kernel stopped: failed is 0 or a failure code (-status)."""
    out[OUT_DONE] = done
    out[OUT_STATUS] = -failed
    return failed == 0


@njit(inline="always", **JIT)  # one call per page: inlined so k's arrays are not passed each time
def fault_page(k, mm, row, u, vflags, file_id, pgoff, anon_id, index, locked, write, out):
    """handle_mm_fault for one page. An allocation may reclaim and so change this PTE:
    then the new page is dropped and the fault retried (FAULT_RETRY)."""
    fr, pt, sw, mms = k.fr, k.pt, k.sw, k.mms
    cg = k.lru.ctl[LC_CHARGE_TO]
    shared = (vflags & V_SHARED) != 0
    shmem = shared and (vflags & V_ANON) != 0  # MAP_SHARED|MAP_ANONYMOUS is shmem
    e = pt.pte[row, u & 511]
    kind = e & PTE_KIND
    major = False
    faulted = False
    if kind == PTE_SWAP:
        # do_swap_page: map the page read-only unless this write makes it exclusive.
        slot = e >> PTE_SHIFT
        p, major = swap_in(k.fr, k.zn, k.lru, k.ctr, k.sw, k.rs, slot)
        if p < 0:
            return p
        if major:
            out[OUT_SWPIN] += 1
        fr.owner[p] = anon_id
        fr.index[p] = index
        sw.map[slot] -= 1
        mms.rss[mm, MM_SWAPENTS] -= 1
        map_page(k.fr, k.lru, k.ctr, k.mms, mm, p, locked)
        e = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
        exclusive = sw.map[slot] == 0 and fr.mapcount[p] == 1
        if exclusive and (write or locked or vm_swap_full(k.sw)):
            swapcache_del(k.fr, k.lru, k.ctr, k.sw, p)  # should_try_to_free_swap
        if exclusive and vflags & V_WRITE:
            e |= PTE_WRITE  # exclusive: mapped writable at once, even on a read fault (6.11+)
        pt.pte[row, u & 511] = e
        kind = PTE_PRESENT
        faulted = True
    if kind == PTE_PRESENT and (not write or e & PTE_WRITE):
        pt.pte[row, u & 511] = e | PTE_YOUNG  # the accessed bit is set
        if write:
            p = e >> PTE_SHIFT
            set_dirty(k.fr, k.ctr, k.rs, p)
            if fr.flags[p] & (F_LAZYFREE | F_SWAPCACHE):
                fr.flags[p] |= F_DIRTY  # re-dirtied: not dropped without (re)writing it
        if faulted:
            count_fault(k.ctr, k.mms, mm, major, out)
        return FAULT_DONE
    if kind == PTE_ZERO and not write:
        pt.pte[row, u & 511] = e | PTE_YOUNG
        return FAULT_DONE
    new_anon = False
    if shared:
        # do_shared_fault / wp_page_shared: the page cache page itself is mapped.
        if kind == PTE_PRESENT:
            p = e >> PTE_SHIFT
        else:
            p = pc_lookup(k.pc, file_id, pgoff)
            if p <= PC_SWAP:
                p, major = shmem_swapin(k, file_id, pgoff, PC_SWAP - p)
                if p < 0:
                    return p
                if major:
                    out[OUT_SWPIN] += 1
            elif p < 0:
                p = pc_add(k.fr, k.zn, k.lru, k.ctr, k.pc, k.rs, k.sw, file_id, pgoff, shmem)
                if p < 0:
                    return p
                major = not shmem  # a shmem page is zero-filled, a file page is read
            map_page(k.fr, k.lru, k.ctr, k.mms, mm, p, locked)
        pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
        if write:
            pte |= PTE_WRITE
            set_dirty(k.fr, k.ctr, k.rs, p)
    elif kind == PTE_PRESENT:
        # do_wp_page: reuse an exclusive anon page, else copy it (CoW).
        old = e >> PTE_SHIFT
        if fr.type[old] == ANON and fr.mapcount[old] == 1 and not (
                fr.flags[old] & F_SWAPCACHE and sw.map[fr.swap[old]] > 0):
            p = old
            if fr.flags[p] & F_LAZYFREE:
                fr.flags[p] |= F_DIRTY
            if fr.flags[p] & F_SWAPCACHE:
                swapcache_del(k.fr, k.lru, k.ctr, k.sw, p)  # wp reuse frees the stale swap copy
        else:
            p = new_anon_page(k.fr, k.zn, k.lru, k.ctr, k.rs, anon_id, index, cg)
            if p < 0:
                return p
            if pt.pte[row, u & 511] != e:  # reclaim took the old page meanwhile
                free_anon_page(k.fr, k.zn, k.lru, k.ctr, p)
                return FAULT_RETRY
            new_anon = True
            unmap_page(k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms, mm, old, locked)
            map_page(k.fr, k.lru, k.ctr, k.mms, mm, p, locked)
        pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
    elif kind == PTE_ZERO or (file_id < 0 and write):
        # do_anonymous_page on a write, or the CoW of the zero page.
        p = new_anon_page(k.fr, k.zn, k.lru, k.ctr, k.rs, anon_id, index, cg)
        if p < 0:
            return p
        new_anon = True
        map_page(k.fr, k.lru, k.ctr, k.mms, mm, p, locked)
        pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
    elif file_id < 0:
        pte = PTE_ZERO | PTE_YOUNG  # read of untouched private anon: the zero page
    else:
        # do_read_fault / do_cow_fault on a private file mapping.
        c = pc_lookup(k.pc, file_id, pgoff)
        if c < 0:
            c = pc_add(k.fr, k.zn, k.lru, k.ctr, k.pc, k.rs, k.sw, file_id, pgoff, False)
            if c < 0:
                return c
            major = True
        if write:
            p = new_anon_page(k.fr, k.zn, k.lru, k.ctr, k.rs, anon_id, index, cg)  # may reclaim c: it is not needed again
            if p < 0:
                return p
            new_anon = True
            pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
        else:
            p = c
            pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
        map_page(k.fr, k.lru, k.ctr, k.mms, mm, p, locked)
    pt.pte[row, u & 511] = pte
    if new_anon:
        out[OUT_NEW_ANON] += 1
    count_fault(k.ctr, k.mms, mm, major, out)
    return FAULT_DONE


@njit(**JIT)
def count_fault(ctr, mms, mm, major, out):
    """mm_account_fault: pgfault always, then the task's major or minor count."""
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
    pt = k.pt
    n = 0
    v = vstart
    end = vstart + npages
    while v < end:
        row = pte_table(k.pt, mm, v)
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        if row < 0:
            v = chunk_end
            continue
        for u in range(v, chunk_end):
            e = pt.pte[row, u & 511]
            if (e & PTE_KIND) == PTE_PRESENT:
                unmap_page(k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms, mm, e >> PTE_SHIFT, locked)
                n += 1
            elif (e & PTE_KIND) == PTE_SWAP:
                swap_put(k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms, mm, e >> PTE_SHIFT)
            pt.pte[row, u & 511] = PTE_NONE
        v = chunk_end
    return n


@njit(**JIT)
def copy_range(k, src, dst, vstart, npages, private, out):
    """copy_pte_range for fork: share pages, write-protect private ones in both mms.

    False when a page table could not be allocated: out[OUT_DONE] pages are copied.
    """
    pt, sw, mms = k.pt, k.sw, k.mms
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        srow = pte_table(k.pt, src, v)
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
        drow = pt_row(k.fr, k.zn, k.ctr, k.pt, k.mms, k.rs, dst, v)
        if drow < 0:
            return stop(out, v - vstart, drow)
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
                map_page(k.fr, k.lru, k.ctr, k.mms, dst, p, False)
                if private:
                    e &= ~PTE_WRITE
                    pt.pte[srow, u & 511] = e
            pt.pte[drow, u & 511] = e & ~PTE_YOUNG
        v = chunk_end
    return stop(out, npages, 0)


@njit(**JIT)
def move_range(k, mm, old, new, npages, out):
    """move_page_tables for mremap: entries move, pages keep their rmap index."""
    fr, pt = k.fr, k.pt
    v = 0
    while v < npages:
        chunk_end = min(npages, v + 512 - ((old + v) & 511))
        srow = pte_table(k.pt, mm, old + v)
        if srow >= 0:
            for u in range(v, chunk_end):
                if pt.pte[srow, (old + u) & 511] == PTE_NONE:
                    continue
                drow = pt_row(k.fr, k.zn, k.ctr, k.pt, k.mms, k.rs, mm, new + u)
                if drow < 0:
                    return stop(out, u, drow)
                e = pt.pte[srow, (old + u) & 511]  # reread: the allocation may have reclaimed
                if (e & PTE_KIND) == PTE_PRESENT and fr.flags[e >> PTE_SHIFT] & F_THP and (
                        (new - old) & 511 or (old + u) & ~511 < old or ((old + u) | 511) >= old + npages):
                    split_huge_page(k.fr, k.ctr, e >> PTE_SHIFT)  # move_huge_pmd needs a whole aligned PMD
                pt.pte[drow, (new + u) & 511] = e
                pt.pte[srow, (old + u) & 511] = PTE_NONE
        v = chunk_end
    return stop(out, npages, 0)


# ---------------------------------------------------------------------------------------------
# madvise, mlock, mincore over a range of one VMA

MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT = range(4)


@njit(**JIT)
def madvise_range(k, mm, vstart, npages, advice, locked):
    """MADV_FREE / COLD / PAGEOUT on present pages mapped only by this mm (mm/madvise.c)."""
    fr, ctr, pt = k.fr, k.ctr, k.pt
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pte_table(k.pt, mm, v)
        if row < 0:
            v = chunk_end
            continue
        for u in range(v, chunk_end):
            e = pt.pte[row, u & 511]
            if (e & PTE_KIND) == PTE_SWAP and advice == MADV_FREE:
                swap_put(k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms, mm, e >> PTE_SHIFT)  # the data is garbage
                pt.pte[row, u & 511] = PTE_NONE
            if (e & PTE_KIND) != PTE_PRESENT:
                continue
            p = e >> PTE_SHIFT
            if fr.mapcount[p] != 1:
                continue  # shared with another mm: left alone
            if advice == MADV_FREE:
                if fr.flags[p] & F_THP:
                    split_huge_page(k.fr, k.ctr, p)  # pages turn lazy-free one by one
                if fr.flags[p] & F_SWAPCACHE:
                    swapcache_del(fr, k.lru, ctr, k.sw, p)  # madvise_free_pte_range: folio_free_swap
                if fr.type[p] == ANON and not fr.flags[p] & F_LAZYFREE:
                    # folio_mark_lazyfree: clean, and onto the inactive file list.
                    fr.flags[p] = (fr.flags[p] & ~(F_DIRTY | F_ACTIVE | F_REFERENCED)) | F_LAZYFREE
                    ctr.vm[NR_LAZYFREE] += 1
                    lru_update(k.fr, k.lru, p)
                    pt.pte[row, u & 511] = e & ~PTE_YOUNG
            elif advice == MADV_COLD:
                fr.flags[p] &= ~(F_ACTIVE | F_REFERENCED)
                pt.pte[row, u & 511] = e & ~PTE_YOUNG
                lru_update(k.fr, k.lru, p)
            elif advice == MADV_PAGEOUT:
                # reclaim_pages → shrink_folio_list: clean file pages drop; anon and shmem
                # pages that get no swap slot go to activate_locked (back on the active list).
                fr.flags[p] &= ~F_REFERENCED
                pt.pte[row, u & 511] = e & ~PTE_YOUNG
                if fr.type[p] == FILE:
                    if not fr.flags[p] & (F_DIRTY | F_WRITEBACK) and fr.mlock[p] == 0:
                        unmap_page(k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms, mm, p, locked)
                        pt.pte[row, u & 511] = PTE_NONE
                        pc_remove(k.fr, k.zn, k.lru, k.ctr, k.pc, p,
                                  workingset_eviction(k.fr, k.lru, p))
                elif fr.flags[p] & F_LAZYFREE and not fr.flags[p] & F_DIRTY:
                    unmap_page(k.fr, k.zn, k.lru, k.ctr, k.sw, k.mms, mm, p, locked)  # clean lazyfree: freed
                    pt.pte[row, u & 511] = PTE_NONE
                elif fr.mlock[p] == 0:
                    if fr.flags[p] & F_LAZYFREE:  # re-dirtied: swap-backed again
                        fr.flags[p] &= ~(F_LAZYFREE | F_DIRTY)
                        ctr.vm[NR_LAZYFREE] -= 1
                    if fr.type[p] == SHMEM:
                        swapped = shmem_writeout(k, p, True)
                    else:
                        swapped = swap_out(k, mm, row, u & 511, p)
                    if not swapped:
                        fr.flags[p] |= F_ACTIVE  # no swap slot: activate_locked
                        lru_update(k.fr, k.lru, p)
        v = chunk_end


@njit(**JIT)
def mlock_range(k, mm, vstart, npages, delta):
    """mlock_pte_range: add or drop one locked mapping on every present page."""
    pt = k.pt
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pte_table(k.pt, mm, v)
        if row >= 0:
            for u in range(v, chunk_end):
                e = pt.pte[row, u & 511]
                if (e & PTE_KIND) == PTE_PRESENT:
                    mlock_page(k.fr, k.lru, k.ctr, e >> PTE_SHIFT, delta)
        v = chunk_end


@njit(**JIT)
def mincore_range(k, mm, vstart, npages, file_id, file_pgoff, out):
    """mincore_pte_range: mapped pages, else page-cache residency for file-backed VMAs."""
    pt, sw = k.pt, k.sw
    for i in range(npages):
        v = vstart + i
        row = ht_get(pt.keys, pt.vals, pt_key(mm, 0, v >> 9))
        kind = PTE_NONE if row < 0 else pt.pte[row, v & 511] & PTE_KIND
        if kind == PTE_PRESENT or kind == PTE_ZERO:
            out[i] = 1
        elif kind == PTE_SWAP:
            out[i] = 1 if sw.cache[pt.pte[row, v & 511] >> PTE_SHIFT] >= 0 else 0
        elif file_id >= 0:
            c = pc_lookup(k.pc, file_id, file_pgoff + i)  # a shmem swap entry: its swap cache
            out[i] = 1 if c >= 0 or c <= PC_SWAP and sw.cache[PC_SWAP - c] >= 0 else 0
        else:
            out[i] = 0


@njit(**JIT)
def swap_unuse(k, d, out):
    """try_to_unuse: swap every page of device d back in, in every mm (unuse_pte), then in
    every shmem object.

    Locked VMAs never hold swap entries (mlocked pages are unevictable), so no mlock here.
    """
    pt, sw, mms = k.pt, k.sw, k.mms
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
            p, major = swap_in(k.fr, k.zn, k.lru, k.ctr, k.sw, k.rs, slot)
            if p < 0:
                return stop(out, 0, p)
            sw.map[slot] -= 1
            mms.rss[mm, MM_SWAPENTS] -= 1
            map_page(k.fr, k.lru, k.ctr, k.mms, mm, p, False)
            pt.pte[row, j] = (p << PTE_SHIFT) | PTE_PRESENT
            if sw.map[slot] == 0:
                swapcache_del(k.fr, k.lru, k.ctr, k.sw, p)
    for slot in range(lo, hi):  # shmem_unuse: the slots still referenced are shmem pages'
        if sw.map[slot] > 0:
            p, _ = shmem_swapin(k, sw.owner[slot], sw.index[slot], slot)
            if p < 0:
                return stop(out, 0, p)
    for slot in range(lo, hi):  # what is left in the swap cache is mapped or unneeded
        p = sw.cache[slot]
        if p >= 0:
            swapcache_del(k.fr, k.lru, k.ctr, k.sw, p)
            if k.fr.mapcount[p] == 0:
                free_anon_page(k.fr, k.zn, k.lru, k.ctr, p)
    return stop(out, 0, 0)


@njit(**JIT)
def kernel_alloc(fr, zn, ctr, rs, order, owner):
    """A kernel allocation (GFP_KERNEL: highest zone Normal, down to min)."""
    return alloc_pages(fr, zn, ctr, rs, order, 2, KERNEL, owner)


# ---------------------------------------------------------------------------------------------
# Transparent huge pages (mm/huge_memory.c) and compaction (mm/compaction.c, mm/migrate.c).
# How oomtui represents a THP is said in compaction.py.

# enum compact_result, in the kernel's order (try_to_compact_pages keeps the max).
COMPACT_NOT_SUITABLE_ZONE, COMPACT_SKIPPED, COMPACT_DEFERRED, COMPACT_NO_SUITABLE_PAGE = range(4)
COMPACT_CONTINUE, COMPACT_COMPLETE, COMPACT_PARTIAL_SKIPPED, COMPACT_CONTENDED = range(4, 8)
COMPACT_SUCCESS = 8
# enum compact_priority: lower is harder; direct compaction starts async.
COMPACT_PRIO_SYNC_FULL, COMPACT_PRIO_SYNC_LIGHT, COMPACT_PRIO_ASYNC = range(3)
EXTFRAG_THRESHOLD = 500  # vm.extfrag_threshold default
PAGEBLOCK_NR = HPAGE_PMD_NR
ENOMEM_ERR = 12


@njit(**JIT)
def split_huge_page(fr, ctr, p):
    """split_huge_pmd + split_folio of the THP holding p: its 512 pages go on as 4 KiB pages
    (AnonHugePages drops by 2 MiB). Called before a subpage is handled on its own."""
    head = p & ~(HPAGE_PMD_NR - 1)
    for q in range(head, head + HPAGE_PMD_NR):
        fr.flags[q] &= ~F_THP
    ctr.vm[NR_ANON_THPS] -= HPAGE_PMD_NR


@njit(**JIT)
def do_huge_pmd_anonymous_page(k, mm, vpage, p, anon_id, index, locked, out):
    """Map the order-9 block p at the 2 MiB-aligned vpage: charged to the memcg, one fault,
    every subpage a new inactive anon page behind a writable PTE of the deposited table.
    A charge the memcg refuses frees the block (thp_fault_fallback_charge): out[OUT_DONE]
    is 0 then, HPAGE_PMD_NR when mapped."""
    fr, ctr, pt = k.fr, k.ctr, k.pt
    row = pt_row(k.fr, k.zn, k.ctr, k.pt, k.mms, k.rs, mm, vpage)
    if row < 0:
        return stop(out, 0, row)
    cg = k.lru.ctl[LC_CHARGE_TO]
    if not try_charge(k.lru, cg, HPAGE_PMD_NR):  # mem_cgroup_charge: no memcg OOM for a THP
        free_pages(k.fr, k.zn, k.ctr, p, HPAGE_PMD_ORDER)
        ctr.vm[THP_FAULT_FALLBACK] += 1
        ctr.vm[THP_FAULT_FALLBACK_CHARGE] += 1
        return stop(out, 0, 0)
    for i in range(HPAGE_PMD_NR):
        q = p + i
        fr.index[q] = index + i
        fr.memcg[q] = cg
        fr.flags[q] = F_THP
        lru_add(k.fr, k.lru, q)
        map_page(k.fr, k.lru, k.ctr, k.mms, mm, q, locked)
        pt.pte[row, i] = (q << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
    ctr.vm[NR_ANON_THPS] += HPAGE_PMD_NR
    ctr.vm[THP_FAULT_ALLOC] += 1
    out[OUT_NEW_ANON] += 1
    count_fault(k.ctr, k.mms, mm, False, out)
    return stop(out, HPAGE_PMD_NR, 0)


@njit(**JIT)
def pageblock_start(pfn):
    return pfn & ~(PAGEBLOCK_NR - 1)


@njit(**JIT)
def pageblock_end(pfn):
    return (pfn + PAGEBLOCK_NR) & ~(PAGEBLOCK_NR - 1)


@njit(**JIT)
def fragmentation_index(zn, z, order):
    """__fragmentation_index: toward 0 a failure at `order` is for lack of memory, toward
    1000 for fragmentation; -1000 when a block of that order is free."""
    blocks = 0
    free = 0
    suitable = 0
    for o in range(MAX_ORDER + 1):
        n = zn.free_count[z, o]
        blocks += n
        free += n << o
        if o >= order:
            suitable += n << (o - order)
    if blocks == 0:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free * 1000 // (1 << order)) // blocks


@njit(**JIT)
def __compaction_suitable(zn, z, order, highest, free):
    """Enough free pages (`free` of them) above the min (costly: low) watermark plus
    compact_gap to have migration targets."""
    mark = zn.wmark[z, WMARK_LOW if order > PAGE_ALLOC_COSTLY_ORDER else WMARK_MIN]
    return free > mark + (2 << order) + zn.reserve[z, highest]


@njit(**JIT)
def compaction_suitable(zn, z, order, highest):
    """compaction_suitable: free pages for targets, and for costly orders a failure that is
    due to fragmentation (fragmentation index above vm.extfrag_threshold)."""
    if not __compaction_suitable(zn, z, order, highest, zn.free[z]):
        return False
    if order > PAGE_ALLOC_COSTLY_ORDER:
        fragindex = fragmentation_index(zn, z, order)
        if 0 <= fragindex <= EXTFRAG_THRESHOLD:
            return False
    return True


@njit(**JIT)
def reset_cached_positions(zn, z):
    zn.compact_cached_migrate_pfn[z, 0] = zn.start[z]
    zn.compact_cached_migrate_pfn[z, 1] = zn.start[z]
    zn.compact_cached_free_pfn[z] = pageblock_start(zn.start[z + 1] - 1)


@njit(**JIT)
def update_cached_migrate(zn, z, pfn):
    """Where async and sync compaction restart: past the pageblock the scanner finished."""
    pfn = pageblock_end(pfn)
    zn.compact_cached_migrate_pfn[z, 0] = max(zn.compact_cached_migrate_pfn[z, 0], pfn)
    if zn.cc[CC_SYNC]:
        zn.compact_cached_migrate_pfn[z, 1] = max(zn.compact_cached_migrate_pfn[z, 1], pfn)


@njit(**JIT)
def putback_movable_pages(fr, lru, zn, first):
    """The isolated pages from `first` on go back onto their LRU lists."""
    cc = zn.cc
    for i in range(first, cc[CC_NR_MIGRATE]):
        lru_add(fr, lru, zn.cc_migrate[i])
    cc[CC_NR_MIGRATE] = first


@njit(**JIT)
def isolate_migratepages_block(k, z, low, end):
    """isolate_migratepages_block: take up to COMPACT_CLUSTER_MAX LRU pages (anon, file,
    shmem, swap cache; mlocked too: compact_unevictable_allowed) of [low, end) off their
    lists. Free blocks and THPs are stepped over; other pages cannot move, and neither do
    file pages that are dirty or under writeback here (the flushers' queues hold their
    frame numbers). Async direct compaction gives up an order-aligned block at its first
    immovable page."""
    fr, zn, cc = k.fr, k.zn, k.zn.cc
    order = cc[CC_ORDER]
    skip_on_failure = not cc[CC_SYNC]
    next_skip = (low + (1 << order)) & ~((1 << order) - 1)  # block_end_pfn(low, order)
    scanned = 0
    isolated = 0
    while low < end:
        if skip_on_failure and low >= next_skip:
            if isolated:
                break  # the previous order-aligned block is ready: migrate it
            next_skip = (low + (1 << order)) & ~((1 << order) - 1)
        scanned += 1
        o = fr.order[low]
        if o >= 0:  # PageBuddy: skip the free block
            scanned += (1 << o) - 1
            low += 1 << o
            continue
        pinned = fr.type[low] == FILE and fr.flags[low] & (F_DIRTY | F_WRITEBACK)
        if fr.flags[low] & F_THP or fr.lru[low] < 0 or pinned:  # compound, or not movable
            if fr.flags[low] & F_THP:
                scanned += (low | (HPAGE_PMD_NR - 1)) - low
                low |= HPAGE_PMD_NR - 1
            if skip_on_failure:
                if isolated:  # cannot form the block: put back what was taken from it
                    putback_movable_pages(k.fr, k.lru, k.zn, cc[CC_NR_MIGRATE] - isolated)
                    isolated = 0
                if low < next_skip:
                    low = next_skip - 1
                    next_skip += 1 << order
            low += 1
            continue
        lru_del(k.fr, k.lru, low)
        zn.cc_migrate[cc[CC_NR_MIGRATE]] = low
        cc[CC_NR_MIGRATE] += 1
        isolated += 1
        low += 1
        if cc[CC_NR_MIGRATE] >= COMPACT_CLUSTER_MAX:
            break
    low = min(low, end)
    if low == end and isolated == 0:
        update_cached_migrate(k.zn, z, low)
    cc[CC_MIGRATE_SCANNED] += scanned
    k.ctr.vm[COMPACTISOLATED] += isolated
    cc[CC_MIGRATE_PFN] = low


@njit(**JIT)
def isolate_migratepages(k, z):
    """isolate_migratepages: from the migrate scanner's pfn, the first pageblock below the
    free scanner that is not a THP (pageblock_skip_persistent); True if pages were isolated."""
    zn, cc = k.zn, k.zn.cc
    low = cc[CC_MIGRATE_PFN]
    block_end = pageblock_end(low)
    while block_end <= cc[CC_FREE_PFN]:
        if k.fr.flags[max(pageblock_start(low), zn.start[z])] & F_THP:
            update_cached_migrate(k.zn, z, block_end)
        else:
            isolate_migratepages_block(k, z, low, block_end)
            break
        low = block_end
        cc[CC_MIGRATE_PFN] = low
        block_end += PAGEBLOCK_NR
    return cc[CC_NR_MIGRATE] > 0


@njit(**JIT)
def isolate_freepages_block(k, z, pfn, end):
    """isolate_freepages_block: take free buddy blocks of [pfn, end) off the free lists
    until there is a target for every isolated page; returns where it stopped."""
    fr, zn, cc = k.fr, k.zn, k.zn.cc
    scanned = 0
    total = 0
    while pfn < end:
        scanned += 1
        o = fr.order[pfn]
        if o < 0:
            pfn += 1
            continue
        # __isolate_free_page: never below the min watermark.
        if zn.free[z] <= zn.wmark[z, WMARK_MIN] + (1 << o):
            break
        list_del(fr.next, fr.prev, zn.free_head, zn.free_tail, z, o, pfn)
        zn.free_count[z, o] -= 1
        zn.free[z] -= 1 << o
        fr.order[pfn] = -1
        for q in range(pfn, pfn + (1 << o)):  # split_map_pages: order-0 targets
            zn.cc_free[cc[CC_NR_FREE]] = q
            cc[CC_NR_FREE] += 1
        scanned += (1 << o) - 1
        total += 1 << o
        pfn += 1 << o
        if cc[CC_NR_MIGRATE] <= cc[CC_NR_FREE]:
            break
    cc[CC_FREE_SCANNED] += scanned
    k.ctr.vm[COMPACTISOLATED] += total
    return min(pfn, end)


@njit(**JIT)
def isolate_freepages(k, z):
    """isolate_freepages: the free scanner walks pageblocks down from its pfn to the
    migrate scanner's block, isolating free pages. oomtui scans every pfn (stride 1): the
    kernel's async stride stands in for its free-list fast search, not modelled here."""
    fr, zn, cc = k.fr, k.zn, k.zn.cc
    start = cc[CC_FREE_PFN]
    block_start = pageblock_start(start)
    block_end = min(block_start + PAGEBLOCK_NR, zn.start[z + 1])
    low = pageblock_end(cc[CC_MIGRATE_PFN])
    while block_start >= low:
        # pageblock_pfn_to_page (in the zone) and suitable_migration_target (no free block
        # of pageblock order: it is not broken up for migration targets).
        if block_start >= zn.start[z] and fr.order[block_start] < HPAGE_PMD_ORDER:
            start = isolate_freepages_block(k, z, start, block_end)
            if start == block_end:  # update_pageblock_skip's cached free pfn
                zn.compact_cached_free_pfn[z] = min(zn.compact_cached_free_pfn[z],
                                                    block_start - PAGEBLOCK_NR)
            if cc[CC_NR_FREE] >= cc[CC_NR_MIGRATE]:
                if start >= block_end:
                    start = block_start - PAGEBLOCK_NR
                break
            if start < block_end:
                break  # isolation failed early (watermark)
        block_end = block_start
        block_start -= PAGEBLOCK_NR
        start = block_start
    cc[CC_FREE_PFN] = start


@njit(**JIT)
def migrate_folio(k, src, dst):
    """migrate_pages for one isolated page: copy it to dst and update everything that
    points at it (PTEs through the reverse map, the page-cache index, the swap cache, the
    LRU and memcg); the old frame is freed. False if a mapping could not be found."""
    fr, pt, rm = k.fr, k.pt, k.rm
    n = rmap_walk(k, src) if fr.mapcount[src] else 0
    if n != fr.mapcount[src]:
        return False
    fr.type[dst] = fr.type[src]
    fr.flags[dst] = fr.flags[src]
    fr.mlock[dst] = fr.mlock[src]
    fr.mapcount[dst] = fr.mapcount[src]
    fr.owner[dst] = fr.owner[src]
    fr.index[dst] = fr.index[src]
    fr.swap[dst] = fr.swap[src]
    fr.memcg[dst] = fr.memcg[src]  # mem_cgroup_migrate: the charge moves with the page
    for i in range(n):
        e = pt.pte[rm.out_row[i], rm.out_idx[i]]
        pt.pte[rm.out_row[i], rm.out_idx[i]] = (dst << PTE_SHIFT) | (e & ((1 << PTE_SHIFT) - 1))
    if fr.type[src] != ANON:
        ht_put(k.pc.keys, k.pc.vals, k.pc.count, pc_key(fr.owner[src], fr.index[src]), dst)
    if fr.flags[src] & F_SWAPCACHE:
        k.sw.cache[fr.swap[src]] = dst
    lru_add(k.fr, k.lru, dst)  # putback of the new folio
    free_pages(k.fr, k.zn, k.ctr, src, 0)
    return True


@njit(**JIT)
def migrate_pages(k, z):
    """migrate_pages with compaction_alloc: each isolated page to a target the free scanner
    isolates; returns 0, ENOMEM_ERR when targets ran out, or the pages that failed."""
    zn, cc, ctr = k.zn, k.zn.cc, k.ctr
    failed = 0
    for i in range(cc[CC_NR_MIGRATE]):
        if cc[CC_NR_FREE] == 0:
            isolate_freepages(k, z)
            if cc[CC_NR_FREE] == 0:  # compaction_alloc found no target
                ctr.vm[PGMIGRATE_FAIL] += 1
                putback_movable_pages(k.fr, k.lru, k.zn, i)
                return ENOMEM_ERR
        cc[CC_NR_FREE] -= 1
        src = zn.cc_migrate[i]
        dst = zn.cc_free[cc[CC_NR_FREE]]
        if migrate_folio(k, src, dst):
            ctr.vm[PGMIGRATE_SUCCESS] += 1
            if cc[CC_MOVED] < zn.moved_from.size:
                zn.moved_from[cc[CC_MOVED]] = src
                zn.moved_to[cc[CC_MOVED]] = dst
            cc[CC_MOVED] += 1
        else:
            cc[CC_NR_FREE] += 1  # compaction_free: the target goes back to the list
            lru_add(k.fr, k.lru, src)
            ctr.vm[PGMIGRATE_FAIL] += 1
            failed += 1
    cc[CC_NR_MIGRATE] = 0
    return failed


@njit(**JIT)
def compact_finished(k, z):
    """__compact_finished: the scanners met (complete; the next run starts anew), or at a
    pageblock boundary a free block of the order exists (success)."""
    zn, cc = k.zn, k.zn.cc
    if cc[CC_FREE_PFN] // PAGEBLOCK_NR <= cc[CC_MIGRATE_PFN] // PAGEBLOCK_NR:
        reset_cached_positions(k.zn, z)
        return COMPACT_COMPLETE if cc[CC_WHOLE_ZONE] else COMPACT_PARTIAL_SKIPPED
    if cc[CC_MIGRATE_PFN] % PAGEBLOCK_NR:
        return COMPACT_CONTINUE  # always finish the pageblock
    for o in range(cc[CC_ORDER], MAX_ORDER + 1):
        if zn.free_count[z, o]:
            return COMPACT_SUCCESS
    return COMPACT_CONTINUE


@njit(**JIT)
def compact_zone(k, z, order, prio, highest):
    """compact_zone for direct compaction: the migrate scanner walks up from where it last
    stopped (the zone start at first), the free scanner down from the zone end; movable
    pages move into free pages until a free block of `order` exists or the scanners meet.
    Counts compact_migrate_scanned, compact_free_scanned, compact_isolated, pgmigrate_*;
    Zones.cc[CC_MOVED] and moved_from/moved_to tell what moved."""
    zn, cc = k.zn, k.zn.cc
    cc[:] = 0
    if zone_watermark_ok(zn, z, order, WMARK_MIN, highest):
        return COMPACT_SUCCESS  # the allocation can already succeed
    if not compaction_suitable(zn, z, order, highest):
        return COMPACT_SKIPPED
    start = zn.start[z]
    end = zn.start[z + 1]
    sync = 1 if prio != COMPACT_PRIO_ASYNC else 0  # MIGRATE_SYNC_LIGHT, or MIGRATE_ASYNC
    cc[CC_ORDER] = order
    cc[CC_SYNC] = sync
    if prio == COMPACT_PRIO_SYNC_FULL:  # whole_zone
        cc[CC_MIGRATE_PFN] = start
        cc[CC_FREE_PFN] = pageblock_start(end - 1)
    else:
        cc[CC_MIGRATE_PFN] = zn.compact_cached_migrate_pfn[z, sync]
        cc[CC_FREE_PFN] = zn.compact_cached_free_pfn[z]
        if not start <= cc[CC_FREE_PFN] < end:
            cc[CC_FREE_PFN] = pageblock_start(end - 1)
            zn.compact_cached_free_pfn[z] = cc[CC_FREE_PFN]
        if not start <= cc[CC_MIGRATE_PFN] < end:
            cc[CC_MIGRATE_PFN] = start
            zn.compact_cached_migrate_pfn[z, 0] = start
            zn.compact_cached_migrate_pfn[z, 1] = start
    cc[CC_WHOLE_ZONE] = cc[CC_MIGRATE_PFN] == start
    update_cached = not sync and zn.compact_cached_migrate_pfn[z, 0] == zn.compact_cached_migrate_pfn[z, 1]
    ret = compact_finished(k, z)
    while ret == COMPACT_CONTINUE:
        if not isolate_migratepages(k, z):
            if update_cached:
                zn.compact_cached_migrate_pfn[z, 1] = zn.compact_cached_migrate_pfn[z, 0]
        else:
            update_cached = False
            err = migrate_pages(k, z)
            if err == ENOMEM_ERR and cc[CC_FREE_PFN] // PAGEBLOCK_NR > cc[CC_MIGRATE_PFN] // PAGEBLOCK_NR:
                ret = COMPACT_CONTENDED
                break
        ret = compact_finished(k, z)
    if cc[CC_NR_FREE]:  # release_freepages; the free scanner restarts at the highest one
        high = 0
        for i in range(cc[CC_NR_FREE]):
            high = max(high, zn.cc_free[i])
            free_pages(k.fr, k.zn, k.ctr, zn.cc_free[i], 0)
        cc[CC_NR_FREE] = 0
        zn.compact_cached_free_pfn[z] = max(zn.compact_cached_free_pfn[z], pageblock_start(high))
    k.ctr.vm[COMPACTMIGRATE_SCANNED] += cc[CC_MIGRATE_SCANNED]
    k.ctr.vm[COMPACTFREE_SCANNED] += cc[CC_FREE_SCANNED]
    return ret


# ---------------------------------------------------------------------------------------------
# Recounts for invariant checks (tests only: a pass over every frame)

@njit(**JIT)
def recount(k, out_types, out_lru, out_free_zone, out_mlocked, out_dirty, out_lazy):
    fr, zn = k.fr, k.zn
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
