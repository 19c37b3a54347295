"""Time travel and save files through the UI: t/T, b, B, ctrl+s, ctrl+o, a save from the CLI.
Asserted on the engine's tick and digest, the timeline's branches, files and notifications."""

from __future__ import annotations

from textual.widgets import OptionList
from tuitools import SIZE, fill, oom_scenario, pick, scenario, select, settle, until

from oomtui import paths, saves
from oomtui.engine import Machine
from oomtui.examples import EXAMPLES_DIR
from oomtui.tui.app import make_app
from oomtui.tui.dialogs.form import FormDialog
from oomtui.tui.screens.compare import CompareScreen
from oomtui.tui import sim as sim_module
from oomtui.tui.messages import Seeking, TimeMoved
from oomtui.tui.sim import SaveStart, Sim

EXAMPLE = EXAMPLES_DIR / "leak-about-to-be-killed.oomsave"


def example_digest() -> str:
    """The digest of the state the example save holds (its header's digest is that of the
    format version it was written in)."""
    return Machine.load(EXAMPLE).state_digest()


def at_250():
    """Paused at tick 250 of the small scenario: 1 s (100 ticks) back is tick 150."""
    return make_app(scenario(), paused=True, start_tick=250)


def timeline_text(app) -> str:
    return str(app.main.query_one("#timeline").render())


async def test_t_goes_back_one_second_and_capital_t_forward_to_the_same_state(notes):
    app = at_250()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        m = app.sim.machine
        live = m.state_digest()
        await pilot.press("t")
        await settle(pilot)
        assert m.tick == 150 and not app.where.live and app.sim.paused
        assert "in the past" in timeline_text(app) and "1.50 s of 0.00 s–2.50 s kept" in timeline_text(app)
        await pilot.press("T")
        await settle(pilot)
        assert m.tick == 250 and app.where.live and m.state_digest() == live
        assert "live" in timeline_text(app)
        await pilot.press("T")
        await settle(pilot)
        assert m.tick == 250 and notes[-1].startswith("already at this branch's latest moment")


async def test_stepping_in_the_past_replays_the_recorded_future(notes):
    app = at_250()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        live = app.sim.machine.state_digest()
        await pilot.press("t", "t", "t", "t")  # quick presses: 4 s back, clamped to 0
        await settle(pilot)
        assert app.sim.machine.tick == 0
        await pilot.press("t")
        await settle(pilot)
        assert notes[-1] == "already at the oldest moment kept"
        app.sim.step(250)
        await settle(pilot)
        assert app.sim.machine.state_digest() == live and list(app.sim.timeline.branches) == ["main"]


def test_quick_presses_of_t_add_up_to_one_trip_and_a_long_one_reports_its_progress(monkeypatch):
    monkeypatch.setattr(sim_module, "SEEK_REPORTS", 0)
    posted = []
    sim = Sim(scenario(), paused=True, post=posted.append)
    sim.boot(250)
    posted.clear()
    for _ in range(3):  # pressed before the worker takes the first
        sim.travel(-0.5)
    sim._serve_queue()
    sim._publish()  # what was said goes with the next frame
    moves = [m.moved for m in posted if isinstance(m, TimeMoved)]
    assert [(m.tick, m.message) for m in moves] == [(100, "back to tick 100 on branch main")]
    seeking = [(m.done, m.total, m.target) for m in posted if isinstance(m, Seeking)]
    assert seeking and all(target == 100 and 0 < done <= total for done, total, target in seeking)


async def test_b_branches_in_the_past_and_the_original_keeps_its_future(notes):
    app = at_250()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t", "b")
        assert isinstance(app.screen, FormDialog)
        await fill(pilot, name="main")  # taken: the dialog says so and stays open
        assert str(app.screen.query_one("#dialog-error").render()) == \
            "name: there is already a branch named 'main'"
        await fill(pilot, name="calm")
        tl = app.sim.timeline
        assert tl.current.name == "calm" and tl.current.fork_tick == 150
        assert tl.branches["main"].end_tick == 250
        assert notes[-1].startswith("branch calm from main at 1.50 s")
        assert "calm" in timeline_text(app) and "2 branches" in timeline_text(app)


