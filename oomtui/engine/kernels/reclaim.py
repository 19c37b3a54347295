"""Page reclaim (mm/vmscan.c; KERNEL.md §5): shrink_node over the memcgs of the walk Python
sets up, shrink_lruvec's get_scan_count, shrink_inactive_list / shrink_active_list, and the
entry points: direct reclaim, memcg reclaim and kswapd.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.constants import MAX_RECLAIM_RETRIES, SWAP_CLUSTER_MAX
from oomtui.engine.kernels.buddy import node_balanced
from oomtui.engine.kernels.hashtable import ht_put
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lru import activate, lru_add, lru_del, note_cost
from oomtui.engine.kernels.mapping import free_anon_page
from oomtui.engine.kernels.memcg import swap_room
from oomtui.engine.kernels.pagecache import pc_key, pc_remove
from oomtui.engine.kernels.rmap import folio_referenced, try_to_unmap
from oomtui.engine.kernels.slab import shrink_slab
from oomtui.engine.kernels.swap import (
    folio_alloc_swap, swap_space_left, swapcache_add, swapcache_del,
)
from oomtui.engine.kernels.workingset import workingset_eviction
from oomtui.engine.state import (
    ALLOCSTALL, ANON, FILE, F_ALL, F_ACTIVE, F_DIRTY, F_LAZYFREE, F_RECLAIM, F_REFERENCED,
    F_SWAPCACHE, F_WORKINGSET, F_WRITEBACK, LC_IMMEDIATE, LC_LOW_SKIPPED, LRU_ACTIVE_ANON,
    LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE, NR_DIRTY, NR_LAZYFREE,
    NR_LRU_LISTS, NR_SLAB_R, PAGEOUTRUN, PC_SWAP, PGDEACTIVATE, PGSCAN_DIRECT, PGSCAN_KSWAPD,
    PGSTEAL_DIRECT, PGSTEAL_KSWAPD, PSWPOUT, RS_KSWAPD_AWAKE, RS_KSWAPD_FAILURES,
    RS_KSWAPD_HIGHEST, RS_KSWAPD_ORDER, RS_SWAPPINESS, RS_WB_WANTED, SCOPE_CGROUP_RECLAIM,
    SCOPE_LOW_RECLAIM, SCOPE_NWALK, SHMEM, V_EXEC, WMARK_HIGH, WMARK_MIN,
)

DEF_PRIORITY = 12


@kernel
def shmem_writeout(k, p, may_swap):
    """shrink_folio_list for a shmem page: try_to_unmap (shmem leaves no swap PTEs: they go to
    none), then shmem_writeout: a swap slot, whose entry replaces the page in the shmem mapping
    (swap_shmem_alloc: one reference), the write, and the page is freed. All shmem pages are
    written: the model keeps no dirty bit for them. False when the page is kept (unmapped if no
    slot could be had: AOP_WRITEPAGE_ACTIVATE)."""
    if not may_swap or not try_to_unmap(k=k, p=p, slot=-1):
        return False
    slot = folio_alloc_swap(fr=k.fr, lru=k.lru, sw=k.sw, p=p)
    if slot < 0:
        return False
    k.sw.map[slot] += 1
    k.sw.shadow[slot] = workingset_eviction(fr=k.fr, lru=k.lru, p=p)
    k.ctr.vm[PSWPOUT] += 1
    key = pc_key(file_id=k.fr.owner[p], pgoff=k.fr.index[p])
    pc_remove(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, pc=k.pc, p=p, shadow=-1)
    ht_put(keys=k.pc.keys, vals=k.pc.vals, count=k.pc.count, key=key, val=PC_SWAP - slot)
    return True


FOLIOREF_RECLAIM, FOLIOREF_KEEP, FOLIOREF_ACTIVATE = range(3)


@kernel(inline="always")  # per page on the reclaim path
def folio_check_references(k, p):
    """folio_check_references: mapped pages need a second look before they are reclaimed."""
    fr = k.fr
    young, vm_flags = folio_referenced(k=k, p=p)
    referenced = fr.flags[p] & F_REFERENCED
    fr.flags[p] &= F_ALL ^ F_REFERENCED
    if young:
        fr.flags[p] |= F_REFERENCED
        if referenced or young > 1:
            return FOLIOREF_ACTIVATE
        if vm_flags & V_EXEC and fr.type[p] == FILE:
            return FOLIOREF_ACTIVATE
        return FOLIOREF_KEEP
    return FOLIOREF_RECLAIM


@kernel(inline="always")  # per page on the reclaim path
def reclaim_folio(k, p, may_swap):
    """shrink_folio_list for one isolated, unreferenced page: True if it was freed."""
    fr, ctr, sw = k.fr, k.ctr, k.sw
    t = fr.type[p]
    if fr.flags[p] & F_LAZYFREE:
        if fr.flags[p] & F_DIRTY:  # written after MADV_FREE: swap-backed again
            fr.flags[p] &= F_ALL ^ (F_LAZYFREE | F_DIRTY)
            ctr.vm[NR_LAZYFREE] -= 1
            return False
        if not try_to_unmap(k=k, p=p, slot=-1):
            return False
        free_anon_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, p=p)
        return True
    if t == ANON:
        if fr.flags[p] & F_SWAPCACHE:
            slot = fr.swap[p]  # the page has a slot: rewritten only if it was dirtied
            if fr.flags[p] & F_DIRTY:
                ctr.vm[PSWPOUT] += 1
        else:
            if not may_swap:
                return False
            slot = folio_alloc_swap(fr=k.fr, lru=k.lru, sw=k.sw, p=p)
            if slot < 0:
                return False
            swapcache_add(fr=k.fr, ctr=k.ctr, sw=k.sw, p=p, slot=slot)
            ctr.vm[PSWPOUT] += 1  # pageout(): written to swap
        if not try_to_unmap(k=k, p=p, slot=slot):
            return False
        sw.shadow[slot] = workingset_eviction(fr=k.fr, lru=k.lru, p=p)
        # __remove_mapping: out of the swap cache, slot kept by the PTEs
        swapcache_del(fr=k.fr, lru=k.lru, ctr=k.ctr, sw=k.sw, p=p)
        free_anon_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, p=p)
        return True
    if t == FILE:
        if fr.flags[p] & (F_DIRTY | F_WRITEBACK):
            # Reclaim does not write file pages: it marks them PG_reclaim so they are rotated
            # for reclaim when their write completes, and wakes the flushers to write every
            # dirty page (wakeup_flusher_threads(WB_REASON_VMSCAN)).
            if fr.flags[p] & F_RECLAIM:
                k.scratch.ctl[LC_IMMEDIATE] = 1  # seen again before its write completed
            fr.flags[p] |= F_RECLAIM
            if fr.flags[p] & F_DIRTY:
                k.rs.state[RS_WB_WANTED] = ctr.vm[NR_DIRTY]
            return False
        if not try_to_unmap(k=k, p=p, slot=-1):
            return False
        pc_remove(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, pc=k.pc, p=p,
                  shadow=workingset_eviction(fr=k.fr, lru=k.lru, p=p))
        return True
    return shmem_writeout(k=k, p=p, may_swap=may_swap)


@kernel
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
        lru_del(fr=k.fr, lru=k.lru, p=p)  # isolate
        ctr.vm[PGSCAN_KSWAPD if kswapd else PGSCAN_DIRECT] += 1
        ref = folio_check_references(k=k, p=p)
        if ref == FOLIOREF_ACTIVATE:
            activate(fr=k.fr, lru=k.lru, ctr=k.ctr, p=p)
            rotated += 1
            continue
        if ref == FOLIOREF_KEEP:
            lru_add(fr=k.fr, lru=k.lru, p=p)
            continue
        swapped = fr.type[p] == SHMEM or fr.type[p] == ANON and not fr.flags[p] & (
            F_SWAPCACHE | F_LAZYFREE)
        if reclaim_folio(k=k, p=p, may_swap=may_swap):
            freed += 1
            if swapped:
                io += 1
            continue
        # activate_locked: dirty, no swap slot, or kept here
        activate(fr=k.fr, lru=k.lru, ctr=k.ctr, p=p)
        rotated += 1
    ctr.vm[PGSTEAL_KSWAPD if kswapd else PGSTEAL_DIRECT] += freed
    # file as an int, as workingset_refault passes it: note_cost compiles once
    note_cost(lru=lru, cg=cg, file=int(lst >= LRU_INACTIVE_FILE), nr_io=io, nr_rotated=rotated)
    return freed


@kernel
def shrink_active_list(k, cg, lst, nr_to_scan):
    """Move pages from the tail of one of cg's active lists to the inactive list (executable
    file pages that were referenced stay active)."""
    fr, lru, ctr = k.fr, k.lru, k.ctr
    for _ in range(nr_to_scan):
        p = lru.tail[cg, lst]
        if p < 0:
            break
        lru_del(fr=k.fr, lru=k.lru, p=p)
        young, vm_flags = folio_referenced(k=k, p=p)
        if young and vm_flags & V_EXEC and fr.type[p] == FILE:
            lru_add(fr=k.fr, lru=k.lru, p=p)
            continue
        fr.flags[p] = (fr.flags[p] & (F_ALL ^ F_ACTIVE)) | F_WORKINGSET  # we are de-activating
        ctr.vm[PGDEACTIVATE] += 1
        lru_add(fr=k.fr, lru=k.lru, p=p)


@kernel
def isqrt(n):
    r = np.int64(np.sqrt(n))
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    return r


@kernel
def inactive_is_low(size, inactive_lst):
    """inactive_is_low on one lruvec's list sizes: inactive × isqrt(10 × GB of the pair) < active."""
    inactive = size[inactive_lst]
    active = size[inactive_lst + 1]
    gb = (inactive + active) >> (30 - 12)
    ratio = isqrt(n=10 * gb) if gb else 1
    return inactive * ratio < active


