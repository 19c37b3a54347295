"""Compaction (mm/compaction.c, mm/migrate.c): the migrate and free scanners, page migration,
and whether compaction is worth trying. How oomtui represents a THP is said in
engine/compaction.py.
"""

from __future__ import annotations

from oomtui.engine.kernels.buddy import PAGE_ALLOC_COSTLY_ORDER, free_pages, zone_watermark_ok
from oomtui.engine.kernels.hashtable import ht_put
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lists import list_del
from oomtui.engine.kernels.lru import lru_add, lru_del
from oomtui.engine.kernels.pagecache import pc_key
from oomtui.engine.kernels.reclaim import reclaimable_pages
from oomtui.engine.kernels.rmap import rmap_walk
from oomtui.engine.state import (
    ANON, CC_FREE_PFN, CC_FREE_SCANNED, CC_MIGRATE_PFN, CC_MIGRATE_SCANNED, CC_MOVED, CC_NR_FREE,
    CC_NR_MIGRATE, CC_ORDER, CC_SYNC, CC_WHOLE_ZONE, COMPACTFREE_SCANNED, COMPACTISOLATED,
    COMPACTMIGRATE_SCANNED, COMPACT_CLUSTER_MAX, FILE, F_DIRTY, F_SWAPCACHE, F_THP, F_WRITEBACK,
    HPAGE_PMD_NR, HPAGE_PMD_ORDER, MAX_ORDER, PGMIGRATE_FAIL, PGMIGRATE_SUCCESS, PTE_SHIFT,
    WMARK_LOW, WMARK_MIN,
)

# enum compact_result, in the kernel's order (try_to_compact_pages keeps the max).
COMPACT_NOT_SUITABLE_ZONE, COMPACT_SKIPPED, COMPACT_DEFERRED, COMPACT_NO_SUITABLE_PAGE = range(4)
COMPACT_CONTINUE, COMPACT_COMPLETE, COMPACT_PARTIAL_SKIPPED, COMPACT_CONTENDED = range(4, 8)
COMPACT_SUCCESS = 8
# enum compact_priority: lower is harder; direct compaction starts async.
COMPACT_PRIO_SYNC_FULL, COMPACT_PRIO_SYNC_LIGHT, COMPACT_PRIO_ASYNC = range(3)
EXTFRAG_THRESHOLD = 500  # vm.extfrag_threshold default
PAGEBLOCK_NR = HPAGE_PMD_NR
ENOMEM_ERR = 12


@kernel
def pageblock_start(pfn):
    return pfn & ~(PAGEBLOCK_NR - 1)


@kernel
def pageblock_end(pfn):
    return (pfn + PAGEBLOCK_NR) & ~(PAGEBLOCK_NR - 1)


@kernel
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


@kernel
def __compaction_suitable(zn, z, order, highest, free):
    """Enough free pages (`free` of them) above the min (costly: low) watermark plus
    compact_gap to have migration targets."""
    mark = zn.wmark[z, WMARK_LOW if order > PAGE_ALLOC_COSTLY_ORDER else WMARK_MIN]
    return free > mark + (2 << order) + zn.reserve[z, highest]


@kernel
def compaction_suitable(zn, z, order, highest):
    """compaction_suitable: free pages for targets, and for costly orders a failure that is
    due to fragmentation (fragmentation index above vm.extfrag_threshold)."""
    if not __compaction_suitable(zn=zn, z=z, order=order, highest=highest, free=zn.free[z]):
        return False
    if order > PAGE_ALLOC_COSTLY_ORDER:
        fragindex = fragmentation_index(zn=zn, z=z, order=order)
        if 0 <= fragindex <= EXTFRAG_THRESHOLD:
            return False
    return True


