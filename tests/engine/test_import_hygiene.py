"""The engine is headless: importing it never loads textual (DESIGN.md §1, STYLE.md harlequin)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_engine_import_does_not_load_textual():
    r = run("import sys, oomtui.engine\n"
            "bad = sorted(k for k in sys.modules if k == 'textual' or k.startswith('textual.'))\n"
            "print(bad)\n"
            "assert not bad, bad")
    assert r.returncode == 0, r.stdout + r.stderr


def test_engine_public_names():
    r = run("from oomtui.engine import Machine, MachineConfig, SwapDevice\n"
            "m = Machine(MachineConfig(ram_mib=64, swap=[SwapDevice(size_mib=16)]))\n"
            "p = m.spawn('x'); m.touch(p, m.mmap(p, 1 << 20), 1 << 20)\n"
            "import sys; assert 'textual' not in sys.modules")
    assert r.returncode == 0, r.stdout + r.stderr
