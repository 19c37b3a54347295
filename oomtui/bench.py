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


# A fresh interpreter opening the app on the default scenario, as `oomtui` does, that prints
# when the engine's first tick is done and when it runs compiled (at once on a warm start; on
# a first run, once the compile workers are done and their kernels loaded).
_START = """
import threading, time
from oomtui.engine.kernels.jit import interpreted
from oomtui.tui.app import make_app

app = make_app(None)

def watch():
    said = set()
    while True:
        sim = app.sim
        m = sim.machine if sim is not None else None
        if m is not None and m.tick >= 1 and "tick" not in said:
            said.add("tick")
            print("tick", flush=True)
        if (m is not None and sim._prepared and sim._compile is None and not interpreted()
                and "compiled" not in said):
            said.add("compiled")
            print("compiled", flush=True)
        time.sleep(0.01)

threading.Thread(target=watch, daemon=True).start()
app.run(headless=True, size=(160, 48))
"""


def _start(cold: bool) -> dict:
    """One start of the app in a new process: seconds to the first tick and to running
    compiled, and the CPU seconds of the process and its compile workers. Cold: with empty
    cache and data directories (the workers' logs give the signatures they compiled and their
    CPU seconds)."""
    with tempfile.TemporaryDirectory(prefix="oomtui-bench-") as home:
        env = dict(os.environ)
        if cold:
            env.pop("NUMBA_CACHE_DIR", None)
            env["OOMTUI_HOME"] = home
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", _START], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, env=env)
        watchdog = threading.Timer(600, child.kill)  # a child that never gets there ends it
        watchdog.start()
        seen = {}
        try:
            for line in child.stdout:
                seen[line.strip()] = time.perf_counter() - t
                if {"tick", "compiled"} <= seen.keys():
                    break
        finally:
            watchdog.cancel()
            child.kill()
            child.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if {"tick", "compiled"} - seen.keys():
            raise RuntimeError("the app ended, or took 10 minutes, before it ran compiled")
        result = {"first_tick_s": seen["tick"], "compiled_s": seen["compiled"],
                  "cpu_s": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime}
        if cold:
            logs = _compile_logs(Path(home) / "cache" / "numba")
            result["signatures"] = sum(log["signatures"] for log in logs.values())
            result["compile_cpu_s"] = sum(log["cpu_s"] for log in logs.values())
        return result


def _compile_logs(base: Path) -> dict:
    """The compile workers' logs kept in a numba cache directory (warmup.mark_complete)."""
    for marker in base.glob("*/complete.json"):
        return json.loads(marker.read_text())
    return {}


def _spread(values: list[float]) -> dict:
    values = sorted(values)
    return {"median": values[len(values) // 2], "min": values[0], "max": values[-1]}


def start_times(runs: int = 3, cold: bool = True) -> dict:
    """Starts of the app (see _start), each figure the median of `runs` with min and max. A
    warm start is one with the cache complete: it is compiled first if it is not."""
    if not cold:
        from oomtui.engine.compiler import compile_all

        compile_all()
    starts = [_start(cold) for _ in range(runs)]
    return {"runs": runs, **{key: _spread([s[key] for s in starts]) for key in starts[0]}}


# Each measurement, and the figure its line leads with: the run reported is the median one
# by that figure, with the figure's min and max over the runs.
MEASURES = {
    "faults_without_pressure": (faults_without_pressure, lambda r: r["faults_per_s"]),
    "real_kernel_faults": (real_kernel_faults, lambda r: r["faults_per_s"]),
    "faults_with_reclaim": (faults_with_reclaim, lambda r: r["faults_per_s"]),
    "idle_tick": (idle_tick, lambda r: r["us_per_tick"]),
    "ram_size_ratio": (ram_size_ratio, lambda r: r["ratio"]),
    "frame_time": (frame_time, lambda r: r["ui_frame_ms"]),
    "save_load": (save_load, lambda r: r["raw"]["save_s"]),
}


def run_all(runs: int = 3) -> dict:
    out = {}
    for name, (measure, figure) in MEASURES.items():
        results = sorted((measure() for _ in range(runs)), key=figure)
        out[name] = {**results[runs // 2], "spread": _spread([figure(r) for r in results])}
    out["first_paint"] = first_paint(runs)
    out["warm_start"] = start_times(runs, cold=False)
    out["cold_start"] = start_times(runs, cold=True)
    return out


def _range(r: dict, scale: float = 1, digits: int = 2) -> str:
    """A figure's min and max over the runs."""
    lo, hi = r["spread"]["min"] * scale, r["spread"]["max"] * scale
    return f"[{lo:.{digits}f}–{hi:.{digits}f}]"


def format_starts(r: dict) -> str:
    """Cold and warm starts of the app, as start_times() measured them."""
    def line(label: str, s: dict, key: str) -> str:
        f = s[key]
        return (f"{label:<28}{f['median']:8.1f} s   [{f['min']:.1f}–{f['max']:.1f}], "
                f"median of {s['runs']}")
    cold, warm = r["cold_start"], r["warm_start"]
    return "\n".join([
        line("cold start: first tick", cold, "first_tick_s")
        + "  (empty cache: the engine runs interpreted while workers compile)",
        line("cold start: running compiled", cold, "compiled_s"),
        line("cold start: CPU, all processes", cold, "cpu_s")
        + "  (the run, interpreted meanwhile, included)",
        line("cold start: compile CPU", cold, "compile_cpu_s")
        + f"  (the workers; {cold['signatures']['median']:.0f} signatures compiled)",
        line("warm start: first tick", warm, "first_tick_s"),
        line("warm start: running compiled", warm, "compiled_s"),
    ])


def format_report(r: dict) -> str:
    a, b, c, d, e, f = (r["faults_without_pressure"], r["faults_with_reclaim"], r["idle_tick"],
                        r["ram_size_ratio"], r["save_load"], r["frame_time"])
    k = r["real_kernel_faults"]
    return "\n".join([
        f"faults/s without pressure   {a['faults_per_s'] / 1e6:8.2f} M   {_range(a, 1e-6)} "
        f"({a['faults']} faults)",
        f"  this machine's kernel     {k['faults_per_s'] / 1e6:8.2f} M   {_range(k, 1e-6)} "
        f"({k['faults']} first-touch faults of 4 KiB pages, for comparison)",
        f"faults/s with reclaim       {b['faults_per_s'] / 1e6:8.2f} M   {_range(b, 1e-6)} "
        f"({b['scanned_per_s'] / 1e6:.2f} M pages scanned/s)",
        f"idle tick, {c['processes']} processes    {c['us_per_tick']:8.1f} µs  {_range(c, 1, 1)}",
        f"step time 64 GiB / 1 GiB    {d['ratio']:8.2f}     {_range(d)} "
        f"({d['seconds_64GiB']:.2f} s / {d['seconds_1GiB']:.2f} s for {d['ticks']} ticks)",
        f"main screen frame, 16 GiB  {f['ui_frame_ms']:8.2f} ms  {_range(f)} (UI thread: apply "
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
        format_starts(r),
    ])