@kernel
def compaction_zonelist_suitable(k, order, highest):
    """compaction_zonelist_suitable: would some zone pass __compaction_suitable with its free
    pages plus reclaimable/order (the node's reclaimable pages: LRUs are not per zone here)?"""
    zn = k.zn
    available = reclaimable_pages(k=k) // order
    for z in range(highest, -1, -1):
        if zn.start[z + 1] > zn.start[z] and __compaction_suitable(zn=zn, z=z, order=order,
                                                                   highest=highest,
                                                                   free=zn.free[z] + available):
            return True
    return False


@kernel
def reset_cached_positions(zn, z):
    zn.compact_cached_migrate_pfn[z, 0] = zn.start[z]
    zn.compact_cached_migrate_pfn[z, 1] = zn.start[z]
    zn.compact_cached_free_pfn[z] = pageblock_start(pfn=zn.start[z + 1] - 1)


@kernel
def update_cached_migrate(zn, z, pfn):
    """Where async and sync compaction restart: past the pageblock the scanner finished."""
    pfn = pageblock_end(pfn=pfn)
    zn.compact_cached_migrate_pfn[z, 0] = max(zn.compact_cached_migrate_pfn[z, 0], pfn)
    if zn.cc[CC_SYNC]:
        zn.compact_cached_migrate_pfn[z, 1] = max(zn.compact_cached_migrate_pfn[z, 1], pfn)


@kernel
def putback_movable_pages(fr, lru, zn, first):
    """The isolated pages from `first` on go back onto their LRU lists."""
    cc = zn.cc
    for i in range(first, cc[CC_NR_MIGRATE]):
        lru_add(fr=fr, lru=lru, p=zn.cc_migrate[i])
    cc[CC_NR_MIGRATE] = first


@kernel
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
                    putback_movable_pages(fr=k.fr, lru=k.lru, zn=k.zn,
                                          first=cc[CC_NR_MIGRATE] - isolated)
                    isolated = 0
                if low < next_skip:
                    low = next_skip - 1
                    next_skip += 1 << order
            low += 1
            continue
        lru_del(fr=k.fr, lru=k.lru, p=low)
        zn.cc_migrate[cc[CC_NR_MIGRATE]] = low
        cc[CC_NR_MIGRATE] += 1
        isolated += 1
        low += 1
        if cc[CC_NR_MIGRATE] >= COMPACT_CLUSTER_MAX:
            break
    low = min(low, end)
    if low == end and isolated == 0:
        update_cached_migrate(zn=k.zn, z=z, pfn=low)
    cc[CC_MIGRATE_SCANNED] += scanned
    k.ctr.vm[COMPACTISOLATED] += isolated
    cc[CC_MIGRATE_PFN] = low


@kernel
def isolate_migratepages(k, z):
    """isolate_migratepages: from the migrate scanner's pfn, the first pageblock below the
    free scanner that is not a THP (pageblock_skip_persistent); True if pages were isolated."""
    zn, cc = k.zn, k.zn.cc
    low = cc[CC_MIGRATE_PFN]
    block_end = pageblock_end(pfn=low)
    while block_end <= cc[CC_FREE_PFN]:
        if k.fr.flags[max(pageblock_start(pfn=low), zn.start[z])] & F_THP:
            update_cached_migrate(zn=k.zn, z=z, pfn=block_end)
        else:
            isolate_migratepages_block(k=k, z=z, low=low, end=block_end)
            break
        low = block_end
        cc[CC_MIGRATE_PFN] = low
        block_end += PAGEBLOCK_NR
    return cc[CC_NR_MIGRATE] > 0


@kernel
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
        list_del(nxt=fr.next, prv=fr.prev, head=zn.free_head, tail=zn.free_tail, i=z, j=o, p=pfn)
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


