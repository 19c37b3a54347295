"""What numba compiles: each kernel once for the integers it is passed, whatever their width,
and once for the whole test run (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from oomtui.engine.kernels.jit import kernel
from oomtui.engine.warmup import warm_up

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


def test_a_kernel_compiles_once_whatever_integer_width_it_is_passed():
    @kernel
    def add(a, b):
        return a + b

    @numba.njit
    def add_seven(x):
        return add(a=x, b=7)  # a constant: numba types it Literal[int](7)

    assert add(np.int16(1), 2) == 3
    assert add(np.int32(-1), np.uint8(200)) == 199
    assert len(add.signatures) == 1
    assert add_seven(np.int8(5)) == 12  # a version for the constant, any width for x
    assert len(add.signatures) == 2


# warm_up() in a new process with an empty cache; then, per kernel, how many signatures it was
# compiled for, and how many of them differ in more than the constants passed.
_FIRST_RUN = """
import json
from numba.core import types
from numba.core.registry import CPUDispatcher
from oomtui.engine import kernels as K
from oomtui.engine.warmup import warm_up

warm_up()
kernels = {name: k for name, k in vars(K).items()
           if isinstance(k, CPUDispatcher) and k.signatures}
print(json.dumps({name: [len(k.signatures),
                         len({tuple(map(types.unliteral, s)) for s in k.signatures})]
                  for name, k in kernels.items()}))
"""


@pytest.mark.slow
def test_a_first_run_compiles_each_kernel_once_but_for_the_constants_it_is_passed(tmp_path):
    """No kernel is compiled again because a value came from an array of another integer
    width: only a call passing other constants compiles another version (kernels/jit.py)."""
    r = subprocess.run([sys.executable, "-c", _FIRST_RUN], cwd=ROOT, capture_output=True,
                       text=True, timeout=1200, env=dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    compiled = json.loads(r.stdout)
    assert len(compiled) > 50  # it did compile: the cache was empty
    assert {name: n for name, (n, plain) in compiled.items() if plain > 1} == {}


def test_a_child_process_loads_the_kernels_the_run_compiled():
    """The test run's processes share one cache: a CLI subprocess compiles nothing again."""
    warm_up()  # fills the run's cache, if no earlier test did
    r = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"
