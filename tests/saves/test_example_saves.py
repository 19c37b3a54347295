"""The package's example saves still load, and still hold their moment (regenerate them with
scripts/make_example_saves.py when the format or the engine changes)."""

from __future__ import annotations

import functools

import pytest

from oomtui import saves
from oomtui.engine import Machine
from oomtui.engine.inputs import replay
from oomtui.engine.invariants import check_invariants
from oomtui.examples import EXAMPLES_DIR as SAVES


def _load(name):
    path = SAVES / f"{name}.oomsave"
    header, m = saves.read_header(path), Machine.load(path)
    meta = header["meta"]
    assert meta["scenario"] == name and m.tick == meta["tick"]
    if header["version"] == saves.VERSION:
        assert m.state_digest() == meta["digest"], "saved by an engine whose state differs: regenerate"
    else:
        # An older version's digest also hashed what today's format no longer saves (version 1:
        # the per-call control words), so the file's own log is the check: replayed from boot
        # on today's engine, it must rebuild exactly the state the file holds.
        assert _replayed_digest(name) == m.state_digest(), "saved by an engine whose state differs"
    check_invariants(m)
    return m


@functools.cache
def _replayed_digest(name: str) -> str:
    m = Machine.load(SAVES / f"{name}.oomsave")
    fresh = Machine(m.config)
    replay(fresh, m.inputs.entries)
    return fresh.state_digest()


def test_every_example_is_listed_and_loads():
    names = sorted(s.path.stem for s in saves.list_saves(SAVES) if s.error is None)
    assert names == ["leak-about-to-be-killed", "memcg-at-its-limit", "thrashing-with-swap"]


def test_the_leak_is_killed_on_the_next_tick():
    m = _load("leak-about-to-be-killed")
    assert not [e for e in m.events if e.kind == "oom_kill"]
    kills = [e for e in m.step(1).events if e.kind == "oom_kill"]
    assert [e.message for e in kills] == ["Out of memory: Killed process 3 (leaky-browser)"]


def test_the_thrashing_machine_swaps_in_every_tick_and_out_as_it_goes():
    m = _load("thrashing-with-swap")
    start = m.vmstat()
    for _ in range(10):
        before = m.vmstat()["pswpin"]
        m.step(1)
        assert m.vmstat()["pswpin"] > before
    assert m.vmstat()["pswpout"] - start["pswpout"] > 1000
    assert m.pressure()["some"]["avg10"] > 10


def test_the_memcg_is_at_its_limit_and_kills_inside_it():
    m = _load("memcg-at-its-limit")
    stat = m.cgroup_stat("/batch")
    assert stat["memory.max"] - stat["memory.current"] < 1 << 20
    assert m.meminfo()["MemAvailable"] > 256 << 10  # while the machine has plenty
    kills = [e for e in m.step(1).events if e.kind == "oom_kill"]
    assert [e.message for e in kills] == ["Memory cgroup out of memory: Killed process 3 (etl)"]
    assert m.cgroup_stat("/batch")["memory.events"]["oom_kill"] == 1


@pytest.mark.parametrize("name", ["leak-about-to-be-killed", "memcg-at-its-limit"])
def test_examples_replay_to_their_saved_state(name):
    from oomtui.engine.inputs import replay
    m = _load(name)
    fresh = Machine(m.config)
    replay(fresh, m.inputs.entries)
    assert fresh.state_digest() == m.state_digest()
