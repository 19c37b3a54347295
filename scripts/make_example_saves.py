"""Regenerate the example saves in oomtui/examples/ (run it when the save format or the engine
changes).

    python3 scripts/make_example_saves.py

Each one stops at a notable moment (oomtui.examples.DESCRIPTIONS says which);
tests/saves/test_example_saves.py checks that they still load and that the moment is still there.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's oomtui, installed or not

from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.examples import EXAMPLES_DIR
from oomtui.workloads import Alloc, Loop, Program, Sleep, Touch

MiB = 1 << 20


def until_just_before(m: Machine, kind: str, limit: int = 100_000) -> None:
    """Step until a tick logs an event of `kind`, then go back to the tick before it."""
    while m.tick < limit:
        before = m.snapshot()
        if any(e.kind == kind for e in m.step(1).events):
            m.restore(before)
            return
    raise SystemExit(f"no {kind} event within {limit} ticks")


def leak() -> Machine:
    m = Machine(MachineConfig(ram_mib=256, seed=1))
    m.spawn("postgres", workload=Program("postgres", (
        Alloc(64, 256), Touch(pattern="hotcold", working_set_mib=64, rate_mib_s=64))))
    m.spawn("leaky-browser", oom_score_adj=500, workload=Program("leaky-browser", (
        Alloc(4, 32), Loop())))
    until_just_before(m, "oom_kill")
    return m


def thrashing() -> Machine:
    m = Machine(MachineConfig(ram_mib=256, swap=[SwapDevice(size_mib=512)], seed=2))
    for i in range(3):
        m.spawn(f"worker{i}", workload=Program("worker", (
            Alloc(100, 400), Touch(pattern="random", working_set_mib=100, rate_mib_s=200,
                                   write=True))))
    m.step(600)
    return m


def memcg_limit() -> Machine:
    m = Machine(MachineConfig(ram_mib=512, seed=3))
    m.cgroup_create("/batch", memory_max=64 * MiB)
    m.spawn("web", workload=Program("web", (Alloc(32, 64), Sleep(60))))
    m.spawn("etl", cgroup="/batch", workload=Program("etl", (Alloc(256, 16),)))
    until_just_before(m, "oom_kill")
    return m


EXAMPLES = {"leak-about-to-be-killed": leak, "thrashing-with-swap": thrashing,
            "memcg-at-its-limit": memcg_limit}


def main() -> int:
    for name, make in EXAMPLES.items():
        m = make()
        path = EXAMPLES_DIR / f"{name}.oomsave"
        m.save(path, compress=True, scenario=name)
        print(f"{path.relative_to(ROOT)}: tick {m.tick}, {path.stat().st_size >> 10} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
