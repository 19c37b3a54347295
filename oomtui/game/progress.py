"""The player's progress: levels won and best scores (progress.json in the data dir), and each
level's best run kept as a save that replays (best/<id>.oomsave).

Written atomically (a temp file renamed over the old one); a damaged file is set aside as
progress.json.bad-<time> with a warning, never a crash.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from oomtui import paths, saves

VERSION = 1
MAX_BYTES = 1 << 20


class Progress:
    def __init__(self, path: Path, levels: dict | None = None, *, first_start: bool = False,
                 warning: str = ""):
        self.path = path
        self.levels: dict[str, dict] = levels or {}  # id -> {"won": bool, "best": int|None}
        self.first_start = first_start  # no progress file existed: a new player
        self.warning = warning  # why a damaged progress file was set aside ("" if none)
        self._campaign: list[str] | None = None  # built-in level ids in order, read on need

    @classmethod
    def load(cls, path: Path | None = None) -> Progress:
        """The saved progress; an empty one when there is none or it is damaged."""
        path = paths.progress_path() if path is None else Path(path)
        try:
            with path.open("rb") as f:
                raw = f.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return cls(path, first_start=True)
        except OSError as e:
            return cls(path, warning=f"cannot read {path}: {e.strerror or e}; progress is not "
                                     "kept this session")
        try:
            if len(raw) > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES >> 10} KiB")
            return cls(path, _levels(json.loads(raw)))
        except ValueError as e:  # json.JSONDecodeError is one
            aside = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                path.replace(aside)
                where = f"set aside as {aside.name}"
            except OSError as moved:
                where = f"left in place ({moved.strerror or moved})"
            return cls(path, warning=f"{path} was damaged ({e}): {where}; starting afresh")

    def save(self) -> None:
        data = json.dumps({"version": VERSION, "levels": self.levels}, indent=1).encode()
        saves._atomic_write(paths.ensure(self.path.parent) / self.path.name, [data])
        self.first_start = False

    def _order(self) -> list[str]:
        if self._campaign is None:
            from oomtui.game.level import builtin_levels

            self._campaign = [lv.id for lv in builtin_levels()]
        return self._campaign

    def state(self, level_id: str) -> str:
        """"won", "open" or "locked": a built-in level opens when the one before it is won;
        the user's own levels are always open."""
        if self.levels.get(level_id, {}).get("won"):
            return "won"
        order = self._order()
        if level_id not in order or order.index(level_id) == 0:
            return "open"
        before = order[order.index(level_id) - 1]
        return "open" if self.levels.get(before, {}).get("won") else "locked"

    def best(self, level_id: str) -> int | None:
        return self.levels.get(level_id, {}).get("best")

    def best_run(self, level_id: str) -> Path:
        """Where the level's best run is kept as a save."""
        return paths.best_runs_dir() / f"{level_id}.oomsave"

    def record(self, level, score, machine) -> bool:
        """Count a finished run; a new best score also keeps the run as a save. Saved at once.
        True when it is a new best."""
        entry = self.levels.setdefault(level.id, {"won": False, "best": None})
        entry["won"] = entry["won"] or bool(score.part("result").value)
        new_best = entry["best"] is None or score.total > entry["best"]
        if new_best:
            entry["best"] = score.total
            paths.ensure(paths.best_runs_dir())
            machine.save(self.best_run(level.id), scenario=level.id)
        self.save()
        return new_best


def _levels(doc) -> dict:
    """The levels table of a progress document; ValueError saying what is wrong."""
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} progress file")
    levels = doc.get("levels")
    if not isinstance(levels, dict):
        raise ValueError("no levels table")
    for level_id, entry in levels.items():
        best = entry.get("best") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("won"), bool) or not (
                best is None or (isinstance(best, int) and not isinstance(best, bool))):
            raise ValueError(f"level {level_id!r}: bad entry {entry!r:.60}")
    return levels
