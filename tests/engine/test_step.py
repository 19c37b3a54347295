"""Time: Machine.step(n) runs every process's workload once per tick, then kswapd
(DESIGN.md §4; KERNEL.md §6 for kswapd).

At the default tick of 10 ms a rate of R MiB/s is R * 256 * 10 / 1000 pages per tick, with the
fraction carried over exactly: the "leaker" preset (Alloc 1 MiB at 2 MiB/s, then Loop) maps
5.12 pages per tick, i.e. floor(5.12 * t) pages after t ticks until its 256 pages are done at
tick 50, when the loop starts again from zero credit.
"""

from __future__ import annotations

import errno
import math
from collections import Counter

import pytest

from oomtui.engine import SwapDevice
from oomtui.workloads import Alloc, Loop, Program

MiB = 1 << 20


def fast_eater(mib=200, rate=1000):
    """10 MiB per tick, more than a 64 MiB machine can hold."""
    return Program("eater", (Alloc(mib, rate), Loop()))


# ----------------------------------------------------------------------- the report

def test_step_advances_the_tick_and_reports(machine):
    m = machine(ram_mib=64)
    assert m.tick == 0
    r = m.step()
    assert (r.tick, r.ticks, r.events) == (1, 1, [])
    r = m.step(9)
    assert (r.tick, r.ticks, m.tick) == (10, 9, 10)
    p = m.spawn("later")
    assert m.events[-1].tick == 10 and m.events[-1].pid == p
    r = m.step(5)
    assert (r.tick, r.ticks) == (15, 5)
    assert r.events == []                                   # only what these ticks logged


def test_report_events_are_exactly_those_logged_during_the_step(machine):
    m = machine(ram_mib=64)
    m.spawn("backup", workload="backup")                    # streams a file: kswapd busy
    first = len(m.events)
    r = m.step(120)
    assert r.events == m.events[first:]
    assert r.events and all(1 <= e.tick <= 120 for e in r.events)
    assert [e.tick for e in r.events] == sorted(e.tick for e in r.events)


# -------------------------------------------------------------------- workloads run

def test_a_leaker_grows_rss_anon_every_tick(machine):
    m = machine(ram_mib=64)
    p = m.spawn("leak", workload="leaker")
    assert m.proc_status(p)["RssAnon"] == 0
    prev = 0
    for t in range(1, 61):
        m.step()
        rss = m.proc_status(p)["RssAnon"] // 4
        assert rss > prev                                   # every single tick
        expect = math.floor(5.12 * t) if t <= 50 else 256 + math.floor(5.12 * (t - 50))
        assert rss == expect
        prev = rss
    st = m.proc_status(p)
    assert st["VmSize"] - st["VmStk"] == 307 * 4            # one merged, fully populated VMA
    assert len(m.maps(p)) == 2


def test_workloads_of_all_processes_run_each_tick(machine):
    m = machine(ram_mib=256)
    a = m.spawn("a", workload="leaker")
    b = m.spawn("b", workload="leaker")
    db = m.spawn("db", workload="database")                 # 96 MiB at 200 MiB/s: 2 MiB a tick
    m.step(10)
    assert m.proc_status(a)["RssAnon"] == m.proc_status(b)["RssAnon"] == 51 * 4
    assert m.proc_status(db)["RssAnon"] == 20 * 1024


def test_a_forkbomb_doubles_every_100ms(machine):
    m = machine(ram_mib=64)
    m.spawn("fb", workload="forkbomb")                      # Sleep 0.1 s, fork, loop
    counts = {}
    for t in (9, 10, 19, 20, 30):
        m.step(t - m.tick)
        counts[t] = len(m.processes()) - 1                  # not init
    assert counts == {9: 1, 10: 2, 19: 2, 20: 4, 30: 8}
    assert Counter(e.kind for e in m.events)["fork"] == 7


def test_kswapd_runs_after_the_workloads_and_keeps_a_streaming_reader_going(machine):
    m = machine(ram_mib=64)
    p = m.spawn("backup", workload="backup")                # 1 GiB at 100 MiB/s: 1 MiB a tick
    woke = slept = 0
    for _ in range(150):                                    # 150 MiB through 64 MiB of RAM
        r = m.step()
        msgs = [e.message for e in r.events if e.kind == "kswapd"]
        woke += msgs.count("kswapd0 woke: free pages below the low watermark")
        if "kswapd0 went to sleep: a zone is above its high watermark" in msgs:
            slept += 1
            # kswapd is the last thing in a tick: it left a zone above its high watermark
            z = m.zoneinfo()
            assert any(v["free"] > v["high"] + v["protection"][3]
                       for v in z.values() if v["managed"])
    assert woke > 1 and slept == woke
    vs = m.vmstat()
    assert vs["pageoutrun"] >= woke and vs["pgsteal_kswapd"] > 0 and vs["oom_kill"] == 0
    assert p in m.procs and m.meminfo()["Cached"] > 32 * 1024


