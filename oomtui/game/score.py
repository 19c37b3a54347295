"""A level's score, from what a sysadmin cares about. Each part is a number from the run times
its weight ([score] in the level file overrides a weight):

- result: `won` points for a win, none for a loss;
- survivors: `survivor` points per important process alive at the end (the scenario's
  `important` ones, else those the goal names);
- stall_ms: `stall_per_100ms` per 100 ms some task was stalled on memory (PSI some total:
  direct reclaim, memory.high throttling, swap-in);
- wasted_mib: `wasted_per_mib` per MiB the killed processes held (RSS + swap): work thrown
  away, less when a leak is stopped early;
- kills: `kill` per OOM kill (the kernel's or a daemon's);
- time: `second_left` per simulated second left when the level was won early;
- hints: `hint` per hint taken.
The total is never below 0. The same run always scores the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oomtui.game.goals import GoalError

WEIGHTS = {"won": 500, "survivor": 100, "stall_per_100ms": -5, "wasted_per_mib": -1,
           "kill": -100, "second_left": 5, "hint": -50}


def parse_weights(table) -> dict:
    """WEIGHTS with a [score] table's changes; errors name the key (GoalError)."""
    if not isinstance(table, Mapping):
        raise GoalError(None, "[score] must be a table")
    for key, v in table.items():
        if key not in WEIGHTS:
            raise GoalError(key, f"unknown score weight: use {', '.join(WEIGHTS)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or abs(v) > 100_000:
            raise GoalError(key, f"must be a number from -100000 to 100000, got {v!r}")
    return WEIGHTS | dict(table)


@dataclass(frozen=True)
class Part:
    name: str  # survivors, stall_ms, wasted_mib, kills, time, hints, result
    value: float  # what was measured, in the unit the name says
    points: int
    text: str  # one line for the end screen


@dataclass(frozen=True)
class Score:
    total: int
    parts: tuple[Part, ...]

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)


def compute(*, weights: Mapping, won: bool, important: list[str], running: set[str],
            stall_us: int, wasted_kb: int, kills: int, seconds_left: float,
            hints: int) -> Score:
    w = weights
    alive = [c for c in important if c in running]
    stall_ms = stall_us // 1000
    wasted = wasted_kb // 1024
    left = seconds_left if won else 0
    parts = (
        Part("result", int(won), round(w["won"] * won), "won" if won else "lost"),
        Part("survivors", len(alive), round(w["survivor"] * len(alive)),
             f"{len(alive)} of {len(important)} important processes alive"
             + (f" ({', '.join(alive)})" if alive else "")),
        Part("stall_ms", stall_ms, round(w["stall_per_100ms"] * stall_ms / 100),
             f"{stall_ms} ms stalled on memory (PSI some)"),
        Part("wasted_mib", wasted, round(w["wasted_per_mib"] * wasted),
             f"{wasted} MiB held by killed processes"),
        Part("kills", kills, round(w["kill"] * kills), f"OOM kills: {kills}"),
        Part("time", round(left, 2), round(w["second_left"] * left),
             f"{left:.2f} s left on the clock" if won else "no time bonus for a loss"),
        Part("hints", hints, round(w["hint"] * hints), f"hints taken: {hints}"),
    )
    return Score(max(0, sum(p.points for p in parts)), parts)
