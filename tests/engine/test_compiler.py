"""The compile workers (engine/compiler.py): they report, they end with their parent, and the
cache they share survives two of them at once and one killed mid-way (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from oomtui.engine.compiler import BackgroundCompile
from oomtui.engine.warmup import PARTS, compile_logs, is_complete

ROOT = Path(__file__).resolve().parents[2]


def test_workers_on_a_complete_cache_load_it_say_so_and_keep_the_first_runs_logs():
    assert is_complete()  # tests/conftest.py filled the run's cache
    logs = compile_logs()
    workers = BackgroundCompile()
    assert workers.wait()
    assert set(workers.logs) == set(PARTS)
    assert all(log["kernels"] == [] for log in workers.logs.values())  # all loaded
    assert workers.compiled == 0 and workers.status() == "" and workers.errors == []
    assert compile_logs() == logs  # what the first run took is kept


def test_a_worker_that_fails_is_reported_with_its_error(monkeypatch):
    monkeypatch.setattr("oomtui.engine.compiler._WORKER",
                        [sys.executable, "-c", "import sys; sys.exit('no compiler here')"])
    workers = BackgroundCompile(("faults",))
    assert not workers.wait()
    assert workers.errors == ["faults: exit 1: no compiler here"]


_ORPHANING = """
import os
from oomtui.engine.compiler import BackgroundCompile
workers = BackgroundCompile()
print(" ".join(str(w.pid) for w in workers._workers), flush=True)
os._exit(0)  # as a killed app would: no stop(), no wait()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_end_themselves_when_the_app_that_started_them_dies():
    r = subprocess.run([sys.executable, "-c", _ORPHANING], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    pids = [int(p) for p in r.stdout.split()]
    assert len(pids) == len(PARTS)
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


# A kernel module of its own, compiled into an empty cache by several processes.
_MODULE = textwrap.dedent("""
    from oomtui.engine.kernels.jit import kernel

    @kernel
    def collatz_steps(n):
        steps = 0
        while n != 1:
            n = n // 2 if n % 2 == 0 else 3 * n + 1
            steps += 1
        return steps
    """)
_USE = "import sys; sys.path.insert(0, sys.argv[1]); import k; print(k.collatz_steps(27))"


def test_two_processes_compiling_into_one_empty_cache_and_one_killed_leave_it_whole(tmp_path):
    (tmp_path / "k.py").write_text(_MODULE)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def start():
        return subprocess.Popen([sys.executable, "-c", _USE, str(tmp_path)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    killed = start()
    time.sleep(1.0)  # importing oomtui and numba, or compiling already
    killed.kill()
    both = [start(), start()]
    assert [p.communicate(timeout=300)[0].strip() for p in both] == ["111", "111"]
    assert all(p.returncode == 0 for p in both)
    again = start()  # loads what they wrote
    assert again.communicate(timeout=300)[0].strip() == "111"
    assert list((tmp_path / "cache").rglob("*.nbi")), "nothing was cached"


def test_workers_that_cannot_start_are_done_at_once_and_failed(monkeypatch):
    monkeypatch.setattr("oomtui.engine.compiler._WORKER", ["/nonexistent/python"])
    workers = BackgroundCompile()
    assert workers.done() and not workers.wait()
    assert len(workers.errors) == 1 and workers.errors[0].startswith("cannot start a worker: ")
