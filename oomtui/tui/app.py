"""OomApp: paints at once, prepares the engine in a thread worker, then redraws from frames.

The engine (and numba) is imported only inside the worker, so the first paint does not wait
for the kernels to load or compile. A 30 Hz timer drains the simulation's outbox (events,
call results) and shows its latest frame; it never calls the engine.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
import threading
import time
from collections import deque
from functools import partial

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.worker import Worker, WorkerState, get_current_worker

from oomtui.tui.actions import ACTION_BINDINGS
from oomtui.tui.fmt import describe, error_text
from oomtui.tui.screens.main import MainScreen
from oomtui.tui.widgets.alloc_path import AllocPath
from oomtui.tui.widgets.process_table import ProcessTable

REDRAW_HZ = 30
WORKER_NICE = 10  # the engine worker's: on a busy machine a redraw does not queue behind it
CALLS_THAT_COMMIT = {"mmap", "brk", "sbrk", "mremap", "mprotect", "fork", "spawn"}


def result_text(result) -> str:
    """A call's notification: what it returned, or its errno and the engine's reason."""
    if result.error is not None:
        return f"{result.label}: {describe(result.error)}"
    value = result.value
    if result.call.name == "mmap":
        return f"{result.label} → {value:#x}"
    if result.call.name in ("spawn", "fork"):
        return f"{result.label} → pid {value}"
    if result.call.name == "touch":
        return f"{result.label}: {value} faults"
    if result.call.name == "swapon":
        return f"{result.label} → swap{value}"
    return f"{result.label}: done"


class OomApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "oomtui"
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app-help"),
        Binding("q", "quit", "Quit", id="app-quit"),
    ]

    def __init__(self, scenario=None, *, paused: bool = False, start_tick: int = 0,
                 speed: float = 1):
        super().__init__()
        self.scenario = scenario
        """The Scenario (or sim.SaveStart) to run (None: the built-in default, loaded in the
        worker)."""
        self.start = {"paused": paused, "tick": start_tick, "speed": speed}
        self.sim = None
        """The Sim, once the worker has booted the machine."""
        self.frame = None
        """The latest frame shown."""
        self.oom_events: list = []
        """Every OOM event seen, oldest first."""
        self.frame_times: deque = deque(maxlen=240)
        """Seconds each redraw took on the UI thread (applying a frame to the widgets)."""
        self.main = MainScreen()
        self.panic_text = ""
        """The kernel's panic message, once it panicked."""
        self._panic_shown = False

    def on_mount(self) -> None:
        self.push_screen(self.main)
        self.redraw_timer = self.set_interval(1 / REDRAW_HZ, self.redraw)

    def on_ready(self) -> None:
        """The first frame is on screen: now load the engine (importing numba alone takes the
        GIL for a quarter of a second, which would delay that frame)."""
        self.run_engine()

    # -- the engine worker -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def run_engine(self) -> None:
        from oomtui.scenarios import builtin
        from oomtui.tui.sim import Sim

        worker = get_current_worker()
        if sys.platform == "linux":  # a thread's own nice value: the UI thread wins the CPU
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        if self.scenario is None:
            self.scenario = builtin()
        sim = Sim(self.scenario, paused=self.start["paused"], speed=self.start["speed"])
        sim.boot(self.start["tick"])
        # Everything loaded so far (numba, the engine, Textual) lives as long as the app: keep
        # it out of the garbage collector's full passes, which took 150 ms with it (a frame
        # skipped at 30 redraws/s).
        gc.freeze()
        self.sim = sim
        sim.run(lambda: worker.is_cancelled)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            text = (f"cannot start the scenario: {describe(error)}" if isinstance(error, OSError)
                    else f"engine error: {type(error).__name__}: {error}")
            self.main.status(text)
            self.notify(text, severity="error", timeout=30)

    # -- redraw --------------------------------------------------------------------------

    def redraw(self) -> None:
        sim = self.sim
        if sim is None or not self.is_running:  # not while shutting down
            return
        started = time.perf_counter()
        while sim.outbox:
            self.deliver(sim.outbox.popleft())
        frame = sim.latest
        if frame is not None and frame is not self.frame:
            self.frame = frame
            self.main.show(frame, sim.scenario.name, sim.where)
            self._check_panic(frame)
        if frame is not None:
            layout = self.main.layout_request(frame)
            if layout != (sim.layout.zone_pixels, sim.layout.vma_width, sim.layout.pid):
                from oomtui.tui.sim import Layout

                sim.relayout(Layout(*layout))
        self.frame_times.append(time.perf_counter() - started)

    def _check_panic(self, frame) -> None:
        from oomtui.tui.screens.panic import PanicScreen

        if frame.panic and not self._panic_shown:
            self._panic_shown = True
            self.push_screen(PanicScreen(self.panic_text or frame.panic, frame.tick, frame.tick_ms))
        elif not frame.panic:
            self._panic_shown = False

    def deliver(self, item) -> None:
        """One outbox item: an engine Event, a call Result, a control Reply, a Moved or a
        LogLine."""
        from oomtui.tui.sim import LogLine, Moved, Reply, Result, is_oom_kill

        tick_ms = self.sim.scenario.config.tick_ms  # the scenario or save loaded last
        path = self.main.query_one(AllocPath)
        if isinstance(item, Reply):
            if item.error is not None:
                self.notify(error_text(item.error), severity="error", timeout=10)
            elif item.then is not None:
                item.then(item.value)
        elif isinstance(item, Moved):
            self.oom_events = list(item.oom_kills)
            self.main.log_line(item.tick, tick_ms, "time", item.message)
        elif isinstance(item, Result):
            text = result_text(item)
            failed = item.error is not None
            self.notify(text, severity="error" if failed else "information")
            self.main.log_line(item.call.tick, tick_ms, "error" if failed else "call", text)
            if failed and item.error.errno == errno.ENOMEM and item.call.name in CALLS_THAT_COMMIT:
                path.refused_tick = item.call.tick
        elif isinstance(item, LogLine):
            self.main.log_line(item.tick, tick_ms, item.kind, item.message)
            if item.kind == "refused" and "ENOMEM" in item.message:
                path.refused_tick = item.tick
        else:
            self.main.log_line(item.tick, tick_ms, item.kind, item.message)
            if item.kind == "panic":
                self.panic_text = item.data.get("text", item.message)
            if is_oom_kill(item):
                self.oom_events.append(item)
                path.oom_tick = item.tick
                self.notify(f"{item.message}. Press O for the report.", title="OOM kill",
                            severity="error", timeout=8)

    # -- keys ----------------------------------------------------------------------------

    def action_help(self) -> None:
        from oomtui.tui.screens.compare import CompareScreen
        from oomtui.tui.screens.help import HelpScreen
        from oomtui.tui.screens.oom import OomScreen
        from oomtui.tui.screens.panic import PanicScreen

        palette = Binding("ctrl+p", "command_palette", "Command palette: every action by name",
                          id="app-palette")
        self.push_screen(HelpScreen([
            ("main", ACTION_BINDINGS + ProcessTable.BINDINGS),
            ("everywhere", self.BINDINGS + [palette]),
            ("OOM report", OomScreen.BINDINGS),
            ("panic", PanicScreen.BINDINGS),
            ("branch comparison", CompareScreen.BINDINGS),
        ]))

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        if screen is self.main:
            for b in ACTION_BINDINGS:
                yield SystemCommand(b.description, f"key {self.get_key_display(b)}",
                                    partial(self.main.run_action, b.action))


def make_app(scenario=None, **kw) -> OomApp:
    """The app, as the CLI and the tests build it (see OomApp for the options)."""
    return OomApp(scenario, **kw)
