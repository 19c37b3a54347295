"""Strings a user supplies (a comm from a scenario or the spawn dialog, a cgroup path, typed
filter text) are shown as text, never read as markup: "[/]" would end a markup style that was
never opened and crash the widget showing it."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Tooltip
from tuitools import SIZE, fill, pid_of, select, settle

from oomtui.scenarios import parse
from oomtui.tui.app import make_app
from oomtui.tui.screens.oom import OomScreen
from oomtui.tui.widgets.event_log import EventLog
from oomtui.tui.widgets.gauges import Gauges
from oomtui.tui.widgets.process_table import ProcessTable
from oomtui.tui.widgets.vma_view import VmaView

ODD = "[/]"  # markup would fail on it: an auto closing tag with nothing to close
HOG = "[b]hog[/b]"  # markup would hide the tags
CGROUP = "/[b]db"


def odd_oom_scenario():
    """oom_scenario's machine and processes, with comms that look like markup."""
    return parse({
        "name": "odd",
        "machine": {"ram_mib": 128, "seed": 1},
        "process": [
            {"comm": ODD, "oom_score_adj": -500},
            {"comm": HOG, "workload": {"name": "h", "phases": [
                {"kind": "alloc", "mib": 512, "rate_mib_s": 64}]}},
        ],
    }, "odd.toml")


def shown(title: str) -> str:
    """A border title as drawn (Textual hands it back as markup)."""
    return Content.from_markup(title).plain


async def test_comms_cgroups_and_filters_are_shown_as_typed(notes):
    app = make_app(odd_oom_scenario(), paused=True, start_tick=400)
    async with app.run_test(size=SIZE, tooltips=True) as pilot:
        await settle(pilot)
        hog = app.oom_events[-1].data["victim"]
        assert any(n.startswith(f"Out of memory: Killed process {hog} ({HOG}) ") for n in notes)
        log = app.main.query_one(EventLog)
        assert any(f"({HOG})" in line.text for line in log.lines)

        pid = await select(pilot, ODD)
        table = app.main.query_one(ProcessTable)
        assert any(f"{pid} {ODD} " in table.render_line(y).text for y in range(1, 4))
        assert f"of {ODD}[{pid}]" in shown(app.main.query_one(VmaView).border_title)
        await pilot.press("k")
        assert app.screen.query_one("#dialog-title").render().plain == f"Kill {ODD}[{pid}]"
        await pilot.press("escape")

        await pilot.press("n")
        await fill(pilot, comm=f"{ODD}x", cgroup=ODD)  # the engine's reason quotes it
        assert notes[-1] == (f"spawn {ODD}x: EINVAL, a cgroup path is absolute, like '/' or "
                             f"'/db', got '{ODD}'")
        await pilot.press("c")
        await fill(pilot, path=CGROUP)
        await pilot.press("n")
        await fill(pilot, comm=f"{ODD}x", cgroup=CGROUP)
        assert notes[-1] == f"spawn {ODD}x → pid {pid_of(app, ODD + 'x')}"
        await pilot.press("g")  # the cgroup paths are the choices of the move dialog
        assert CGROUP in [str(label) for label, _ in app.screen.query_one("#f-path")._options]
        await pilot.press("escape")

        gauges = app.main.query_one(Gauges)
        at = next(i for i, r in enumerate(gauges.readings) if r.key == f"memcg-{CGROUP}")
        await pilot.hover(Gauges, offset=(5, 1 + at))
        await pilot.pause(1)  # the tooltip shows after a delay
        tip = app.main.get_child_by_type(Tooltip)
        assert tip.display and f"cgroup {CGROUP}:" in str(tip.render())

        await pilot.press("slash")
        await pilot.press(*ODD, "enter")
        assert f"filter '{ODD}'" in shown(table.border_title)

        await pilot.press("O")
        assert isinstance(app.screen, OomScreen)
        shown_row = app.screen.query_one("#oom-table").render_line(1).text  # under the header
        assert shown_row.split()[:3] == ["victim", str(app.oom_events[-1].data["victim"]), HOG]
