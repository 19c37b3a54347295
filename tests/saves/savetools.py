"""Helpers shared by the saves tests (a unique module name: tests/engine has a conftest too)."""

from __future__ import annotations

import zlib

import msgpack
import pytest

from oomtui import saves
from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine.snapshot import saved_array
from oomtui.workloads import (
    Alloc,
    Fork,
    Loop,
    Program,
    ReadFile,
    Sleep,
    Touch,
    WriteFile,
)

MiB = 1 << 20


def busy(seed: int = 1, swap_mib: int = 96) -> Machine:
    """A 128 MiB machine with swap, cgroups, many workloads and direct calls, some of them
    refused: within a few hundred ticks it reclaims, swaps, throttles, forks, and OOM-kills."""
    m = Machine(MachineConfig(ram_mib=128, swap=[SwapDevice(size_mib=swap_mib)] if swap_mib else [],
                              seed=seed))
    m.cgroup_create("/db", memory_low=16 * MiB)
    m.cgroup_create("/jobs", memory_max=40 * MiB)
    m.cgroup_create("/jobs/batch", memory_high=12 * MiB)
    m.spawn("db", oom_score_adj=-100, cgroup="/db", workload=Program("db", (
        Alloc(40, 200), Touch(pattern="hotcold", working_set_mib=40, rate_mib_s=80, write=True))))
    m.spawn("leak", oom_score_adj=300, workload=Program("leak", (Alloc(4, 40), Loop())))
    m.spawn("batch", cgroup="/jobs/batch", workload="batch")
    m.spawn("logger", workload=Program("logger", (WriteFile("/var/log/app", 8, 16), Sleep(0.2),
                                                  ReadFile("/var/log/app", 8, 32), Loop(3))))
    m.spawn("forker", cgroup="/jobs", workload=Program("forker", (
        Alloc(2, 50), Fork(2, Program("kid", (Touch(working_set_mib=2, rate_mib_s=10,
                                                    seconds=0.5), Sleep(0.3)))), Sleep(1))))
    p = m.spawn("shell", caps=("CAP_SYS_ADMIN",))
    a = m.mmap(p, 4 * MiB)
    m.touch(p, a, 2 * MiB)
    shared = m.mmap(p, 1 * MiB, flags="shared|anonymous")
    m.touch(p, shared, 1 * MiB)
    m.madvise(p, a, 1 * MiB, "free")
    with pytest.raises(OSError):
        m.mmap(p, 1 << 60)  # refused: more than RAM + swap
    with pytest.raises(OSError):
        m.kill(999)
    m.sysctl("vm.swappiness", 100)
    m.step(60)
    m.fork(p)
    m.set_oom_score_adj(p, 500)
    m.mlock(p, a + 2 * MiB, 64 << 10)
    m.cgroup_move(p, "/jobs")
    m.cgroup_set("/jobs", memory_max=32 * MiB)
    return m


def split(data: bytes) -> tuple[dict, bytes]:
    """A save's header, and its body."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    header = unpacker.unpack()
    return header, data[unpacker.tell():]


def with_body(data: bytes, body: bytes, compression=None) -> bytes:
    """The save `data` with another body, and a header that matches it (size and checksum),
    so that the checks after the checksum are the ones that must catch a bad body."""
    header, _ = split(data)
    header.update(body_size=len(body), body_crc32=zlib.crc32(body), compression=compression)
    return saves._pack(header) + body


def pack(state: dict) -> bytes:
    """A save's body for a state whose arrays are numpy arrays (to change them in place)."""
    return saves._pack({**state, "arrays": {k: saved_array(a) for k, a in state["arrays"].items()}})

