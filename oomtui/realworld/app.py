"""The app opened on an imported machine: `oomtui explain` (its OOM screen first) and
`oomtui live`. The machine starts paused, at the snapshot's moment."""

from __future__ import annotations

from pathlib import Path

from oomtui.engine import Machine
from oomtui.engine.events import Event
from oomtui.engine.oom import badness_terms
from oomtui.realworld.explain import Explanation
from oomtui.tui import app as tui_app
from oomtui.tui.app import OomApp
from oomtui.tui.screens.oom import OomScreen
from oomtui.tui.sim import SaveStart


class ImportedApp(OomApp):
    """OomApp on an imported machine, paused, with `first` (a screen) shown over the main one."""

    CSS_PATH = Path(tui_app.__file__).with_name(OomApp.CSS_PATH)   # Textual resolves it per class

    def __init__(self, name: str, machine: Machine, first=None):
        super().__init__(SaveStart(name, machine.snapshot(), machine.config, machine.tick),
                         paused=True)
        self.first = first
        """The screen to show first (None: the main screen)."""

    def on_ready(self) -> None:
        super().on_ready()
        if self.first is not None:
            self.push_screen(self.first)


def explain_app(ex: Explanation, text: str) -> ImportedApp:
    """The app on the report's rebuilt machine, its OOM screen first (the report's pids)."""
    if ex.rebuilt is None:
        raise ValueError("this report cannot be rebuilt as a machine: "
                         + "; ".join(ex.missing + ex.notes))
    m = ex.rebuilt.machine
    data = {"report": text, "totalpages": ex.totalpages}
    if ex.decision is not None:
        rows = badness_terms(ex.rebuilt.candidates(), ex.decision, ex.totalpages or 1000)
        data |= {"candidates": [vars(t) for t in rows], "victim": ex.report.victim.pid}
    event = Event(m.tick, "oom", ex.report.pid or 0, ex.why(), data)
    return ImportedApp(f"explain: {ex.report.comm} OOM", m, OomScreen([event], m.config.tick_ms))


def live_app(machine: Machine) -> ImportedApp:
    return ImportedApp("live: this machine", machine)
