"""The engine is headless: importing any of its modules never loads textual or rich (DESIGN.md
§1, STYLE.md harlequin); save files are read without the engine or numba; and no two modules of
the package import each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "oomtui"


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _loaded(module: str, banned: tuple[str, ...]) -> str:
    """Code that imports `module` alone and prints the banned packages that came with it."""
    return (f"import sys, {module}\n"
            f"print(sorted(k for k in sys.modules for b in {banned!r} "
            f"if k == b or k.startswith(b + '.')))")


def test_engine_import_does_not_load_textual():
    r = run("import sys, oomtui.engine\n"
            "bad = sorted(k for k in sys.modules if k == 'textual' or k.startswith('textual.'))\n"
            "print(bad)\n"
            "assert not bad, bad")
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_engine_module_loads_textual_or_rich():
    """Each module alone, in a fresh interpreter (all at once: each one loads numba)."""
    modules = sorted(_module(p) for p in (PACKAGE / "engine").rglob("*.py"))
    runs = {m: subprocess.Popen([sys.executable, "-c", _loaded(m, ("textual", "rich"))], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for m in modules}
    for module, p in runs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"{module}: {err}"
        assert out.strip() == "[]", f"importing {module} loads {out.strip()}"


def test_reading_saves_needs_no_engine():
    r = run(_loaded("oomtui.saves", ("numba", "textual", "rich", "oomtui.engine")))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def _imports(path: Path) -> set[str]:
    """The package's modules this file imports, wherever the import statement is (a lazy
    import inside a function still makes a cycle), less those only a type checker reads."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    checking = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                and ast.unparse(node.test) == "TYPE_CHECKING" for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for a in node.names:  # `from package import module` imports the module
                sub = f"{base}.{a.name}"
                found.add(sub if _path(sub) else base)
    return {m for m in found if _path(m)}


def _path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def test_the_package_has_no_import_cycles():
    graph = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py")}
    done, path = set(), []

    def visit(m):
        if m in path:
            raise AssertionError(f"import cycle: {' -> '.join(path[path.index(m):] + [m])}")
        if m in done:
            return
        path.append(m)
        for n in sorted(graph.get(m, ())):
            visit(n)
        path.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)


def test_engine_public_names():
    r = run("from oomtui.engine import Machine, MachineConfig, SwapDevice\n"
            "m = Machine(MachineConfig(ram_mib=64, swap=[SwapDevice(size_mib=16)]))\n"
            "p = m.spawn('x'); m.touch(p, m.mmap(p, 1 << 20), 1 << 20)\n"
            "import sys; assert 'textual' not in sys.modules")
    assert r.returncode == 0, r.stdout + r.stderr
