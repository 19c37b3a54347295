"""The start: the welcome and the one-minute tour on a first start, the picker (ctrl+o) and the
sandbox. Asserted on screens, the progress file and the engine's own views; the look of the
welcome and the picker by snapshots at 80×24 and 160×48."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input, Label, OptionList
from tuitools import SIZE, fill, pick, ready, scenario, settle, until

from oomtui import paths, saves, scenarios
from oomtui.examples import DESCRIPTIONS, EXAMPLES_DIR
from oomtui.game import builtin_levels
from oomtui.tui.app import make_app
from oomtui.tui.dialogs.form import FormDialog
from oomtui.tui.screens.picker import PickerScreen
from oomtui.tui.screens.tour import STEPS, TourScreen
from oomtui.tui.screens.welcome import WelcomeScreen

MiB = 1 << 20
EXAMPLE = EXAMPLES_DIR / "leak-about-to-be-killed.oomsave"


def listed(app) -> list[str]:
    """The picker's lines as shown (headings and entries)."""
    return [str(o.prompt).strip() for o in app.screen.query_one(OptionList).options]


def error_line(app) -> str:
    return str(app.screen.query_one("#picker-error", Label).render())


# -- the welcome and the tour ------------------------------------------------------------------

async def test_the_welcome_is_offered_only_on_a_first_start_that_asks_for_it():
    async with make_app(scenario(), paused=True).run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert pilot.app.screen is pilot.app.main  # a scenario opened on purpose: no welcome
    app = make_app(scenario(), paused=True, welcome=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("escape")  # skipped: recorded, so never offered again
        assert app.screen is app.main
    assert (paths.data_dir() / "progress.json").is_file()
    async with make_app(scenario(), paused=True, welcome=True).run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert pilot.app.screen is pilot.app.main


async def test_the_tour_lights_each_part_in_turn_and_goes_back_and_ends():
    app = make_app(scenario(), paused=True, welcome=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the tour
        assert isinstance(app.screen, TourScreen)
        for i, step in enumerate(STEPS):
            await pilot.pause()
            lit = list(app.main.query(".-toured"))
            assert lit == [app.main.query_one(step.target)], step.title
            assert lit[0].region.area > 0, f"{step.title}: not on screen at 80x24"
            assert str(app.screen.query_one("#tour-title").render()).startswith(
                f"{i + 1}/{len(STEPS)} · ")
            if i < len(STEPS) - 1:
                await pilot.press("right")
        await pilot.press("left")
        assert app.main.query_one(STEPS[-2].target).has_class("-toured")
        await pilot.press("escape")  # ends the tour where it is: the machine, nothing lit
        assert app.screen is app.main and not list(app.main.query(".-toured"))


async def test_welcome_then_the_whole_tour_then_the_first_level():
    first = builtin_levels()[0]
    app = make_app(scenario(), paused=True, welcome=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        for _ in STEPS:
            assert isinstance(app.screen, TourScreen)
            await pilot.press("enter")
        await settle(pilot)
        assert app.level.id == first.id
        assert app.sim.scenario == first.scenario and app.sim.machine.tick == 0


async def test_help_w_and_the_command_palette_reopen_the_welcome():
    app = make_app(scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark", "w")
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("escape")
        assert app.screen is app.main
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"welcome and tour", "enter")
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen))


# -- the picker -----------------------------------------------------------------------------

async def test_the_picker_lists_levels_scenarios_examples_and_the_users_saves_as_text(notes):
    folder = paths.ensure(paths.saves_dir())
    (folder / "[b]mine.oomsave").write_bytes(EXAMPLE.read_bytes())
    app = make_app(scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, PickerScreen)
        lines = listed(app)
        headings = [line for line in lines if line.split(" ")[0] in
                    ("Levels", "Scenarios:", "Example", "Your")]
        assert len(headings) == 4
        for level in builtin_levels():
            assert f"{level.order}. {level.title}  [{'open' if level.order == 1 else 'locked'}]" \
                in lines
        for name in scenarios.builtin_names():
            assert name in lines
        for name in DESCRIPTIONS:
            assert any(line.startswith(f"{name} · ") for line in lines), name
        assert any(line.endswith("· [b]mine.oomsave") for line in lines)  # not markup
        await pilot.press("ctrl+o")  # closes it again
        assert app.screen is app.main
        await pilot.press("ctrl+o")
        await pick(pilot, folder / "[b]mine.oomsave")
        assert app.sim.machine.tick == saves.read_header(EXAMPLE)["meta"]["tick"]
        assert notes[-1] == ("loaded [b]mine.oomsave: leak-about-to-be-killed, paused "
                             "(space runs)")


async def test_the_picker_shows_each_levels_state_and_keeps_a_locked_one_closed():
    first, second, third = builtin_levels()[:3]
    paths.ensure(paths.data_dir())
    paths.progress_path().write_text(json.dumps(
        {"version": 1, "levels": {first.id: {"won": True, "best": 870}}}))
    app = make_app(scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        lines = listed(app)
        assert f"1. {first.title}  [won, best 870]" in lines
        assert f"2. {second.title}  [open]" in lines
        assert f"3. {third.title}  [locked]" in lines
        await pick(pilot, third.id)
        assert isinstance(app.screen, PickerScreen)
        assert error_line(app) == f"locked: win level {second.order} first"
        await pick(pilot, second.id)
        assert app.level.id == second.id
        assert app.sim.scenario == second.scenario and app.sim.paused


async def test_the_picker_opens_a_scenario_as_the_app_started_and_says_what_it_is(notes):
    app = make_app(scenario(), paused=True)  # (a scenario opens paused in an app started so)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        listing = app.screen.query_one(OptionList)
        listing.highlighted = listing.get_option_index(next(
            k for k, p in app.screen.picks.items() if getattr(p.what, "name", "") ==
            "strict-overcommit"))
        await pilot.pause()
        assert str(app.screen.query_one("#picker-about").render()).startswith(
            "vm.overcommit_memory = 2 on 1 GiB")
        await pilot.press("enter")
        await settle(pilot)
        m = app.sim.machine
        assert app.sim.scenario.name == "strict-overcommit" and m.tick == 0 and app.sim.paused
        assert m.meminfo()["MemTotal"] == 1024 * 1024 and m.sysctl("vm.overcommit_memory") == 2
        assert [r["comm"] for r in m.processes()][-2:] == ["batch", "grower"]
        assert app.screen is app.main
        assert notes[-1] == "opened strict-overcommit, paused (space runs); R restarts it"


async def test_ctrl_o_works_from_another_screen_and_a_running_app_runs_what_it_opens(notes):
    app = make_app(scenario())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark", "ctrl+o")
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("escape")  # back where it was opened
        assert not isinstance(app.screen, PickerScreen) and app.screen is not app.main
        await pilot.press("ctrl+o")
        await pick(pilot, "dentry-flood")
        await until(pilot, lambda: app.sim.scenario.name == "dentry-flood")
        assert app.screen is app.main and not app.sim.paused
        assert notes[-1] == "opened dentry-flood; R restarts it"


async def test_the_picker_opens_an_example_save_paused_where_it_was_saved(notes):
    app = make_app(scenario(), paused=True)
    meta = saves.read_header(EXAMPLE)["meta"]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await pick(pilot, EXAMPLE)
        assert app.sim.machine.tick == meta["tick"] and app.sim.paused
        assert notes[-1] == ("loaded leak-about-to-be-killed.oomsave: leak-about-to-be-killed, "
                             "paused (space runs)")


async def test_a_typed_path_opens_a_scenario_and_a_bad_one_is_a_message(tmp_path):
    good = tmp_path / "mine.toml"
    good.write_text('name = "mine"\n[machine]\nram_mib = 64\nseed = 1\n'
                    '[[process]]\ncomm = "solo"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\n[machine]\nram_mib = "lots"\n')
    app = make_app(scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.sim.machine.state_digest()
        await pilot.press("ctrl+o", "tab")
        for path, said in ((tmp_path / "nope.oomsave", f"ENOENT, {tmp_path / 'nope.oomsave'}: "
                                                        "no such file"),
                           (bad, f"EINVAL, {bad}: ")):
            app.screen.query_one("#picker-path").value = str(path)
            await pilot.press("enter")
            assert isinstance(app.screen, PickerScreen) and error_line(app).startswith(said)
        assert "ram_mib" in error_line(app)
        await settle(pilot)
        assert app.sim.machine.state_digest() == before
        app.screen.query_one("#picker-path").value = str(good)
        await pilot.press("enter")
        await settle(pilot)
        assert app.sim.scenario.name == "mine"
        assert [r["comm"] for r in app.sim.machine.processes()][-1] == "solo"


async def test_a_typed_path_opens_a_level_and_a_bad_level_names_file_line_and_key(tmp_path):
    first = builtin_levels()[0]
    bad = tmp_path / "bad-level.toml"
    bad.write_text(Path(first.source).read_text().replace("difficulty = 1", "difficulty = 9"))
    app = make_app(scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o", "tab")
        app.screen.query_one("#picker-path").value = str(bad)
        await pilot.press("enter")
        line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1)
                    if text.startswith("difficulty"))
        assert error_line(app).startswith(f"EINVAL, {bad}:{line}: key `difficulty`: ")
        app.screen.query_one("#picker-path").value = str(first.source)
        await pilot.press("enter")
        await settle(pilot)
        assert app.level.id == first.id


async def test_a_typed_broken_save_is_a_message_and_changes_nothing(tmp_path, notes):
    broken = tmp_path / "broken.oomsave"
    broken.write_bytes(b"\x93random bytes")
    app = make_app(scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.sim.machine.state_digest()
        await pilot.press("ctrl+o", "tab")
        app.screen.query_one("#picker-path").value = str(broken)
        await pilot.press("enter")
        await settle(pilot)
        assert notes[-1].startswith(f"{broken}: ") and "not an oomtui save" in notes[-1]
        assert app.sim.machine.state_digest() == before and app.sim.scenario.name == "test"


# -- the sandbox -----------------------------------------------------------------------------

async def test_the_sandbox_builds_the_machine_asked_for(notes):
    app = make_app(scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await pick(pilot, "sandbox")
        assert isinstance(app.screen, FormDialog)
        await fill(pilot, start="strict-overcommit")
        assert app.screen.query_one("#f-ram").value == "1G"  # the scenario's machine
        await fill(pilot, ram="8M", swap="256M")
        assert str(app.screen.query_one("#dialog-error").render()).startswith(
            "EINVAL, ram_mib=8 is out of range 16..131072")  # the engine's word, dialog open
        await fill(pilot, ram="512M", swap="256M", overcommit=1, thp="never", keep=False,
                   **{"add-leaker": 2, "add-database": 1})
        assert app.sim.scenario.name == "sandbox (strict-overcommit)"
        m = app.sim.machine
        info = m.meminfo()
        # SwapTotal: the area less its first page, the swap header (mm/swapfile.c)
        assert info["MemTotal"] == 512 * 1024 and info["SwapTotal"] == 256 * 1024 - 4
        assert m.sysctl("vm.overcommit_memory") == 1 and m.config.thp == "never"
        assert sorted(r["comm"] for r in m.processes() if r["pid"] != 1) == [
            "database", "leaker-1", "leaker-2"]


# -- the look ----------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_welcome_look(snap_compare, size):
    app = make_app(scenario(), paused=True, start_tick=50, welcome=True)
    assert snap_compare(app, terminal_size=size, run_before=ready())


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_picker_look(snap_compare, size, monkeypatch):
    three = builtin_levels()[:3]  # the look stays as more levels come
    monkeypatch.setattr("oomtui.game.all_levels", lambda: three)
    app = make_app(scenario(), paused=True, start_tick=50)
    assert snap_compare(app, terminal_size=size, run_before=ready("ctrl+o"))
