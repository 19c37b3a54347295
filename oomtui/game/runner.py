"""Playing a level: LevelRun steps the machine one tick at a time, makes the scenario's calls
and the player's moves at their ticks, and judges the goal after every tick."""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from oomtui.game import goals, level as levels, score as scoring
from oomtui.game.watch import Watch
from oomtui.scenarios import Call


@dataclass(frozen=True)
class GoalStatus:
    state: str  # "playing", "won" or "lost"
    reason: str  # a plain sentence ("" while playing)
    progress: list = field(default_factory=list)  # (text, ok) per condition, for the goal line
    tick: int = 0


class LevelRun:
    """One play of `level` on `machine` (booted from the level's scenario when None).

    The app steps the machine itself and calls check() after each tick; headless play uses
    advance() or run_headless()."""

    def __init__(self, level: levels.Level, machine=None, moves: Sequence[Call] = ()):
        self.level = level
        self.machine = machine if machine is not None else level.scenario.boot()
        self._calls = sorted(level.scenario.calls, key=lambda c: c.tick)
        self._next = 0  # index of the next call in _calls
        self.add_moves(moves)
        self.watch = Watch(self.machine, level.end_tick, watch_maps=level.goal.watch_maps)
        self.hints_taken = 0
        self.status = GoalStatus("playing", "")
        self.status = self.check()

    def add_moves(self, moves: Sequence[Call]) -> None:
        """Schedule the player's calls (scenario calls first at an equal tick)."""
        pending = self._calls[self._next:] + sorted(moves, key=lambda c: c.tick)
        self._calls = self._calls[:self._next] + sorted(pending, key=lambda c: c.tick)

    @property
    def over(self) -> bool:
        return self.status.state != "playing"

    def check(self) -> GoalStatus:
        """Judge the goal on the machine as it is now; once won or lost, that stays."""
        if self.over:
            return self.status
        self.watch.update()
        state, reason, verdicts = self.level.goal.judge(self.watch)
        self.status = GoalStatus(state, reason, [(v.text, v.ok) for v in verdicts],
                                 self.machine.tick)
        return self.status

    def advance(self) -> GoalStatus:
        """Make the calls due at this tick, step one tick, judge."""
        m = self.machine
        while self._next < len(self._calls) and self._calls[self._next].tick <= m.tick:
            call = self._calls[self._next]
            self._next += 1
            try:
                call.apply(m)
            except OSError:
                pass  # refused (or it ended its process): the input log keeps the error
            if m.panicked:
                return self.check()
        if not self.over and not m.panicked:
            m.step(1)
        return self.check()

    def run_headless(self, moves: Sequence[Call] = ()) -> dict:
        """Play to the end with these moves; the result as JSON-ready data."""
        self.add_moves(moves)
        while not self.over:
            self.advance()
        return {"level": self.level.id, "result": self.status.state,
                "score": self.score().total, "reason": self.status.reason,
                "tick": self.status.tick}

    # -- hints, score, debrief -------------------------------------------------------------

    @property
    def hints_left(self) -> int:
        return len(self.level.hints) - self.hints_taken

    def take_hint(self) -> str:
        """The next hint; each one taken costs score. ENOENT when none is left."""
        if not self.hints_left:
            raise OSError(errno.ENOENT, "no hints left")
        self.hints_taken += 1
        return self.level.hints[self.hints_taken - 1]

    def important(self) -> list[str]:
        """The processes whose survival scores: the scenario's important ones, else the ones
        the goal keeps alive."""
        if self.level.scenario.important:
            return list(self.level.scenario.important)
        keep = (goals.Alive, goals.NotKilled)
        return list(dict.fromkeys(c for cond in self.level.goal.conditions
                                  if isinstance(cond, keep) for c in cond.comms()))

    def score(self) -> scoring.Score:
        w, m = self.watch, self.machine
        won = self.status.state == "won"
        left = max(0, self.level.end_tick - self.status.tick) * m.config.tick_ms / 1000
        return scoring.compute(
            weights=self.level.weights, won=won, important=self.important(), running=w.running,
            stall_us=m.pressure()["some"]["total"], wasted_kb=sum(k.held_kb for k in w.kills),
            kills=len(w.kills), seconds_left=left, hints=self.hints_taken)

    def moves_made(self) -> list:
        """The calls made on the machine that the level itself did not make: the player's,
        from the machine's input log (engine.inputs.Input records)."""
        own = [(0, "spawn", p["comm"]) for p in self.level.scenario.processes]
        own += [(c.tick, c.name, c.args[0] if c.args else None)
                for c in self.level.scenario.calls]
        made = []
        for e in self.machine.inputs.entries:
            key = (e.tick, e.name, e.args[0] if e.args else None)
            if e.name in ("step", "set_policy"):
                continue
            if key in own:
                own.remove(key)
            else:
                made.append(e)
        return made

    def debrief(self, baseline: Mapping | None = None) -> list[str]:
        """The end screen's paragraphs (oomtui.game.debrief); `baseline` is the do-nothing
        run's result (when None: this run if it made no move, else do_nothing(level), which
        plays the level once more: call it off the UI thread)."""
        from oomtui.game.debrief import debrief

        if baseline is None:
            baseline = do_nothing(self.level) if self.moves_made() else {
                "result": self.status.state}
        return debrief(self, baseline)


_BASELINES: dict[tuple[str, str], dict] = {}


def do_nothing(level: levels.Level) -> dict:
    """The level played without a move (run_headless's result, plus who was killed when):
    what the player's moves are compared with. Kept per level file for the session."""
    key = (level.source, level.id)
    if key not in _BASELINES:
        run = LevelRun(level)
        result = run.run_headless()
        result["kills"] = [(k.comm, k.tick) for k in run.watch.kills]
        _BASELINES[key] = result
    return _BASELINES[key]


def load_moves(path: str | Path) -> tuple[Call, ...]:
    """A moves file: [[at]] tables as in a scenario (tick, call, args, kwargs); errors name
    the file, line and key."""
    path = Path(path)
    text = levels.read_text(path)
    d = levels.parse_toml(text, str(path))
    for key in d:
        if key != "at":
            line = levels.locate(text, None, key)
            raise levels.LevelError(str(path), line if line > 1 else levels.locate(text, key), key,
                                    "unknown key: a moves file holds only [[at]] tables")
    # checked as a scenario's [[at]] tables are (on a stand-in machine: the calls only)
    return levels.scenario_part({"machine": {"ram_mib": 16}, **d}, text, str(path)).calls
