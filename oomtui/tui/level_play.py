"""LevelPlay: a game level played in the app's engine worker (tui/sim.py steps the machine):
the goal judged after every tick, call and trip in time, the hints, and the level's end summed
up (score, debrief, progress recorded) for the end screen.

Time travel during a level: a trip (t/T, or to another branch) judges the level afresh on the
machine as it is at the new moment (a new LevelRun; the hints taken are kept, they were read).
What the machine's own books hold since boot is judged as before (the events: kills, deaths,
OOM decisions; counters: allocstall, the PSI totals the score counts), while the peaks the goal
watches tick by tick (the longest direct-reclaim stall, PSI avg10, swap used) count from there
on. A broken ceiling ends the level at once, so no trip undoes a loss; once the level is over
its verdict stays, whatever the machine does next (r retries from its boot).
"""

from __future__ import annotations

from dataclasses import dataclass

from oomtui.game import GoalStatus, Level, LevelRun, Progress, Score, builtin_levels


@dataclass(frozen=True)
class Ending:
    """A level's end, for the end screen."""
    level: Level
    status: GoalStatus
    score: Score
    debrief: tuple[str, ...]  # paragraphs: what happened, in kernel terms and this run's numbers
    best: int | None  # the best score so far, this run included
    new_best: bool
    next_level: Level | None  # the campaign's next level (None after the last, or a user's own)
    next_open: bool  # whether next_level may be played now
    warning: str = ""  # why the progress could not be kept ("" when it was)


class LevelPlay:
    """One play of `level` on the Sim's machine (booted from the level's scenario)."""

    def __init__(self, level: Level, machine):
        self.level = level
        self.run = LevelRun(level, machine)

    @property
    def status(self) -> GoalStatus:
        return self.run.status

    @property
    def over(self) -> bool:
        return self.run.over

    @property
    def hints_taken(self) -> int:
        return self.run.hints_taken

    def judge(self) -> bool:
        """Judge the goal now; True when this ended the level."""
        run = self.run
        if run.over:
            return False
        if run.machine.tick not in (run.watch.tick, run.watch.tick + 1):  # a trip in time
            self.run = LevelRun(self.level, run.machine)
            self.run.hints_taken = run.hints_taken
        return self.run.check().state != "playing"

    def hint(self) -> tuple[int, str]:
        """(its number, the next hint); ENOENT when none is left."""
        text = self.run.take_hint()
        return self.run.hints_taken, text

    def ending(self) -> Ending:
        """The end summed up, the run recorded in the player's progress (a new best also
        kept as a save). The debrief plays the level once without moves to compare."""
        run, level = self.run, self.level
        score = run.score()
        progress = Progress.load()
        warning = progress.warning
        try:
            new_best = progress.record(level, score, run.machine)
        except OSError as e:
            new_best, warning = False, f"progress not saved: {e.strerror or e}"
        campaign = builtin_levels()
        ids = [lv.id for lv in campaign]
        after = ids.index(level.id) + 1 if level.id in ids else len(campaign)
        next_level = campaign[after] if after < len(campaign) else None
        return Ending(level, run.status, score, tuple(run.debrief()), progress.best(level.id),
                      new_best, next_level,
                      next_level is not None and progress.state(next_level.id) != "locked",
                      warning)
