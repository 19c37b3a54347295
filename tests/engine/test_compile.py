"""What numba compiles: each kernel once whatever integers it is passed, and once for the whole
test run (issue 12)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from oomtui.engine import kernels as K
from oomtui.engine.kernels.jit import Kernel, kernel
from oomtui.engine.warmup import EXPECTED_KERNELS, PARTS, compile_logs, warm_up

ROOT = Path(__file__).resolve().parents[2]

# A child process (inheriting the run's NUMBA_CACHE_DIR) that runs warm_up() and prints how
# many signatures numba compiled for it.
_CHILD = """
from numba.core import event
from oomtui.engine.warmup import CompileLog, warm_up

log = CompileLog()
event.register("numba:compile", log)
warm_up()
print(log.summary()["signatures"])
"""


def test_a_kernel_compiles_once_whatever_integer_or_constant_it_is_passed():
    @kernel
    def add(a, b):
        return a + b

    @numba.njit
    def add_seven(x):
        return add(a=x, b=7)  # a constant: numba types it Literal[int](7)

    assert add(np.int16(1), 2) == 3
    assert add(np.int32(-1), np.uint8(200)) == 199
    assert add_seven(np.int8(5)) == 12
    assert len(add.signatures) == 1


def test_a_kernel_compiles_a_version_for_a_constant_order_and_one_for_any():
    @kernel
    def pages(order):
        return 1 << order

    @numba.njit
    def single():
        return pages(order=0)

    @numba.njit
    def huge():
        return pages(order=9)

    assert single() == 1 and huge() == 512
    assert pages(np.int8(3)) == 8
    assert len(pages.signatures) == 3  # order=0, order=9, any order


# warm_up() in a new process with an empty cache; then the compile log of each part.
_FIRST_RUN = """
import json
from numba.core import event
from oomtui.engine.warmup import PARTS, CompileLog, CompileProgress, warm_up

logs = {}
for part in PARTS:
    log, progress = CompileLog(), CompileProgress(lambda *_: None)
    with event.install_listener("numba:compile", log):
        with event.install_listener("numba:compile", progress):
            warm_up((part,))
    logs[part] = {**log.summary(), "kernels": sorted(progress.names), "from_empty_cache": True}
print(json.dumps(logs))
"""


def first_run_logs(tmp_path) -> dict:
    """What compiling the engine on an empty cache took, per part: as the test run's compile
    workers logged it (tests/conftest.py), or, if the run's cache was not empty when they began
    (an earlier run stopped half-way), from a first run in a new process."""
    logs = compile_logs()
    if logs and all(log.get("from_empty_cache") for log in logs.values()):
        return logs
    r = subprocess.run([sys.executable, "-c", _FIRST_RUN], cwd=ROOT, capture_output=True,
                       text=True, timeout=1200, env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_first_run_compiles_each_kernel_once_and_the_buddy_kernels_twice(tmp_path):
    """One signature per kernel (kernels/jit.py), two for those taking an order: order=0 and
    any order. (Two workers may both compile a kernel: each log is checked on its own.)"""
    logs = first_run_logs(tmp_path)
    assert set(logs) == set(PARTS)
    kernels = {k.py_func.__qualname__: k for k in vars(K).values() if isinstance(k, Kernel)}
    taking_order = {name for name, k in kernels.items()
                    if "order" in inspect.signature(k.py_func).parameters}
    for log in logs.values():
        assert len(log["kernels"]) > 20  # it did compile: the cache was empty
        again = {name: n for name, n in log["compiled_more_than_once"].items() if name in kernels}
        assert {name for name in again if name not in taking_order} == set()
        assert all(n == 2 for n in again.values()), again


def test_the_progress_bar_expects_the_kernels_a_first_run_compiles(tmp_path):
    logs = first_run_logs(tmp_path)
    assert len(set().union(*(log["kernels"] for log in logs.values()))) == EXPECTED_KERNELS


def test_a_child_process_loads_the_kernels_the_run_compiled():
    """The test run's processes share one cache: a CLI subprocess compiles nothing again."""
    warm_up()  # fills the run's cache, if no earlier test did
    r = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"
