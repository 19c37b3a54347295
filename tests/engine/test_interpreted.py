"""The kernels interpreted (kernels/jit.py: interpret) give exactly the compiled results, and a
run may switch between the two at any tick: a first run plays interpreted while the kernels
compile in worker processes (engine/compiler.py, issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from test_determinism import script
from test_stateful import FAILED, EngineStateMachine

from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine.invariants import check_invariants
from oomtui.engine.machine import Killed
from oomtui.engine.kernels.jit import interpret, interpreted
from oomtui.scenarios import builtin, builtin_names


@pytest.fixture
def as_python():
    """Run the kernels interpreted inside the `with`; compiled again afterwards."""
    class Switch:
        def __enter__(self):
            interpret(True)

        def __exit__(self, *exc):
            interpret(False)

    yield Switch()
    interpret(False)


def pressure() -> Machine:
    """32 MiB under a database, a backup, find and a fork bomb: faults, reclaim, swap, slab,
    THP and compaction, the OOM killer."""
    m = Machine(MachineConfig(ram_mib=32, swap=[SwapDevice(size_mib=16)], thp="always", seed=3))
    for preset in ("database", "backup", "find", "forkbomb"):
        m.spawn(preset, workload=preset)
    return m


def test_the_switch_is_on_only_while_asked(as_python):
    assert not interpreted()
    with as_python:
        assert interpreted()
    assert not interpreted()


def test_a_machine_under_pressure_interpreted_is_the_compiled_one_tick_for_tick(as_python):
    compiled, python = pressure(), pressure()
    for _ in range(6):
        compiled.step(10)
        with as_python:
            python.step(10)
        assert python.state_digest() == compiled.state_digest(), f"tick {compiled.tick}"
    assert compiled.vmstat()["pgscan_direct"] + compiled.vmstat()["pgscan_kswapd"] > 0
    assert any(e.kind == "oom" for e in compiled.events)  # the whole path ran
    check_invariants(python)


def test_a_run_switched_to_compiled_midway_ends_where_a_compiled_run_does(as_python):
    compiled, switched = pressure(), pressure()
    compiled.step(60)
    with as_python:
        switched.step(25)
    switched.step(35)
    assert switched.state_digest() == compiled.state_digest()


def test_the_calls_interpreted_return_and_leave_what_compiled_ones_do(as_python):
    """Every kind of call (mmap, touch, fork, madvise, mlock, brk, a SIGSEGV, a refused mmap),
    and the values they return: Python ints as numba boxes them, never numpy scalars."""
    compiled = Machine(MachineConfig(ram_mib=256, seed=1))
    python = Machine(MachineConfig(ram_mib=256, seed=1))
    expected = script(compiled)
    with as_python:
        got = script(python)
        faults = python.touch(got[1], python.mmap(got[1], 1 << 20), 1 << 20)
    assert got == expected
    assert type(faults) is int
    assert faults == compiled.touch(expected[1], compiled.mmap(expected[1], 1 << 20), 1 << 20)
    assert python.state_digest() == compiled.state_digest()


@pytest.mark.parametrize("name", builtin_names())
def test_a_builtin_scenario_starts_interpreted_as_it_does_compiled(name, as_python):
    """The first second of every built-in scenario, as a first run plays it."""
    scenario = builtin(name)
    compiled = scenario.boot()
    compiled.step(100)
    with as_python:
        python = scenario.boot()
        python.step(100)
    assert python.state_digest() == compiled.state_digest()


def same(a, b) -> bool:
    """Equal values of one type; arrays (mincore's) equal in dtype and content."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


class InterpretedTwin(EngineStateMachine):
    """The stateful test's random calls, each made again on a twin machine with the kernels
    interpreted: the same outcome (a value, or the same errno, or the same signal), and the
    same state after every call."""

    def call(self, name, *args, expect=None, pure=False, **kw):
        if getattr(self, "twin", None) is None:  # the first call, on a machine just booted
            self.twin = Machine(self.m.config)
        interpret(True)
        try:
            twin = ("value", getattr(self.twin, name)(*args, **kw))
        except Killed as e:
            twin = ("killed", e.signal)
        except OSError as e:
            twin = ("error", e.errno)
        finally:
            interpret(False)
        out = super().call(name, *args, expect=expect, pure=pure, **kw)
        assert self.twin.state_digest() == self.m.state_digest(), f"{name}{args} {kw}"
        if out is not FAILED:
            assert twin[0] == "value" and same(twin[1], out), f"{name}{args} {kw}: interpreted {twin}"
        else:
            assert twin[0] != "value", f"{name}{args} {kw}: interpreted {twin}, compiled failed"
        return out


InterpretedTwin.TestCase.settings = settings(
    max_examples=40, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestInterpretedTwin = pytest.mark.slow(InterpretedTwin.TestCase)
