"""Where numba keeps the compiled kernels: a directory keyed by the source they are built from.

numba's on-disk cache checks only a kernel's own source file (its modification time and
size), never the modules it calls into or takes constants from: after an edit to
kernels/buddy.py, a cached kernel of kernels/fault.py that inlined alloc_pages would keep
running the old code. So the cache lives in a subdirectory named after a hash of every module
the kernels are built from, and of the Python and numba versions: any edit there starts a
fresh, consistent cache. Old subdirectories are left in place (another checkout or version
may still use them; the whole cache directory is safe to delete).

Light on purpose (oomtui/__init__.py runs it on every import): no numba, no numpy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parent / "engine"
# Besides the kernels package, the modules whose constants numba compiles into the kernels.
KERNEL_IMPORTS = ("constants.py", "state.py")
PREFIX = "kernels-"


def source_files() -> list[Path]:
    """Every module the compiled kernels depend on."""
    return sorted((ENGINE / "kernels").glob("*.py")) + [ENGINE / name for name in KERNEL_IMPORTS]


def cache_key() -> str:
    """A hash of the kernels' sources, the Python version and numba's version file."""
    h = hashlib.sha256(sys.version.encode())
    spec = importlib.util.find_spec("numba")  # finds the package without importing it
    if spec is not None and spec.origin is not None:
        version = Path(spec.origin).with_name("_version.py")
        if version.is_file():
            h.update(version.read_bytes())
    for path in source_files():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def keyed_dir(base: str) -> str:
    """The cache subdirectory for this source under `base`; `base` itself if it already is
    one (a child process inherits the keyed NUMBA_CACHE_DIR of its parent)."""
    name = PREFIX + cache_key()
    return base if Path(base).name == name else str(Path(base) / name)
