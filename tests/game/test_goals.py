"""Each goal condition judged on a real machine's state (a ceiling broken loses at once, a
target reached wins at once), and the rules that combine them."""

import contextlib
from types import SimpleNamespace

import pytest
from gametools import MIB, level, oom_run, play

from oomtui.game.goals import HOLDING, LOST, WON, parse
from oomtui.game.level import parse_toml


def test_alive_is_lost_at_once_when_the_process_dies():
    run, m = play(level('alive = ["app"]'))
    m.step(5)
    assert run.check().state == "playing"
    assert run.status.progress == [("app alive", True)]
    m.kill(2)
    st = run.check()
    assert st.state == "lost" and st.reason == "app died (killed at 0.05 s)"


def test_ceilings_alone_win_when_time_is_up():
    run, m = play(level('alive = ["app"]', limit=0.5))
    for _ in range(49):
        assert run.advance().state == "playing"
    st = run.advance()
    assert (st.state, st.tick, st.reason) == ("won", 50, "the goal held for 0.50 s")


def test_a_finished_run_stays_finished():
    run, m = play(level('alive = ["app"]'))
    m.kill(2)
    assert run.check().state == "lost"
    m.step(1)
    assert run.check().tick == 0  # judged when it ended


@pytest.mark.parametrize("goal, state, reason", [
    ('killed = ["hog"]', "won", "hog OOM-killed"),
    ('not_killed = ["hog"]', "lost", "hog was OOM-killed at"),
    ("max_kills = 0", "lost", "OOM kills 1 (at most 0)"),
    ('gone = ["hog"]', "won", "hog gone"),
])
def test_oom_kill_conditions(goal, state, reason):
    run = oom_run(goal)
    result = run.run_headless()
    assert result["result"] == state
    assert result["reason"].startswith(reason)
    assert [k.comm for k in run.watch.kills] == ["hog"]
    assert run.watch.kills[0].held_kb > 40 * 1024  # most of the 64 MiB


def test_panic_is_won_only_when_the_goal_asks_for_it():
    sysctl = '[machine.sysctl]\n"vm.panic_on_oom" = 1'
    won = oom_run("panic = true", sysctl).run_headless()
    assert won["result"] == "won" and "panicked" in won["reason"]
    lost = oom_run('alive = ["app"]', sysctl).run_headless()
    assert lost["result"] == "lost"
    assert lost["reason"].startswith("the kernel panicked: Out of memory")


def test_min_mmap_is_reached_by_an_accepted_mapping():
    run, m = play(level("min_mmap_mib = { app = 64 }"))
    m.mmap(2, 32 * MIB)
    assert run.check().progress == [("app largest mapping 32 MiB (needs 64 MiB)", False)]
    m.mmap(2, 64 * MIB)
    assert run.check().state == "won"


def test_min_rss_needs_touched_pages():
    run, m = play(level("min_rss_mib = { app = 16 }"))
    addr = m.mmap(2, 32 * MIB)
    assert run.check().state == "playing"  # mapped, not resident
    m.touch(2, addr, 16 * MIB)
    assert run.check().state == "won"


def test_commit_under_limit_breaks_when_overcommitted():
    sysctl = '[machine.sysctl]\n"vm.overcommit_memory" = 1'
    run, m = play(level("commit_under_limit = true", machine=f"ram_mib = 128\n{sysctl}"))
    assert run.check().state == "playing"
    m.mmap(2, 512 * MIB)  # mode 1 accepts it; CommitLimit is 64 MiB
    st = run.check()
    assert st.state == "lost" and st.reason == "Committed_AS 512 MiB of CommitLimit 64 MiB"


def test_unlocked_needs_locked_pages_first():
    run, m = play(level('unlocked = ["app"]'))
    addr = m.mmap(2, 4 * MIB)
    assert run.check().progress == [("app has not locked memory yet", False)]
    m.mlock(2, addr, 4 * MIB)
    assert run.check().progress == [("app still holds mlocked pages", False)]
    m.munlock(2, addr, 4 * MIB)
    assert run.check().state == "won"