@kernel
def isolate_freepages(k, z):
    """isolate_freepages: the free scanner walks pageblocks down from its pfn to the
    migrate scanner's block, isolating free pages. oomtui scans every pfn (stride 1): the
    kernel's async stride stands in for its free-list fast search, not modelled here."""
    fr, zn, cc = k.fr, k.zn, k.zn.cc
    start = cc[CC_FREE_PFN]
    block_start = pageblock_start(pfn=start)
    block_end = min(block_start + PAGEBLOCK_NR, zn.start[z + 1])
    low = pageblock_end(pfn=cc[CC_MIGRATE_PFN])
    while block_start >= low:
        # pageblock_pfn_to_page (in the zone) and suitable_migration_target (no free block
        # of pageblock order: it is not broken up for migration targets).
        if block_start >= zn.start[z] and fr.order[block_start] < HPAGE_PMD_ORDER:
            start = isolate_freepages_block(k=k, z=z, pfn=start, end=block_end)
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


@kernel
def migrate_folio(k, src, dst):
    """migrate_pages for one isolated page: copy it to dst and update everything that
    points at it (PTEs through the reverse map, the page-cache index, the swap cache, the
    LRU and memcg); the old frame is freed. False if a mapping could not be found."""
    fr, pt, rm = k.fr, k.pt, k.rm
    n = rmap_walk(k=k, p=src) if fr.mapcount[src] else 0
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
        ht_put(keys=k.pc.keys, vals=k.pc.vals, count=k.pc.count,
               key=pc_key(file_id=fr.owner[src], pgoff=fr.index[src]), val=dst)
    if fr.flags[src] & F_SWAPCACHE:
        k.sw.cache[fr.swap[src]] = dst
    lru_add(fr=k.fr, lru=k.lru, p=dst)  # putback of the new folio
    free_pages(fr=k.fr, zn=k.zn, ctr=k.ctr, p=src, order=0)
    return True


@kernel
def migrate_pages(k, z):
    """migrate_pages with compaction_alloc: each isolated page to a target the free scanner
    isolates; returns 0, ENOMEM_ERR when targets ran out, or the pages that failed."""
    zn, cc, ctr = k.zn, k.zn.cc, k.ctr
    failed = 0
    for i in range(cc[CC_NR_MIGRATE]):
        if cc[CC_NR_FREE] == 0:
            isolate_freepages(k=k, z=z)
            if cc[CC_NR_FREE] == 0:  # compaction_alloc found no target
                ctr.vm[PGMIGRATE_FAIL] += 1
                putback_movable_pages(fr=k.fr, lru=k.lru, zn=k.zn, first=i)
                return ENOMEM_ERR
        cc[CC_NR_FREE] -= 1
        src = zn.cc_migrate[i]
        dst = zn.cc_free[cc[CC_NR_FREE]]
        if migrate_folio(k=k, src=src, dst=dst):
            ctr.vm[PGMIGRATE_SUCCESS] += 1
            if cc[CC_MOVED] < zn.moved_from.size:
                zn.moved_from[cc[CC_MOVED]] = src
                zn.moved_to[cc[CC_MOVED]] = dst
            cc[CC_MOVED] += 1
        else:
            cc[CC_NR_FREE] += 1  # compaction_free: the target goes back to the list
            lru_add(fr=k.fr, lru=k.lru, p=src)
            ctr.vm[PGMIGRATE_FAIL] += 1
            failed += 1
    cc[CC_NR_MIGRATE] = 0
    return failed


@kernel
def compact_finished(k, z):
    """__compact_finished: the scanners met (complete; the next run starts anew), or at a
    pageblock boundary a free block of the order exists (success)."""
    zn, cc = k.zn, k.zn.cc
    if cc[CC_FREE_PFN] // PAGEBLOCK_NR <= cc[CC_MIGRATE_PFN] // PAGEBLOCK_NR:
        reset_cached_positions(zn=k.zn, z=z)
        return COMPACT_COMPLETE if cc[CC_WHOLE_ZONE] else COMPACT_PARTIAL_SKIPPED
    if cc[CC_MIGRATE_PFN] % PAGEBLOCK_NR:
        return COMPACT_CONTINUE  # always finish the pageblock
    for o in range(cc[CC_ORDER], MAX_ORDER + 1):
        if zn.free_count[z, o]:
            return COMPACT_SUCCESS
    return COMPACT_CONTINUE


