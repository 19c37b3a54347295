"""The app opened on an imported machine: `oomtui explain` (its OOM screen first) and
`oomtui live`. The machine starts paused, at the snapshot's moment; a line over the main screen
and the OOM screen says who the OOM killer would kill now, redone after every change."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from oomtui.engine import Machine
from oomtui.engine.events import Event
from oomtui.engine.oom import BadnessTerms, OomDecision, badness_terms
from oomtui.realworld.explain import Explanation
from oomtui.realworld.rebuild import Rebuilt
from oomtui.tui import app as tui_app
from oomtui.tui.app import OomApp
from oomtui.tui.screens.oom import OomScreen
from oomtui.tui.sim import SaveStart


def next_oom(m: Machine) -> tuple[OomDecision, list[BadnessTerms]]:
    """The engine's choice for a global OOM now, and every candidate's terms (worker thread)."""
    decision = m.next_oom()
    return decision, badness_terms(m.oom_candidates(), decision,
                                   m.totalram + m.total_swap_pages())


def next_victim_text(decision: OomDecision, rows: list[BadnessTerms],
                     real: dict[int, int]) -> str:
    """In plain words; real maps a simulated pid to the snapshot's (the report's) pid."""
    def name(r: BadnessTerms) -> str:
        pid = real.get(r.pid, r.pid)
        return f"{r.comm}[{pid}]" + ("" if pid == r.pid else f" (simulated pid {r.pid})")

    said = "Who dies next, if the whole machine ran out of memory now: "
    if decision.action == "panic":
        return said + f"nobody, the kernel panics ({decision.message})"
    if decision.action == "wait":
        return said + "nobody yet, an earlier OOM victim is still exiting"
    victim = next(r for r in rows if r.victim)
    text = (f"{said}{name(victim)}, {victim.points} points = {victim.rss} rss + "
            f"{victim.swapents} swap + {victim.pgtables} page tables + {victim.adj_term} for "
            f"oom_score_adj {victim.adj}")
    others = [r for r in rows if r.points is not None and not r.victim]
    runner = max(reversed(others), key=lambda r: r.points, default=None)   # ties: the later
    return text + (f"; next {name(runner)}, {runner.points}" if runner else "")


ASKING = "Who dies next: asking the engine…"


class NextVictim(Static):
    """The line saying who the OOM killer would kill now."""

    DEFAULT_CSS = "NextVictim { height: auto; padding: 0 1; color: $warning; }"

    def __init__(self, text: str = ASKING):
        super().__init__(text, markup=False)   # comms are no markup


class ExplainOomScreen(OomScreen):
    """The report's OOM, with the next victim on the machine as it is now above it."""

    def compose(self):
        yield NextVictim(self.app.next_text)
        yield from super().compose()


class ImportedApp(OomApp):
    """OomApp on an imported machine, paused, with `first` (a screen) shown over the main one.
    real: simulated pid → the snapshot's pid, for the next-victim line."""

    # Textual resolves them per class
    CSS_PATH = [Path(tui_app.__file__).with_name(css) for css in OomApp.CSS_PATH]

    def __init__(self, name: str, machine: Machine, first=None,
                 real: dict[int, int] | None = None):
        super().__init__(SaveStart(name, machine.snapshot(), machine.config, machine.tick),
                         paused=True)
        self.first = first
        """The screen to show first (None: the main screen)."""
        self.real = real or {}
        self.next_text = ASKING
        """The next-victim line as last answered."""
        self._changes = 0         # calls made and time moves: each may change the victim
        self._asked = None        # (tick, changes) the line was last asked for
        self._asking = False      # one question in the worker at a time

    # OomApp's handlers run too (Textual calls every class's): these only add to them.
    def on_ready(self) -> None:
        self.main.mount(NextVictim(), before="#panes")
        if self.first is not None:
            self.push_screen(self.first)

    def on_call_done(self) -> None:
        self._changes += 1

    def on_time_moved(self) -> None:
        self._changes += 1

    def on_frame_ready(self, message) -> None:
        key = (message.frame.tick, self._changes)
        if key == self._asked or self._asking or message.frame.panic:
            return
        self._asked, self._asking = key, True
        sim = self.sim   # its machine is replaced by a restart or a trip in time
        sim.control(lambda: next_oom(sim.machine), self._show_next)

    def _show_next(self, answer) -> None:
        self._asking = False
        self.next_text = next_victim_text(*answer, self.real)
        for screen in self.screen_stack:
            for line in screen.query(NextVictim):
                line.update(self.next_text)


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
    return ImportedApp(f"explain: {ex.report.comm} OOM", m,
                       ExplainOomScreen([event], m.config.tick_ms), _real(ex.rebuilt))


def live_app(rebuilt: Rebuilt) -> ImportedApp:
    return ImportedApp("live: this machine", rebuilt.machine, real=_real(rebuilt))


def _real(rebuilt: Rebuilt) -> dict[int, int]:
    return {sim: pid for pid, sim in rebuilt.pids.items()}
