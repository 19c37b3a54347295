"""Slab (mm/slub.c, mm/shrinker.c, fs/super.c, fs/dcache.c, fs/inode.c). oomtui packs objects
perfectly: objects fill the slabs from the oldest, and the newest slab is freed as soon as
the others hold every object (the kernel frees a slab only when its own last object goes,
so its caches fragment; oomtui's do not).
"""

from __future__ import annotations

from oomtui.engine.constants import PAGE_SIZE, ZONE_NORMAL
from oomtui.engine.kernels.buddy import alloc_from_zones, alloc_pages, free_pages
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.results import NO_MEMORY, stop
from oomtui.engine.state import (
    CACHE_DENTRY, CACHE_INODE, NR_RECLAIMABLE_CACHES, NR_SLAB_R, NR_SLAB_U, RS_SLAB_DEFERRED,
    RS_VFS_DENOM, RS_VFS_PRESSURE, SLAB, SLABS_SCANNED, SLAB_MIN_ORDER, SLAB_OBJSIZE, SLAB_ORDER,
    SL_HEAD, SL_NEG, SL_OBJS, SL_ROOM, SL_SLABS, SL_UNUSED, WMARK_LOW, WMARK_MIN,
)


@kernel
def slab_objects(c, order):
    return (PAGE_SIZE << order) // SLAB_OBJSIZE[c]


@kernel
def slab_alloc(k, c):
    """kmem_cache_alloc of one object of cache c, with a new slab when every slab is full
    (allocate_slab: the cache's order if a block is free at once, without reclaim or waking
    kswapd; else GFP_KERNEL at the smallest order). False sends the caller to the slow path."""
    sl = k.rs.slab
    if sl[c, SL_OBJS] == sl[c, SL_ROOM]:
        order = SLAB_ORDER[c]
        p = alloc_from_zones(fr=k.fr, zn=k.zn, ctr=k.ctr, order=order, highest=ZONE_NORMAL,
                             mark=WMARK_LOW, ftype=SLAB, owner=c)
        if p < 0:
            p = alloc_from_zones(fr=k.fr, zn=k.zn, ctr=k.ctr, order=order, highest=ZONE_NORMAL,
                                 mark=WMARK_MIN, ftype=SLAB, owner=c)
        if p < 0:
            order = SLAB_MIN_ORDER[c]
            p = alloc_pages(fr=k.fr, zn=k.zn, ctr=k.ctr, rs=k.rs, order=order, highest=ZONE_NORMAL,
                            ftype=SLAB, owner=c)
        if p < 0:
            return False
        k.fr.index[p] = order
        k.fr.next[p] = sl[c, SL_HEAD]
        sl[c, SL_HEAD] = p
        sl[c, SL_SLABS] += 1
        sl[c, SL_ROOM] += slab_objects(c=c, order=order)
        k.ctr.vm[NR_SLAB_R if c < NR_RECLAIMABLE_CACHES else NR_SLAB_U] += 1 << order
    sl[c, SL_OBJS] += 1
    return True


@kernel
def stat_names(k, n, negative, done, out):
    """stat(2) of names not in the dcache, one after the other (resumable): d_alloc, then the
    inode (iget) unless the name does not exist; dput leaves both cached and unused, where
    the shrinker may free them while later lookups run."""
    sl = k.rs.slab
    for i in range(done, n):
        if not slab_alloc(k=k, c=CACHE_DENTRY):
            return stop(out=out, done=i - done, failed=NO_MEMORY)
        if not negative and not slab_alloc(k=k, c=CACHE_INODE):
            slab_free(k=k, c=CACHE_DENTRY, n=1)
            return stop(out=out, done=i - done, failed=NO_MEMORY)
        sl[CACHE_DENTRY, SL_UNUSED] += 1
        sl[CACHE_DENTRY, SL_NEG] += negative
    return stop(out=out, done=n - done, failed=0)


@kernel
def slab_free(k, c, n):
    """Free n objects of cache c, and the slabs that leaves empty (discard_slab)."""
    sl = k.rs.slab
    sl[c, SL_OBJS] -= n
    while sl[c, SL_SLABS] and (sl[c, SL_ROOM] - slab_objects(c=c, order=k.fr.index[sl[c, SL_HEAD]])
                               >= sl[c, SL_OBJS]):
        p = sl[c, SL_HEAD]
        order = k.fr.index[p]
        sl[c, SL_HEAD] = k.fr.next[p]
        sl[c, SL_SLABS] -= 1
        sl[c, SL_ROOM] -= slab_objects(c=c, order=order)
        k.ctr.vm[NR_SLAB_R if c < NR_RECLAIMABLE_CACHES else NR_SLAB_U] -= 1 << order
        free_pages(fr=k.fr, zn=k.zn, ctr=k.ctr, p=p, order=order)


@kernel
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
    slab_free(k=k, c=CACHE_DENTRY, n=freed)
    return freed


@kernel
def prune_icache(k, nr):
    """prune_icache_sb: free up to nr unused inodes (none of them has page cache)."""
    freed = min(nr, k.rs.slab[CACHE_INODE, SL_UNUSED])
    k.rs.slab[CACHE_INODE, SL_UNUSED] -= freed
    slab_free(k=k, c=CACHE_INODE, n=freed)
    return freed


@kernel
def super_cache_scan(k, nr_to_scan):
    """super_cache_scan: split the batch between dentries and inodes by their counts, prune
    the dcache first (it pins the icache), and scan at least one of each."""
    sl = k.rs.slab
    dentries, inodes = sl[CACHE_DENTRY, SL_UNUSED], sl[CACHE_INODE, SL_UNUSED]
    total = dentries + inodes + 1
    freed = prune_dcache(k=k, nr=nr_to_scan * dentries // total + 1)
    return freed + prune_icache(k=k, nr=nr_to_scan * inodes // total + 1)


@kernel
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
        freed += super_cache_scan(k=k, nr_to_scan=nr_to_scan)
        k.ctr.vm[SLABS_SCANNED] += nr_to_scan
        total_scan -= nr_to_scan
        scanned += nr_to_scan
    st[RS_SLAB_DEFERRED] = min(max(nr + delta - scanned, 0), 2 * freeable)
    return freed


@kernel
def drop_slab(k):
    """drop_slab (vm.drop_caches 2): shrink at priority 0 until a round frees almost nothing."""
    shift = 0
    while True:
        freed = shrink_slab(k=k, priority=0)
        if freed >> shift <= 1:
            return
        shift += 1
