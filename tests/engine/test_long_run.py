"""A long busy run: workloads in limited cgroups, THP, swap, writeback, throttling and OOM
kills, with the engine's books recounted after every tick, and the same run twice is the
same machine."""

from __future__ import annotations

import pytest

from oomtui.engine import SwapDevice
from oomtui.engine.invariants import check_invariants

MiB = 1 << 20
TICKS = 100  # the group OOM, swap-out and writeback all happen in the first 50


def busy(machine):
    m = machine(ram_mib=96, swap=[SwapDevice(size_mib=48)], seed=7, thp="always")
    m.cgroup_create("/svc", memory_high=24 * MiB, memory_low=8 * MiB)
    m.cgroup_create("/jobs", memory_max=32 * MiB, oom_group=True)
    m.spawn("db", workload="database", cgroup="/svc")
    m.spawn("leak", workload="leaker", cgroup="/jobs")
    m.spawn("batch", workload="batch", cgroup="/jobs")
    m.spawn("backup", workload="backup")
    m.spawn("locker", workload="mlocker")
    return m


@pytest.mark.slow
def test_a_long_busy_run_keeps_its_books_every_tick(machine):
    m = busy(machine)
    for _ in range(TICKS):
        m.step(1)
        check_invariants(m)
    vs = m.vmstat()
    assert vs["pswpout"] > 0 and vs["nr_written"] > 0 and vs["pgscan_direct"] + vs["pgscan_kswapd"] > 0
    assert m.cgroup_stat("/jobs")["memory.events"]["max"] > 0
    assert m.pressure()["some"]["total"] > 0


def test_the_same_long_run_twice_is_the_same_machine(machine):
    a, b = busy(machine), busy(machine)
    a.step(TICKS)
    b.step(TICKS)
    assert a.state_digest() == b.state_digest()
    assert [(e.tick, e.kind, e.message) for e in a.events] == [(e.tick, e.kind, e.message) for e in b.events]
