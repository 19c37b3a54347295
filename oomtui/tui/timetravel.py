"""The time and file keys of the main screen: t/T travel, b branch, B compare, ctrl+s save (the
picker, ctrl+o, opens saves). The engine worker does the work between steps (Sim.control); a
save is written by a thread worker of its own. Mixed into MainScreen next to Actions (whose
_ask it uses)."""

from __future__ import annotations

from pathlib import Path

from textual import work

from oomtui import paths
from oomtui.tui.dialogs.form import Field
from oomtui.tui.fmt import error_text


def _saves():
    """oomtui.saves, imported on first use: it imports the engine and numba, which the app
    loads in its worker after the first paint."""
    from oomtui import saves

    return saves


def save_path(name: str) -> Path:
    """The file a name typed in the save dialog stands for, in the saves directory."""
    if any(c in name for c in "/\\\0") or name.startswith("."):
        raise ValueError("a plain file name: no directory, not starting with '.'")
    suffix = _saves().SUFFIX
    return paths.saves_dir() / (name if name.endswith(suffix) else name + suffix)


class TimeTravel:
    """The action_* methods of MainScreen for time travel and save files."""

    def _seconds(self, tick: int) -> str:
        return f"{tick * self.app.frame.tick_ms / 1000:.2f} s"

    def action_travel(self, seconds: int) -> None:
        sim = self.app.sim
        if sim is None:
            return

        def then(moved):
            if moved[0] == moved[1]:
                self.notify("already at this branch's latest moment (space runs on)" if seconds > 0
                            else "already at the oldest moment kept", severity="warning")

        self.travelling(sim.travel(seconds, then))

    def action_branch(self) -> None:
        sim = self.app.sim
        where = self.app.where
        if where is None:
            self.notify("the engine is still being prepared", severity="warning")
            return
        taken = set(where.branches)
        default = next(f"try-{i}" for i in range(1, len(taken) + 2) if f"try-{i}" not in taken)

        def new(name: str) -> str:
            if name in taken:
                raise ValueError(f"there is already a branch named {name!r}")
            return name

        def then(v):
            sim.control(lambda: sim.timeline.branch(v["name"]), lambda b: self.notify(
                f"branch {b.name} from {b.parent} at {self._seconds(b.fork_tick)}: change "
                f"something and run on; {b.parent} keeps its future (B compares)"))

        self._ask("Branch here", [Field("name", "name", "text", default, check=new)], then,
                  note=f"A new branch of {where.branch} from {self._seconds(where.tick)}; "
                       f"{where.branch} keeps its future.")

    def action_compare(self) -> None:
        from oomtui.tui.screens.compare import CompareScreen

        picked = self._branch_choices()
        if picked is None:
            return
        sim, where, choices, other = picked
        tick_ms = self.app.frame.tick_ms

        def then(v):
            sim.control(lambda: sim.timeline.compare(v["a"], v["b"]),
                        lambda c: self.app.push_screen(CompareScreen(c, tick_ms)))

        self._ask("Compare two branches", [
            Field("a", "branch A", "choice", other, choices),
            Field("b", "branch B", "choice", where.branch, choices),
        ], then, note="Each is run to its latest moment: who died and when, peak swap, PSI.")

    def _branch_choices(self):
        """(sim, where, branch choices, the other branch to offer first), or None (said why)
        when there is only one branch."""
        sim = self.app.sim
        where = self.app.where
        if where is None or len(where.branches) < 2:
            self.notify("one branch so far: go back (t) and branch (b) first",
                        severity="warning")
            return None
        other = where.parent or next(b for b in where.branches if b != where.branch)
        return sim, where, tuple((b, b) for b in where.branches), other

    def action_switch_branch(self) -> None:
        picked = self._branch_choices()
        if picked is None:
            return
        sim, _, choices, other = picked

        def then(v):
            sim.paused = True
            sim.control(lambda: sim.timeline.switch(v["name"]), lambda _: self.notify(
                f"on branch {v['name']} at its latest moment, {self._seconds(sim.machine.tick)}"))

        self._ask("Jump to a branch", [Field("name", "branch", "choice", other, choices)], then,
                  note="To its latest moment, paused; the branch you leave keeps its future.")

    # -- save files ----------------------------------------------------------------------

    def action_save(self) -> None:
        sim, frame = self.app.sim, self.app.frame
        name = _saves().default_name(sim.scenario.name, frame.tick) if frame else ""

        def then(v):
            path = v["name"]
            if path.exists():
                self._ask(f"Overwrite {path.name}?", [], lambda _: self._save(path),
                          note="A save with this name exists: it is replaced once the new one "
                               "is fully written.", ok="Overwrite")
            else:
                self._save(path)

        self._ask("Save this moment", [Field("name", "file name", "text", name, check=save_path)],
                  then, note=f"Into {paths.saves_dir()}", ok="Save")

    def _save(self, path: Path) -> None:
        sim, saves = self.app.sim, _saves()
        sim.control(lambda: (sim.machine.snapshot(), saves.meta_of(sim.machine, sim.scenario.name)),
                    lambda snapshot: self._write(path, *snapshot))

    @work(thread=True, group="saves", exit_on_error=False)
    def _write(self, path: Path, state: dict, meta: dict) -> None:
        """Packs, compresses and writes off the UI thread (the snapshot is the worker's own)."""
        try:
            _saves().write(paths.ensure(path.parent) / path.name, state, meta, compress=True)
        except (OSError, ValueError) as e:
            self.app.call_from_thread(self.notify, f"not saved: {error_text(e)}",
                                      severity="error", timeout=10)
            return
        self.app.call_from_thread(self.notify, f"saved {path.name} (tick {meta['tick']})")
