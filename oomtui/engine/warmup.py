"""Compile (or load from numba's on-disk cache) the kernels a run calls, before it starts.

numba compiles a kernel on its first call: a few minutes for all of them on a first run,
about a second to load them from the cache later. The app calls warm_up() while it shows which
kernel is being compiled (CompileProgress), so a run never stalls mid-way on a kernel's first
use. CompileLog watches numba compile (`oomtui bench --compile` reports what it saw).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from numba.core import event

from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine import kernels as K
from oomtui.engine.kernels.jit import Kernel
from oomtui.engine.views import apportion

_warm = False  # once per process


def warm_up() -> None:
    """A tiny machine through faults, reclaim, swap, the page cache and its flushers, slab
    and its shrinker, fork and THP, for a quarter of a second of simulated time, and the
    views the app draws."""
    global _warm
    if _warm:
        return
    m = Machine(MachineConfig(ram_mib=32, swap=[SwapDevice(size_mib=16)], thp="always"))
    for preset in ("database", "backup", "find", "forkbomb"):
        m.spawn(preset, workload=preset)
    m.step(25)
    pid = m.spawn("viewer")  # after the run, so the OOM killer cannot have taken it
    addr = m.mmap(pid, 1 << 20)
    m.touch(pid, addr, 1 << 20)
    m.frame_grid({"DMA32": 64}, pid)
    apportion(m.page_states(pid, addr, 1 << 20, 16)[:, 1:].copy())
    _warm = True


class CompileLog(event.Listener):
    """numba's compile events, per function: how many signatures it was compiled for, and the
    seconds spent compiling it alone (the compiles it triggers of the functions it calls are
    counted for those). Install with numba.core.event.register("numba:compile", log)."""

    def __init__(self) -> None:
        self.signatures: collections.Counter[str] = collections.Counter()
        self.seconds: collections.defaultdict[str, float] = collections.defaultdict(float)
        self._open: list[list] = []  # [name, seconds so far, running since], innermost last

    def on_start(self, ev: event.Event) -> None:
        now = time.perf_counter()
        if self._open:  # the caller's compile pauses while its callee compiles
            self._open[-1][1] += now - self._open[-1][2]
        self._open.append([ev.data["dispatcher"].py_func.__qualname__, 0.0, now])

    def on_end(self, ev: event.Event) -> None:
        now = time.perf_counter()
        name, seconds, since = self._open.pop()
        self.signatures[name] += 1
        self.seconds[name] += seconds + now - since
        if self._open:
            self._open[-1][2] = now

    def summary(self, top: int = 15) -> dict:
        """Functions and signatures compiled, those compiled more than once, the slowest."""
        return {"functions": len(self.signatures),
                "signatures": sum(self.signatures.values()),
                "compiled_more_than_once": {name: n for name, n in self.signatures.most_common()
                                            if n > 1},
                "top_exclusive_s": dict(sorted(self.seconds.items(), key=lambda kv: -kv[1])[:top])}


class CompileProgress(event.Listener):
    """Calls report(done, total, name) as numba starts compiling each kernel: `done` compiles
    so far (a kernel passed several constants compiles once for each), capped at the `total`
    kernels in the package (a run needs fewer, so the bar may end short of full). Install with
    numba.core.event.install_listener("numba:compile", progress)."""

    def __init__(self, report: Callable[[int, int, str], None]) -> None:
        self.report = report
        self.total = len({id(k) for k in vars(K).values() if isinstance(k, Kernel)})
        self.done = 0

    def on_start(self, ev: event.Event) -> None:
        dispatcher = ev.data["dispatcher"]
        if isinstance(dispatcher, Kernel):  # not numba's own helpers
            self.report(self.done, self.total, dispatcher.py_func.__name__)

    def on_end(self, ev: event.Event) -> None:
        if isinstance(ev.data["dispatcher"], Kernel):
            self.done = min(self.done + 1, self.total)
