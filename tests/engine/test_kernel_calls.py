"""Kernels call one another with keyword arguments only: a call reads as what it passes, and a
parameter added to a kernel cannot silently shift the others."""

from __future__ import annotations

import ast
from pathlib import Path

import oomtui.engine.kernels

KERNELS = Path(oomtui.engine.kernels.__file__).parent


def test_every_kernel_to_kernel_call_passes_keyword_arguments():
    trees = {p.name: ast.parse(p.read_text()) for p in sorted(KERNELS.glob("*.py"))}
    kernels = {n.name for t in trees.values() for n in t.body if isinstance(n, ast.FunctionDef)}
    positional = [f"{name}:{n.lineno} {n.func.id}" for name, t in trees.items() for n in ast.walk(t)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                  and n.func.id in kernels and n.args]
    assert kernels and not positional


def test_every_call_from_the_engine_into_a_kernel_passes_keyword_arguments():
    """The Python side too: every `K.kernel(...)` call in the package (kernels are reached as K)."""
    package = KERNELS.parents[1]
    calls = [(path, n) for path in sorted(package.rglob("*.py")) if KERNELS not in path.parents
             for n in ast.walk(ast.parse(path.read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Name) and n.func.value.id == "K"]
    positional = [f"{path.name}:{n.lineno} K.{n.func.attr}" for path, n in calls
                  if n.args and hasattr(getattr(oomtui.engine.kernels, n.func.attr), "py_func")]
    assert calls and not positional
