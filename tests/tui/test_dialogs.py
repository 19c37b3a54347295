"""Every dialog at 80×24, by keyboard alone: OK and Cancel on screen, every field reachable by
Tab and scrolled into view. And K, which kills many processes after saying how many."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input

from tuitools import fill, pid_of, select, settle

from oomtui.tui.dialogs.form import FormDialog

SMALL = (80, 24)
# Every key that opens a dialog on the test scenario (B and j need two branches: their dialogs
# are FormDialogs of one or two choices, tested at the default size).
DIALOG_KEYS = ("n", "f", "k", "K", "m", "u", "a", "d", "l", "o", "g", "s", "c", "w", "W", "L",
               "R", "b", "ctrl+s")


def inside(outer, inner) -> bool:
    return outer.contains_region(inner)


@pytest.mark.parametrize("key", DIALOG_KEYS)
async def test_every_dialog_fits_80x24_and_tab_reaches_every_field(app, key):
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await select(pilot, "web")  # the range dialogs (u, a, d, l) need its mappings shown
        await pilot.press(key)
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, FormDialog)
        screen = dialog.region
        for button in ("#ok", "#cancel"):
            assert inside(screen, dialog.query_one(button).region), button
        fields = list(dialog.query(".field > Input, .field > Select, .field > Checkbox"))
        body = dialog.query_one("#dialog-body").region
        reached = set()
        for _ in range(len(fields) + 2):  # the buttons come between the last field and the first
            focused = app.focused
            if focused in fields:
                await pilot.pause()  # scrolled into view
                assert inside(body, focused.region) and inside(screen, body), focused.id
                reached.add(focused.id)
            await pilot.press("tab")
        assert reached == {f.id for f in fields}
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main


async def test_the_mmap_dialog_is_submitted_by_keyboard_at_80x24(app, notes):
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        pid = await select(pilot, "web")
        await pilot.press("m")
        dialog = app.screen
        locked = dialog.query_one("#f-locked", Checkbox)
        while app.focused is not locked:
            await pilot.press("tab")
        await pilot.press("space")  # ticks MAP_LOCKED
        while app.focused is not dialog.query_one("#ok"):
            await pilot.press("tab")
        await pilot.press("enter")
        await settle(pilot)
        # Submitted with MAP_LOCKED: more than RLIMIT_MEMLOCK, so the engine refuses it
        assert notes[-1].startswith(f"mmap 256M (private|anonymous|locked) in web[{pid}]: EAGAIN")


async def test_capital_k_counts_then_kills_every_process_of_a_name(app, notes):
    async with app.run_test(size=(140, 44)) as pilot:
        await settle(pilot)
        web = await select(pilot, "web")
        await pilot.press("f")
        await fill(pilot, count=3)
        db = pid_of(app, "db")
        await pilot.press("K")
        assert app.screen.query_one("#f-comm", Input).value == "web"  # the selected one's
        await fill(pilot)
        assert app.screen.query_one("#dialog-title").render().plain == "Kill 4 processes (web)?"
        assert str(app.screen.query_one("#dialog-note").render()).startswith(f"web[{web}], web[")
        await fill(pilot)  # Kill 4
        assert notes[-1] == "kill -9 web: 4 killed"
        assert [r["pid"] for r in app.sim.machine.processes() if r["comm"] in ("web", "db")] == [db]


async def test_capital_k_needs_a_name_or_a_cgroup_and_says_when_none_matches(app, notes):
    async with app.run_test(size=(140, 44)) as pilot:
        await settle(pilot)
        before = app.sim.machine.state_digest()
        await pilot.press("K")
        await fill(pilot, comm="")
        assert notes[-1] == "give a name, a cgroup or both" and app.screen is app.main
        await pilot.press("K")
        await fill(pilot, comm="nosuch")
        assert notes[-1] == "no process matches nosuch" and app.screen is app.main
        assert app.sim.machine.state_digest() == before
