"""The look of each screen at a fixed seed and tick (behaviour is asserted in test_keys)."""

from __future__ import annotations

from tuitools import fill, oom_scenario, ready, scenario, select, settle

from oomtui.tui.app import make_app

SIZE = (140, 44)


def test_main_screen(snap_compare):
    assert snap_compare(make_app(scenario(), paused=True, start_tick=50), terminal_size=SIZE,
                        run_before=ready(comm="web"))


def test_main_screen_80x24(snap_compare):
    assert snap_compare(make_app(scenario(), paused=True, start_tick=50), terminal_size=(80, 24),
                        run_before=ready(comm="web"))


def test_help_screen(snap_compare):
    assert snap_compare(make_app(scenario(), paused=True, start_tick=50), terminal_size=SIZE,
                        run_before=ready("question_mark", comm="web"))


def test_mmap_dialog(snap_compare):
    assert snap_compare(make_app(scenario(), paused=True, start_tick=50), terminal_size=SIZE,
                        run_before=ready("m", comm="web"))


def test_oom_screen(snap_compare):
    assert snap_compare(make_app(oom_scenario(), paused=True, start_tick=400), terminal_size=SIZE,
                        run_before=ready("O"))


def test_panic_screen(snap_compare):
    app = make_app(oom_scenario(sysctl={"vm.panic_on_oom": 1}), paused=True, start_tick=400)
    assert snap_compare(app, terminal_size=SIZE, run_before=ready())


def test_compare_screen(snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await select(pilot, "web")
        await pilot.press("t", "k")
        await fill(pilot, sig=9)  # a branch where web dies at 1.50 s
        await pilot.press("B")
        await fill(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(make_app(scenario(), paused=True, start_tick=250), terminal_size=SIZE,
                        run_before=run_before)
