"""Run every kernel a run calls once, so that each is compiled, or loaded from numba's
on-disk cache, before a run needs it.

warm_up() comes in two PARTS that compile side by side in worker processes on a first run
(engine/compiler.py; `python -m oomtui.engine.warmup PART PARENT_PID` is one), and whole in
the process that then loads what they compiled (about a second). The cache is marked complete
once every part has run compiled. CompileProgress reports each kernel as it starts compiling;
CompileLog records what numba compiled and how long each function took alone.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numba
from numba.core import event, types

from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine import kernels as K
from oomtui.engine.kernels.jit import Kernel, interpreted
from oomtui.engine.views import apportion

PARTS = ("faults", "reclaim")  # compiled side by side by engine/compiler.py
# How many distinct kernels a first run compiles, all parts together: the progress bar's
# total (tests/engine/test_compile.py checks it against the test run's own first run).
EXPECTED_KERNELS = 113
RECLAIM_WAIT = 90  # seconds a worker compiling the fault path waits for reclaim's kernels
_warm: set[str] = set()  # the parts this process has run


def _faults(in_worker: bool) -> None:
    """No memory pressure: faults, THP, the page cache and its flushers, fork, the views.

    Every fault may reclaim (fault_range_reclaiming), so in a worker the fault path alone is
    compiled first, and the run waits (at most RECLAIM_WAIT) for the worker compiling the
    other part to have put reclaim's kernels in the cache: they load instead of compiling
    twice."""
    m = Machine(MachineConfig(ram_mib=256, thp="always"))
    if in_worker:
        i, b = types.int64, types.boolean  # fault_range's arguments, as the fault path passes them
        K.fault_range.compile((numba.typeof(m.k), i, i, i, i, i, i, i, i, b, b,
                               numba.typeof(m.allocator.out)))
        marker, waited = _cache_file("reclaim-compiled"), time.monotonic()
        while (marker is not None and not marker.exists()
               and time.monotonic() - waited < RECLAIM_WAIT):
            time.sleep(0.2)
    for preset in ("database", "backup", "find"):
        m.spawn(preset, workload=preset)
    m.step(25)
    pid = m.spawn("viewer")
    m.fork(pid)
    addr = m.mmap(pid, 1 << 20)
    m.touch(pid, addr, 1 << 20)
    m.frame_grid({"DMA32": 64}, pid)
    apportion(m.page_states(pid, addr, 1 << 20, 16)[:, 1:].copy())


def _reclaim(in_worker: bool) -> None:
    """A tiny machine under pressure: kswapd, direct reclaim, swap, slab and its shrinker,
    compaction, a fork bomb and the OOM killer. Reclaim's kernels are compiled first, before
    anything calls them, and in a worker the other part's worker is told they are cached."""
    m = Machine(MachineConfig(ram_mib=32, swap=[SwapDevice(size_mib=16)], thp="always"))
    k = numba.typeof(m.k)
    K.direct_reclaim.compile((k,))
    marker = _cache_file("reclaim-compiled")
    if in_worker and marker is not None:
        with contextlib.suppress(OSError):
            marker.touch()
    K.kswapd_run.compile((k,))
    K.memcg_reclaim.compile((k, types.int64))
    for preset in ("database", "backup", "find", "forkbomb"):
        m.spawn(preset, workload=preset)
    m.step(25)


def warm_up(parts: tuple[str, ...] = PARTS, *, in_worker: bool = False) -> None:
    """Run the kernels a run calls, each part once per process: a quarter of a second of
    simulated time in each. All of them run compiled: the cache is then complete."""
    for part in parts:
        if part not in _warm:
            {"faults": _faults, "reclaim": _reclaim}[part](in_worker)
            _warm.add(part)
    if _warm == set(PARTS) and not interpreted() and not is_complete():
        mark_complete({})


def _cache_file(name: str) -> Path | None:
    """A file of ours in numba's cache directory (None: numba caches beside the sources)."""
    return Path(numba.config.CACHE_DIR) / name if numba.config.CACHE_DIR else None


def is_complete() -> bool:
    """Whether numba's cache holds every kernel a run needs: the parts' compile workers
    finished, or one warm_up() ran them all compiled."""
    marker = _cache_file("complete.json")
    return marker is not None and marker.exists()


def mark_complete(logs: dict[str, dict]) -> None:
    """Say the cache is complete, keeping what compiling it took (each part's CompileLog
    summary; {} when warm_up() in one process filled it)."""
    marker = _cache_file("complete.json")
    if marker is None:
        return
    tmp = marker.with_suffix(f".{os.getpid()}.tmp")
    with contextlib.suppress(OSError):  # a cache we cannot write to only stays incomplete
        tmp.write_text(json.dumps(logs))
        os.replace(tmp, marker)


def compile_logs() -> dict[str, dict]:
    """What compiling the cache took, per part, as mark_complete() kept it ({} if unknown)."""
    marker = _cache_file("complete.json")
    try:
        return json.loads(marker.read_text()) if marker is not None else {}
    except (OSError, ValueError):
        return {}


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
    """Calls report(done, total, name) as numba starts compiling each kernel: `done` distinct
    kernels so far, out of the EXPECTED_KERNELS a first run compiles (a kernel compiled again,
    for another signature or in another worker, counts once). Install with
    numba.core.event.install_listener("numba:compile", progress)."""

    def __init__(self, report: Callable[[int, int, str], None]) -> None:
        self.report = report
        self.total = EXPECTED_KERNELS
        self.names: set[str] = set()

    def on_start(self, ev: event.Event) -> None:
        dispatcher = ev.data["dispatcher"]
        if isinstance(dispatcher, Kernel):  # not numba's own helpers
            name = dispatcher.py_func.__name__
            self.report(min(len(self.names), self.total), self.total, name)
            self.names.add(name)

    def on_end(self, ev: event.Event) -> None:  # a Listener must have one: nothing to do
        pass


def _worker(part: str, parent: int) -> None:
    """A compile worker (engine/compiler.py): compiles `part`, printing each kernel's name as
    it starts and, at the end, a summary (JSON): its CompileLog's, the kernels it compiled,
    whether the cache was empty when it began, and its CPU seconds. It ends itself if its
    parent does."""
    import resource
    import sys
    import threading

    def orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    def report(done: int, total: int, name: str) -> None:
        print(name, flush=True)

    threading.Thread(target=orphaned, daemon=True).start()
    empty = not any(Path(numba.config.CACHE_DIR).rglob("*.nbi"))
    log, progress = CompileLog(), CompileProgress(report)
    event.register("numba:compile", log)
    with event.install_listener("numba:compile", progress):
        warm_up((part,), in_worker=True)
    used = resource.getrusage(resource.RUSAGE_SELF)
    sys.stdout.write(json.dumps({**log.summary(), "kernels": sorted(progress.names),
                                 "from_empty_cache": empty,
                                 "cpu_s": used.ru_utime + used.ru_stime}) + "\n")


if __name__ == "__main__":  # python -m oomtui.engine.warmup PART PARENT_PID
    import sys

    _worker(sys.argv[1], int(sys.argv[2]))
