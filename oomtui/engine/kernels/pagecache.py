"""The page cache (mm/filemap.c): one hash from (file id, page offset) to a pfn, a workingset
shadow or a shmem swap entry; adding, removing and walking a file's pages, read()/write().
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.constants import MEMCG_CHARGE_BATCH, ZONE_MOVABLE
from oomtui.engine.kernels.buddy import alloc_pages, free_pages
from oomtui.engine.kernels.hashtable import ht_del, ht_get, ht_put
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lru import lru_add, lru_del, lru_update
from oomtui.engine.kernels.mapping import free_swap_and_cache
from oomtui.engine.kernels.memcg import charged_page, uncharge
from oomtui.engine.kernels.results import NEED_ROOM, NO_MEMORY, OVER_HIGH, stop
from oomtui.engine.kernels.workingset import workingset_age_nonresident, workingset_refault
from oomtui.engine.state import (
    EMPTY, FILE, F_ALL, F_ACTIVE, F_DIRTY, F_REFERENCED, F_WRITEBACK, LC_CHARGE_TO, LC_OVER_HIGH,
    NR_DIRTIED, NR_DIRTY, NR_FILE, NR_SHMEM, PC_SWAP, RS_DQ_COUNT, RS_DQ_HEAD, RS_NOW, SHMEM,
)

PC_PGOFF_BITS = 36  # a key is the file id above the page offset
PC_PGOFF_MASK = (1 << PC_PGOFF_BITS) - 1


@kernel
def pc_key(file_id, pgoff):
    return (file_id << PC_PGOFF_BITS) | pgoff


@kernel
def pc_lookup(pc, file_id, pgoff):
    return ht_get(keys=pc.keys, vals=pc.vals, key=pc_key(file_id=file_id, pgoff=pgoff))


WALK_INVALIDATE, WALK_TRUNCATE, WALK_COUNT_SWAPPED = 0, 1, 2
NO_COUNTS = np.zeros((1, 1), np.int64)  # for the walks that count nothing
NO_OFFSETS = np.zeros(0, np.int64)


def pc_walk(k, file_id, first, npages, action, counts, col):
    """Act on every page-cache entry of [first, first + npages) of a file, in offset order (as
    the kernel walks its xarray), found by a lookup per offset or, when the range is longer
    than the index, at the offsets one pass over the index finds (in numpy: kernels allocate
    nothing). A sparse file costs its entries, not its size, and where the hash put them
    (how big it has grown) changes nothing.
    action: WALK_INVALIDATE (invalidate_mapping_pages), WALK_TRUNCATE (shmem_undo_range), or
    WALK_COUNT_SWAPPED (counts[bucket, col] += the swapped shmem pages, for the VMA view)."""
    keys = k.pc.keys
    by_offset = npages <= keys.size
    found = NO_OFFSETS
    if not by_offset:
        mine = keys[keys >> PC_PGOFF_BITS == file_id] & PC_PGOFF_MASK
        found = np.sort(mine[(mine >= first) & (mine < first + npages)])
    pc_walk_at(k=k, file_id=file_id, first=first, npages=npages, by_offset=by_offset,
               found=found, action=action, counts=counts, col=col)


@kernel
def pc_walk_at(k, file_id, first, npages, by_offset, found, action, counts, col):
    """pc_walk's visits: offsets first.. (by_offset), else those `found`."""
    for i in range(npages if by_offset else found.size):
        pgoff = first + i if by_offset else found[i]
        p = pc_lookup(pc=k.pc, file_id=file_id, pgoff=pgoff)
        if p != -1:
            pc_visit(k=k, file_id=file_id, pgoff=pgoff, p=p, action=action, counts=counts,
                     bucket=(pgoff - first) * counts.shape[0] // npages, col=col)


@kernel
def pc_visit(k, file_id, pgoff, p, action, counts, bucket, col):
    """One entry of pc_walk; True when it left the index."""
    if action == WALK_COUNT_SWAPPED:
        if p <= PC_SWAP:
            counts[bucket, col] += 1
    elif action == WALK_INVALIDATE:
        if p >= 0 and k.fr.type[p] == FILE and k.fr.mapcount[p] == 0 \
                and not k.fr.flags[p] & (F_DIRTY | F_WRITEBACK):
            pc_remove(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, pc=k.pc, p=p, shadow=-1)
            return True
    elif p >= 0:
        pc_remove(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, pc=k.pc, p=p, shadow=-1)
        return True
    elif p <= PC_SWAP:
        ht_del(keys=k.pc.keys, vals=k.pc.vals, count=k.pc.count, key=pc_key(file_id=file_id,
                                                                            pgoff=pgoff))
        free_swap_and_cache(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, sw=k.sw, slot=PC_SWAP - p)
        return True
    return False


@kernel
def pc_add(fr, zn, lru, ctl, ctr, pc, rs, sw, file_id, pgoff, shmem):
    """A new page-cache page (filemap_add_folio / shmem_alloc_folio), or a failure code:
    NO_MEMORY, MEMCG_FULL, or NEED_ROOM when the page-cache index must grow first."""
    if (pc.count[0] + 1) * 2 > pc.keys.size:
        return NEED_ROOM
    old = pc_lookup(pc=pc, file_id=file_id, pgoff=pgoff)  # -1, or a shadow entry
    p = alloc_pages(fr=fr, zn=zn, ctr=ctr, rs=rs, order=0, highest=ZONE_MOVABLE,
                    ftype=SHMEM if shmem else FILE, owner=file_id)
    if p < 0:
        return NO_MEMORY
    # charged to the memcg of the task that touched it first
    p = charged_page(fr=fr, zn=zn, ctr=ctr, lru=lru, ctl=ctl, p=p, cg=ctl[LC_CHARGE_TO])
    if p < 0:
        return p
    fr.index[p] = pgoff
    if old <= -2:
        pc.shadows[0] -= 1
        workingset_refault(fr=fr, lru=lru, ctr=ctr, sw=sw, p=p, shadow=-2 - old, file=1)
    ht_put(keys=pc.keys, vals=pc.vals, count=pc.count, key=pc_key(file_id=file_id, pgoff=pgoff),
           val=p)
    ctr.vm[NR_FILE] += 1
    if shmem:
        ctr.vm[NR_SHMEM] += 1
    lru_add(fr=fr, lru=lru, p=p)
    return p


@kernel
def pc_remove(fr, zn, lru, ctr, pc, p, shadow):
    """Drop an unmapped page from the page cache and free it; an evicted page leaves its
    shadow (>= 0) in its place while there is room for one (the shadow-node shrinker)."""
    key = pc_key(file_id=fr.owner[p], pgoff=fr.index[p])
    if shadow >= 0 and pc.shadows[0] < fr.type.size:
        ht_put(keys=pc.keys, vals=pc.vals, count=pc.count, key=key, val=-2 - shadow)
        pc.shadows[0] += 1
    else:
        ht_del(keys=pc.keys, vals=pc.vals, count=pc.count, key=key)
    ctr.vm[NR_FILE] -= 1
    if fr.type[p] == SHMEM:
        ctr.vm[NR_SHMEM] -= 1
    if fr.flags[p] & F_DIRTY:
        ctr.vm[NR_DIRTY] -= 1
    lru_del(fr=fr, lru=lru, p=p)
    uncharge(lru=lru, cg=fr.memcg[p], n=1)
    free_pages(fr=fr, zn=zn, ctr=ctr, p=p, order=0)


@kernel
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


@kernel
def mark_accessed(fr, lru, p):
    """folio_mark_accessed: referenced once, activated on the second use."""
    if fr.flags[p] & F_REFERENCED and not fr.flags[p] & F_ACTIVE and fr.mlock[p] == 0:
        fr.flags[p] = (fr.flags[p] & (F_ALL ^ F_REFERENCED)) | F_ACTIVE
        lru_update(fr=fr, lru=lru, p=p)
        workingset_age_nonresident(lru=lru, cg=fr.memcg[p], n=1)  # workingset_activation
    else:
        fr.flags[p] |= F_REFERENCED


@kernel
def pc_fill(k, file_id, pgoff, npages, shmem, dirty, out):
    """read()/write()/readahead through the page cache (resumable, like fault_range)."""
    for i in range(npages):
        p = pc_lookup(pc=k.pc, file_id=file_id, pgoff=pgoff + i)
        if p < 0:
            p = pc_add(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, pc=k.pc, rs=k.rs,
                       sw=k.sw, file_id=file_id, pgoff=pgoff + i, shmem=shmem)
            if p < 0:
                return stop(out=out, done=i, failed=p)
        # filemap_read and the write path both mark folios accessed
        mark_accessed(fr=k.fr, lru=k.lru, p=p)
        if dirty:
            set_dirty(fr=k.fr, ctr=k.ctr, rs=k.rs, p=p)
        if k.scratch.ctl[LC_OVER_HIGH] > MEMCG_CHARGE_BATCH:
            # try_charge_memcg handles it at once
            return stop(out=out, done=i + 1, failed=OVER_HIGH)
    return stop(out=out, done=npages, failed=0)