async def test_an_action_in_the_past_starts_a_branch_and_says_so(notes):
    app = at_250()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t", "s")
        await fill(pilot, name="vm.swappiness", value=5)
        tl = app.sim.timeline
        assert tl.current.name == "main.1" and tl.current.fork_tick == 150
        assert tl.branches["main"].end_tick == 250 and app.sim.machine.sysctl("vm.swappiness") == 5
        log = "\n".join(str(line) for line in app.main.query_one("#events").lines)
        assert "started branch main.1; main keeps its future" in log


async def test_capital_b_compares_who_died_in_each_branch(notes):
    app = at_250()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("B")
        assert notes[-1].startswith("one branch so far")
        pid = await select(pilot, "web")
        await pilot.press("t", "k")
        await fill(pilot, sig=9)  # in the past: a branch where web dies at 1.50 s
        await pilot.press("B")
        await fill(pilot)  # defaults: the parent (main) and the current branch (main.1)
        assert isinstance(app.screen, CompareScreen)
        c = app.screen.comparison
        assert (c.a.name, c.b.name) == ("main", "main.1")
        assert c.deaths_only_in("a") == () and [d[:3] for d in c.deaths_only_in("b")] == \
            [(150, pid, "kill")]
        assert c.a.end_tick == 250 and c.b.end_tick == 150 and c.a.digest != c.b.digest
        await pilot.press("escape")
        assert app.screen is app.main


async def test_ctrl_s_saves_asks_before_overwriting_and_refuses_a_bad_name(notes):
    app = at_250()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")
        assert app.screen.query_one("#f-name").value.startswith("test-t250-")
        await fill(pilot, name="../escape")
        assert str(app.screen.query_one("#dialog-error").render()).startswith("file name: a plain")
        await fill(pilot, name="mine")
        path = paths.saves_dir() / "mine.oomsave"
        await until(pilot, lambda: notes and notes[-1].startswith("saved"))
        assert notes[-1] == "saved mine.oomsave (tick 250)"
        meta, state = saves.read(path)
        assert meta["digest"] == app.sim.machine.state_digest() and state["tick"] == 250
        assert not (paths.saves_dir().parent / "escape.oomsave").exists()

        app.sim.step(10)
        await settle(pilot)
        await pilot.press("ctrl+s")
        await fill(pilot, name="mine.oomsave")
        assert app.screen.query_one("#dialog-title").render().plain == "Overwrite mine.oomsave?"
        await pilot.press("escape")  # no: the old save stays
        await settle(pilot)
        assert saves.info(path).tick == 250
        await pilot.press("ctrl+s")
        await fill(pilot, name="mine")
        await fill(pilot)  # Overwrite
        await until(pilot, lambda: notes[-1] == "saved mine.oomsave (tick 260)")
        assert saves.info(path).tick == 260


async def test_ctrl_o_loads_a_save_and_a_broken_one_changes_nothing(notes):
    app = at_250()
    meta = saves.read_header(EXAMPLE)["meta"]
    folder = paths.ensure(paths.saves_dir())
    (folder / "leak.oomsave").write_bytes(EXAMPLE.read_bytes())
    (folder / "truncated.oomsave").write_bytes(EXAMPLE.read_bytes()[:5000])
    (folder / "noise.oomsave").write_bytes(b"\x93random bytes")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.sim.machine.state_digest()
        await pilot.press("ctrl+o")
        labels = [str(o.prompt).strip() for o in app.screen.query_one(OptionList).options]
        assert "noise.oomsave (broken)" in labels  # its header says so already
        assert sum(label.startswith(f"leak-about-to-be-killed · tick {meta['tick']} ")
                   for label in labels) == 2  # the truncated one's header is whole
        await pilot.press("escape")
        for name, error in (("truncated", "truncated"), ("noise", "not an oomtui save")):
            await pilot.press("ctrl+o")
            await pick(pilot, folder / f"{name}.oomsave")
            assert notes[-1].startswith(f"{folder / name}.oomsave: ") and error in notes[-1]
            assert app.sim.machine.state_digest() == before and app.sim.machine.tick == 250

        await pilot.press("ctrl+o")
        await pick(pilot, folder / "leak.oomsave")
        m = app.sim.machine
        assert m.tick == meta["tick"] and m.state_digest() == example_digest() and app.sim.paused
        assert notes[-1] == "loaded leak.oomsave: leak-about-to-be-killed, paused (space runs)"
        assert list(app.sim.timeline.branches) == ["main"] and "leak-about-to-be-killed" in \
            str(app.main.query_one("#status").render())