def test_a_workload_that_runs_out_of_memory_is_killed_and_time_goes_on(machine):
    m = machine(ram_mib=64)
    p = m.spawn("eater", workload=fast_eater())
    r = m.step(20)
    assert r.tick == m.tick == 20 and r.ticks == 20
    ooms = [e for e in r.events if e.kind == "oom"]
    assert [e.data["victim"] for e in ooms] == [p]
    assert [(e.kind, e.pid) for e in r.events if e.kind == "oom_kill"] == [("oom_kill", p)]
    assert p not in m.procs and m.vmstat()["oom_kill"] == 1
    assert m.step(5).tick == 25                             # nothing left to run; fine


def test_a_killed_workload_process_simply_stops(machine):
    m = machine(ram_mib=64)
    p = m.spawn("leak", workload="leaker")
    m.step(5)
    m.kill(p)
    mi = m.meminfo()
    r = m.step(5)
    assert r.events == [] and m.meminfo()["AnonPages"] == mi["AnonPages"] == 0


# ------------------------------------------------------------------------ panics

def _panic_in_step(machine):
    m = machine(ram_mib=64, sysctl={"vm.panic_on_oom": 1})
    m.spawn("eater", workload=fast_eater())
    r = m.step(100)
    return m, r


def test_a_panic_stops_step_early(machine, fails):
    m, r = _panic_in_step(machine)
    assert m.panicked
    assert r.tick == m.tick < 100                           # it did not run on to tick 100
    assert r.events[-1].kind == "panic" and r.events[-1].tick == r.tick
    assert r.events[-1].message == ("Kernel panic - not syncing: Out of memory: system-wide "
                                    "panic_on_oom is enabled")
    assert r.events[-2].kind == "oom"
    fails(m, errno.ENOTRECOVERABLE, m.step)
    fails(m, errno.ENOTRECOVERABLE, m.step, 10)
    assert m.tick == r.tick


def test_a_panic_reports_only_the_ticks_that_ran(machine):
    m, r = _panic_in_step(machine)
    assert r.ticks == r.tick                                # it started at tick 0


# --------------------------------------------------------------------- determinism

def _busy(machine, seed=1):
    m = machine(ram_mib=128, swap=[SwapDevice(size_mib=64)], seed=seed)
    for w in ("database", "leaker", "batch", "backup"):
        m.spawn(w, workload=w)
    return m


def test_same_config_seed_and_workloads_give_the_same_machine(machine):
    m1, m2 = _busy(machine), _busy(machine)
    r1, r2 = m1.step(500), m2.step(500)
    assert m1.state_digest() == m2.state_digest()
    assert [(e.tick, e.kind, e.pid, e.message) for e in r1.events] == \
           [(e.tick, e.kind, e.pid, e.message) for e in r2.events]
    assert m1.vmstat() == m2.vmstat() and m1.meminfo() == m2.meminfo()
    vs = m1.vmstat()
    assert vs["pswpout"] > 0 and vs["pgscan_kswapd"] > 0     # the run did exercise reclaim


def test_stepping_in_pieces_is_the_same_as_stepping_at_once(machine):
    m1, m2 = _busy(machine), _busy(machine)
    m1.step(300)
    for n in (1, 99, 150, 50):
        m2.step(n)
    assert m1.tick == m2.tick == 300
    assert m1.state_digest() == m2.state_digest()


def test_the_seed_matters(machine):
    """The database's random touches come from the seed: a different seed, a different run."""
    m1, m2 = _busy(machine, seed=1), _busy(machine, seed=2)
    m1.step(300)
    m2.step(300)
    assert m1.state_digest() != m2.state_digest()


# ------------------------------------------------------------------------- errors

@pytest.mark.parametrize("n", [0, -1, "x", 10**9, 1_000_001, 1.5, True, None])
def test_bad_n_is_einval_and_changes_nothing(machine, fails, n):
    m = machine(ram_mib=64)
    m.spawn("leak", workload="leaker")
    m.step(3)
    fails(m, errno.EINVAL, m.step, n)
    assert m.tick == 3


@pytest.mark.parametrize("workload", ["nonsense", "", 42, Program("empty", ()),
                                      Program("bad", (Alloc(-1, 1),))])
def test_spawn_with_an_unknown_or_invalid_workload_is_einval(machine, fails, workload):
    m = machine(ram_mib=64)
    fails(m, errno.EINVAL, m.spawn, "p", workload=workload)
    assert sorted(m.procs) == [1]
