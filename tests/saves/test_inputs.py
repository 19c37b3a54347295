"""The input log records outside calls, and replaying it rebuilds the same machine."""

from __future__ import annotations

import errno

import pytest

from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine.inputs import Input, Opaque, ReplayError, replay
from oomtui.workloads import Alloc, Loop, Program

MiB = 1 << 20


def test_outside_calls_are_logged_with_their_tick_and_errors():
    m = Machine(MachineConfig(ram_mib=64, swap=[SwapDevice(size_mib=16)]))
    assert m.inputs.entries == []  # boot's swapon is not an input
    p = m.spawn("a")
    m.step(3)
    with pytest.raises(OSError):
        m.munmap(p, 4096, 0)
    m.sysctl("vm.swappiness")  # a read: not logged
    m.sysctl("vm.swappiness", 10)
    assert m.inputs.entries == [
        Input(0, "spawn", ("a",), {}, None),
        Input(0, "step", (3,), {}, None),
        Input(3, "munmap", (p, 4096, 0), {}, ("OSError", errno.EINVAL, "munmap of length 0")),
        Input(3, "sysctl", ("vm.swappiness", 10), {}, None),
    ]


def test_calls_made_by_workloads_inside_step_are_not_logged():
    m = Machine(MachineConfig(ram_mib=64))
    m.spawn("leak", workload=Program("leak", (Alloc(1, 100), Loop())))
    m.step(5)
    m.step(7)  # consecutive steps make one entry
    assert [e.name for e in m.inputs.entries] == ["spawn", "step"]
    assert m.inputs.entries[-1].args == (12,)
    assert m.proc_status(2)["VmRSS"] > 4096  # the workload did map and touch memory


def test_arguments_are_frozen_copies():
    m = Machine(MachineConfig(ram_mib=64))
    caps = ["CAP_IPC_LOCK"]
    m.spawn("a", caps=caps)
    caps.append("CAP_KILL")
    with pytest.raises(OSError):
        m.mmap(2, 4096, prot=object())
    spawn, mmap = m.inputs.entries
    assert spawn.kwargs == {"caps": ["CAP_IPC_LOCK"]}
    assert isinstance(mmap.kwargs["prot"], Opaque) and "object" in repr(mmap.kwargs["prot"])


def _run(m: Machine) -> None:
    program = Program("grow", (Alloc(8, 40), Loop(3)))
    p = m.spawn("grow", workload=program)
    q = m.spawn("idle", oom_score_adj=900)
    a = m.mmap(q, 8 * MiB)
    m.touch(q, a, 8 * MiB)
    m.step(100)
    with pytest.raises(OSError):
        m.fork(12345)
    with pytest.raises(OSError):
        m.mmap(q, 1 << 70)  # an int no msgpack int holds
    m.set_oom_score_adj(p, 500)
    m.step(250)


def test_replay_rebuilds_the_machine_and_its_log(busy_machine, tmp_path):
    m = busy_machine()
    _run(m)
    m.save(tmp_path / "s.oomsave")
    loaded = Machine.load(tmp_path / "s.oomsave")
    fresh = Machine(loaded.config)
    replay(fresh, loaded.inputs.entries)
    assert fresh.state_digest() == m.state_digest()
    assert fresh.inputs.entries == m.inputs.entries
    assert any(e.kind == "oom_kill" for e in fresh.events)


def test_a_log_that_does_not_fit_the_machine_is_a_replay_error():
    m = Machine(MachineConfig(ram_mib=64))
    m.spawn("a")
    m.step(2)
    entries = list(m.inputs.entries)
    # the log claims the spawn failed
    lying = [entries[0]._replace(error=("OSError", errno.ENOMEM, "no")), entries[1]]
    with pytest.raises(ReplayError, match=r"input #0 \(spawn at tick 0\).*succeeded"):
        replay(Machine(m.config), lying)
    late = [entries[0], entries[1]._replace(tick=5)]
    with pytest.raises(ReplayError, match="input #1.*tick 0"):
        replay(Machine(m.config), late)