@kernel
def can_reclaim_anon(k, cg, may_swap):
    """can_reclaim_anon_pages: swapping allowed, a free slot, and room under swap.max."""
    return may_swap and swap_space_left(sw=k.sw) and swap_room(lru=k.lru, cg=cg)


@kernel
def protection(lru, cg):
    """mem_cgroup_protection for the running reclaim: (emin, elow); none for its target and
    the root (walk[0] is the target)."""
    if cg == 0 or cg == lru.walk[0]:
        return 0, 0
    return lru.emin[cg], lru.elow[cg]


SCAN_EQUAL, SCAN_FRACT, SCAN_ANON, SCAN_FILE = range(4)


@kernel
def get_scan_count(k, cg, priority, may_swap, trim, tiny, nr):
    """get_scan_count: how many pages of each of cg's evictable lists to scan. trim
    (cache_trim_mode) and tiny (file_is_tiny) were decided for the whole reclaim."""
    lru = k.lru
    swappiness = k.rs.state[RS_SWAPPINESS]
    size = lru.size[cg]
    if not can_reclaim_anon(k=k, cg=cg, may_swap=may_swap):
        balance = SCAN_FILE
    elif lru.scope[SCOPE_CGROUP_RECLAIM] and swappiness == 0:
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
    emin, elow = protection(lru=lru, cg=cg)
    if not lru.scope[SCOPE_LOW_RECLAIM] and elow > emin:
        prot = elow
        k.scratch.ctl[LC_LOW_SKIPPED] = 1
    else:
        prot = emin
    for lst in range(LRU_UNEVICTABLE):  # for_each_evictable_lru
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


