"""oomtui: a terminal, game-style simulator of Linux memory management.

The engine lives in :mod:`oomtui.engine`; ``python -m oomtui`` is the CLI. Real machines
(`oomtui live`) and real kernel OOM reports (`oomtui explain`) come in through
:mod:`oomtui.realworld`; `oomtui compare` (:mod:`oomtui.compare`) runs one scenario under
each OOM policy (the kernel's, and the daemons of :mod:`oomtui.engine.daemons`).
:mod:`oomtui.game` makes levels of scenarios (a goal judged every tick, score, hints, debrief,
progress; `oomtui levels`, `oomtui play LEVEL --headless`); :mod:`oomtui.kill_sentence` says
in one plain line why the OOM killer chose its victim.
This module stays light: it must not import numba, numpy or textual.
"""

import os

from oomtui import numba_cache, paths

__version__ = "0.1.0"

# numba reads NUMBA_CACHE_DIR once, when it is first imported, and every engine
# import goes through this package first. Without it numba writes its cache next
# to the sources, which fails on read-only installs. An explicit setting wins as
# the base directory; either way the kernels' cache is a subdirectory keyed by
# their source (numba_cache.py says why).
_base = os.environ.get("NUMBA_CACHE_DIR") or str(paths.cache_dir() / "numba")
os.environ["NUMBA_CACHE_DIR"] = numba_cache.keyed_dir(_base)
