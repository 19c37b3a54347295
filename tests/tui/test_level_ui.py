"""Playing a game level in the app: the briefing, the goal line, hints, the end screen and the
progress it records; the footer's help and quit keys; the scenario's description; the OOM
kill's plain sentence (behaviour asserted on state, the look in snapshots)."""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey
from tuitools import fill, oom_scenario, select, settle, until

from oomtui.game import Progress, find_level, load_level
from oomtui.kill_sentence import kill_sentence
from oomtui.scenarios import parse
from oomtui.tui.app import make_app
from oomtui.tui.screens.briefing import BriefingScreen
from oomtui.tui.screens.level_end import LevelEndScreen
from oomtui.tui.screens.oom import OomScreen
from oomtui.tui.sim import is_oom_kill
from oomtui.tui.widgets.goal_line import GoalLine
from oomtui.tui.widgets.key_footer import KeyFooter

SIZES = ((80, 24), (160, 48))
ROOM = "305M"  # level 1's answer: CommitLimit - Committed_AS - the admin reserve


def overcommit():
    return find_level("overcommit")


def text(widget) -> str:
    return str(widget.render())


async def win_level_1(pilot) -> None:
    """From level 1's briefing: start, and map the largest mapping mode 2 allows in
    analytics, through the mmap dialog."""
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await select(pilot, "analytics")
    await pilot.press("m")
    await fill(pilot, length=ROOM)
    await until(pilot, lambda: isinstance(pilot.app.screen, LevelEndScreen))


# -- the footer and the line under the header ------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
async def test_the_footer_shows_help_and_quit_first_at_every_size(app, size):
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        keys = list(app.main.query_one(KeyFooter).query(FooterKey))
        assert [(k.key_display, k.description) for k in keys[:2]] == [("?", "Help"),
                                                                      ("q", "Quit")]
        assert all(k.region.right <= size[0] for k in keys[:2])


