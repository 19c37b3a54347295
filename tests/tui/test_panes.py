"""The main screen's panes: the process table (sort, filter, select, columns), the initial
selection, the narrow layout's pane switching, and the grid's compaction marks."""

from __future__ import annotations

import numpy as np
from tuitools import SIZE, pid_of, scenario, select, settle, until

from oomtui.engine.views import MOVED_FROM, MOVED_TO
from oomtui.scenarios import parse
from oomtui.tui import sim as sim_module
from oomtui.tui.app import make_app
from oomtui.tui.screens.main import LOWER_PANES
from oomtui.tui.widgets.memory_grid import MemoryGrid
from oomtui.tui.widgets.process_table import COLUMNS, ProcessTable
from oomtui.tui.widgets.vma_view import VmaView

MiB = 1 << 20


def line(table: ProcessTable, y: int) -> str:
    return table.render_line(y).text


async def test_sorting_keeps_the_selected_process(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.main.query_one(ProcessTable)
        web = await select(pilot, "web")
        assert table.sort_key == "rss" and table.order[0] == web  # largest first
        await pilot.press("less_than_sign", "less_than_sign")  # back to PID
        assert table.sort_key == "pid" and table.order == sorted(table.order)
        assert table.selected_pid == web and "sorted by PID" in table.border_title
        await pilot.press("greater_than_sign")  # COMM, alphabetically
        comms = {r["pid"]: r["comm"] for r in app.frame.processes}
        assert [comms[pid] for pid in table.order] == sorted(comms.values())
        assert table.selected_pid == web


async def test_keys_and_clicks_select_a_row_and_the_other_panes_follow(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.main.query_one(ProcessTable)
        await pilot.press("home")
        assert table.selected_pid == table.order[0]
        await pilot.press("down", "down")
        assert table.selected_pid == table.order[2]
        await pilot.press("down")  # the last row stays selected
        assert table.selected_pid == table.order[2]
        await pilot.click(ProcessTable, offset=(10, 3))  # border, header, then row 1
        assert table.selected_pid == table.order[1]
        cursor_style = table.get_component_rich_style("process-table--cursor")
        assert next(iter(table.render_line(2))).style == cursor_style
        db = await select(pilot, "db")
        assert app.frame.pid == db and "db[" in app.main.query_one(VmaView).border_title
        await pilot.press("up")
        await settle(pilot)
        assert app.frame.pid == table.selected_pid != db


async def test_the_filter_matches_pid_comm_and_cgroup(app):
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.main.query_one(ProcessTable)
        await pilot.press("slash", *"db", "enter")
        assert table.order == [pid_of(app, "db")] == [table.selected_pid]
        assert "filter 'db'" in table.border_title
        await pilot.press("slash", "escape", "slash", "/", "enter")  # every cgroup path has '/'
        assert len(table.order) == 3


async def test_every_column_is_visible_at_160_columns(app):
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.main.query_one(ProcessTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert line(table, 0).split() == [c.header for c in COLUMNS]
        web = next(r for r in app.frame.processes if r["comm"] == "web")
        row = line(table, 1 + table.order.index(web["pid"])).split()
        assert row[:3] == [str(web["pid"]), "web", "32.0M"] and row[-1] == "/"


async def test_a_narrow_table_keeps_pid_and_comm_while_the_rest_scrolls(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.main.query_one(ProcessTable)
        header = line(table, 0).split()
        assert header[:9] == ["PID", "COMM", "RSS", "ANON", "FILE", "SHM", "SWAP", "SCORE", "ADJ"]
        assert "CGROUP" not in header and table.show_horizontal_scrollbar
        table.scroll_to(x=table.max_scroll_x, animate=False)
        await pilot.pause()
        header = line(table, 0).split()
        assert header[:2] == ["PID", "COMM"] and header[-1] == "CGROUP"


async def test_the_selection_starts_on_the_largest_process_and_stays_on_it():
    app = make_app(scenario(), paused=True)  # tick 0: nothing resident yet
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.main.query_one(ProcessTable)
        web = pid_of(app, "web")
        assert table.selected_pid == web  # the one running a workload, not init
        await pilot.press("full_stop")
        await settle(pilot)
        assert table.selected_pid == web and app.frame.pid == web  # now the largest
        db = pid_of(app, "db")

        def grow_db():
            m = app.sim.machine
            m.touch(db, m.mmap(db, 128 * MiB), 128 * MiB)

        app.sim.control(grow_db)
        await pilot.press("full_stop")
        await settle(pilot)
        assert table.order[0] == db and table.selected_pid == web


async def test_a_narrow_screen_shows_one_lower_pane_and_v_cycles_them(app):
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.main

        def shown() -> list[str]:
            return [p for p, _ in LOWER_PANES if screen.query_one(f"#{p}").display]

        assert screen.query_one("#pane-bar").display and shown() == ["grid-pane"]
        assert "v ▸" in str(screen.query_one("#pane-bar").render())
        for pane, _ in LOWER_PANES[1:] + LOWER_PANES[:1]:
            await pilot.press("v")
            assert shown() == [pane]
        assert screen.query_one(ProcessTable).display
        await pilot.click("#pane-bar", offset=(30, 0))  # "Virtual memory" in the bar
        assert shown() == ["vmas"]
        assert any(b.binding.action == "next_pane" and b.enabled
                   for b in screen.active_bindings.values())
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        assert shown() == [p for p, _ in LOWER_PANES] and not screen.query_one("#pane-bar").display
        assert not any(b.binding.action == "next_pane" and b.enabled
                       for b in screen.active_bindings.values())


def compaction_scenario():
    """One 32 MiB Normal zone, THP on madvise, no reserve: room for a fragmented fill."""
    return parse({"name": "compact", "machine": {
        "zones": {"Normal": 8192}, "thp": "madvise", "seed": 1,
        "sysctl": {"vm.min_free_kbytes": 0}}}, "compact.toml")


def fragment_and_compact(m) -> None:
    """Fill the zone with one process's pages, free every other one, then fault a THP in:
    direct compaction moves pages to build the 2 MiB block (as in tests/engine)."""
    page, tib = 4096, 1 << 40
    pid = m.spawn("frag")
    free = m.zoneinfo()["Normal"]["free"]
    pages = free - 2 - -(-free // 512)
    addr = m.mmap(pid, pages * page, addr=tib, flags="private|anonymous|fixed")
    m.madvise(pid, addr, pages * page, "nohugepage")
    for chunk in range(0, pages, 512):
        m.touch(pid, addr + chunk * page, page)
    m.touch(pid, addr, pages * page)
    for i in range(1, pages, 2):
        m.madvise(pid, addr + i * page, page, "dontneed")
    huge = m.mmap(pid, 2 * MiB, addr=2 * tib, flags="private|anonymous|fixed")
    m.madvise(pid, huge, 2 * MiB, "hugepage")
    m.touch(pid, huge, 2 * MiB)


async def test_the_grid_marks_the_pages_compaction_moved_for_a_while(monkeypatch):
    monkeypatch.setattr(sim_module, "MOVES_SHOWN", 1.0)
    app = make_app(compaction_scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.sim.control(lambda: fragment_and_compact(app.sim.machine))
        await pilot.press("full_stop")  # the step collects the compaction event
        await settle(pilot)
        levels = app.frame.grid["Normal"]
        assert (levels == MOVED_FROM).any() and (levels == MOVED_TO).any()
        # Sources at the zone's start, targets at its end (the two scanners).
        assert np.flatnonzero(levels == MOVED_FROM).max() < np.flatnonzero(levels == MOVED_TO).min()
        grid = app.main.query_one(MemoryGrid)
        colours = {colour.name for y in range(grid.size.height) for seg in grid.render_line(y)
                   if seg.style for colour in (seg.style.color, seg.style.bgcolor) if colour}
        assert {"#ff00ff", "#ffff00"} <= colours
        await until(pilot, lambda: not np.isin(app.frame.grid["Normal"],
                                               (MOVED_FROM, MOVED_TO)).any())


async def test_hovering_a_gauge_explains_it(app):
    from oomtui.tui.widgets.gauges import Gauges

    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        gauges = app.main.query_one(Gauges)
        await pilot.hover(Gauges, offset=(5, 4))  # border, then lines 0, 1, 2, 3
        assert gauges.tooltip == gauges.readings[3].why and "MemAvailable" in gauges.tooltip
