"""Who acted on low memory, in the app: the OOM screen (O) shows a userspace OOM daemon's
signals beside the kernel's kills, and the branch comparison (B) says which policy each
branch ran."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tuitools import SIZE, fill, oom_scenario, settle

from oomtui.scenarios import builtin
from oomtui.tui.app import make_app
from oomtui.tui.screens.compare import CompareScreen, rows
from oomtui.tui.screens.oom import OomScreen


def text(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


@pytest.mark.slow  # a minute of build-storm
async def test_capital_o_shows_earlyoom_s_sigterm_and_sigkill_with_its_ranking(notes):
    storm = replace(builtin("build-storm"), policy=("earlyoom", {}))
    app = make_app(storm, paused=True, start_tick=6600)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any(n.startswith("earlyoom: mem avail ") for n in notes)
        await pilot.press("O")
        assert isinstance(app.screen, OomScreen)
        # the latest: SIGKILL 0.9 s after the SIGTERM, both levels under 5%
        title = text(app, "#oom-title")
        assert title.startswith("OOM 2 of 2 at 65.84 s: earlyoom: mem avail ")
        assert title.endswith("(SIGKILL limits): escalating to SIGKILL")
        report = text(app, "#oom-text")
        assert report.startswith("Who acted: earlyoom, a userspace OOM daemon")
        assert "\nSignal: SIGKILL\nSent to: pids 4" in report
        table = app.screen.query_one("#oom-table")
        assert table.get_row_at(0)[:3] == ["victim", 4, "cc1-b"]
        await pilot.press("left")
        title = text(app, "#oom-title")
        assert title.startswith("OOM 1 of 2 at 64.94 s: earlyoom: mem avail ")
        assert title.endswith("(SIGTERM limits): sending SIGTERM to cc1-b[4]")
        assert "\nSignal: SIGTERM: the victim runs on until it exits\n" in text(app, "#oom-text")
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        # earlyoom ranks by oom_score (no --prefer/--avoid): the compilers, then postgres
        assert [r[:3] for r in rows] == RANKED_AT_SIGTERM
        assert [r[4] for r in rows] == [870, 870, 870, 691]  # oom_score; ties to the larger RSS
        assert all(r[-1] == r[4] for r in rows)  # score = oom_score
        log = "\n".join(str(line) for line in app.main.query_one("#events").lines)
        assert "cc1-b[4] killed by signal 9 (sent by earlyoom)" in log


RANKED_AT_SIGTERM = [["victim", 4, "cc1-b"], ["", 5, "cc1-c"], ["", 3, "cc1-a"],
                     ["", 2, "postgres"]]


async def test_capital_b_compares_one_run_under_two_policies(notes):
    app = make_app(oom_scenario(), paused=True, start_tick=400)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t", "t", "t")  # back to 1.00 s, before the kernel's OOM kill
        await pilot.press("P")
        # in the past: a branch from 1.00 s where earlyoom runs beside the kernel
        await fill(pilot, name="earlyoom", settings="mem_term_percent = 60, mem_kill_percent = 50")
        tl = app.sim.timeline
        assert (tl.current.name, tl.current.fork_tick) == ("main.1", 100)
        app.sim.step(300)  # main.1 runs on to 4.00 s, as main did
        await settle(pilot)
        await pilot.press("B")
        await fill(pilot)  # main and main.1
        assert isinstance(app.screen, CompareScreen)
        c = app.screen.comparison
        assert (c.a.name, c.b.name) == ("main", "main.1")
        assert c.a.deaths == ((189, 3, "oom_kill", "Out of memory: Killed process 3 (hog)"),)
        assert c.b.deaths == ((101, 3, "kill", "hog[3] killed by signal 9 (sent by earlyoom)"),)
        shown = {what: (a, b) for what, a, b in rows(c, 10)}
        assert shown["OOM policy"] == ("kernel",
                                       "earlyoom (mem_term_percent = 60, mem_kill_percent = 50)")


@pytest.mark.slow  # 32 s of throttled-session
async def test_capital_o_shows_systemd_oomd_killing_a_cgroup_on_its_memory_pressure(notes):
    app = make_app(builtin("throttled-session"), paused=True, start_tick=3200)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("O")
        title = text(app, "#oom-title")
        assert title.startswith("OOM 1 of 1 at 31.51 s: systemd-oomd: memory pressure for "
                                "/user-1000 is ")
        assert title.endswith("with reclaim activity: sending SIGKILL to cgroup /user-1000 "
                              "(1 processes)")
        table = app.screen.query_one("#oom-table")
        assert table.row_count == 1 and table.get_row_at(0)[:2] == ["victim", "/user-1000"]
        assert text(app, "#oom-text").endswith("\nSignal: SIGKILL\nSent to: cgroup /user-1000: "
                                                 "pids 3")
