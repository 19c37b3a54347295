"""memcg v2 as the engine runs it (oomtui/engine/memcg.py; KERNEL.md §7): tree, the page
counters the kernels charge, events, the memory.high penalty, effective protection and memcg
OOM totalpages, with concrete numbers."""

from __future__ import annotations

import errno
from types import SimpleNamespace

import pytest

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.memcg import (
    EVENTS, HZ, MEMCG_CHARGE_BATCH, MEMCG_MAX_HIGH_DELAY_JIFFIES, PAGE_COUNTER_MAX, PAGE_SIZE,
    SETTINGS, CgroupTree, Memcg, calculate_high_delay, calculate_overage, copy_limits,
    effective_min_low, effective_protection, mem_cgroup_get_max, parse_size, throttle_sleeps,
)

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGES_PER_MIB = MiB // PAGE_SIZE  # 256


def snapshot(tree: CgroupTree) -> list:
    """Everything a failed call must leave alone."""
    return [(cg.path, [c.path for c in cg.children], tree.stat(cg.path)) for cg in tree.walk()]


def expect_error(tree: CgroupTree, code: int, fn, *args, **kwargs) -> OSError:
    before = snapshot(tree)
    with pytest.raises(OSError) as info:
        fn(*args, **kwargs)
    assert info.value.errno == code, info.value
    assert info.value.strerror, "the error must say why"
    assert snapshot(tree) == before, "a failed call changed the tree"
    return info.value


@pytest.fixture
def tree() -> CgroupTree:
    return CgroupTree()


@pytest.fixture
def memcg() -> Memcg:
    """The engine's memcg over page counters of its own: a Machine's, less the machine
    (nothing here reclaims, so it needs only the Lru group and somewhere to log)."""
    sizes = {"frames": 1, "memcgs": 4, "mms": 1, "ht": 1, "rows": 1, "slots": 0}
    return Memcg(SimpleNamespace(lru=S.new_group("lru", sizes), scratch=S.new_group("scratch", sizes),
                                 log=lambda *a, **kw: None))


def charge(memcg: Memcg, path: str, pages: int) -> None:
    """Charge exactly `pages` at every level (page_counter_try_charge: try_charge's batches
    and stock are test_memcg_stock.py's), then copy the counters into the tree, as the
    engine does before its arithmetic."""
    assert K.page_counter_try_charge(lru=memcg.m.lru, ctl=memcg.m.scratch.ctl,
                                     cg=memcg.tree.get(path).id, n=pages)
    memcg.sync_usage()


def uncharge(memcg: Memcg, path: str, pages: int) -> None:
    K.uncharge(memcg.m.lru, memcg.tree.get(path).id, pages)
    memcg.sync_usage()


def lower_limit(memcg: Memcg, path: str, **changes) -> None:
    """Write a setting without the reclaim a write below usage starts (as if the group had
    grown over it), straight into the page counters."""
    copy_limits(memcg.m.lru, memcg.tree.set(path, **changes))


# ---- constants and parsing -----------------------------------------------------------------

def test_constants():
    assert (PAGE_SIZE, HZ, MEMCG_CHARGE_BATCH) == (4096, 1000, 64)
    assert MEMCG_MAX_HIGH_DELAY_JIFFIES == 2000
    assert PAGE_COUNTER_MAX == (2**63 - 1) // 4096 == 2**51 - 1
    assert EVENTS == ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")


