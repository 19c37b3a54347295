"""The userspace OOM daemons on a running machine (engine/daemons/driver.py), on the built-in
build-storm scenario: a build session of three compilers outgrows a 2 GiB box with 512 MiB of
swap; the kernel alone OOM-kills one compiler at tick 6684."""

from __future__ import annotations

from dataclasses import replace

import pytest

from oomtui.engine import Machine
from oomtui.engine.daemons import killed_by
from oomtui.engine.inputs import replay
from oomtui.engine.invariants import check_invariants
from oomtui.scenarios import builtin

pytestmark = pytest.mark.slow  # each run simulates a minute or more


def boot(policy: str, **settings) -> Machine:
    sc = builtin("build-storm")
    m = replace(sc, policy=(policy, settings)).boot()
    for call in sc.calls:  # all at tick 0: the cgroups and who is in them
        call.apply(m)
    return m


def kills(m) -> list[tuple]:
    return [(e.tick, e.pid, killed_by(e), e.data.get("signal")) for e in m.events
            if killed_by(e) is not None]


def test_the_kernel_alone_kills_one_compiler():
    m = boot("kernel")
    m.step(7000)
    assert kills(m) == [(6684, 4, "kernel", None)]
    check_invariants(m)


def test_systemd_oomd_kills_the_whole_build_cgroup_before_the_kernel_must():
    m = boot("systemd-oomd")
    m.step(7000)
    # Fedora's ManagedOOMSwap=kill on the root slice: memory and swap both less than 10% free
    assert kills(m) == [(6496, pid, "systemd-oomd", 9) for pid in (3, 4, 5)]
    said = next(e for e in m.events if e.kind == "daemon")
    assert said.data["cgroup"] == "/user-1000" and said.data["pids"] == [3, 4, 5]
    # the candidates below the root slice, the most swap first (the OOM screen's table)
    assert [g["cgroup"] for g in said.data["ranking"]] == ["/user-1000", "/system.slice"]
    assert [p["comm"] for p in m.processes()] == ["init", "postgres"]
    check_invariants(m)


def test_earlyoom_acts_seconds_before_the_kernel_would_and_escalates_to_sigkill():
    m = boot("earlyoom")
    m.step(7000)
    term, escalate = [e for e in m.events if e.kind == "daemon"]
    assert (term.tick, term.data["signal"], term.data["pids"]) == (6494, 15, [4])
    # by oom_score, ties to the larger VmRSS, then /proc order: cc1-b and cc1-c hold as much
    assert [(r["pid"], r["score"], r["rss_kb"]) for r in term.data["ranking"]] == \
        [(4, 870, 637748), (5, 870, 637748), (3, 870, 637720), (2, 691, 98304)]
    assert 6684 - term.tick == 190  # 1.9 s before the kernel's kill
    # the compiler runs on through its grace second; 0.9 s later both levels are under 5%
    assert (escalate.tick, escalate.data["signal"]) == (6584, 9)
    assert "SIGKILL limits" in escalate.data["why"]
    assert kills(m) == [(6584, 4, "earlyoom", 9)]
    assert next(e for e in m.events if e.kind == "kill").data["freed_kb"] > 700 << 10


def test_a_sigterm_victim_exits_after_its_grace_delay():
    m = boot("nohang")
    m.step(6700)
    term = next(e for e in m.events if e.kind == "daemon")
    assert (term.tick, term.data["signal"]) == (6503, 15)
    kill = next(e for e in m.events if e.kind == "kill")
    assert (kill.tick, kill.pid, kill.data["by"], kill.data["signal"]) == (6603, 3, "nohang", 15)
    assert kill.data["why"] == term.data["why"]


def test_a_daemon_too_slow_is_overtaken_by_the_kernel():
    m = boot("nohang", sigterm_grace_ms=5000)  # a victim that takes 5 s to exit
    m.step(7000)
    assert kills(m) == [(6684, 4, "kernel", None)]  # the kernel's own victim, as without nohang


def test_the_policy_and_a_pending_sigterm_survive_a_snapshot_and_a_replay():
    m = boot("earlyoom")
    m.step(6500)
    assert m.daemon.pending and m.snapshot()["daemon"]["pending"][0][0] == 4
    copy = Machine.from_snapshot(m.snapshot())
    again = Machine(m.config)
    replay(again, m.inputs.entries)
    assert copy.state_digest() == again.state_digest() == m.state_digest()
    for x in (m, copy, again):
        x.step(100)
    assert copy.state_digest() == again.state_digest() == m.state_digest()
    assert kills(copy) == kills(m) == [(6584, 4, "earlyoom", 9)]