@kernel
def shrink_lruvec(k, cg, nr_to_reclaim, priority, may_swap, kswapd, trim, tiny,
                  deactivate_anon, deactivate_file):
    """shrink_lruvec: scan cg's lists in SWAP_CLUSTER_MAX batches until the target is met."""
    nr = k.rs.scan
    get_scan_count(k=k, cg=cg, priority=priority, may_swap=may_swap, trim=trim, tiny=tiny, nr=nr)
    size = k.lru.size[cg]
    freed = 0
    while nr[0] or nr[2] or nr[3]:
        for lst in range(LRU_UNEVICTABLE):  # for_each_evictable_lru
            if nr[lst] == 0:
                continue
            n = min(nr[lst], SWAP_CLUSTER_MAX)
            nr[lst] -= n
            if lst == LRU_ACTIVE_ANON or lst == LRU_ACTIVE_FILE:
                if deactivate_file if lst == LRU_ACTIVE_FILE else deactivate_anon:
                    shrink_active_list(k=k, cg=cg, lst=lst, nr_to_scan=n)
            else:
                freed += shrink_inactive_list(k=k, cg=cg, lst=lst, nr_to_scan=n, may_swap=may_swap,
                                              kswapd=kswapd)
        if freed >= nr_to_reclaim:
            break
    if (can_reclaim_anon(k=k, cg=cg, may_swap=may_swap)
            and inactive_is_low(size=size, inactive_lst=LRU_INACTIVE_ANON)):
        # age anon anyway
        shrink_active_list(k=k, cg=cg, lst=LRU_ACTIVE_ANON, nr_to_scan=SWAP_CLUSTER_MAX)
    return freed


