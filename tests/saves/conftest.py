"""Shared fixtures: a busy machine whose run touches every part of the state, a small save."""

from __future__ import annotations

import pytest
from savetools import MiB, busy

from oomtui import saves
from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine.snapshot import array


@pytest.fixture(scope="session")
def busy_machine():
    return busy


@pytest.fixture(scope="session")
def good_save(tmp_path_factory):
    """The bytes of a small valid save, and its (meta, state) with writable arrays."""
    m = Machine(MachineConfig(ram_mib=16, swap=[SwapDevice(size_mib=8)], seed=5))
    m.cgroup_create("/a", memory_max=4 * MiB)
    m.spawn("x", cgroup="/a", workload="leaker")
    m.spawn("y", workload="batch")
    m.mmap(2, MiB)
    m.step(30)
    path = tmp_path_factory.mktemp("good") / "good.oomsave"
    m.save(path)
    meta, state = saves.read(path)
    state["arrays"] = {k: array(a, k).copy() for k, a in state["arrays"].items()}
    return path.read_bytes(), meta, state
