"""Compile (or load from numba's on-disk cache) the kernels a run calls, before it starts.

numba compiles a kernel on its first call: a few minutes for all of them on a first run,
about a second to load them from the cache later. The app calls warm_up() while it says it is
preparing the engine, so a run never stalls mid-way on a kernel's first use.
"""

from __future__ import annotations

_warm = False  # once per process


def warm_up() -> None:
    """A tiny machine through faults, reclaim, swap, the page cache and its flushers, slab
    and its shrinker, fork and THP, for a quarter of a second of simulated time."""
    global _warm
    if _warm:
        return
    from oomtui.engine import Machine, MachineConfig, SwapDevice

    m = Machine(MachineConfig(ram_mib=32, swap=[SwapDevice(size_mib=16)], thp="always"))
    for preset in ("database", "backup", "find", "forkbomb"):
        m.spawn(preset, workload=preset)
    m.step(25)
    _warm = True
