"""LevelRun: the intro levels won by their scripted solutions and lost doing nothing, scores
that repeat, hints that cost, the debrief's numbers, the kill sentence, moves files."""

import contextlib
import errno

import pytest
from gametools import MIB, SOLUTIONS, level, oom_run, play

from oomtui.game import LevelRun, do_nothing, find_level, load_moves
from oomtui.kill_sentence import kill_sentence


@pytest.mark.parametrize("level_id, tick", [("overcommit", 101), ("page-fault", 51),
                                            ("watermarks", 1000)])
def test_intro_levels_are_won_by_their_solution(level_id, tick):
    result = LevelRun(find_level(level_id)).run_headless(load_moves(SOLUTIONS /
                                                                    f"{level_id}.toml"))
    assert (result["level"], result["result"], result["tick"]) == (level_id, "won", tick)


@pytest.mark.parametrize("level_id, reason", [
    ("overcommit", "time is up: analytics largest mapping 0 MiB (needs 302 MiB)"),
    ("page-fault", "time is up: renderer RSS 16 MiB (needs 200 MiB)"),
    ("watermarks", "direct reclaim entered 85 times (at most 0)"),
])
def test_intro_levels_are_lost_doing_nothing(level_id, reason):
    result = LevelRun(find_level(level_id)).run_headless()
    assert (result["result"], result["reason"]) == ("lost", reason)


def test_a_run_scores_the_same_twice():
    moves = load_moves(SOLUTIONS / "watermarks.toml")
    a, b = LevelRun(find_level("watermarks")), LevelRun(find_level("watermarks"))
    assert a.run_headless(moves) == b.run_headless(moves)
    assert a.score() == b.score()
    parts = {p.name: p.points for p in a.score().parts}
    # won, db alive (important), 0 ms stalled, no kills, judged at the time limit, no hints
    assert parts == {"result": 500, "survivors": 100, "stall_ms": 0, "wasted_mib": 0,
                     "kills": 0, "time": 0, "hints": 0}


def test_hints_cost_score_and_run_out():
    lv = find_level("overcommit")
    run = LevelRun(lv)
    assert run.take_hint() == lv.hints[0]
    assert run.take_hint() == lv.hints[1]
    run.run_headless(load_moves(SOLUTIONS / "overcommit.toml"))
    score = run.score()
    assert score.part("hints").points == -100
    # 500 for the win, 18.99 s left at 5 a second, two hints at -50
    assert score.total == 500 + 95 - 100
    run.take_hint()
    with pytest.raises(OSError) as e:
        run.take_hint()
    assert e.value.errno == errno.ENOENT


def test_debrief_tells_this_runs_numbers_and_the_moves():
    lv = find_level("watermarks")
    run = LevelRun(lv)
    run.run_headless(load_moves(SOLUTIONS / "watermarks.toml"))
    text = run.debrief()
    assert text[0] == "Won at 10.00 s (tick 1000) of 10 s: the goal held for 10.00 s."
    assert text[1].startswith("At 1.95 s (tick 195) free pages in zone DMA32 fell under its "
                              "low watermark, 36929 pages (144.3 MiB)")
    assert "1.00 s sysctl('vm.watermark_scale_factor', 1000)" in text[-2]
    assert text[-1].startswith("Doing nothing: lost at 4.03 s: direct reclaim entered 85 times")
    assert do_nothing(lv)["score"] == 100  # db survived; nothing else scores


def test_debrief_of_a_run_without_moves_needs_no_second_run():
    run = LevelRun(find_level("page-fault"))
    run.run_headless()
    text = run.debrief()
    assert text[0] == ("Lost at 15.00 s (tick 1500) of 15 s: time is up: renderer RSS 16 MiB "
                       "(needs 200 MiB).")
    assert text[1] == ("Free memory never fell to the low watermark: kswapd0 slept through the "
                       "run. The watermarks of zone DMA32 are min 6308, low 7885, high 9462 "
                       "pages (24.6 MiB, 30.8 MiB, 37.0 MiB).")
    assert text[-2:] == ["The OOM killer never ran.",
                         "You made no move: this is what doing nothing gives (lost)."]


def test_oom_kill_sentence():
    run = oom_run('killed = ["hog"]')
    run.run_headless()
    event = run.watch.oom_events[0]
    sentence = kill_sentence(run.machine, event)
    rows = {r["comm"]: r for r in event.data["candidates"]}
    hog = rows["hog"]
    share = 100 * (hog["rss"] + hog["swapents"] + hog["pgtables"]) / event.data["totalpages"]
    assert sentence == f"hog was killed: it held {share:.0f}% of RAM+swap; the next, app, held 0%"


