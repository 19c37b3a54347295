"""Every key of the main screen, through the UI: the engine state changes as it should (or not
at all, for bad input) and the notification says what happened."""

from __future__ import annotations

import threading

from tuitools import SIZE, fill, oom_scenario, pid_of, scenario, select, settle, until

from oomtui.tui.app import make_app
from oomtui.tui.dialogs.form import FormDialog
from oomtui.tui.screens.explain import ExplainScreen
from oomtui.tui.screens.help import HelpScreen
from oomtui.tui.screens.oom import OomScreen
from oomtui.tui.widgets.process_table import ProcessTable

MiB = 1 << 20


def rows(app) -> dict:
    return {r["pid"]: r for r in app.sim.machine.processes()}


async def test_space_pauses_and_resumes(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.sim.paused
        await pilot.press("space")
        assert not app.sim.paused
        await pilot.press("space")
        await settle(pilot)
        assert app.sim.paused
        assert "paused" in str(app.main.query_one("#status").render())


async def test_space_says_paused_at_once_while_the_engine_is_busy():
    app = make_app(scenario(), speed=64)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.frame is not None and app.frame.tick > 10)
        busy, release = threading.Event(), threading.Event()
        app.sim.control(lambda: (busy.set(), release.wait(60)))  # a long engine call
        await until(pilot, busy.is_set)
        await pilot.press("space")
        status = app.main.query_one("#status")
        assert "⏸ paused (the tick under way finishes first)" in str(status.render())
        release.set()
        await settle(pilot)
        assert app.frame.paused and "⏸ paused ─" in str(status.render())