@kernel
def shrink_node(k, nr_to_reclaim, priority, may_swap, kswapd):
    """shrink_node → shrink_node_memcgs over the walk Python set up (the target's subtree in
    pre-order; the whole tree for global reclaim). Protected memcgs are skipped, low ones
    only on a retry (memory.events low). Direct reclaim walks partially, resuming where the
    last one stopped; kswapd always walks everything."""
    lru, zn, target = k.lru, k.zn, k.rs.target
    nwalk = lru.scope[SCOPE_NWALK]
    # prepare_scan_control: the target lruvec's sizes decide deactivation, cache trimming
    # and (global reclaim only) whether file is tiny.
    target[:] = 0
    for i in range(nwalk):
        for lst in range(NR_LRU_LISTS):
            target[lst] += lru.size[lru.walk[i], lst]
    root = lru.walk[0]
    # sc->may_deactivate: refaults since the last reclaim mean a new workingset is forming
    deactivate_anon = (lru.activate_anon[root] != lru.snap_anon[root]
                       or inactive_is_low(size=target, inactive_lst=LRU_INACTIVE_ANON))
    deactivate_file = (lru.activate_file[root] != lru.snap_file[root]
                       or inactive_is_low(size=target, inactive_lst=LRU_INACTIVE_FILE))
    trim = target[LRU_INACTIVE_FILE] >> priority != 0 and not deactivate_file
    tiny = False
    if not lru.scope[SCOPE_CGROUP_RECLAIM]:
        file = zn.free.sum()
        for c in range(lru.size.shape[0]):
            file += lru.size[c, LRU_INACTIVE_FILE] + lru.size[c, LRU_ACTIVE_FILE]
        tiny = (file <= total_high_wmark(zn=zn) and not deactivate_anon
                and target[LRU_INACTIVE_ANON] >> priority != 0)
    start = 0 if kswapd else lru.iter[root]
    freed = 0
    for i in range(start, nwalk):
        cg = lru.walk[i]
        emin, elow = protection(lru=lru, cg=cg)
        protected = cg != root and cg != 0  # not mem_cgroup_unprotected
        if protected and emin >= lru.usage[cg]:
            continue  # mem_cgroup_below_min
        if protected and elow >= lru.usage[cg]:  # mem_cgroup_below_low
            if not lru.scope[SCOPE_LOW_RECLAIM]:
                k.scratch.ctl[LC_LOW_SKIPPED] = 1
                continue
            lru.low_events[cg] += 1
        freed += shrink_lruvec(k=k, cg=cg, nr_to_reclaim=nr_to_reclaim - freed, priority=priority,
                               may_swap=may_swap, kswapd=kswapd, trim=trim, tiny=tiny,
                               deactivate_anon=deactivate_anon, deactivate_file=deactivate_file)
        if cg == 0:  # every slab object is the root's (kernel memory is not charged to memcgs)
            slab_pages = k.ctr.vm[NR_SLAB_R]
            shrink_slab(k=k, priority=priority)
            freed += slab_pages - k.ctr.vm[NR_SLAB_R]  # reclaim_state->reclaimed (root reclaim)
        if not kswapd and freed >= nr_to_reclaim:
            lru.iter[root] = (i + 1) % nwalk
            return freed
    if not kswapd:
        lru.iter[root] = 0
    return freed


@kernel
def total_high_wmark(zn):
    """prepare_scan_control's Σ high watermarks over the managed zones (an empty zone may
    still have one: Movable's minimum is 32 pages)."""
    total = 0
    for z in range(zn.free.size):
        if zn.start[z + 1] > zn.start[z]:  # for_each_managed_zone_pgdat
            total += zn.wmark[z, WMARK_HIGH]
    return total


