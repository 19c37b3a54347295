"""`oomtui bench`: how fast the engine simulates, measured on this machine.

Each figure times one scenario after a warm-up run of the same scenario, so numba's
compilation is not counted. Simulated figures are per second of real time. `--compile`
measures that compilation instead: warm_up() in a fresh process with an empty cache.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine.constants import PAGE_SIZE

MiB = 1 << 20
PAGE = PAGE_SIZE


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def faults_without_pressure(touch_mib: int = 1024) -> dict:
    """First-touch write faults into free memory: no reclaim."""
    def run():
        m = Machine(MachineConfig(ram_mib=touch_mib * 2))
        pid = m.spawn("toucher")
        addr = m.mmap(pid, touch_mib * MiB)
        return m, pid, addr

    m, pid, addr = run()
    m.touch(pid, addr, touch_mib * MiB)  # warm-up (compiles)
    m, pid, addr = run()
    seconds = _timed(lambda: m.touch(pid, addr, touch_mib * MiB))
    faults = m.vmstat()["pgfault"]
    return {"faults": faults, "seconds": seconds, "faults_per_s": faults / seconds}


def real_kernel_faults(touch_mib: int = 1024) -> dict:
    """This machine's own kernel, for comparison with faults_without_pressure: first-touch
    write faults into a fresh private anonymous mapping of 4 KiB pages (MADV_NOHUGEPAGE), one
    byte written per page, counted by getrusage's minor faults."""
    import mmap
    import resource

    import numpy as np

    def minflt() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    with mmap.mmap(-1, touch_mib * MiB, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as region:
        region.madvise(mmap.MADV_NOHUGEPAGE)
        pages = np.frombuffer(region, np.uint8)[::PAGE]
        before = minflt()
        t = time.perf_counter()
        pages.fill(1)
        seconds = time.perf_counter() - t
        faults = minflt() - before
        del pages  # the mapping cannot close while an array points into it
    return {"faults": faults, "seconds": seconds, "faults_per_s": faults / seconds}


# A fresh interpreter opening the app on the default scenario, as `oomtui` does, that says so
# when Textual's Ready event reports the first frame displayed.
_FIRST_PAINT = """
from oomtui.tui.app import OomApp, make_app

def on_ready(app, ready=OomApp.on_ready):
    print("painted", flush=True)
    ready(app)

OomApp.on_ready = on_ready
make_app(None).run(headless=True, size=(160, 48))
"""


def first_paint(runs: int = 3) -> dict:
    """Seconds from starting a Python process to the app's first painted frame (headless,
    160×48): interpreter start, imports, the default scenario, the first paint. The engine is
    prepared after it, in a worker, so numba is not part of it. The median of a few runs."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", _FIRST_PAINT], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        watchdog = threading.Timer(60, child.kill)  # a child that never paints ends the wait
        watchdog.start()
        try:
            line = child.stdout.readline()
            times.append(time.perf_counter() - t)
        finally:
            watchdog.cancel()
            child.kill()
            child.wait()
        if line.strip() != "painted":
            raise RuntimeError("the app ended, or hung for 60 s, before its first paint")
    return {"runs": runs, "seconds": sorted(times)[runs // 2]}


def faults_with_reclaim(ram_mib: int = 512) -> dict:
    """Write faults on a machine whose RAM is full of clean page cache: every allocation
    past the watermarks is paid for by reclaim."""
    def run():
        m = Machine(MachineConfig(ram_mib=ram_mib, swap=[SwapDevice(size_mib=ram_mib)]))
        pid = m.spawn("toucher")
        m.write_file(pid, "/data/cache", 0, offset=ram_mib * MiB)  # sized, nothing dirty
        m.read_file(pid, "/data/cache", ram_mib * MiB)
        addr = m.mmap(pid, ram_mib * MiB // 2)
        return m, pid, addr

    m, pid, addr = run()
    m.touch(pid, addr, ram_mib * MiB // 2)
    m, pid, addr = run()
    before = m.vmstat()
    seconds = _timed(lambda: m.touch(pid, addr, ram_mib * MiB // 2))
    after = m.vmstat()
    faults = after["pgfault"] - before["pgfault"]
    scanned = sum(after[k] - before[k] for k in ("pgscan_kswapd", "pgscan_direct"))
    return {"faults": faults, "pages_scanned": scanned, "seconds": seconds,
            "faults_per_s": faults / seconds, "scanned_per_s": scanned / seconds}


def idle_tick(processes: int = 1000, ticks: int = 200) -> dict:
    """The cost of a tick in which 1,000 processes exist but nothing happens."""
    m = Machine(MachineConfig(ram_mib=4096))
    for i in range(processes):
        m.spawn(f"idle{i}")
    m.step(1)
    seconds = _timed(lambda: m.step(ticks))
    return {"processes": processes, "ticks": ticks, "us_per_tick": seconds / ticks * 1e6}


def ram_size_ratio(ticks: int = 300, runs: int = 3) -> dict:
    """The same workload on a 1 GiB and a 64 GiB machine: step time should not grow with RAM.
    The best of a few alternating runs each, so a busy moment of this machine does not
    decide the ratio."""
    def step_time(ram_mib: int) -> float:
        m = Machine(MachineConfig(ram_mib=ram_mib, seed=1))
        m.spawn("db", workload="database")
        m.spawn("leak", workload="leaker")
        m.step(1)
        return _timed(lambda: m.step(ticks))

    step_time(1024)  # warm-up
    times = [(step_time(1024), step_time(65536)) for _ in range(runs)]
    small, big = min(t[0] for t in times), min(t[1] for t in times)
    return {"ticks": ticks, "seconds_1GiB": small, "seconds_64GiB": big, "ratio": big / small}


def _pressure_scenario():
    """16 GiB + 4 GiB swap: a hog fills RAM within 3 s and a leak keeps reclaim busy."""
    from oomtui.scenarios import parse

    return parse({"name": "bench-16g", "machine": {"ram_mib": 16384, "seed": 1,
                                                   "swap": [{"size_mib": 4096}]},
                  "process": [
                      {"comm": "db", "workload": "database"},
                      {"comm": "hog", "workload": {"name": "hog", "phases": [
                          {"kind": "alloc", "mib": 17000, "rate_mib_s": 6000}]}},
                      {"comm": "leak", "workload": {"name": "leak", "phases": [
                          {"kind": "alloc", "mib": 4000, "rate_mib_s": 64}]}}]},
                 "bench")


def frame_time(frames: int = 60, size: tuple[int, int] = (160, 48)) -> dict:
    """The main screen of a 16 GiB machine under pressure, running at ×1: the UI thread's cost
    per frame (applying a frame to the widgets, then painting the whole screen), the engine
    thread's cost of building a frame (on average while running: the grid and the per-process
    views are rebuilt only every few frames; and in full, everything rebuilt), and how many
    frames it built per second while stepping. 30 redraws/s leave 33.3 ms per frame. The
    figures include waits for the GIL and for other processes on this machine."""
    import asyncio

    from oomtui.tui.app import make_app

    async def measure() -> dict:
        app = make_app(_pressure_scenario(), start_tick=300)
        async with app.run_test(size=size) as pilot:
            while app.frame is None or app.frame.grid == {}:
                await pilot.pause()
            sim = app.sim
            paint = []
            sim.build_times.clear()
            app.frame_times.clear()
            started = time.perf_counter()
            for _ in range(frames):
                shown = app.frame
                while app.frame is shown:  # the next frame from the worker, applied
                    await pilot.pause(0.005)
                # Paint every cell (Textual repaints only what changed: this is the worst
                # case). Private API, used for this measurement only.
                t = time.perf_counter()
                app.screen._compositor.render_update(full=True)
                paint.append(time.perf_counter() - t)
            elapsed = time.perf_counter() - started
            apply = list(app.frame_times)[-frames:]
            built = list(sim.build_times)
            sim.paused = True
            await pilot.pause(0.2)
            full = _timed(lambda: [sim._publish(force_slow=True) for _ in range(10)]) / 10
            mi = app.frame.meminfo
            return {"frames": frames, "size": list(size), "tick": app.frame.tick,
                    "swap_used_mib": (mi["SwapTotal"] - mi["SwapFree"]) // 1024,
                    "apply_ms": 1000 * sum(apply) / frames, "paint_ms": 1000 * sum(paint) / frames,
                    "ui_frame_ms": 1000 * (sum(apply) + sum(paint)) / frames,
                    "ui_frame_ms_max": 1000 * max(a + p for a, p in zip(apply, paint)),
                    "build_ms": 1000 * sum(built) / len(built), "build_full_ms": 1000 * full,
                    "frames_per_s": frames / elapsed}

    return asyncio.run(measure())


def save_load(ram_mib: int = 16384, touch_mib: int = 4096) -> dict:
    """Save and load a 16 GiB machine with 4 GiB of anon memory, 1 GiB of page cache and
    4 GiB of swap: raw and zlib-compressed."""
    m = Machine(MachineConfig(ram_mib=ram_mib, swap=[SwapDevice(size_mib=4096)]))
    pid = m.spawn("db")
    m.touch(pid, m.mmap(pid, touch_mib * MiB), touch_mib * MiB)
    m.write_file(pid, "/data/cache", 1024 * MiB)
    out = {"ram_mib": ram_mib}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.oomsave"
        for compress in (False, True):
            save_s = _timed(lambda c=compress: m.save(path, compress=c))
            load_s = _timed(lambda: Machine.load(path))
            out["zlib" if compress else "raw"] = {"save_s": save_s, "load_s": load_s,
                                                  "bytes": path.stat().st_size}
    return out


# A fresh interpreter compiling every kernel warm_up() calls, watched from before the engine's
# first import; it prints what it saw as JSON.
_COMPILE = """
import json
from numba.core import event
from oomtui.engine.warmup import CompileLog, warm_up