async def test_full_stop_steps_one_tick(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("full_stop")
        await settle(pilot)
        assert app.sim.machine.tick == 11
        assert "tick 11 " in str(app.main.query_one("#status").render())


async def test_brackets_change_speed(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("right_square_bracket")
        assert app.sim.speed == 2 and notes[-1].startswith("speed ×2")
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.sim.speed == 0.5 and notes[-1].startswith("speed ×0.5")


async def test_the_status_shows_the_speed_achieved_next_to_the_one_asked_for():
    app = make_app(scenario(), speed=64)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.frame is not None and app.frame.achieved is not None)
        frame = app.frame
        assert frame.speed == 64 and frame.achieved > 0
        assert f"▶ ×64 (achieved ×{frame.achieved:.3g})" in str(
            app.main.query_one("#status").render())
        await pilot.press("space")
        await settle(pilot)
        assert app.frame.achieved is None
        assert "achieved" not in str(app.main.query_one("#status").render())


async def test_slash_filters_the_table(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.main.query_one(ProcessTable)
        assert len(table.order) == 3  # init, db, web
        await pilot.press("slash", *"web", "enter")
        assert len(table.order) == 1 and table.selected_pid == pid_of(app, "web")
        await pilot.press("slash", "escape")
        assert len(table.order) == 3


async def test_n_spawns_a_process(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, FormDialog)
        await fill(pilot, comm="cache", adj=300, workload="leaker")
        pid = pid_of(app, "cache")
        assert rows(app)[pid]["oom_score_adj"] == 300 and pid in app.sim.machine.runners
        assert notes[-1] == f"spawn cache → pid {pid}"


async def test_n_with_bad_input_keeps_the_dialog_and_changes_nothing(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.sim.machine.state_digest()
        await pilot.press("n")
        await fill(pilot, adj="5000")
        assert isinstance(app.screen, FormDialog)
        error = str(app.screen.query_one("#dialog-error").render())
        assert error == "oom_score_adj: 5000 is out of range -1000..1000"
        await fill(pilot, adj="0", comm="")
        assert str(app.screen.query_one("#dialog-error").render()) == "name: required"
        await pilot.press("escape")
        await settle(pilot)
        assert app.sim.machine.state_digest() == before and not notes


async def test_n_into_a_missing_cgroup_is_refused_by_the_engine(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.sim.machine.state_digest()
        await pilot.press("n")
        await fill(pilot, comm="x", cgroup="/nope")
        assert notes[-1].startswith("spawn x: ENOENT, ")
        assert app.sim.machine.state_digest() == before


async def test_f_forks_children(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid = await select(pilot, "web")
        await pilot.press("f")
        await fill(pilot, count=2)
        children = [r for r in rows(app).values() if r["ppid"] == pid]
        assert len(children) == 2 and all(c["comm"] == "web" for c in children)
        assert notes[-1].startswith(f"fork web[{pid}] → pid ")


async def test_k_kills_and_init_refuses(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid = await select(pilot, "web")
        await pilot.press("k")
        await fill(pilot, sig=9)
        assert pid not in rows(app) and notes[-1] == f"kill -9 web[{pid}]: done"
        await select(pilot, "init")
        before = app.sim.machine.state_digest()
        await pilot.press("k")
        await fill(pilot, sig=15)
        assert notes[-1].startswith("kill -15 init[1]: EPERM, ")
        assert app.sim.machine.state_digest() == before


async def test_m_maps_memory(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid = await select(pilot, "db")
        vmsize = rows(app)[pid]["VmSize"]
        await pilot.press("m")
        await fill(pilot, length="64M", populate=True)
        assert rows(app)[pid]["VmSize"] == vmsize + 64 * 1024
        assert rows(app)[pid]["VmRSS"] >= 64 * 1024
        assert notes[-1].startswith("mmap 64.0M (private|anonymous|populate) in db[")
        assert " → 0x" in notes[-1]


async def test_m_with_a_bad_size_changes_nothing(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, "db")
        before = app.sim.machine.state_digest()
        await pilot.press("m")
        await fill(pilot, length="lots")
        assert "length: 'lots' is not a size" in str(app.screen.query_one("#dialog-error").render())
        await pilot.press("escape")
        await settle(pilot)
        assert app.sim.machine.state_digest() == before and not notes


async def test_m_refused_by_strict_overcommit_says_enomem():
    app = make_app(scenario(sysctl={"vm.overcommit_memory": 2}), paused=True, start_tick=10)
    seen = []
    async with app.run_test(size=SIZE) as pilot:
        app.notify = lambda message, **kw: seen.append(message)
        await settle(pilot)
        await select(pilot, "db")
        before = app.sim.machine.state_digest()
        await pilot.press("m")
        await fill(pilot, length="8G")
        assert seen[-1].startswith("mmap 8.00G (private|anonymous) in db[")
        assert ": ENOMEM, " in seen[-1] and "overcommit mode 2" in seen[-1]
        assert app.sim.machine.state_digest() == before
        assert app.main.query_one("#path").stage == "Commit"


async def _mapped(pilot, comm: str = "db", length: str = "16M") -> tuple[int, dict]:
    """Map `length` in comm (the dialogs then default to its largest mapping: this one)."""
    app = pilot.app
    pid = await select(pilot, comm)
    await pilot.press("m")
    await fill(pilot, length=length)
    vma = max(app.sim.machine.maps(pid), key=lambda v: v["end"] - v["start"])
    assert vma["end"] - vma["start"] == 16 * MiB
    return pid, vma


async def test_a_touches_pages(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid, vma = await _mapped(pilot)
        await pilot.press("a")
        await fill(pilot, offset="4M", length="8M")
        assert rows(app)[pid]["RssAnon"] == 8 * 1024
        assert notes[-1] == f"write 8.00M at {vma['start'] + 4 * MiB:#x}: 2048 faults"


async def test_a_read_maps_the_zero_page(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid, vma = await _mapped(pilot)
        await pilot.press("a")
        await fill(pilot, access="read")
        assert notes[-1] == f"read 16.0M at {vma['start']:#x}: 4096 faults"
        assert rows(app)[pid]["VmRSS"] == 0  # the shared zero page owns no frame
        states = next(c for v, c in app.frame.vmas if v["start"] == vma["start"])
        assert states[:, 1].sum() == 4096 and states.sum() == 4096  # all zero-page PTEs


async def test_u_unmaps(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid, vma = await _mapped(pilot)
        await pilot.press("u")
        await fill(pilot)
        assert all(v["start"] != vma["start"] for v in app.sim.machine.maps(pid))
        assert notes[-1] == f"munmap 16.0M at {vma['start']:#x}: done"


async def test_d_madvise_dontneed_drops_rss(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid, vma = await _mapped(pilot)
        await pilot.press("a")
        await fill(pilot)
        assert rows(app)[pid]["RssAnon"] == 16 * 1024
        await pilot.press("d")
        await fill(pilot, advice="dontneed")
        assert rows(app)[pid]["RssAnon"] == 0
        assert notes[-1] == f"madvise 16.0M at {vma['start']:#x} dontneed: done"


async def test_l_mlock_over_the_rlimit_is_enomem_and_a_small_one_locks(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid, vma = await _mapped(pilot)
        before = app.sim.machine.state_digest()
        await pilot.press("l")
        await fill(pilot)  # 16 MiB > RLIMIT_MEMLOCK 8 MiB
        assert ": ENOMEM, " in notes[-1] and "RLIMIT_MEMLOCK" in notes[-1]
        assert app.sim.machine.state_digest() == before
        await pilot.press("l")
        await fill(pilot, length="4M")
        assert rows(app)[pid]["VmLck"] == 4 * 1024
        assert notes[-1] == f"mlock 4.00M at {vma['start']:#x}: done"


async def test_o_sets_oom_score_adj_and_lowering_needs_a_capability(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid = await select(pilot, "web")
        await pilot.press("o")
        await fill(pilot, adj=500)
        assert rows(app)[pid]["oom_score_adj"] == 500
        before = app.sim.machine.state_digest()
        await pilot.press("o")
        await fill(pilot, adj=-500)
        assert notes[-1].startswith(f"oom_score_adj web[{pid}] = -500: EACCES, ")
        assert app.sim.machine.state_digest() == before


async def test_c_creates_a_cgroup_and_g_moves_a_process_into_it(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pid = await select(pilot, "web")
        await pilot.press("c")
        await fill(pilot, path="/web", memory_high="64M", memory_max="96M")
        stat = app.sim.machine.cgroup_stat("/web")
        assert stat["memory.high"] == 64 * MiB and stat["memory.max"] == 96 * MiB
        assert notes[-1] == "cgroup_create /web: done"
        await pilot.press("g")
        await fill(pilot, path="/web")
        assert rows(app)[pid]["cgroup"] == "/web"
        await pilot.press("c")  # now prefilled with /web's settings: change one
        await fill(pilot, memory_high="max")
        assert app.sim.machine.cgroup_stat("/web")["memory.high"] == "max"
        assert notes[-1] == "cgroup_set /web: done"


async def test_c_with_a_bad_limit_changes_nothing(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.sim.machine.state_digest()
        await pilot.press("c")
        await fill(pilot, memory_max="2 lots")
        assert str(app.screen.query_one("#dialog-error").render()).startswith("memory.max: ")
        await pilot.press("escape")
        await settle(pilot)
        assert app.sim.machine.state_digest() == before and not notes


async def test_s_writes_a_sysctl_and_the_engine_checks_its_range(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await fill(pilot, name="vm.swappiness", value=10)
        assert app.sim.machine.sysctl("vm.swappiness") == 10
        assert notes[-1] == "sysctl vm.swappiness=10: done"
        await pilot.press("s")
        await fill(pilot, name="vm.swappiness", value=500)
        assert notes[-1].startswith("sysctl vm.swappiness=500: EINVAL, ")
        assert app.sim.machine.sysctl("vm.swappiness") == 10


async def test_s_drops_caches_and_the_event_log_says_so(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        m = app.sim.machine
        await pilot.press("s")
        await fill(pilot, name="vm.drop_caches", value=3)
        assert notes[-1] == "sysctl vm.drop_caches=3: done"
        assert m.vmstat()["drop_pagecache"] == m.vmstat()["drop_slab"] == 1
        assert m.events[-1].message == "drop_caches: 3"
        await pilot.press("s")
        await fill(pilot, name="vm.drop_caches", value=0)
        assert notes[-1].startswith("sysctl vm.drop_caches=0: EINVAL, ")


async def test_w_and_shift_w_add_and_remove_swap(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await fill(pilot, size="64M", prio=5)
        dev = next(d for d in app.sim.machine.swaps() if d["priority"] == 5)
        assert dev["size"] == 64 * 1024 - 4 and notes[-1] == f"swapon 64.0M → swap{dev['dev']}"
        await pilot.press("W")
        await fill(pilot, dev=dev["dev"])
        assert all(d["dev"] != dev["dev"] for d in app.sim.machine.swaps())
        await pilot.press("w")
        await fill(pilot, size="1000K")
        assert notes[-1] == "swapon: 1000K is not a whole number of MiB (≥ 1M)"


async def test_capital_o_without_an_oom_says_so(app, notes):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("O")
        assert notes[-1] == "no OOM kill yet" and app.screen is app.main


async def test_an_oom_kill_notifies_and_capital_o_shows_the_victim_first(notes):
    app = make_app(oom_scenario(), paused=True, start_tick=400)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any(n.startswith("Out of memory: Killed process ") for n in notes)
        await pilot.press("O")
        assert isinstance(app.screen, OomScreen)
        table = app.screen.query_one("#oom-table")
        first = table.get_row_at(0)
        assert first[0] == "victim" and first[2] == "hog"
        victim = app.oom_events[-1].data["victim"]
        assert first[1] == victim and first[-1] == app.oom_events[-1].data["points"][victim]
        await pilot.press("escape")
        assert app.screen is app.main


async def test_an_oom_saved_before_events_carried_candidates_shows_only_the_report(notes):
    from dataclasses import replace

    app = make_app(oom_scenario(), paused=True, start_tick=400)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        old = app.oom_events[-1]
        data = {k: v for k, v in old.data.items() if k not in ("candidates", "totalpages")}
        app.oom_events[-1] = replace(old, data=data)
        await pilot.press("O")
        assert app.screen.query_one("#oom-table").row_count == 0
        title = str(app.screen.query_one("#oom-title").render())
        assert title.endswith("(this save predates the table of candidates: see the kernel log)")
        assert str(app.screen.query_one("#oom-text").render()) == data["report"]


async def test_e_explains_every_gauge(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ExplainScreen)
        text = str(app.screen.query_one("#explain Static").render())
        assert "MemAvailable = free − totalreserve" in text and "CommitLimit = " in text


async def test_question_mark_lists_every_key(app):
    from oomtui.tui.actions import ACTION_BINDINGS

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-keys")
        ids = {table.get_row_at(i)[3] for i in range(table.row_count)}
        assert {b.id for b in ACTION_BINDINGS} | {"app-quit", "app-palette"} <= ids


async def test_the_command_palette_offers_every_action(app):
    from oomtui.tui.actions import ACTION_BINDINGS

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.main)}
        assert {b.description for b in ACTION_BINDINGS} <= titles


async def test_capital_r_restarts_the_scenario(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await fill(pilot)
        assert app.sim.machine.tick == 0 and app.frame.tick == 0


async def test_q_quits(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_a_panic_shows_the_panic_screen_and_r_restarts(notes):
    from oomtui.tui.screens.panic import PanicScreen

    app = make_app(oom_scenario(sysctl={"vm.panic_on_oom": 1}), paused=True, start_tick=400)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.sim.machine.panicked and isinstance(app.screen, PanicScreen)
        text = str(app.screen.query_one("#panic-text").render())
        assert text.startswith("Kernel panic - not syncing: Out of memory")
        await pilot.press("r")
        await settle(pilot)
        assert app.sim.machine.tick == 0 and not app.sim.machine.panicked
        assert app.screen is app.main


async def test_a_panic_met_while_running_is_shown_without_a_key():
    from oomtui.tui.screens.panic import PanicScreen

    app = make_app(oom_scenario(sysctl={"vm.panic_on_oom": 1}), speed=8, start_tick=300)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, PanicScreen))  # no key pressed
        assert app.sim.machine.panicked and app.frame.panic == app.sim.machine.panicked
        assert "✖ panicked" in str(app.main.query_one("#status").render())


async def test_b_on_the_panic_screen_rewinds_five_seconds_and_replays_calls():
    from oomtui.tui.screens.panic import PanicScreen

    app = make_app(oom_scenario(rate=12, sysctl={"vm.panic_on_oom": 1}), paused=True,
                   start_tick=10)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await fill(pilot, name="vm.swappiness", value=5)  # a call the rewind must replay
        app.sim.step(3000)  # the hog makes the kernel panic on the way; stepping stops there
        await settle(pilot)
        assert isinstance(app.screen, PanicScreen)
        panic_tick = app.sim.machine.tick
        assert app.sim.machine.panicked and panic_tick > 500
        await pilot.press("b")
        await settle(pilot)
        m = app.sim.machine
        assert m.tick == panic_tick - 500 and not m.panicked and app.sim.paused
        assert m.sysctl("vm.swappiness") == 5


async def test_an_oom_kill_is_logged_once_and_capital_l_hides_kinds():
    from oomtui.tui.widgets.event_log import EventLog

    app = make_app(oom_scenario(), paused=True, start_tick=400)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        log = app.main.query_one(EventLog)
        kills = [e for e in app.sim.machine.events if e.kind == "oom_kill"]
        assert kills and len(app.oom_events) == len(kills)
        kinds = [kind for _, _, kind, _ in log.entries]
        assert kinds.count("oom_kill") == len(kills) and "oom" not in kinds
        assert sum("Killed process" in line.text for line in log.lines) == len(kills)
        assert "kswapd" in kinds
        await pilot.press("L")
        await fill(pilot, kswapd=False)
        assert log.hidden == {"kswapd"} and "kswapd" in [k for _, _, k, _ in log.entries]
        shown = [line.text.split()[1] for line in log.lines]
        assert "kswapd" not in shown and "oom_kill" in shown
        await pilot.press("L")
        await fill(pilot, kswapd=True)
        assert not log.hidden and len(log.lines) == len(log.entries)


async def test_the_event_log_scrolled_up_stays_while_lines_come_in(app):
    from oomtui.tui.widgets.event_log import EventLog

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        log = app.main.query_one(EventLog)
        for i in range(60):
            log.add(i, 10, "call", f"line {i}")
        await pilot.pause()
        assert log.is_vertical_scroll_end
        log.focus()
        await pilot.press("pageup")
        read_at = log.scroll_y
        assert read_at < log.max_scroll_y
        log.add(60, 10, "call", "line 60")
        await pilot.pause()
        assert log.scroll_y == read_at
        await pilot.press("end")
        log.add(61, 10, "call", "line 61")
        await pilot.pause()
        assert log.is_vertical_scroll_end and log.lines[-1].text.endswith("line 61")
