"""Shared fixtures: no test may touch the real home directory."""

import os
from pathlib import Path

import pytest

# numba's kernel cache would otherwise go to the real user cache dir (oomtui sets
# NUMBA_CACHE_DIR when first imported, before any per-test fixture runs). Keep it
# in the repo's pytest cache instead, so compiled kernels survive between runs.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "numba")
)


def pytest_sessionstart(session):
    """Compile the engine once for the whole run, before the first test, in worker processes
    side by side (engine/compiler.py): on a fresh machine the cache is empty."""
    from oomtui.engine.compiler import compile_all

    if not compile_all():
        raise pytest.UsageError("the engine's compile workers failed: see "
                                "tests/engine/test_compiler.py")


@pytest.fixture(autouse=True)
def oomtui_home(tmp_path, monkeypatch):
    """Point every oomtui path (data, saves, cache) at a fresh temp dir."""
    home = tmp_path / "oomtui-home"
    monkeypatch.setenv("OOMTUI_HOME", str(home))
    return home