log = CompileLog()
event.register("numba:compile", log)
warm_up()
print(json.dumps(log.summary()))
"""


def compile_stats() -> dict:
    """A first run's compilation: warm_up() in a new process with an empty numba cache. Wall
    and CPU seconds of that process, the functions and signatures numba compiled, those
    compiled more than once, and the largest compile times of a function alone."""
    with tempfile.TemporaryDirectory(prefix="oomtui-numba-") as cache:
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", _COMPILE], capture_output=True, text=True,
                               env=dict(os.environ, NUMBA_CACHE_DIR=cache), check=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": wall, "cpu_s": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime,
            **json.loads(child.stdout)}


def format_compile(r: dict) -> str:
    return "\n".join([
        f"first-run compile           {r['wall_s']:8.1f} s   wall ({r['cpu_s']:.1f} s CPU), "
        f"{r['functions']} functions, {r['signatures']} signatures",
        "compiled more than once     " + (", ".join(
            f"{name} ×{n}" for name, n in r["compiled_more_than_once"].items()) or "none"),
        "largest compile times (s)   " + ", ".join(
            f"{name} {s:.1f}" for name, s in r["top_exclusive_s"].items()),
    ])


def run_all() -> dict:
    return {"faults_without_pressure": faults_without_pressure(),
            "real_kernel_faults": real_kernel_faults(),
            "faults_with_reclaim": faults_with_reclaim(),
            "idle_tick": idle_tick(),
            "ram_size_ratio": ram_size_ratio(),
            "frame_time": frame_time(),
            "first_paint": first_paint(),
            "save_load": save_load()}


def format_report(r: dict) -> str:
    a, b, c, d, e, f = (r["faults_without_pressure"], r["faults_with_reclaim"], r["idle_tick"],
                        r["ram_size_ratio"], r["save_load"], r["frame_time"])
    k = r["real_kernel_faults"]
    return "\n".join([
        f"faults/s without pressure   {a['faults_per_s'] / 1e6:8.2f} M   ({a['faults']} faults)",
        f"  this machine's kernel     {k['faults_per_s'] / 1e6:8.2f} M   ({k['faults']} "
        "first-touch faults of 4 KiB pages, for comparison)",
        f"faults/s with reclaim       {b['faults_per_s'] / 1e6:8.2f} M   "
        f"({b['scanned_per_s'] / 1e6:.2f} M pages scanned/s)",
        f"idle tick, {c['processes']} processes    {c['us_per_tick']:8.1f} µs",
        f"step time 64 GiB / 1 GiB    {d['ratio']:8.2f}     "
        f"({d['seconds_64GiB']:.2f} s / {d['seconds_1GiB']:.2f} s for {d['ticks']} ticks)",
        f"main screen frame, 16 GiB  {f['ui_frame_ms']:8.2f} ms  (UI thread: apply "
        f"{f['apply_ms']:.2f} + full repaint {f['paint_ms']:.2f}, worst "
        f"{f['ui_frame_ms_max']:.1f}; budget at 30/s: 33.3 ms)",
        f"frames built, 16 GiB        {f['frames_per_s']:8.1f} /s  (engine thread "
        f"{f['build_ms']:.1f} ms per frame; {f['build_full_ms']:.1f} ms rebuilding the grid and "
        "the process views)",
        *((f"{e['ram_mib'] >> 10} GiB state, {kind:<4}         save {e[kind]['save_s']:.2f} s, "
           f"load {e[kind]['load_s']:.2f} s, {e[kind]['bytes'] / MiB:.1f} MiB")
          for kind in ("raw", "zlib")),
        f"time to first paint         {1000 * r['first_paint']['seconds']:8.0f} ms  (a new process "
        "to the app's first frame, headless; the engine is prepared after it)",
    ])