async def test_after_a_load_the_allocation_path_shows_no_mark_of_the_old_machine(notes):
    from oomtui.tui.sim import is_oom_kill
    from oomtui.tui.widgets.alloc_path import AllocPath

    folder = paths.ensure(paths.saves_dir())
    (folder / "leak.oomsave").write_bytes(EXAMPLE.read_bytes())
    app = make_app(oom_scenario(), paused=True, start_tick=400)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        path = app.main.query_one(AllocPath)
        assert path.oom_tick is not None  # hog was OOM-killed
        path.refused_tick = 399  # as if an mmap was refused just now
        await pilot.press("ctrl+o")
        await pick(pilot, folder / "leak.oomsave")
        kills = [e.tick for e in app.sim.machine.events if is_oom_kill(e)]
        assert path.oom_tick == (kills[-1] if kills else None) and path.refused_tick is None
        assert path.stage != "OOM" or kills


async def test_after_a_load_the_log_holds_only_the_save_and_r_says_where_it_restarts():
    from oomtui.tui.widgets.event_log import EventLog

    app = at_250()
    meta = saves.read_header(EXAMPLE)["meta"]
    folder = paths.ensure(paths.saves_dir())
    (folder / "leak.oomsave").write_bytes(EXAMPLE.read_bytes())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        log = app.main.query_one(EventLog)
        assert [line.text.split(None, 2)[1:] for line in log.lines] == [
            ["time", "test: the timeline starts here"]]
        await pilot.press("ctrl+o")
        await pick(pilot, folder / "leak.oomsave")
        assert [line.text.split(None, 2)[1:] for line in log.lines] == [
            ["time", "leak-about-to-be-killed: the timeline starts here"]]
        await pilot.press("R")
        assert str(app.screen.query_one("#dialog-note").render()) == (
            f"Load the save leak-about-to-be-killed again, at its tick {meta['tick']}.")
        await fill(pilot)
        assert app.sim.machine.tick == meta["tick"]


async def test_a_save_opened_from_the_command_line_plays(notes):
    meta = saves.read_header(EXAMPLE)["meta"]
    app = make_app(SaveStart.read(EXAMPLE), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        m = app.sim.machine
        assert m.tick == meta["tick"] and m.state_digest() == example_digest()
        await pilot.press("full_stop")  # the leak is OOM-killed on the next tick
        await settle(pilot)
        assert m.tick == meta["tick"] + 1
        assert any(e.kind == "oom_kill" for e in m.events[-5:]) and app.oom_events
        await pilot.press("t")  # the timeline starts at the save: nothing older is kept
        await settle(pilot)
        assert m.tick == meta["tick"]


async def test_j_jumps_back_to_the_original_branch_and_its_future(notes):
    app = at_250()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        original = app.sim.machine.state_digest()
        await pilot.press("j")
        assert notes[-1].startswith("one branch so far")
        await pilot.press("t", "b")
        await fill(pilot, name="calm")
        await pilot.press("j")
        await fill(pilot)  # default: the parent, main
        await settle(pilot)
        tl = app.sim.timeline
        assert tl.current.name == "main" and app.sim.machine.tick == 250
        assert app.sim.machine.state_digest() == original
        assert notes[-1] == "on branch main at its latest moment, 2.50 s"
        assert "main" in timeline_text(app) and "2 branches" in timeline_text(app)


async def test_a_replayed_save_plays_in_the_app_to_the_saved_state():
    """What `oomtui replay SAVE` opens: the save's calls as a scenario, booted from its config."""
    from oomtui.scenarios import from_inputs

    saved = Machine.load(EXAMPLE)
    app = make_app(from_inputs("leak", saved.config, saved.inputs.entries), paused=True,
                   start_tick=saved.tick)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.sim.machine.tick == saved.tick
        assert app.sim.machine.state_digest() == saved.state_digest()
