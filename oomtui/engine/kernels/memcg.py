"""memcg page counters (mm/memcontrol.c, mm/page_counter.c; KERNEL.md §7): try_charge and
uncharge of memory and swap, hierarchical. Charges are exact, page by page: no per-cpu stock
of MEMCG_CHARGE_BATCH pages. A charge over memory.high is counted in the scratch word
LC_OVER_HIGH; Python's CgroupCalls._handle_over_high reclaims it and applies the delay
(engine/memcg.py computes it).
"""

from __future__ import annotations

from oomtui.engine.kernels.buddy import free_pages
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.results import MEMCG_FULL
from oomtui.engine.state import LC_OVER_HIGH, LC_OVER_LIMIT


@kernel
def try_charge(lru, ctl, cg, n):
    """page_counter_try_charge: n pages on cg and every ancestor, or on none of them; then
    the memcg over its memory.max is in ctl[LC_OVER_LIMIT]. Charges that leave a level over
    memory.high add up in ctl[LC_OVER_HIGH] (current->memcg_nr_pages_over_high)."""
    c = cg
    while c >= 0:
        if lru.usage[c] + n > lru.max[c]:
            ctl[LC_OVER_LIMIT] = c
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
        ctl[LC_OVER_HIGH] += n
    return True


@kernel
def uncharge(lru, cg, n):
    while cg >= 0:
        lru.usage[cg] -= n
        cg = lru.parent[cg]


@kernel
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


@kernel
def uncharge_swap(lru, cg):
    """mem_cgroup_uncharge_swap for one entry (cg -1: not charged)."""
    while cg >= 0:
        lru.swap[cg] -= 1
        cg = lru.parent[cg]


@kernel
def swap_room(lru, cg):
    """mem_cgroup_get_nr_swap_pages > 0: every level below its memory.swap.max."""
    while cg >= 0:
        if lru.swap[cg] >= lru.swap_max[cg]:
            return False
        cg = lru.parent[cg]
    return True


@kernel
def charged_page(fr, zn, ctr, lru, ctl, p, cg):
    """mem_cgroup_charge after the allocation: the page, or MEMCG_FULL (page freed again)."""
    if not try_charge(lru=lru, ctl=ctl, cg=cg, n=1):
        free_pages(fr=fr, zn=zn, ctr=ctr, p=p, order=0)
        return MEMCG_FULL
    fr.memcg[p] = cg
    return p
