"""The game: levels with a goal the engine checks every tick, a score, hints, a debrief, and
the player's progress.

A level is a scenario file (oomtui.scenarios) with three more tables:

    [level]
    id = "watermarks"          # [a-z0-9-]+, unique among built-in and user levels
    title = "..."
    order = 3                  # campaign position: level n opens when level n-1 is won
    difficulty = 1             # 1 (intro) .. 5 (expert)
    teaches = ["watermarks"]   # words of level.TOPICS
    briefing = "..."           # the situation, what to watch, which keys help
    time_limit_s = 60          # simulated seconds; the level is judged then at the latest
    hints = ["...", "..."]     # shown on demand; each taken costs score
    [goal]
    text = "..."               # the goal in words, for the goal line
    early_win = true           # (default) every target reached wins at once
    <conditions>               # all must hold; at least one
    [score]                    # optional weights (score.WEIGHTS: won, survivor,
                               # stall_per_100ms, wasted_per_mib, kill, second_left, hint)

Goal conditions. A *ceiling* holds until broken, and breaking it loses at once; a *target*
is reached once and stays reached. The level is won when every target is reached (at once,
unless early_win = false) with no ceiling broken, or at time_limit_s when nothing was broken
and every target was reached. A kernel panic ends the level: won only with `panic = true`.

    ceilings
    alive = ["postgres"]           each keeps running to the end (an OOM victim counts as dead)
    not_killed = ["postgres"]      never killed by the OOM killer (kernel's or memcg's) or an
                                   OOM daemon
    max_kills = 0                  at most this many such kills
    max_direct_stall_ms = 20       no task stalls longer in direct reclaim or compaction at
                                   once (stalls are served in whole ticks)
    max_allocstall = 0             vmstat allocstall (entries into direct reclaim) never
                                   above this
    max_psi_some_avg10 = 10.0      /proc/pressure/memory some avg10 (%) never above this
    max_psi_full_avg10 = 5.0       the same for full
    max_swap_used_mib = 256        SwapTotal - SwapFree never above this
    commit_under_limit = true      Committed_AS never above CommitLimit
    no_max_events = ["/batch"]     memory.events max stays 0 (memory.max never hit)
    no_panic = true                the kernel never panics
    targets
    killed = ["leaky-app"]         each killed by the OOM killer or an OOM daemon
    gone = ["hog"]                 each no longer runs (exited, or killed by anyone)
    min_mmap_mib = { app = 700 }   the process holds one mapping of at least this size
    min_rss_mib = { app = 64 }     the process's VmRSS reaches this
    min_thp = 1                    AnonHugePages holds this many 2 MiB pages (the engine has
                                   no per-process THP count)
    min_high_events = { "/batch" = 1 }  memory.events high reaches this (throttled)
    unlocked = ["hog"]             the process held mlocked pages and now holds none (or is gone)
    panic = true                   the kernel panics (vm.panic_on_oom): the level ends won

A process named by a condition must be started by the level ([[process]] or an [[at]] spawn).
Example, the cluster-safe choice of a panic_on_oom level: `panic = true` with
`not_killed = ["db-primary"]` wins only when the node panics (and fails over) before the OOM
killer takes the primary; the same goal with `max_kills = 0` forbids any kill on the way.

Playing a level: `LevelRun(level, machine=None)`; the app steps `run.machine` itself and
calls `run.check()` after every tick (a GoalStatus: state, reason, progress as (text, ok) per
condition); `take_hint()`, `score()`, `debrief()` (it plays the level once more without moves
to compare, kept per level: `do_nothing(level)`), `run_headless(moves)`.

Modules: level.py (Level, the loader, errors as "FILE:LINE: key `x`: message"), goals.py
(the conditions), watch.py (what a run did, read from the machine's public views after each
tick), score.py, runner.py (LevelRun: play, check, hints, score, headless runs, moves files),
debrief.py (the end screen's paragraphs), progress.py (Progress). Built-in levels are the
files in levels/; a user's own are in the data dir's levels/ (oomtui.paths.levels_dir).
"""

from oomtui.game.goals import Goal
from oomtui.game.level import (
    Level, LevelError, all_levels, builtin_levels, find_level, load_level, user_levels,
)
from oomtui.game.progress import Progress
from oomtui.game.runner import GoalStatus, LevelRun, do_nothing, load_moves
from oomtui.game.score import Score

__all__ = ["Goal", "GoalStatus", "Level", "LevelError", "LevelRun", "Progress", "Score",
           "all_levels", "builtin_levels", "do_nothing", "find_level", "load_level",
           "load_moves", "user_levels"]