@pytest.mark.parametrize("text, expected", [
    ("max", None),
    ("  max\n", None),              # strstrip first
    ("512M", 512 * MiB),
    ("2G", 2 * GiB),
    ("2g", 2 * GiB),
    ("100K", 100 * KiB),
    ("1T", 1 << 40),
    ("8192", 8192),                 # plain bytes
    ("5000", 4096),                 # rounded DOWN to pages (page_counter_memparse)
    ("4095", 0),
    ("0x1000", 4096),               # simple_strtoull base 0: hex ...
    ("010", 0),                     # ... and octal (8 bytes -> 0 pages)
    ("0x1ek", 28672),               # e is a hex digit: 0x1e KiB = 30720 bytes -> 7 pages
    ("1e", 1 << 60),                # but after decimal digits it is the exa suffix
    ("", 0),                        # kernel quirk: an empty write means 0
    ("k", 0),
    ("7E", 7 << 60),
    ("8E", None),                   # 2^63 bytes -> 2^51 pages, capped to PAGE_COUNTER_MAX = max
    ("16E", 0),                     # 2^64 wraps to 0 in u64
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["1.5G", "512MB", "MAX", "-1", "+5", "08", "0x", "1 G", "two",
                                  "1KK"])
def test_parse_size_rejects(text):
    with pytest.raises(OSError) as info:
        parse_size(text)
    assert info.value.errno == errno.EINVAL and text in str(info.value)


@pytest.mark.parametrize("value", [None, 512, b"1G"])
def test_parse_size_needs_a_string(value):
    with pytest.raises(OSError) as info:
        parse_size(value)
    assert info.value.errno == errno.EINVAL


# ---- memory.high: overage and penalty ------------------------------------------------------

# The table in the comment above MEMCG_DELAY_PRECISION_SHIFT (mm/memcontrol.c): high 100M,
# usage N MiB, time to allocate in ms (= jiffies at HZ=1000) for one 64-page batch.
KERNEL_TABLE = {100: 0, 101: 6, 102: 25, 103: 57, 104: 102, 105: 159, 106: 230, 107: 313,
                108: 409, 109: 518, 110: 639, 111: 774, 112: 921, 113: 1081, 114: 1254,
                115: 1439, 116: 1638, 117: 1849, 118: 2000, 119: 2000, 120: 2000}
HIGH_100M = 100 * PAGES_PER_MIB  # 25600 pages


def test_overage_and_delay_match_the_kernel_table():
    # high = 25600 pages.
    # 101M = 25856 pages: overage = (256 << 20) // 25600 = 10485;
    #   10485² · 1000 = 109_935_225_000, >> 34 = 6 (6.399); × 64 / 64 = 6 jiffies = 6 ms.
    # 105M = 26880: overage = (1280 << 20) // 25600 = 52428; 52428² · 1000 >> 34 = 159 (159.99).
    # 110M = 28160: overage = (2560 << 20) // 25600 = 104857; 104857² · 1000 >> 34 = 639 (639.99).
    assert calculate_overage(25856, HIGH_100M) == 10485
    assert calculate_overage(26880, HIGH_100M) == 52428
    assert calculate_overage(28160, HIGH_100M) == 104857
    for mib, ms in KERNEL_TABLE.items():
        overage = calculate_overage(mib * PAGES_PER_MIB, HIGH_100M)
        assert calculate_high_delay(overage, 64) == ms, mib


def test_the_two_second_cap_starts_at_117_68_mib():
    # 2000 jiffies needs overage² · 1000 >= 2000 · 2^34: overage >= 185364 (√2^35 = 185363.8),
    # i.e. usage - high >= 185364 · 25600 / 2^20 = 4525.5 pages: 30126 pages = 117.68 MiB.
    assert calculate_overage(30125, HIGH_100M) == 185344
    assert calculate_high_delay(185344, 64) == 1999
    assert calculate_overage(30126, HIGH_100M) == 185384
    assert calculate_high_delay(185384, 64) == 2000
    overage_120m = calculate_overage(120 * PAGES_PER_MIB, HIGH_100M)
    assert calculate_high_delay(overage_120m, 64, cap=False) == 2559  # 209715² · 1000 >> 34
    assert calculate_high_delay(overage_120m, 64) == MEMCG_MAX_HIGH_DELAY_JIFFIES


def test_delay_scales_with_the_pages_charged():
    overage = calculate_overage(105 * PAGES_PER_MIB, HIGH_100M)  # 159 jiffies per 64 pages
    assert calculate_high_delay(overage, 128) == 318
    assert calculate_high_delay(overage, 32) == 79    # 159 · 32 // 64
    assert calculate_high_delay(overage, 1) == 2      # 159 // 64
    assert calculate_high_delay(overage, 1000) == 2000  # 2484, capped
    assert calculate_high_delay(0, 64) == 0


def test_overage_edges():
    assert calculate_overage(100, 100) == 0            # at high is not over it
    assert calculate_overage(50, 100) == 0
    assert calculate_overage(101, 100) == (1 << 20) // 100
    assert calculate_overage(1, 0) == 0                # high 0 acts as 1 page: (1 - 1) << 20
    assert calculate_overage(2, 0) == 1 << 20
    assert calculate_overage(2 * HIGH_100M, HIGH_100M) == 1 << 20  # 100% over


def test_delay_uses_wrapping_u64_arithmetic():
    # high 1 page, usage 2^20 pages: overage = (2^20 - 1) << 20, overage² · 1000 overflows u64.
    overage = calculate_overage(1 << 20, 1)
    assert overage == ((1 << 20) - 1) << 20
    wrapped = (overage * overage * 1000 % 2**64) >> 34
    assert calculate_high_delay(overage, 64, cap=False) == wrapped < 2**30
    assert calculate_high_delay(overage, 64) == min(wrapped, 2000)


def test_no_sleep_at_or_below_hz_over_100():
    assert HZ // 100 == 10
    assert not throttle_sleeps(0)
    assert not throttle_sleeps(6)
    assert not throttle_sleeps(10)
    assert throttle_sleeps(11)


def charge_mib(memcg, path, mib):
    charge(memcg, path, mib * PAGES_PER_MIB)


def penalty(memcg, path, nr_pages):
    return memcg.high_penalty_jiffies(memcg.tree.get(path), nr_pages)


def over_high(memcg, path):
    """What reclaim_high reclaims from: the group and its ancestors short of the root whose
    page counter is over memory.high."""
    lru = memcg.m.lru
    return [c.path for c in memcg.tree.ancestors(path) if c.id and lru.usage[c.id] > lru.high[c.id]]


def test_penalty_for_one_cgroup(memcg):
    memcg.create("/app", memory_high=100 * MiB)
    charge_mib(memcg, "/app", 101)
    assert penalty(memcg, "/app", 64) == 0          # 6 ms is not worth a sleep
    assert penalty(memcg, "/app", 128) == 12        # 6 · 128 / 64 = 12 > 10: sleeps
    charge_mib(memcg, "/app", 4)                    # 105M
    assert penalty(memcg, "/app", 64) == 159
    charge_mib(memcg, "/app", 15)                   # 120M
    assert penalty(memcg, "/app", 64) == 2000
    assert penalty(memcg, "/app", 0) == 0           # nothing charged over high
    assert penalty(memcg, "/", 64) == 0             # the root has no memory.high


def test_penalty_worst_ancestor_wins(memcg):
    memcg.create("/a", memory_high=100 * MiB)
    memcg.create("/a/b", memory_high=1 * GiB)
    memcg.create("/a/c")
    charge_mib(memcg, "/a/b", 60)
    charge_mib(memcg, "/a/c", 50)                   # /a: 110M of 100M
    assert over_high(memcg, "/a/b") == ["/a"]
    assert penalty(memcg, "/a/b", 64) == 639        # /a's overage, not /a/b's (none)
    assert penalty(memcg, "/a/c", 64) == 639
    lower_limit(memcg, "/a/b", memory_high=50 * MiB)  # /a/b now 20% over: worse than /a
    assert over_high(memcg, "/a/b") == ["/a/b", "/a"]
    b_overage = calculate_overage(60 * PAGES_PER_MIB, 50 * PAGES_PER_MIB)
    assert b_overage == 209715
    assert penalty(memcg, "/a/b", 64) == 2000       # 2559 capped
    assert penalty(memcg, "/a/c", 32) == 319        # /a/c only sees /a: 639 · 32 // 64


# ---- effective protection ------------------------------------------------------------------

def test_effective_protection_within_parent_budget():
    # protected = min(usage, setting); siblings fit in the parent's budget -> their own claim
    assert effective_protection(100, 50, 200, 300, 80) == 50
    assert effective_protection(30, 50, 200, 300, 80) == 30
    assert effective_protection(100, 0, 200, 300, 80) == 0


def test_effective_protection_siblings_over_claiming_are_scaled():
    # parent's effective 100; A claims 100 using 100, B claims 100 using 50: Σ = 150 > 100
    assert effective_protection(100, 100, 100, 150, 150) == 66   # 100 · 100 // 150
    assert effective_protection(50, 100, 100, 150, 150) == 33    # 50 · 100 // 150


def test_effective_protection_recursive_prot_shares_the_leftover():
    # parent effective 100, parent usage 100; A: no setting, usage 60; B: setting 20, usage 40.
    # siblings_protected = min(60, 0) + min(40, 20) = 20; leftover 80 is shared by
    # unprotected usage: A gets 80 · 60 / 80 = 60, B 20 + 80 · 20 / 80 = 40.
    assert effective_protection(60, 0, 100, 100, 20) == 0
    assert effective_protection(40, 20, 100, 100, 20) == 20
    assert effective_protection(60, 0, 100, 100, 20, recursive_prot=True) == 60
    assert effective_protection(40, 20, 100, 100, 20, recursive_prot=True) == 40
    # no leftover share when siblings already use the whole budget
    assert effective_protection(60, 60, 60, 100, 60, recursive_prot=True) == 60


def test_effective_protection_wraps_like_unsigned_long():
    # parent low = max (PAGE_COUNTER_MAX = 2^51 - 1), recursive_prot, child unprotected with
    # all of the parent's 2^14 pages: (2^51 - 1) · 2^14 = 2^65 - 2^14 wraps to 2^64 - 2^14,
    # / 2^14 = 2^50 - 1 (not 2^51 - 1).
    got = effective_protection(2**14, 0, PAGE_COUNTER_MAX, 2**14, 0, recursive_prot=True)
    assert got == 2**50 - 1


def below(memcg, path, target="/"):
    """(below min, below low): what the reclaim kernels skip (mem_cgroup_below_min/low) in a
    reclaim of target's subtree, from the protection reclaim_scope gives them; the target
    and the root are never protected."""
    memcg.reclaim_scope(memcg.tree.get(target))
    lru, cg = memcg.m.lru, memcg.tree.get(path).id
    emin, elow = K.protection(lru, cg)
    protected = cg not in (0, lru.walk[0])
    return protected and emin >= lru.usage[cg], protected and elow >= lru.usage[cg]


def test_effective_min_low_first_level_uses_the_setting(memcg):
    memcg.create("/a", memory_min=1 * GiB, memory_low=None)
    charge(memcg, "/a", 1000)
    # the reclaim root's children get their setting, not min(usage, setting)
    assert effective_min_low(memcg.tree, "/a") == (262144, PAGE_COUNTER_MAX)
    assert below(memcg, "/a") == (True, True)


def test_effective_min_low_overcommitted_children(memcg):
    memcg.create("/p", memory_low=100 * PAGE_SIZE, memory_min=100 * PAGE_SIZE)
    memcg.create("/p/a", memory_low=100 * PAGE_SIZE)
    memcg.create("/p/b", memory_low=100 * PAGE_SIZE, memory_min=10 * PAGE_SIZE)
    charge(memcg, "/p/a", 100)
    charge(memcg, "/p/b", 50)
    # elow: Σ min(usage, low) = 150 > parent's 100 -> 100·100//150 and 50·100//150
    # emin: a has no min; b: min(50, 10) = 10 fits in the parent's 100
    assert effective_min_low(memcg.tree, "/p/a") == (0, 66)
    assert effective_min_low(memcg.tree, "/p/b") == (10, 33)
    assert not below(memcg, "/p/a")[1]          # 100 pages > 66 protected
    uncharge(memcg, "/p/a", 40)                 # a: 60 pages; Σ = 110 -> a gets 60·100//110 = 54
    assert effective_min_low(memcg.tree, "/p/a") == (0, 54)
    assert effective_min_low(memcg.tree, "/p/b") == (10, 45)
    # a reclaim of /p itself: its children are first level and keep their own settings
    assert effective_min_low(memcg.tree, "/p/a", "/p") == (0, 100)
    assert below(memcg, "/p/a", "/p")[1]
    # the reclaim target and the root are never protected
    assert effective_min_low(memcg.tree, "/p", "/p") == (0, 0)
    assert below(memcg, "/p", "/p") == (False, False)
    assert effective_min_low(memcg.tree, "/") == (0, 0)
    assert not below(memcg, "/")[1]


def test_effective_min_low_with_recursive_prot(memcg):
    memcg.create("/svc", memory_low=100 * PAGE_SIZE)
    memcg.create("/svc/x")
    memcg.create("/svc/y", memory_low=20 * PAGE_SIZE)
    charge(memcg, "/svc/x", 60)
    charge(memcg, "/svc/y", 40)
    assert effective_min_low(memcg.tree, "/svc/x")[1] == 0
    assert effective_min_low(memcg.tree, "/svc/x", recursive_prot=True)[1] == 60
    assert effective_min_low(memcg.tree, "/svc/y", recursive_prot=True)[1] == 40
    # the engine mounts without memory_recursiveprot: mem_cgroup_below_low by hand
    elow = effective_min_low(memcg.tree, "/svc/x", recursive_prot=True)[1]
    assert elow >= memcg.tree.get("/svc/x").usage


def test_effective_min_low_deeper_levels_and_empty_groups(memcg):
    memcg.create("/a", memory_min=50 * PAGE_SIZE)
    memcg.create("/a/b", memory_min=None)       # "max": claims everything it uses
    memcg.create("/a/b/c", memory_min=None)
    memcg.create("/a/b/d")
    charge(memcg, "/a/b/c", 80)
    # /a: 50 (setting); /a/b: min(80, max) = 80 > 50 -> 80·50//80 = 50; /a/b/c: 80·50//80 = 50
    assert effective_min_low(memcg.tree, "/a/b")[0] == 50
    assert effective_min_low(memcg.tree, "/a/b/c")[0] == 50
    assert not below(memcg, "/a/b/c")[0]        # 80 pages > 50
    assert effective_min_low(memcg.tree, "/a/b/d") == (0, 0)
    assert below(memcg, "/a/b/d")[0]            # nothing charged: 0 >= 0
    # not inside the reclaim root
    expect_error(memcg.tree, errno.EINVAL, effective_min_low, memcg.tree, "/a", "/a/b")


# ---- events, charging ----------------------------------------------------------------------

def test_events_hierarchical_and_local(tree):
    tree.create("/a")
    tree.create("/a/b")
    tree.create("/a/c")
    tree.count_event("/a/b", "oom_kill")
    tree.count_event("/a/b", "max", 3)
    tree.count_event("/a", "oom")
    b, a, c, root = (tree.get(p) for p in ("/a/b", "/a", "/a/c", "/"))
    assert b.events_local == {**dict.fromkeys(EVENTS, 0), "oom_kill": 1, "max": 3}
    assert b.events == b.events_local
    assert a.events == {**dict.fromkeys(EVENTS, 0), "oom_kill": 1, "max": 3, "oom": 1}
    assert a.events_local == {**dict.fromkeys(EVENTS, 0), "oom": 1}
    assert c.events == c.events_local == dict.fromkeys(EVENTS, 0)
    # memcg_memory_event stops below the root: the root only counts its own events
    assert root.events == root.events_local == dict.fromkeys(EVENTS, 0)
    tree.count_event("/", "oom_kill")
    assert root.events["oom_kill"] == root.events_local["oom_kill"] == 1
    assert a.events["oom_kill"] == 1
    stat = tree.stat("/a")
    assert stat["memory.events"]["max"] == 3 and stat["memory.events.local"]["max"] == 0
    stat["memory.events"]["max"] = 99           # stat hands out copies
    assert a.events["max"] == 3


def test_charge_uncharge_and_peak(memcg):
    memcg.create("/a")
    memcg.create("/a/b")
    memcg.create("/a/c")
    charge(memcg, "/a/b", 100)
    charge(memcg, "/a/c", 50)
    uncharge(memcg, "/a/b", 70)
    charge(memcg, "/a/c", 10)
    tree = memcg.tree
    b, c, a, root = (tree.get(p) for p in ("/a/b", "/a/c", "/a", "/"))
    assert (b.usage, b.peak) == (30, 100)
    assert (c.usage, c.peak) == (60, 60)
    assert (a.usage, a.peak) == (90, 150)
    assert (root.usage, root.peak) == (90, 150)
    assert tree.stat("/a")["memory.current"] == 90 * 4096
    assert tree.stat("/a")["memory.peak"] == 150 * 4096


def test_root_memcg_is_never_charged_itself(memcg):
    memcg.create("/a")
    lru, ctl = memcg.m.lru, memcg.m.scratch.ctl
    assert K.try_charge(lru=lru, ctl=ctl, cg=0, n=500)  # try_charge skips the root memcg
    assert K.try_charge_swap(lru, 0)
    memcg.sync_usage()
    assert (memcg.tree.root.usage, memcg.tree.root.swap_usage) == (0, 0)
    charge(memcg, "/a", 7)                      # a child's charge reaches the root's counter
    assert memcg.tree.root.usage == 7


def test_swap_charges(memcg):
    memcg.create("/a", swap_max=8 * PAGE_SIZE)
    memcg.create("/a/b")
    tree, lru, ctl = memcg.tree, memcg.m.lru, memcg.m.scratch.ctl
    b, a = tree.get("/a/b").id, tree.get("/a").id
    for _ in range(5):                          # one swap entry per page swapped out
        assert K.try_charge_swap(lru, b)
    memcg.sync_usage()
    assert [c.swap_usage for c in tree.ancestors("/a/b")] == [5, 5, 5]
    assert tree.get("/a").usage == tree.get("/a").peak == 0
    assert all(K.try_charge_swap(lru, b) for _ in range(3))  # 8 fits
    assert not K.try_charge_swap(lru, b)        # 9 > 8: refused by /a, counted there
    assert (lru.swap_fail[a], lru.swap_fail[b]) == (1, 0)
    for _ in range(8):
        K.uncharge_swap(lru, b)
    memcg.sync_usage()
    assert tree.get("/a").swap_usage == 0
    assert tree.stat("/a")["memory.swap.max"] == 8 * 4096


def test_try_charge_reports_the_limited_ancestor(memcg):
    memcg.create("/a", memory_max=100 * PAGE_SIZE)
    memcg.create("/a/b", memory_max=200 * PAGE_SIZE)
    tree, lru, ctl = memcg.tree, memcg.m.lru, memcg.m.scratch.ctl
    b, a = tree.get("/a/b").id, tree.get("/a").id
    assert K.try_charge(lru=lru, ctl=ctl, cg=b, n=100)  # usage + pages == max is allowed
    memcg.sync_usage()
    before = snapshot(tree)
    assert not K.try_charge(lru=lru, ctl=ctl, cg=b, n=1)
    assert ctl[S.LC_OVER_LIMIT] == a        # mem_over_limit is the ancestor
    memcg.sync_usage()
    assert snapshot(tree) == before
    lower_limit(memcg, "/a/b", memory_max=50 * PAGE_SIZE)  # accepted below usage (kernel v2)
    assert not K.try_charge(lru=lru, ctl=ctl, cg=b, n=1)
    assert ctl[S.LC_OVER_LIMIT] == b


# ---- memcg OOM totalpages ------------------------------------------------------------------

def test_mem_cgroup_get_max(tree):
    tree.create("/a", memory_max=100 * MiB)
    tree.create("/a/b", memory_max=1 * GiB)
    tree.create("/z", memory_max=0)
    assert mem_cgroup_get_max(tree, "/a", 1000, 60) == 25600 + 1000   # swap.max = max
    assert mem_cgroup_get_max(tree, "/a", 0, 60) == 25600              # no swap
    assert mem_cgroup_get_max(tree, "/a", 1000, 0) == 25600            # swappiness 0
    tree.set("/a", swap_max=2 * MiB)
    assert mem_cgroup_get_max(tree, "/a", 1000, 60) == 25600 + 512     # min(swap.max, swap)
    assert mem_cgroup_get_max(tree, "/a/b", 1000, 200) == 262144 + 1000  # own limit only
    assert mem_cgroup_get_max(tree, "/z", 1000, 0) == 1                # 0 -> 1 (constrained_alloc)
    assert mem_cgroup_get_max(tree, "/z", 1000, 1) == 1000
    assert mem_cgroup_get_max(tree, "/", 7, 60) == PAGE_COUNTER_MAX + 7


# ---- the tree ------------------------------------------------------------------------------

def test_create_walk_ancestors_stat(tree):
    for path in ("/db", "/web", "/db/replica", "/db/primary", "/web/x", "/db/replica/r1"):
        tree.create(path)
    assert [c.path for c in tree.walk()] == [
        "/", "/db", "/db/replica", "/db/replica/r1", "/db/primary", "/web", "/web/x"]
    assert [c.path for c in tree.walk("/db")] == [
        "/db", "/db/replica", "/db/replica/r1", "/db/primary"]
    assert [c.path for c in tree.ancestors("/db/replica/r1")] == [
        "/db/replica/r1", "/db/replica", "/db", "/"]
    assert tree.get("/db/replica").parent is tree.get("/db")
    tree.set("/db", memory_min=1 * GiB, memory_low=2 * GiB, memory_high=3 * GiB,
             memory_max=4 * GiB, swap_max=0, oom_group=True)
    assert tree.stat("/db") == {
        "memory.current": 0, "memory.min": GiB, "memory.low": 2 * GiB, "memory.high": 3 * GiB,
        "memory.max": 4 * GiB, "memory.swap.current": 0, "memory.swap.max": 0, "memory.peak": 0,
        "memory.oom.group": 1, "memory.events": dict.fromkeys(EVENTS, 0),
        "memory.events.local": dict.fromkeys(EVENTS, 0)}
    assert tree.stat("/web") == {**tree.stat("/web"), "memory.min": 0, "memory.low": 0,
                                 "memory.high": "max", "memory.max": "max",
                                 "memory.swap.max": "max", "memory.oom.group": 0}


def test_set_changes_only_what_is_given(tree):
    tree.create("/a", memory_high=100 * MiB, memory_max=200 * MiB, oom_group=True)
    tree.set("/a", memory_max=None)
    a = tree.get("/a")
    assert (a.high, a.max, a.oom_group) == (100 * MiB, None, True)
    assert tree.set("/a") is a                   # nothing given: nothing changes
    tree.set("/", )                              # also fine on the root


def test_values_are_rounded_down_to_pages(tree):
    tree.create("/a", memory_max=5000, memory_high=4095, memory_low=None, swap_max=2**70)
    assert tree.stat("/a")["memory.max"] == 4096
    assert tree.stat("/a")["memory.high"] == 0
    assert tree.stat("/a")["memory.low"] == "max"
    assert tree.get("/a").pages("low") == PAGE_COUNTER_MAX
    assert tree.stat("/a")["memory.swap.max"] == 0        # 2^70 wraps to 0 as a u64 write
    tree.set("/a", memory_max=PAGE_COUNTER_MAX * PAGE_SIZE)
    assert tree.stat("/a")["memory.max"] == "max"         # PAGE_COUNTER_MAX is "max"
    tree.set("/a", memory_max=parse_size("1G"))
    assert tree.get("/a").pages("max") == 262144


def test_remove(tree):
    tree.create("/a")
    tree.create("/a/b")
    tree.create("/a/c")
    tree.remove("/a/b")
    assert [c.path for c in tree.walk()] == ["/", "/a", "/a/c"]
    expect_error(tree, errno.ENOENT, tree.get, "/a/b")
    tree.create("/a/b")                          # the name is free again, last in order
    assert [c.path for c in tree.get("/a").children] == ["/a/c", "/a/b"]


# ---- validation: errno and nothing changed -------------------------------------------------

@pytest.mark.parametrize("path", ["db", "", "/db/", "//db", "/a/./b", "/a/..", "/.", 5, None,
                                  b"/db", "/a\nb"])
def test_bad_paths(tree, path):
    tree.create("/a")
    for fn in (tree.create, tree.get, tree.remove, tree.stat, tree.walk, tree.ancestors):
        expect_error(tree, errno.EINVAL, lambda: list(fn(path)) if fn == tree.walk else fn(path))
    expect_error(tree, errno.EINVAL, tree.set, path, memory_max=0)


def test_name_too_long(tree):
    expect_error(tree, errno.ENAMETOOLONG, tree.create, "/" + "x" * 256)
    tree.create("/" + "x" * 255)


def test_create_errors(tree):
    tree.create("/a")
    expect_error(tree, errno.EEXIST, tree.create, "/a")
    expect_error(tree, errno.EEXIST, tree.create, "/")
    expect_error(tree, errno.ENOENT, tree.create, "/nope/b")
    err = expect_error(tree, errno.ENOENT, tree.create, "/a/x/y")
    assert "/a/x" in str(err)


@pytest.mark.parametrize("key, value", [
    ("memory_max", -1), ("memory_max", 1.5), ("memory_max", "512M"), ("memory_max", True),
    ("memory_high", -4096), ("memory_min", False), ("memory_low", 2.0), ("swap_max", "max"),
    ("oom_group", 2), ("oom_group", -1), ("oom_group", "1"), ("oom_group", None),
])
def test_bad_values(tree, key, value):
    tree.create("/a", memory_max=1 * GiB)
    good = {"swap_max": 4096} if key != "swap_max" else {"memory_low": 4096}
    # one bad value among good ones: nothing is created or changed
    err = expect_error(tree, errno.EINVAL, tree.create, "/b", **good, **{key: value})
    assert SETTINGS[key][1] in str(err)          # the message names the file
    expect_error(tree, errno.EINVAL, tree.set, "/a", **good, **{key: value})


def test_set_errors(tree):
    tree.create("/a")
    expect_error(tree, errno.ENOENT, tree.set, "/b", memory_max=0)
    err = expect_error(tree, errno.EINVAL, tree.set, "/", memory_max=1 * GiB)
    assert "memory.max" in str(err) and "root" in str(err)
    expect_error(tree, errno.EINVAL, tree.set, "/", oom_group=True)
    with pytest.raises(TypeError):
        tree.set("/a", memory_maximum=0)


def test_remove_errors(memcg):
    tree, lru = memcg.tree, memcg.m.lru
    memcg.create("/a")
    memcg.create("/a/b")
    memcg.create("/s")
    K.try_charge_swap(lru, tree.get("/s").id)
    memcg.sync_usage()
    expect_error(tree, errno.EBUSY, tree.remove, "/")
    expect_error(tree, errno.EBUSY, tree.remove, "/a")      # has children
    expect_error(tree, errno.ENOENT, tree.remove, "/x")
    expect_error(tree, errno.EBUSY, tree.remove, "/s")      # swap still charged
    K.uncharge_swap(lru, tree.get("/s").id)
    charge(memcg, "/a/b", 3)
    expect_error(tree, errno.EBUSY, tree.remove, "/a/b")    # pages still charged
    uncharge(memcg, "/a/b", 3)
    tree.remove("/a/b")
    tree.remove("/a")
    tree.remove("/s")
    assert [c.path for c in tree.walk()] == ["/"]


@pytest.mark.parametrize("pages", [-1, 1.0, True, "3", None])
def test_count_event_bad_counts(tree, pages):
    tree.create("/a")
    expect_error(tree, errno.EINVAL, tree.count_event, "/a", "oom", pages)


def test_missing_cgroup_errors(memcg):
    tree = memcg.tree
    for fn, args in ((tree.count_event, ("oom",)), (tree.stat, ()), (tree.ancestors, ())):
        expect_error(tree, errno.ENOENT, fn, "/missing", *args)
    expect_error(tree, errno.ENOENT, lambda: list(tree.walk("/missing")))
    expect_error(tree, errno.ENOENT, penalty, memcg, "/missing", 64)
    expect_error(tree, errno.ENOENT, effective_min_low, tree, "/missing")
    expect_error(tree, errno.ENOENT, effective_min_low, tree, "/", "/missing")
    expect_error(tree, errno.ENOENT, mem_cgroup_get_max, tree, "/missing", 0, 60)


def test_count_event_errors(tree):
    tree.create("/a")
    err = expect_error(tree, errno.EINVAL, tree.count_event, "/a", "oops")
    assert "oom_kill" in str(err)
    expect_error(tree, errno.EINVAL, tree.count_event, "/a", "sock_throttled")  # 6.19, not 6.18
