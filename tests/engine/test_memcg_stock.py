"""memcg charges in batches through the per-cpu stock (mm/memcontrol.c try_charge_memcg,
consume_stock, refill_stock, drain_stock; KERNEL.md §7), and what it does to memory.high's
throttle, with concrete numbers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from oomtui.engine import Machine, MachineConfig
from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.memcg import Memcg, calculate_high_delay, calculate_overage, copy_limits

PAGE, MiB = 4096, 1 << 20
BATCH = K.MEMCG_CHARGE_BATCH  # 64


@pytest.fixture
def memcg() -> Memcg:
    """The engine's memcg over page counters of its own (no machine: nothing reclaims)."""
    sizes = {"frames": 1, "memcgs": 16, "mms": 1, "ht": 1, "rows": 1, "slots": 0}
    return Memcg(SimpleNamespace(lru=S.new_group("lru", sizes), scratch=S.new_group("scratch", sizes),
                                 log=lambda *a, **kw: None))


def cg(memcg: Memcg, path: str, **settings) -> int:
    memcg.create(path, **settings)
    return memcg.tree.get(path).id


def charge(memcg: Memcg, c: int, n: int) -> bool:
    return K.try_charge(lru=memcg.m.lru, ctl=memcg.m.scratch.ctl, cg=c, n=n)


def stock(memcg: Memcg) -> dict:
    lru = memcg.m.lru
    return {int(c): int(n) for c, n in zip(lru.stock_memcg, lru.stock_pages) if c >= 0}


def test_a_charge_takes_a_batch_and_the_next_63_come_from_the_stock(memcg):
    a = cg(memcg, "/a")
    lru = memcg.m.lru
    assert charge(memcg, a, 1)
    assert lru.usage[a] == lru.usage[0] == 64   # batch = max(64, 1) charged at every level
    assert stock(memcg) == {a: 63}              # the surplus waits in the stock
    for _ in range(63):
        assert charge(memcg, a, 1)
    assert lru.usage[a] == 64 and stock(memcg) == {a: 0}  # 64 pages used, none charged again
    assert charge(memcg, a, 1)
    assert lru.usage[a] == 128 and stock(memcg) == {a: 63}
    assert lru.peak[a] == 128


def test_a_charge_over_high_counts_its_whole_batch(memcg):
    a = cg(memcg, "/a", memory_high=10 * PAGE)
    ctl = memcg.m.scratch.ctl
    ctl[S.LC_OVER_HIGH] = 0
    assert charge(memcg, a, 1)
    assert ctl[S.LC_OVER_HIGH] == 64            # 64 pages > high 10: the batch, not the page
    for _ in range(63):
        assert charge(memcg, a, 1)
    assert ctl[S.LC_OVER_HIGH] == 64            # the stock charges nothing: no more counted
    assert charge(memcg, a, 1)
    assert ctl[S.LC_OVER_HIGH] == 128


def test_a_batch_that_does_not_fit_under_max_charges_the_pages_alone(memcg):
    a = cg(memcg, "/a", memory_max=100 * PAGE)
    lru, ctl = memcg.m.lru, memcg.m.scratch.ctl
    assert K.page_counter_try_charge(lru=lru, ctl=ctl, cg=a, n=60)
    assert charge(memcg, a, 1)                  # 60 + 64 > 100: then 60 + 1 fits
    assert lru.usage[a] == 61 and stock(memcg) == {}
    assert charge(memcg, a, 39)                 # 61 + 39 == 100 is allowed
    assert not charge(memcg, a, 1)              # 101 > 100: refused, /a is the one at max
    assert ctl[S.LC_OVER_LIMIT] == a and lru.usage[a] == 100


def test_a_huge_page_is_its_own_batch(memcg):
    a = cg(memcg, "/a")
    assert charge(memcg, a, 512)                # max(64, 512): nothing left for the stock
    assert memcg.m.lru.usage[a] == 512 and stock(memcg) == {}


def test_the_root_is_not_charged(memcg):
    assert charge(memcg, 0, 1)                  # mem_cgroup_is_root: try_charge returns at once
    assert memcg.m.lru.usage[0] == 0 and stock(memcg) == {}


