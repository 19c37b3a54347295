"""Workingset detection (mm/workingset.c; KERNEL.md §6): an evicted page leaves a shadow with
its lruvec's non-resident age; a refault within the workingset's size activates the page.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lru import note_cost
from oomtui.engine.kernels.memcg import swap_room
from oomtui.engine.kernels.swap import swap_space_left
from oomtui.engine.state import (
    F_ACTIVE, F_WORKINGSET, LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE,
    WORKINGSET_ACTIVATE, WORKINGSET_REFAULT, WORKINGSET_RESTORE,
)

SHADOW_AGE_BITS = 46


@kernel
def workingset_age_nonresident(lru, cg, n):
    while cg >= 0:
        lru.nonresident_age[cg] += n
        cg = lru.parent[cg]


@kernel
def workingset_eviction(fr, lru, p):
    """The shadow of p: its memcg, the age it was evicted at and PG_workingset."""
    cg = fr.memcg[p]
    eviction = lru.nonresident_age[cg] & ((1 << SHADOW_AGE_BITS) - 1)
    workingset_age_nonresident(lru=lru, cg=cg, n=1)
    return (np.int64(cg) << (SHADOW_AGE_BITS + 1)) | (eviction << 1) | (
        1 if fr.flags[p] & F_WORKINGSET else 0)


@kernel
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


@kernel
def workingset_refault(fr, lru, ctr, sw, p, shadow, file):
    """workingset_refault for the new page p (not yet on an LRU) that refaults `shadow`."""
    ctr.vm[WORKINGSET_REFAULT + file] += 1
    cg = shadow >> (SHADOW_AGE_BITS + 1)
    eviction = (shadow >> 1) & ((1 << SHADOW_AGE_BITS) - 1)
    distance = (lru.nonresident_age[cg] - eviction) & ((1 << SHADOW_AGE_BITS) - 1)
    # workingset_test_recent: what could have been kept, had the page been active
    size = lruvec_size(lru=lru, cg=cg, lst=LRU_ACTIVE_FILE)
    if not file:
        size += lruvec_size(lru=lru, cg=cg, lst=LRU_INACTIVE_FILE)
    if swap_space_left(sw=sw) and swap_room(lru=lru, cg=cg):
        size += lruvec_size(lru=lru, cg=cg, lst=LRU_ACTIVE_ANON)
        if file:
            size += lruvec_size(lru=lru, cg=cg, lst=LRU_INACTIVE_ANON)
    if distance > size:
        return
    fr.flags[p] |= F_ACTIVE
    workingset_age_nonresident(lru=lru, cg=fr.memcg[p], n=1)
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
        # lru_note_cost_refault
        note_cost(lru=lru, cg=fr.memcg[p], file=file, nr_io=1, nr_rotated=0)
        ctr.vm[WORKINGSET_RESTORE + file] += 1
