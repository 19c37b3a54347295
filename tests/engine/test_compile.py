"""What numba compiles: each kernel once, and once for the whole test run (issue 12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

from oomtui import bench
from oomtui.engine import kernels as K
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.warmup import warm_up

ROOT = Path(__file__).resolve().parents[2]

# A child process (inheriting the run's NUMBA_CACHE_DIR) that runs warm_up() and prints how
# many signatures numba compiled for it.
_CHILD = """
from oomtui.engine.warmup import CompileLog, warm_up

log = CompileLog()
event.register("numba:compile", log)
warm_up()
print(log.summary()["signatures"])
"""


def test_a_kernel_compiles_once_whatever_integer_width_or_constant_it_is_passed():
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


@pytest.mark.slow
def test_a_first_run_compiles_every_kernel_for_one_signature():
    """warm_up() on an empty cache, in a new process (bench --compile): no kernel twice,
    whatever integer widths, constants or flags its callers pass."""
    r = bench.compile_stats()
    kernels = {name for name, k in vars(K).items() if isinstance(k, CPUDispatcher)}
    assert r["functions"] > 50  # it did compile: the cache was empty
    assert {name: n for name, n in r["compiled_more_than_once"].items() if name in kernels} == {}


def test_a_child_process_loads_the_kernels_the_run_compiled():
    """The test run's processes share one cache: a CLI subprocess compiles nothing again."""
    warm_up()  # fills the run's cache, if no earlier test did
    r = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"
