"""Recounts for invariant checks (tests only: a pass over every frame)."""

from __future__ import annotations

from oomtui.engine.kernels.jit import kernel
from oomtui.engine.state import ANON, FILE, F_DIRTY, F_LAZYFREE, MAX_ORDER, NR_ZONES


@kernel
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
