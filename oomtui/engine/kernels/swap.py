"""Swap slots and the swap cache (mm/swapfile.c, mm/swap_state.c). A slot is allocated by
folio_alloc_swap, which charges it to the page's memcg and takes it from get_swap_pages (the
highest-priority device with room); swap_free_slot returns it.
"""

from __future__ import annotations

from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.memcg import try_charge_swap, uncharge_swap
from oomtui.engine.state import F_ALL, F_DIRTY, F_SWAPCACHE, NR_FILE, NR_SWAPCACHED


@kernel
def swap_dev_of(sw, slot):
    for d in range(sw.base.size):
        if sw.base[d] <= slot < sw.base[d] + sw.size[d]:
            return d
    return -1


@kernel
def get_swap_pages(sw):
    """get_swap_pages, for one slot: the highest-priority device with room; equal priorities
    take turns."""
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


@kernel
def folio_alloc_swap(fr, lru, sw, p):
    """A slot for anon page p, charged to its memcg's swap counter; -1 when the devices are
    full or the memcg is at memory.swap.max."""
    cg = fr.memcg[p]
    if not try_charge_swap(lru=lru, cg=cg):
        return -1
    slot = get_swap_pages(sw=sw)
    if slot < 0:
        uncharge_swap(lru=lru, cg=cg)
        return -1
    sw.owner[slot] = fr.owner[p]
    sw.index[slot] = fr.index[p]
    sw.memcg[slot] = fr.memcg[p]
    return slot


@kernel
def swap_free_slot(sw, lru, slot):
    uncharge_swap(lru=lru, cg=sw.memcg[slot])
    sw.memcg[slot] = -1
    sw.shadow[slot] = -1
    d = swap_dev_of(sw=sw, slot=slot)
    sw.stack[sw.base[d] + sw.top[d]] = slot
    sw.top[d] += 1
    sw.used[d] -= 1
    sw.owner[slot] = -1
    sw.index[slot] = -1


@kernel
def vm_swap_full(sw):
    """vm_swap_full: more than half of the swap space in use."""
    used = 0
    total = 0
    for d in range(sw.base.size):
        if sw.active[d]:
            used += sw.used[d]
            total += sw.size[d]
    return used * 2 > total


@kernel
def mem_cgroup_swap_full(lru, sw, cg):
    """mem_cgroup_swap_full for a page charged to cg: swap more than half full, or cg or an
    ancestor below the root uses half its memory.swap.max or more (swap.high is not
    modelled)."""
    if vm_swap_full(sw=sw):
        return True
    while cg > 0:
        if lru.swap[cg] * 2 >= lru.swap_max[cg]:
            return True
        cg = lru.parent[cg]
    return False


@kernel
def swapcache_add(fr, ctr, sw, p, slot):
    fr.flags[p] |= F_SWAPCACHE
    fr.swap[p] = slot
    sw.cache[slot] = p
    ctr.vm[NR_SWAPCACHED] += 1
    ctr.vm[NR_FILE] += 1  # swap-cache pages count in nr_file_pages (meminfo subtracts them)


@kernel
def swapcache_del(fr, lru, ctr, sw, p):
    """The page leaves the swap cache; its slot is freed if no swap PTE needs it."""
    slot = fr.swap[p]
    sw.cache[slot] = -1
    fr.swap[p] = -1
    fr.flags[p] &= F_ALL ^ (F_SWAPCACHE | F_DIRTY)
    ctr.vm[NR_SWAPCACHED] -= 1
    ctr.vm[NR_FILE] -= 1
    if sw.map[slot] == 0:
        swap_free_slot(sw=sw, lru=lru, slot=slot)


@kernel
def swap_space_left(sw):
    for d in range(sw.base.size):
        if sw.active[d] and sw.top[d] > 0:
            return True
    return False
