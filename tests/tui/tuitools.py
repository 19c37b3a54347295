"""Helpers for the app tests: small deterministic scenarios and waiting for the engine worker.

(A module of its own, not conftest.py: tests/engine and tests/saves have conftest modules too,
and `from conftest import` would find whichever was imported first.)"""

from __future__ import annotations

from textual.widgets import Input

from oomtui.scenarios import parse

SIZE = (140, 44)
WAITS = 3000  # pauses of ≥ 20 ms: a bound on waiting for the worker (generous: CI machines are
# busy), never a timing assertion


def scenario(**machine):
    """256 MiB, 128 MiB swap, seed 1: an idle 'db' and a 'web' with 32 MiB written."""
    doc = {
        "name": "test",
        "machine": {"ram_mib": 256, "seed": 1, "swap": [{"size_mib": 128}]} | machine,
        "process": [
            {"comm": "db", "oom_score_adj": -100},
            {"comm": "web", "workload": {"name": "w", "phases": [
                {"kind": "alloc", "mib": 32, "rate_mib_s": 3200}]}},
        ],
    }
    return parse(doc, "test.toml")


def oom_scenario(rate: int = 64, **machine):
    """A 128 MiB machine without swap where 'hog' (rate MiB/s) is OOM-killed (by tick 400 at
    the default rate)."""
    doc = {
        "name": "oom",
        "machine": {"ram_mib": 128, "seed": 1} | machine,
        "process": [
            {"comm": "db", "oom_score_adj": -500},
            {"comm": "hog", "workload": {"name": "h", "phases": [
                {"kind": "alloc", "mib": 512, "rate_mib_s": rate}]}},
        ],
    }
    return parse(doc, "oom.toml")


async def settle(pilot) -> None:
    """Wait until the worker has made every submitted call and the screen shows the result
    (the worker's messages arrive in order, so with its latest frame shown every message
    posted before it has been handled)."""
    app = pilot.app
    for _ in range(WAITS):
        await pilot.pause()
        sim = app.sim
        if sim is not None and app.frame is not None and not sim.pending \
                and app.frame is sim.latest:
            await pilot.pause()
            return
    raise AssertionError("the engine worker did not settle")


def pid_of(app, comm: str) -> int:
    return next(r["pid"] for r in app.sim.machine.processes() if r["comm"] == comm)


async def select(pilot, comm: str) -> int:
    """Put the table's cursor on the process named comm; returns its pid."""
    from oomtui.tui.widgets.process_table import ProcessTable

    app = pilot.app
    pid = pid_of(app, comm)
    table = app.main.query_one(ProcessTable)
    table.select(table.order.index(pid))
    await settle(pilot)
    return pid


async def fill(pilot, **values) -> None:
    """Type into the open dialog's fields (by field name) and submit it."""
    from textual.widgets import Button, Checkbox, Input, Select

    screen = pilot.app.screen
    for name, value in values.items():
        widget = screen.query_one(f"#f-{name}")
        if isinstance(widget, Input):
            widget.value = str(value)
        elif isinstance(widget, (Select, Checkbox)):
            widget.value = value
    # A Button ignores presses while its last one is still shown (-active, 0.2 s): a second
    # submit of the same dialog waits for it, as a person's second click would come later.
    ok = screen.query_one("#ok", Button)
    await until(pilot, lambda: not ok.has_class("-active"))
    assert await pilot.click(ok), "the click missed the OK button"
    await settle(pilot)


async def until(pilot, condition) -> None:
    """Wait for something a worker other than the engine's does (writing a save)."""
    for _ in range(WAITS):
        if condition():
            return
        await pilot.pause()
    raise AssertionError("the condition never held")


async def pick(pilot, what) -> None:
    """In the open picker (ctrl+o), choose by the keyboard the entry that opens `what` (a
    save's path, a scenario's name, a level's id, or "sandbox"), and wait for the engine."""
    from textual.widgets import OptionList

    def opens(p) -> bool:
        if what == "sandbox":
            return p.kind == "sandbox"
        return p.what == what or what in (getattr(p.what, "name", None),
                                          getattr(p.what, "id", None))

    screen = pilot.app.screen
    listing = screen.query_one(OptionList)
    key = next(k for k, p in screen.picks.items() if opens(p))
    listing.highlighted = listing.get_option_index(key)
    await pilot.press("enter")
    await settle(pilot)


def ready(*keys, comm: str | None = None):
    """A snapshot's run_before: settle, select `comm` (if any), press `keys`, settle, and
    still what would differ between two runs (a cursor's blink, notifications)."""
    async def run_before(pilot) -> None:
        await settle(pilot)
        if comm is not None:
            await select(pilot, comm)
        await pilot.press(*keys)
        await settle(pilot)
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        pilot.app.clear_notifications()
        await pilot.pause()
    return run_before
