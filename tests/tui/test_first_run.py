"""A first run (the kernels not yet compiled) plays at once, interpreted, while worker
processes compile, and says so; it runs compiled once they are done (issue 12)."""

from __future__ import annotations

from tuitools import SIZE, scenario, until

from oomtui.engine.kernels.jit import interpreted
from oomtui.tui import sim as sim_module
from oomtui.tui.app import make_app


class Workers:
    """Stands for BackgroundCompile: done when the test says so."""
    finished = False
    stopped = False

    def __init__(self) -> None:
        self.compiled, self.expected = 12, 120

    def done(self) -> bool:
        return Workers.finished

    def wait(self) -> bool:
        return True

    def stop(self) -> None:
        Workers.stopped = True

    def status(self) -> str:
        return "shrink_node"


def status_line(app) -> str:
    return str(app.main.query_one("#status").render())


async def test_a_first_run_steps_interpreted_until_the_workers_are_done(monkeypatch):
    monkeypatch.setattr(sim_module, "is_complete", lambda: False)
    monkeypatch.setattr(sim_module, "BackgroundCompile", Workers)
    monkeypatch.setattr(Workers, "finished", False)
    app = make_app(scenario(), speed=4)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.frame is not None and app.frame.tick >= 20)
        assert interpreted() and not app.sim.needs_compile  # started after the first tick
        assert status_line(app).startswith(
            "oomtui ─ compiling ██░░░░░░░░░░░░░░░░░░ 12/120 ─ first run: interpreted till then, "
            "slower ─ shrink_node ─ tick ")
        Workers.finished = True
        await until(pilot, lambda: not interpreted() and app.frame.tick >= 60
                    and "interpreted" not in status_line(app))
        assert app.sim._compile is None


async def test_quitting_during_a_first_run_stops_the_workers(monkeypatch):
    monkeypatch.setattr(sim_module, "is_complete", lambda: False)
    monkeypatch.setattr(sim_module, "BackgroundCompile", Workers)
    monkeypatch.setattr(Workers, "finished", False)
    monkeypatch.setattr(Workers, "stopped", False)
    app = make_app(scenario(), speed=4)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.frame is not None and app.frame.tick >= 5)
        await pilot.press("q")
        await until(pilot, lambda: Workers.stopped)
    assert not interpreted()


async def test_a_first_run_started_paused_starts_its_workers_at_once(monkeypatch):
    monkeypatch.setattr(sim_module, "is_complete", lambda: False)
    monkeypatch.setattr(sim_module, "BackgroundCompile", Workers)
    monkeypatch.setattr(Workers, "finished", False)
    app = make_app(scenario(), paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.sim is not None and app.sim._compile is not None)
        assert app.frame.tick == 0 and interpreted()
        Workers.finished = True
        await until(pilot, lambda: not interpreted())


async def test_quitting_before_the_workers_start_leaves_the_kernels_compiled(monkeypatch):
    monkeypatch.setattr(sim_module, "is_complete", lambda: False)
    monkeypatch.setattr(sim_module.Sim, "start_compile", lambda sim: None)  # never started
    app = make_app(scenario(), speed=4)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.frame is not None and app.frame.tick >= 5)
        assert interpreted() and app.sim.needs_compile
        assert "0/113 ─ first run: interpreted till then, slower ─ tick " in status_line(app)
        await pilot.press("q")
    assert not interpreted()