def test_memcg_events():
    run, m = play(level('no_max_events = ["/box"]\nmin_high_events = { "/box" = 1 }\n'
                        'early_win = false', limit=10))
    m.cgroup_create("/box", memory_high=8 * MIB, memory_max=16 * MIB)
    m.cgroup_move(2, "/box")
    addr = m.mmap(2, 32 * MIB)
    m.touch(2, addr, 12 * MIB)
    st = run.check()  # over memory.high: throttled; memory.max not reached
    assert st.state == "playing" and [ok for _, ok in st.progress] == [True, True]
    with contextlib.suppress(OSError):  # past memory.max: the memcg OOM kills app
        m.touch(2, addr, 32 * MIB)
    st = run.check()
    assert st.state == "lost" and st.reason == "/box hit memory.max"


def test_min_thp_counts_huge_pages():
    run, m = play(level("min_thp = 1", machine='ram_mib = 128\nthp = "always"'))
    addr = m.mmap(2, 8 * MIB)
    m.touch(2, addr, 8 * MIB)
    assert run.check().state == "won"
    assert run.watch.max_thp >= 1


def test_early_win_false_waits_for_the_time_limit():
    run, m = play(level("min_mmap_mib = { app = 4 }\nearly_win = false", limit=0.1))
    m.mmap(2, 4 * MIB)
    assert run.check().state == "playing"
    for _ in range(10):
        run.advance()
    assert run.status.state == "won"


def watch(**facts):
    base = dict(max_direct_stall_us=0, max_psi_avg10={"some": 0.0, "full": 0.0},
                max_swap_used_kb=0, allocstall=0, panicked=None, at_end=False)
    return SimpleNamespace(**(base | facts))


@pytest.mark.parametrize("goal, facts, final, text", [
    ("max_direct_stall_ms = 20", dict(max_direct_stall_us=20_000), HOLDING,
     "longest direct-reclaim stall 20 ms (at most 20)"),
    ("max_direct_stall_ms = 20", dict(max_direct_stall_us=30_000), LOST,
     "longest direct-reclaim stall 30 ms (at most 20)"),
    ("max_psi_full_avg10 = 5", dict(max_psi_avg10={"some": 9.0, "full": 5.5}), LOST,
     "PSI full avg10 peak 5.50% (at most 5%)"),
    ("max_psi_some_avg10 = 10", dict(max_psi_avg10={"some": 9.0, "full": 5.5}), HOLDING,
     "PSI some avg10 peak 9.00% (at most 10%)"),
    ("max_swap_used_mib = 100", dict(max_swap_used_kb=101 * 1024), LOST,
     "swap used peak 101 MiB (at most 100 MiB)"),
    ("max_allocstall = 0", dict(allocstall=3), LOST, "direct reclaim entered 3 times (at most 0)"),
    ("no_panic = true", dict(panicked="x"), LOST, "the kernel panicked"),
    ("panic = true", dict(panicked="x"), WON, "the kernel panicked"),
])
def test_ceilings_from_the_watched_numbers(goal, facts, final, text):
    key, value = goal.split(" = ")
    cond = parse({"text": "g", key: parse_toml(f"v = {value}", "x")["v"]}).conditions[0]
    verdict = cond.judge(watch(**facts))
    assert (verdict.final, verdict.text) == (final, text)


def test_direct_stall_is_measured_on_the_machine():
    """A stall in direct reclaim is owed whole when it starts: the watch reads its length on
    the first tick it shows (the engine's stalls are served tick by tick)."""
    run, m = play(level("max_direct_stall_ms = 1000"))
    p = m.procs[2]
    p.stall_us, p.stall_kind = 25_000, "reclaim"  # as Stalls.stall leaves it mid-tick
    m.stalls.stalled.add(2)
    m.step(1)
    run.check()
    assert run.watch.max_direct_stall_us == 25_000
    assert run.watch.longest_stall.facts["comm"] == "app"
