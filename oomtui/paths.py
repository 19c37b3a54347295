"""Where oomtui keeps its files.

platformdirs picks the usual per-user locations; ``OOMTUI_HOME``, when set,
overrides all of them (data under ``$OOMTUI_HOME/data``, cache under
``$OOMTUI_HOME/cache``) so tests and portable installs stay self-contained.
The variable is read on every call, because tests set it per test.

Nothing here creates directories; call :func:`ensure` right before writing.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "oomtui"
HOME_ENV = "OOMTUI_HOME"


def _home() -> Path | None:
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    """Per-user data directory (saves, user scenarios and levels, progress)."""
    home = _home()
    if home is not None:
        return home / "data"
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Per-user cache directory (numba's compiled kernels); safe to delete."""
    home = _home()
    if home is not None:
        return home / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def saves_dir() -> Path:
    """Where the TUI writes and lists save files."""
    return data_dir() / "saves"


def scenarios_dir() -> Path:
    """Where user-written scenario TOML files are looked up."""
    return data_dir() / "scenarios"


def levels_dir() -> Path:
    """Where user-written level TOML files are looked up."""
    return data_dir() / "levels"


def progress_path() -> Path:
    """The game's progress file: levels won and best scores."""
    return data_dir() / "progress.json"


def best_runs_dir() -> Path:
    """Where the best run of each level is kept as a save."""
    return data_dir() / "best"


def ensure(path: Path) -> Path:
    """Create ``path`` (and its parents) if missing; return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path
