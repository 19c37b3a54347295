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
