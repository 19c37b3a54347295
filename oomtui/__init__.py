"""oomtui: a terminal, game-style simulator of Linux memory management.

The engine lives in :mod:`oomtui.engine`; ``python -m oomtui`` is the CLI.
This module stays light: it must not import numba, numpy or textual.
"""

import os

from oomtui import paths

__version__ = "0.1.0"

# numba reads NUMBA_CACHE_DIR once, when it is first imported, and every engine
# import goes through this package first. Without it numba writes its cache next
# to the sources, which fails on read-only installs. An explicit setting wins.
os.environ.setdefault("NUMBA_CACHE_DIR", str(paths.cache_dir() / "numba"))
