"""memcg page counters (mm/memcontrol.c, mm/page_counter.c; KERNEL.md §7): try_charge and
uncharge of memory and swap, hierarchical, with the per-cpu charge stock.

A charge takes MEMCG_CHARGE_BATCH pages at a time from the page counters and keeps the surplus
in the stock (memcg_stock_pcp), which serves the next charges without touching the counters:
memory.current runs ahead of the pages charged by what the stock holds. One CPU is modelled,
so there is one stock, of NR_MEMCG_STOCK memcgs. Uncharges go straight to the counters, as
the kernel's uncharge_batch does. The root's own pages and swap entries are never charged
(mem_cgroup_is_root): its counters hold its children's charges. A charge over memory.high adds its whole batch to the scratch
word LC_OVER_HIGH (current->memcg_nr_pages_over_high); Python's Memcg.handle_over_high
reclaims it and applies the delay.
"""

from __future__ import annotations

from oomtui.engine.constants import MEMCG_CHARGE_BATCH
from oomtui.engine.kernels.buddy import free_pages
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.results import MEMCG_FULL
from oomtui.engine.state import LC_OVER_HIGH, LC_OVER_LIMIT, NR_MEMCG_STOCK


@kernel
def page_counter_try_charge(lru, ctl, cg, n):
    """n pages on cg and every ancestor, or on none of them; then the memcg over its
    memory.max is in ctl[LC_OVER_LIMIT]."""
    c = cg
    while c >= 0:
        if lru.usage[c] + n > lru.max[c]:
            ctl[LC_OVER_LIMIT] = c
            return False
        c = lru.parent[c]
    c = cg
    while c >= 0:
        lru.usage[c] += n
        lru.peak[c] = max(lru.peak[c], lru.usage[c])
        c = lru.parent[c]
    return True


@kernel
def try_charge(lru, ctl, cg, n):
    """try_charge_memcg up to its first failure: n pages from the stock, else a batch of
    max(MEMCG_CHARGE_BATCH, n) from the page counters with the surplus stocked, else exactly
    n. A batch that leaves some level over memory.high adds up in ctl[LC_OVER_HIGH]. False
    when even n pages do not fit (ctl[LC_OVER_LIMIT] says where): the caller reclaims."""
    if cg == 0:
        return True  # try_charge: the root is not charged
    if consume_stock(lru=lru, cg=cg, n=n):
        return True
    batch = max(MEMCG_CHARGE_BATCH, n)
    if not page_counter_try_charge(lru=lru, ctl=ctl, cg=cg, n=batch):
        if batch == n or not page_counter_try_charge(lru=lru, ctl=ctl, cg=cg, n=n):
            return False
        batch = n
    if batch > n:
        refill_stock(lru=lru, cg=cg, n=batch - n)
    c = cg
    while c >= 0:  # the swap.high term is not modelled
        if lru.usage[c] > lru.high[c]:
            ctl[LC_OVER_HIGH] += batch
            break
        c = lru.parent[c]
    return True


@kernel
def consume_stock(lru, cg, n):
    """consume_stock: n pages from cg's slot of the stock, if it holds that many."""
    if n > MEMCG_CHARGE_BATCH:
        return False
    for i in range(NR_MEMCG_STOCK):
        if lru.stock_memcg[i] == cg:
            if lru.stock_pages[i] < n:
                return False
            lru.stock_pages[i] -= n
            return True
    return False


@kernel
def refill_stock(lru, cg, n):
    """refill_stock: n charged pages into cg's slot (a slot of more than a batch is drained);
    a memcg not cached takes an empty slot, else the slot drain_idx points at (round robin)."""
    empty = -1
    for i in range(NR_MEMCG_STOCK):
        if lru.stock_memcg[i] == cg:
            lru.stock_pages[i] += n
            if lru.stock_pages[i] > MEMCG_CHARGE_BATCH:
                drain_stock(lru=lru, i=i)
            return
        if lru.stock_memcg[i] < 0 and empty < 0:
            empty = i
    i = empty
    if i < 0:
        i = lru.stock_drain[0]
        lru.stock_drain[0] = (i + 1) % NR_MEMCG_STOCK
        drain_stock(lru=lru, i=i)
    lru.stock_memcg[i] = cg
    lru.stock_pages[i] = n


@kernel
def drain_stock(lru, i):
    """drain_stock: the slot's pages back to its memcg's page counters; the slot is empty."""
    if lru.stock_memcg[i] >= 0:
        uncharge(lru=lru, cg=lru.stock_memcg[i], n=lru.stock_pages[i])
    lru.stock_memcg[i] = -1
    lru.stock_pages[i] = 0


@kernel
def drain_all_stock(lru, cg):
    """drain_all_stock(cg): drain the slots of cg and its descendants; True if any held pages."""
    drained = False
    for i in range(NR_MEMCG_STOCK):
        c = lru.stock_memcg[i]
        while c >= 0 and c != cg:  # mem_cgroup_is_descendant
            c = lru.parent[c]
        if c >= 0 and lru.stock_pages[i]:
            drain_stock(lru=lru, i=i)
            drained = True
    return drained


@kernel
def uncharge(lru, cg, n):
    if cg == 0:
        return  # the root's own pages were not charged
    while cg >= 0:
        lru.usage[cg] -= n
        cg = lru.parent[cg]


@kernel
def try_charge_swap(lru, cg):
    """__mem_cgroup_try_charge_swap: one swap entry against memory.swap.max at every level;
    a refusal counts in the limited group's swap.events (max and fail). The root's own
    entries are not charged."""
    if cg == 0:
        return True
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
    """mem_cgroup_uncharge_swap for one entry (cg -1 or the root: not charged)."""
    if cg == 0:
        return
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