async def test_the_scenario_description_shows_under_the_header():
    about = "A [b]tiny[/] box: one process, [/] no swap."  # markup it is not
    scenario = parse({"name": "about", "description": about,
                      "machine": {"ram_mib": 64, "seed": 1}, "process": [{"comm": "db"}]},
                     "about.toml")
    app = make_app(scenario, paused=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = app.main.query_one(GoalLine)
        assert line.display and text(line) == about


async def test_a_scenario_without_a_description_has_no_line(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not app.main.query_one(GoalLine).display


# -- a level, played through the keyboard ------------------------------------------------------

async def test_level_1_is_won_through_the_keyboard_and_recorded(notes):
    app = make_app(overcommit(), speed=0.25)  # 80 s of wall time to play it: a busy machine
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, BriefingScreen) and app.sim.paused  # the clock waits
        await pilot.press("enter")
        await until(pilot, lambda: app.frame is not None and app.frame.tick > 0)  # it runs
        line = app.main.query_one(GoalLine)
        assert "✗ analytics largest mapping 0 MiB (needs 302 MiB)" in text(line)
        await select(pilot, "analytics")
        await pilot.press("h")
        await fill(pilot)  # the dialog says what a hint costs; OK shows it
        assert notes[-1] == overcommit().hints[0] and app.frame.hints_taken == 1
        await pilot.press("m")
        await fill(pilot, length=ROOM)
        await until(pilot, lambda: isinstance(app.screen, LevelEndScreen))

        ending = app.screen.ending
        assert ending.status.state == "won" and app.sim.paused
        assert ending.score.part("hints").points == -50
        # the verdict names the condition met; the other follows
        assert text(line).startswith(f" Goal  won: {ending.status.reason} ✓ Committed_AS ")
        progress = Progress.load()
        assert progress.state("overcommit") == "won"
        assert progress.best("overcommit") == ending.score.total == ending.best
        assert progress.best_run("overcommit").is_file()
        assert ending.next_open and progress.state(ending.next_level.id) == "open"

        await pilot.press("n")  # the next level: its briefing, over its machine
        await until(pilot, lambda: isinstance(app.screen, BriefingScreen))
        assert app.screen.level.id == ending.next_level.id
        await settle(pilot)
        assert app.level.id == ending.next_level.id and app.frame.goal.state == "playing"


async def test_the_goal_line_follows_each_condition_and_the_clock():
    app = make_app(overcommit(), paused=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # started paused: the clock stays stopped
        await settle(pilot)
        line = app.main.query_one(GoalLine)
        assert text(line) == (" Goal  20 s left · h: hint (3 left) ✗ analytics largest mapping "
                              "0 MiB (needs 302 MiB) ✓ Committed_AS 0 MiB of CommitLimit 410 MiB")
        await pilot.press(*"." * 3)
        await settle(pilot)
        assert app.frame.tick == 3 and " 20 s left" in text(line)
        assert app.frame.goal.progress == [  # cache's database has mapped its first MiB
            ("analytics largest mapping 0 MiB (needs 302 MiB)", False),
            ("Committed_AS 6 MiB of CommitLimit 410 MiB", True)]
        assert "✓ Committed_AS 6 MiB of CommitLimit 410 MiB" in text(line)


async def test_a_rewind_judges_the_level_afresh_and_keeps_the_hints_taken(notes):
    app = make_app(overcommit(), paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter", "h")
        await fill(pilot)
        app.sim.step(300)
        await settle(pilot)
        await pilot.press("t")  # 1 s back
        await until(pilot, lambda: app.frame.tick == 200)
        await settle(pilot)
        assert app.frame.goal.state == "playing" and app.frame.hints_taken == 1
        assert app.sim.game.run.watch.tick == 200
        await pilot.press("h")
        await fill(pilot)
        assert notes[-1] == overcommit().hints[1]


async def test_time_running_out_loses_and_the_next_level_stays_locked(notes):
    app = make_app(overcommit(), paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        app.sim.step(overcommit().end_tick)
        await until(pilot, lambda: isinstance(app.screen, LevelEndScreen))
        ending = app.screen.ending
        assert ending.status.state == "lost" and ending.score.part("result").points == 0
        score = app.screen.query_one("#end-score")
        drawn = [score.render_line(y).text for y in range(score.size.height)]
        assert any("score (never below 0) · best 0 " in row for row in drawn)
        assert Progress.load().state("overcommit") == "open"
        await pilot.press("n")
        assert notes[-1] == f"{ending.next_level.title!r} opens once this level is won"
        await pilot.press("r")  # retry: the level from its boot, without the briefing
        await settle(pilot)
        assert app.screen is app.main and app.frame.tick == 0
        assert app.frame.goal.state == "playing"


async def test_p_on_the_end_screen_opens_the_picker():
    from oomtui.tui.screens.picker import PickerScreen

    app = make_app(overcommit(), paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await win_level_1(pilot)
        await pilot.press("p")
        assert isinstance(app.screen, PickerScreen)


async def test_a_level_files_text_is_shown_as_text(tmp_path):
    source = overcommit().source
    odd = tmp_path / "odd.toml"
    with open(source) as f:
        level = f.read().replace('title = "The biggest', 'title = "[/] The [b]biggest')
    odd.write_text(level.replace('id = "overcommit"', 'id = "odd"'))
    app = make_app(load_level(odd), paused=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        title = text(app.screen.query_one("#briefing-title"))
        assert title == "Level 1: [/] The [b]biggest mapping strict overcommit allows"


# -- the OOM kill's plain sentence -----------------------------------------------------------

async def test_an_oom_kill_is_told_in_a_sentence_beside_the_toast_and_on_the_oom_screen(notes):
    app = make_app(oom_scenario(), paused=True, start_tick=400)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        m = app.sim.machine
        kill = next(e for e in m.events if is_oom_kill(e))
        said = kill_sentence(m, kill)
        assert said.startswith("hog was killed: it held ")
        toast = next(n for n in notes if n.startswith("Out of memory: Killed process"))
        assert toast == f"{kill.message}.\n{said}. Press O for the report."
        await pilot.press("O")
        assert isinstance(app.screen, OomScreen)
        why = text(app.screen.query_one("#oom-why"))
        assert why.startswith(f"{said}.\nPoints are pages (4 KiB each); totalpages = "
                              f"{kill.data['totalpages']} (RAM + swap). /proc/PID/oom_score")


# -- the look ----------------------------------------------------------------------------------

def ready_briefing():
    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()
    return run_before


def ready_end():
    async def run_before(pilot) -> None:
        await win_level_1(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()
    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_briefing_screen(snap_compare, size):
    assert snap_compare(make_app(overcommit(), paused=True), terminal_size=size,
                        run_before=ready_briefing())


@pytest.mark.parametrize("size", SIZES)
def test_level_end_screen(snap_compare, size):
    assert snap_compare(make_app(overcommit(), paused=True), terminal_size=size,
                        run_before=ready_end())


def test_level_main_screen_80x24(snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(overcommit(), paused=True), terminal_size=(80, 24),
                        run_before=run_before)