@kernel
def compact_zone(k, z, order, prio, highest):
    """compact_zone for direct compaction: the migrate scanner walks up from where it last
    stopped (the zone start at first), the free scanner down from the zone end; movable
    pages move into free pages until a free block of `order` exists or the scanners meet.
    Counts compact_migrate_scanned, compact_free_scanned, compact_isolated, pgmigrate_*;
    Zones.cc[CC_MOVED] and moved_from/moved_to tell what moved."""
    zn, cc = k.zn, k.zn.cc
    cc[:] = 0
    if zone_watermark_ok(zn=zn, z=z, order=order, mark=WMARK_MIN, highest=highest):
        return COMPACT_SUCCESS  # the allocation can already succeed
    if not compaction_suitable(zn=zn, z=z, order=order, highest=highest):
        return COMPACT_SKIPPED
    start = zn.start[z]
    end = zn.start[z + 1]
    sync = 1 if prio != COMPACT_PRIO_ASYNC else 0  # MIGRATE_SYNC_LIGHT, or MIGRATE_ASYNC
    cc[CC_ORDER] = order
    cc[CC_SYNC] = sync
    if prio == COMPACT_PRIO_SYNC_FULL:  # whole_zone
        cc[CC_MIGRATE_PFN] = start
        cc[CC_FREE_PFN] = pageblock_start(pfn=end - 1)
    else:
        cc[CC_MIGRATE_PFN] = zn.compact_cached_migrate_pfn[z, sync]
        cc[CC_FREE_PFN] = zn.compact_cached_free_pfn[z]
        if not start <= cc[CC_FREE_PFN] < end:
            cc[CC_FREE_PFN] = pageblock_start(pfn=end - 1)
            zn.compact_cached_free_pfn[z] = cc[CC_FREE_PFN]
        if not start <= cc[CC_MIGRATE_PFN] < end:
            cc[CC_MIGRATE_PFN] = start
            zn.compact_cached_migrate_pfn[z, 0] = start
            zn.compact_cached_migrate_pfn[z, 1] = start
    cc[CC_WHOLE_ZONE] = cc[CC_MIGRATE_PFN] == start
    update_cached = not sync and zn.compact_cached_migrate_pfn[z, 0] == zn.compact_cached_migrate_pfn[z, 1]
    ret = compact_finished(k=k, z=z)
    while ret == COMPACT_CONTINUE:
        if not isolate_migratepages(k=k, z=z):
            if update_cached:
                zn.compact_cached_migrate_pfn[z, 1] = zn.compact_cached_migrate_pfn[z, 0]
        else:
            update_cached = False
            err = migrate_pages(k=k, z=z)
            if err == ENOMEM_ERR and cc[CC_FREE_PFN] // PAGEBLOCK_NR > cc[CC_MIGRATE_PFN] // PAGEBLOCK_NR:
                ret = COMPACT_CONTENDED
                break
        ret = compact_finished(k=k, z=z)
    if cc[CC_NR_FREE]:  # release_freepages; the free scanner restarts at the highest one
        high = 0
        for i in range(cc[CC_NR_FREE]):
            high = max(high, zn.cc_free[i])
            free_pages(fr=k.fr, zn=k.zn, ctr=k.ctr, p=zn.cc_free[i], order=0)
        cc[CC_NR_FREE] = 0
        zn.compact_cached_free_pfn[z] = max(zn.compact_cached_free_pfn[z],
                                            pageblock_start(pfn=high))
    k.ctr.vm[COMPACTMIGRATE_SCANNED] += cc[CC_MIGRATE_SCANNED]
    k.ctr.vm[COMPACTFREE_SCANNED] += cc[CC_FREE_SCANNED]
    return ret
