"""numba's cache is keyed by every module the kernels are built from (oomtui/numba_cache.py):
an edit to any one of them must give a fresh cache directory, since numba itself only checks
a kernel's own file."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from oomtui import numba_cache


@pytest.fixture
def engine_copy(tmp_path, monkeypatch):
    """The key computed over a copy of the engine's kernel sources, which the test may edit."""
    copy = tmp_path / "engine"
    shutil.copytree(numba_cache.ENGINE / "kernels", copy / "kernels")
    for name in numba_cache.KERNEL_IMPORTS:
        shutil.copy(numba_cache.ENGINE / name, copy / name)
    monkeypatch.setattr(numba_cache, "ENGINE", copy)
    return copy


@pytest.mark.parametrize("module", ["kernels/buddy.py", "kernels/reclaim.py", "state.py",
                                    "constants.py"])
def test_an_edit_to_one_module_changes_the_key(engine_copy, module):
    before = numba_cache.cache_key()
    assert numba_cache.cache_key() == before  # stable while nothing changes
    path = engine_copy / module
    path.write_text(path.read_text() + "\n# an edit\n")
    assert numba_cache.cache_key() != before


def test_a_new_kernel_module_changes_the_key(engine_copy):
    before = numba_cache.cache_key()
    (engine_copy / "kernels" / "new.py").write_text("X = 1\n")
    assert numba_cache.cache_key() != before


def test_every_module_the_kernels_import_is_hashed():
    hashed = {p.resolve() for p in numba_cache.source_files()}
    root = numba_cache.ENGINE.parents[1]
    for path in numba_cache.source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("oomtui"):
                target = root.joinpath(*node.module.split("."))
                target = target / "__init__.py" if target.is_dir() else target.with_suffix(".py")
                assert target.resolve() in hashed, f"{path.name} imports {node.module}"


def test_the_keyed_directory_is_not_keyed_twice(tmp_path):
    once = numba_cache.keyed_dir(str(tmp_path))
    assert Path(once).parent == tmp_path and Path(once).name.startswith(numba_cache.PREFIX)
    assert numba_cache.keyed_dir(once) == once  # a child process inherits the keyed path
