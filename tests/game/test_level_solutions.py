"""Every built-in level is won by its scripted solution (tests/game/solutions/<id>.toml) and
lost by doing nothing; at most two introductory levels may be won by watching (issue 13).

The expected ticks and scores are this engine's: a run repeats to the tick and the point, so a
number that moves means a rule changed (or a level did)."""

from pathlib import Path

import pytest

from oomtui.game import LevelRun, builtin_levels, do_nothing, find_level, load_moves
from oomtui.scenarios import Call

SOLUTIONS = Path(__file__).parent / "solutions"

# level id: (tick the solution wins at, its score, why doing nothing loses)
CAMPAIGN = {
    "cache-is-not-used": (1201, 840, "time is up: importer RSS 0 MiB (needs 1400 MiB)"),
    "swap-in-time": (4000, 681, "report died (OOM-killed at 23.96 s)"),
    "protect-the-db": (1772, 614, "postgres died (OOM-killed at 17.72 s)"),
    "stop-the-thrash": (4000, 574, "PSI full avg10 peak 4.66% (at most 4%)"),
    "fence-the-batch": (4000, 611, "/batch hit memory.max"),
    "who-locked-it": (1501, 950, "OOM kills 1 (at most 0)"),
    "huge-pages": (2077, 746, "time is up: huge pages 30 (needs 48)"),
    "panic-or-kill": (2140, 237, "postgres was OOM-killed at 21.40 s"),
    "all-or-nothing": (1665, 458, "postgres died (OOM-killed at 16.88 s)"),
    "strict-accounting": (4000, 800, "Committed_AS 2560 MiB of CommitLimit 2560 MiB"),
    "perfect-storm": (4500, 544, "build died (OOM-killed at 11.24 s)"),
}


def solution(level_id: str):
    return load_moves(SOLUTIONS / f"{level_id}.toml")


def test_every_builtin_level_has_a_solution_and_no_solution_is_stray():
    assert {p.stem for p in SOLUTIONS.glob("*.toml")} == {lv.id for lv in builtin_levels()}


@pytest.mark.parametrize("level_id", CAMPAIGN)
def test_a_level_is_won_by_its_solution_and_lost_doing_nothing(level_id):
    tick, score, reason = CAMPAIGN[level_id]
    level = find_level(level_id)
    won = LevelRun(level).run_headless(solution(level_id))
    assert (won["result"], won["tick"], won["score"]) == ("won", tick, score)
    nothing = do_nothing(level)
    assert (nothing["result"], nothing["reason"]) == ("lost", reason)
    assert nothing["score"] < score


# The obvious move that misses the lesson: level id, the moves, why it loses.
NEAR_MISSES = [
    ("who-locked-it", [Call("kill", (5,), tick=1500)],  # the biggest JVM, not the locker
     "java-c died (killed at 15.00 s)"),
    ("panic-or-kill", [Call("sysctl", ("vm.panic_on_oom", 2), tick=200)],  # panics on the memcg OOM
     "the kernel panicked: Out of memory: compulsory panic_on_oom is enabled"),
    ("all-or-nothing", [Call("cgroup_set", ("/api",), {"memory_max": 1 << 30}, tick=500)],
     "time is up: api-w1, api-w2, api-w3 not OOM-killed yet"),  # without oom.group
    ("strict-accounting", [Call("sysctl", ("vm.overcommit_memory", 2), tick=500),
                           Call("sysctl", ("vm.overcommit_ratio", 50), tick=500)],
     "Committed_AS 1773 MiB of CommitLimit 1536 MiB"),  # a limit below what is committed
    ("perfect-storm", [Call("swapon", (1024,), tick=300),  # the agent dies, but too late
                       Call("cgroup_set", ("/build",), {"memory_high": 1 << 30}, tick=400),
                       Call("set_oom_score_adj", (5, 1000), tick=500)],
     "PSI full avg10 peak 1.63% (at most 1%)"),
]


@pytest.mark.parametrize("level_id, moves, reason", NEAR_MISSES, ids=[m[0] for m in NEAR_MISSES])
def test_the_obvious_move_that_misses_the_lesson_loses(level_id, moves, reason):
    result = LevelRun(find_level(level_id)).run_headless(moves)
    assert (result["result"], result["reason"]) == ("lost", reason)


def test_at_most_two_intro_levels_are_won_by_watching():
    watched = [lv for lv in builtin_levels() if do_nothing(lv)["result"] == "won"]
    assert len(watched) <= 2 and all(lv.difficulty == 1 for lv in watched)


def test_the_levels_together_teach_every_topic_in_order_of_difficulty():
    from oomtui.game.level import TOPICS

    levels = builtin_levels()
    assert {t for lv in levels for t in lv.teaches} == set(TOPICS)
    assert [lv.difficulty for lv in levels] == sorted(lv.difficulty for lv in levels)
    assert len(levels) >= 12