def test_the_eighth_memcg_drains_the_stock_round_robin(memcg):
    ids = [cg(memcg, f"/g{i}") for i in range(9)]
    lru = memcg.m.lru
    for c in ids[:7]:                           # NR_MEMCG_STOCK = 7 slots fill up
        assert charge(memcg, c, 1)
    assert stock(memcg) == {c: 63 for c in ids[:7]}
    assert charge(memcg, ids[7], 1)             # full: slot drain_idx 0 is drained, reused
    assert lru.usage[ids[0]] == 1               # 64 - the 63 drained back
    assert stock(memcg) == {**{c: 63 for c in ids[1:8]}}
    assert lru.stock_memcg[0] == ids[7] and lru.stock_drain[0] == 1
    assert charge(memcg, ids[8], 1)             # then slot 1
    assert lru.usage[ids[1]] == 1 and lru.stock_memcg[1] == ids[8]
    assert lru.usage[0] == 9 * 64 - 2 * 63


def test_drain_all_stock_drains_the_subtree_only(memcg):
    a, b, c = cg(memcg, "/a"), cg(memcg, "/a/b"), cg(memcg, "/c")
    lru = memcg.m.lru
    for x in (b, c):
        assert charge(memcg, x, 1)
    assert K.drain_all_stock(lru=lru, cg=a)
    assert stock(memcg) == {c: 63}
    assert (lru.usage[a], lru.usage[b], lru.usage[c]) == (1, 1, 64)
    assert not K.drain_all_stock(lru=lru, cg=a)  # nothing left to drain


def test_writing_memory_max_drains_the_stock_first(memcg):
    a = cg(memcg, "/a")
    assert charge(memcg, a, 10)
    assert memcg.m.lru.usage[a] == 64
    copy_limits(memcg.m.lru, memcg.tree.set("/a", memory_max=10 * PAGE))
    memcg._memory_max_write(memcg.tree.get("/a"))  # 64 > 10: the stock's 54 go back first
    assert memcg.m.lru.usage[a] == 10 and stock(memcg) == {}


# ---- the machine -----------------------------------------------------------------------------

def throttles(m: Machine) -> list:
    return [e.data["jiffies"] for e in m.events if e.kind == "throttle"]


def test_growing_a_page_at_a_time_5_percent_over_high_sleeps_159_ms_per_64_pages():
    """memory.high 100 MiB, usage 105 MiB, no swap (reclaim frees nothing): each batch of 64
    pages charged over high costs calculate_high_delay(overage, 64) with
    overage = (105 MiB - 100 MiB) pages << 20 / 100 MiB pages = (1280 << 20) // 25600 = 52428,
    penalty = 52428² · HZ >> 34 = 2748695184000 >> 34 = 159 jiffies (ms), · 64 / 64.
    Charged page by page it would be 159 · 1 / 64 = 2 ms a page, under the HZ/100 = 10 ms
    below which no task sleeps: never throttled."""
    m = Machine(MachineConfig(ram_mib=256, seed=1))
    m.cgroup_create("/a")
    p = m.spawn("grower", cgroup="/a")
    a = m.mmap(p, 128 * MiB)
    m.touch(p, a, 105 * MiB - BATCH * PAGE)        # 26816 pages: 419 whole batches, no stock
    assert m.cgroup_stat("/a")["memory.current"] == 105 * MiB - BATCH * PAGE
    m.cgroup_set("/a", memory_high=100 * MiB)    # nothing reclaimable: usage stays
    assert calculate_overage(105 * 256, 100 * 256) == 52428
    assert calculate_high_delay(52428, 64) == 159
    addr = a + 105 * MiB - BATCH * PAGE
    m.touch(p, addr, PAGE)                        # the 64-page batch: usage 105 MiB
    st = m.cgroup_stat("/a")
    assert st["memory.current"] == 105 * MiB      # runs 63 pages ahead of the pages used
    assert st["stock"] == 63 * PAGE
    assert throttles(m) == [159]
    assert m.cgroup_stat("/a")["memory.events"]["high"] > 0
    for i in range(1, 64):                        # the stock serves these: no charge, no sleep
        m.touch(p, addr + i * PAGE, PAGE)
    assert throttles(m) == [159] and m.cgroup_stat("/a")["stock"] == 0
    m.touch(p, addr + 64 * PAGE, PAGE)            # the next batch: usage 105 MiB + 64 pages
    overage = ((105 * 256 + 64 - 100 * 256) << 20) // (100 * 256)  # 1344 << 20 // 25600
    assert overage == 55050 and calculate_high_delay(overage, 64) == 176
    assert throttles(m) == [159, 176]
