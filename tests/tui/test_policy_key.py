"""`P`: choose the running machine's OOM policy (a userspace daemon beside the kernel's)."""

from __future__ import annotations

from tuitools import SIZE, fill, settle

from oomtui.tui.dialogs.form import FormDialog


async def test_p_sets_a_daemon_with_settings_and_the_engine_refuses_bad_ones(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("P")
        assert isinstance(app.screen, FormDialog)
        await fill(pilot, name="earlyoom", settings='mem_term_percent = 20, avoid = "^db$"')
        name, settings = app.sim.machine.policy()
        assert name == "earlyoom"
        assert (settings["mem_term_percent"], settings["avoid"]) == (20, "^db$")
        assert notes[-1].startswith("OOM policy earlyoom")
        before = app.sim.machine.state_digest()
        await pilot.press("P")
        await fill(pilot, name="nohang", settings="min_badness = 0")
        assert notes[-1].startswith("OOM policy nohang: EINVAL, ")
        assert app.sim.machine.state_digest() == before
        await pilot.press("P")
        await fill(pilot, settings="min_badness = ")  # not TOML: the dialog stays open
        assert isinstance(app.screen, FormDialog)
        assert str(app.screen.query_one("#dialog-error").render()).startswith("settings: not TOML")