def test_kill_sentence_names_who_oom_score_adj_spared():
    class Event:
        data = {"victim": 3, "totalpages": 1000, "candidates": [
            {"pid": 2, "comm": "postgres", "rss": 500, "swapents": 0, "pgtables": 0,
             "adj": -500, "adj_term": -500, "points": 0, "victim": False},
            {"pid": 3, "comm": "leaky-app", "rss": 300, "swapents": 10, "pgtables": 0,
             "adj": 0, "adj_term": 0, "points": 310, "victim": True}]}
        message = ""

    assert kill_sentence(None, Event) == ("leaky-app was killed: it held 31% of RAM+swap; "
                                          "postgres (50%) was spared by its oom_score_adj -500")


def test_run_headless_cost_is_bounded(monkeypatch):
    """A headless run steps one tick at a time only until the level ends, reads the machine
    once per tick, and the do-nothing baseline is played once per level (a count, not a
    timing: DESIGN.md §6)."""
    from oomtui.game import runner
    from oomtui.game.watch import Watch

    counts = {"update": 0}
    update = Watch.update
    monkeypatch.setattr(Watch, "update", lambda self: (counts.__setitem__(
        "update", counts["update"] + 1), update(self))[1])
    lv = find_level("overcommit")
    run = LevelRun(lv)
    result = run.run_headless(load_moves(SOLUTIONS / "overcommit.toml"))
    assert result["tick"] == run.machine.tick == 101  # won at once: 1899 ticks never run
    steps = [e for e in run.machine.inputs.entries if e.name == "step"]
    assert [e.args for e in steps] == [(100,), (1,)]  # merged in the log: the mmap at 100 between
    assert counts["update"] == 1 + 101  # at boot, then after each tick
    monkeypatch.setattr(runner, "_BASELINES", {})
    plays = []
    monkeypatch.setattr(runner.LevelRun, "run_headless",
                        lambda self, moves=(): plays.append(1) or {"result": "lost"})
    runner.do_nothing(lv)
    runner.do_nothing(lv)
    assert plays == [1]


def test_moves_file_errors_name_file_line_and_key(tmp_path):
    path = tmp_path / "moves.toml"
    path.write_text('[[at]]\ntick = 5\ncall = "mmap"\nargs = [2]\n\n[[at]]\ntick = -1\n'
                    'call = "sysctl"\n')
    with pytest.raises(OSError) as e:
        load_moves(path)
    assert e.value.strerror.startswith(f"{path}:4: key `args`: mmap(pid, length")
    path.write_text('[[at]]\ntick = 1\ncall = "sysctl"\nargs = ["vm.swappiness", 10]\n'
                    '[[at]]\ntick = -1\ncall = "sysctl"\n')
    with pytest.raises(OSError) as e:
        load_moves(path)
    assert e.value.strerror.startswith(f"{path}:6: key `tick`: tick: must be an int from 0")
    path.write_text('[[at]]\ntick = 1\ncall = "sysctl"\nargs = ["vm.swappiness", [[1]]]\n')
    with pytest.raises(OSError) as e:
        load_moves(path)
    assert e.value.strerror.startswith(f"{path}:4: key `args`: sysctl() argument value: ")
    path.write_text('name = "x"\n')
    with pytest.raises(OSError) as e:
        load_moves(path)
    assert e.value.strerror.startswith(f"{path}:1: key `name`: unknown key")


def test_kill_sentence_of_a_memcg_oom():
    run, m = play(level('alive = ["app"]'))
    m.cgroup_create("/box", memory_max=16 * MIB)
    m.cgroup_move(2, "/box")
    with contextlib.suppress(OSError):  # app is killed while it touches past memory.max
        m.touch(2, m.mmap(2, 32 * MIB), 32 * MIB)
    run.check()
    event, = run.watch.oom_events
    victim, = event.data["candidates"]
    share = 100 * (victim["rss"] + victim["pgtables"]) / event.data["totalpages"]
    assert share > 90
    assert kill_sentence(m, event) == (f"app was killed: it held {share:.0f}% of /box's memory "
                                       "limit; it was the only candidate")


def test_a_panic_is_told_in_the_debrief():
    run = oom_run("panic = true", '[machine.sysctl]\n"vm.panic_on_oom" = 1')
    run.run_headless()
    text = run.debrief()
    assert text[0].startswith("Won at ") and "the kernel panicked" in text[0]
    assert text[1].startswith("kswapd0 never got to run: allocations went past the low "
                              "watermark and into direct reclaim within one tick.")
    assert text[-2] == ("At 0.03 s: Nobody was killed: vm.panic_on_oom = 1 made the kernel panic "
                        "instead (Out of memory: system-wide panic_on_oom is enabled).")