@kernel
def do_try_to_free_pages(k, nr_to_reclaim):
    """do_try_to_free_pages: priority 12 down to 0 until nr_to_reclaim pages are freed; if
    nothing was freed because low-protected memcgs were skipped, once more including them."""
    scope, ctl = k.lru.scope, k.scratch.ctl
    scope[SCOPE_LOW_RECLAIM] = 0
    ctl[LC_IMMEDIATE] = 0
    freed = 0
    while True:
        ctl[LC_LOW_SKIPPED] = 0
        for priority in range(DEF_PRIORITY, -1, -1):
            freed += shrink_node(k=k, nr_to_reclaim=nr_to_reclaim - freed, priority=priority,
                                 may_swap=True, kswapd=False)
            if freed >= nr_to_reclaim or not freed and ctl[LC_IMMEDIATE]:
                break  # reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK): wait for the flushers
        if freed or not ctl[LC_LOW_SKIPPED] or scope[SCOPE_LOW_RECLAIM]:
            snapshot_refaults(lru=k.lru)
            return freed
        scope[SCOPE_LOW_RECLAIM] = 1


@kernel
def snapshot_refaults(lru):
    """snapshot_refaults: the reclaim target's refault activations as reclaim ends."""
    root = lru.walk[0]
    lru.snap_anon[root] = lru.activate_anon[root]
    lru.snap_file[root] = lru.activate_file[root]


@kernel
def direct_reclaim(k):
    """try_to_free_pages: global direct reclaim of SWAP_CLUSTER_MAX pages."""
    k.ctr.vm[ALLOCSTALL] += 1
    freed = do_try_to_free_pages(k=k, nr_to_reclaim=SWAP_CLUSTER_MAX)
    if freed:
        k.rs.state[RS_KSWAPD_FAILURES] = 0  # any successful reclaim revives a hopeless kswapd
    return freed


@kernel
def memcg_reclaim(k, nr_pages):
    """try_to_free_mem_cgroup_pages: reclaim inside the walk's target memcg."""
    return do_try_to_free_pages(k=k, nr_to_reclaim=max(nr_pages, SWAP_CLUSTER_MAX))


@kernel
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
    k.scratch.ctl[LC_IMMEDIATE] = 0
    k.lru.scope[SCOPE_LOW_RECLAIM] = 0  # a fresh scan_control: kswapd never reclaims below low
    for priority in range(DEF_PRIORITY, 0, -1):
        if node_balanced(zn=k.zn, order=order,
                         highest=highest) or not freed and k.scratch.ctl[LC_IMMEDIATE]:
            break  # balanced, or throttled on writeback: the flushers must write first
        freed += shrink_node(k=k, nr_to_reclaim=target, priority=priority, may_swap=True,
                             kswapd=True)
    if freed == 0 and not node_balanced(zn=k.zn, order=order, highest=highest):
        rs[RS_KSWAPD_FAILURES] += 1
    elif freed:
        rs[RS_KSWAPD_FAILURES] = 0
    snapshot_refaults(lru=k.lru)
    if node_balanced(zn=k.zn, order=order,
                     highest=highest) or rs[RS_KSWAPD_FAILURES] >= MAX_RECLAIM_RETRIES:
        rs[RS_KSWAPD_AWAKE] = 0
        rs[RS_KSWAPD_ORDER] = 0
        rs[RS_KSWAPD_HIGHEST] = 0
    return freed


@kernel
def reclaimable_pages(k):
    """zone_reclaimable_pages, for the node: file LRU pages, and anon ones if swap has room."""
    size = k.lru.size
    reclaimable = 0
    for c in range(size.shape[0]):
        reclaimable += size[c, LRU_INACTIVE_FILE] + size[c, LRU_ACTIVE_FILE]
        if swap_space_left(sw=k.sw):
            reclaimable += size[c, LRU_INACTIVE_ANON] + size[c, LRU_ACTIVE_ANON]
    return reclaimable


@kernel
def should_reclaim_retry(k, order, highest):
    """should_reclaim_retry: could free + reclaimable pages lift some zone over min (with a
    free block of the order, for order > 0)?"""
    zn = k.zn
    reclaimable = reclaimable_pages(k=k)
    for z in range(highest, -1, -1):
        if zn.start[z + 1] == zn.start[z]:
            continue
        if zn.free[z] + reclaimable > zn.wmark[z, WMARK_MIN] + zn.reserve[z, highest] and (
                order == 0 or zn.free_count[z, order:].sum() > 0):
            return True
    return False
