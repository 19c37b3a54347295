"""OomApp: paints at once, prepares the engine in a thread worker, then redraws from frames.

The engine (and numba) is imported only inside the worker, so the first paint does not wait
for the kernels to load or compile. The worker posts messages (tui/messages.py): each frame is
shown as it comes (a newer one replaces one still queued), engine events go to the event log;
the UI thread never calls the engine.
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
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.worker import Worker, WorkerState, get_current_worker

from oomtui.tui import messages
from oomtui.tui.actions import ACTION_BINDINGS
from oomtui.tui.fmt import describe, error_text
from oomtui.tui.screens.main import MainScreen
from oomtui.tui.widgets.alloc_path import AllocPath
from oomtui.tui.widgets.goal_line import GoalLine
from oomtui.tui.widgets.process_table import ProcessTable

if TYPE_CHECKING:
    from oomtui.tui.sim import Sim

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
    if result.call.name == "kill_matching":
        return f"{result.label}: {len(value)} killed"
    if result.call.name == "swapon":
        return f"{result.label} → swap{value}"
    return f"{result.label}: done"


class OomApp(App):
    CSS_PATH = ["app.tcss", "start.tcss", "level.tcss"]
    TITLE = "oomtui"
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="app-help"),
        Binding("q", "quit", "Quit", id="app-quit"),
        Binding("ctrl+o", "picker", "Open", id="app-open",
                tooltip="Open a level, a scenario, the sandbox or a save"),
    ]

    def __init__(self, scenario=None, *, paused: bool = False, start_tick: int = 0,
                 speed: float = 1, welcome: bool = False, level=None):
        super().__init__()
        self.scenario = scenario
        """The Scenario (or sim.SaveStart) to run (None: the built-in default, loaded in the
        worker)."""
        self.welcome = welcome
        """Offer the welcome and the tour if this is the first start (no progress yet): the
        plain `oomtui` command asks for it, a scenario or a save opened on purpose does not."""
        self.level = level
        """The game Level played on the machine (None: a scenario or a save); it opens with
        its briefing."""
        self._clock_at_boot = False  # the briefing was read before the engine was up
        self.start = {"paused": paused, "tick": start_tick, "speed": speed}
        self.sim: Sim | None = None
        """The Sim, once the worker has made it (it takes requests before the machine is up)."""
        self.frame = None
        """The latest frame shown."""
        self.where = None
        """Where the timeline was at that frame (sim.Where)."""
        self.tick_ms = 10
        """The running machine's tick length (from its last TimeMoved)."""
        self.oom_events: list = []
        """Every OOM event seen, oldest first."""
        self.frame_times: deque = deque(maxlen=240)
        """Seconds each frame took to show on the UI thread (applying it to the widgets)."""
        self.main = MainScreen()
        self.panic_text = ""
        """The kernel's panic message, once it panicked."""
        self._panic_shown = False

    def on_mount(self) -> None:
        self.push_screen(self.main)
        if self.level is not None:
            self.play_level(self.level)
        if self.welcome:
            from oomtui.game.progress import Progress

            if Progress.load().first_start:
                self.action_welcome()

    def on_ready(self) -> None:
        """The first frame is on screen: now load the engine (importing numba alone takes the
        GIL for a quarter of a second, which would delay that frame)."""
        self.run_engine()

    def notify(self, message: str, **kw) -> None:
        """Every notification is plain text, never markup: they carry comms, cgroup paths,
        file names and the engine's messages (a comm may be "[/]")."""
        super().notify(message, **kw | {"markup": False})

    # -- the engine worker -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def run_engine(self) -> None:
        from oomtui.scenarios import builtin
        from oomtui.tui.sim import Sim

        worker = get_current_worker()
        if self.scenario is None:
            self.scenario = builtin()
        sim = Sim(self.scenario, paused=self.start["paused"] or self.level is not None,
                  speed=self.start["speed"], post=self.post_message, level=self.level)
        if sys.platform == "linux":  # a thread's own nice value: the UI thread wins the CPU
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
        self.sim = sim  # before boot: the messages boot posts may need it
        sim.boot(self.start["tick"])
        # Everything loaded so far (numba, the engine, Textual) lives as long as the app: keep
        # it out of the garbage collector's full passes, which took 150 ms with it (a frame
        # skipped at 30 redraws/s).
        gc.freeze()
        sim.run(lambda: worker.is_cancelled)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            text = (f"cannot start the scenario: {describe(error)}" if isinstance(error, OSError)
                    else f"engine error: {type(error).__name__}: {error}")
            self.main.status(text)
            self.notify(text, severity="error", timeout=30)

    # -- what the worker posts --------------------------------------------------------------

    def on_frame_ready(self, message: messages.FrameReady) -> None:
        if not self.is_running:  # the app is closing: its screens are going
            return
        if not self.main.is_mounted:  # a frame quicker than the screen: show it once it is up
            self.call_after_refresh(self.post_message, messages.FrameReady(
                message.frame, message.where, message.scenario))
            return
        started = time.perf_counter()
        self.frame, self.where = message.frame, message.where
        if self.sim.needs_compile and (message.frame.tick > 0 or message.frame.paused):
            self.sim.start_compile()  # from this thread: at its priority (Sim.start_compile)
        self.main.show(message.frame, message.scenario, message.where)
        self._check_panic(message.frame)
        self.frame_times.append(time.perf_counter() - started)

    def _check_panic(self, frame) -> None:
        from oomtui.tui.screens.panic import PanicScreen

        if frame.panic and not self._panic_shown and frame.goal is None:  # a level's end
            # screen tells of its panic
            self._panic_shown = True
            self.push_screen(PanicScreen(self.panic_text or frame.panic, frame.tick, frame.tick_ms))
        elif not frame.panic:
            self._panic_shown = False

    def on_time_moved(self, message: messages.TimeMoved) -> None:
        moved = message.moved
        self.tick_ms = moved.tick_ms
        from oomtui.tui.sim import is_oom_kill

        self.oom_events = list(moved.oom_acts)
        kernels = [e.tick for e in moved.oom_acts if is_oom_kill(e)]
        self.main.query_one(AllocPath).forget(kernels[-1] if kernels else None)
        if moved.fresh:
            self.main.clear_log()
            self.level = moved.level
            self.main.query_one(GoalLine).describe("" if self.level else moved.description)
            self.main.refresh_bindings()
            if self._clock_at_boot:
                self._clock_at_boot = False
                self.sim.start_clock()
        self.main.log_line(moved.tick, self.tick_ms, "time", moved.message)
        self.main.set_zones(moved.managed)

    def on_engine_events(self, message: messages.EngineEvents) -> None:
        from oomtui.engine.daemons import told
        from oomtui.tui.sim import is_oom_kill

        for event in message.events:
            if not is_oom_kill(event):  # each victim's own oom_kill line says it
                self.main.log_line(event.tick, self.tick_ms, event.kind, told(event))
            if event.kind == "panic":
                self.panic_text = event.data.get("text", event.message)
            if is_oom_kill(event):
                self.oom_events.append(event)
                self.main.query_one(AllocPath).oom_tick = event.tick
                why = event.data.get("why")  # the worker's plain sentence (sim.explained)
                said = f"{event.message}." + (f"\n{why}." if why else "")
                self.notify(f"{said} Press O for the report.", title="OOM kill",
                            severity="error", timeout=12)
            elif event.kind == "daemon":
                self.oom_events.append(event)
                self.notify(f"{event.message}. Press O for the report.",
                            title=f"OOM daemon {event.data['by']}", severity="warning", timeout=8)

    def on_call_done(self, message: messages.CallDone) -> None:
        result = message.result
        text = result_text(result)
        failed = result.error is not None
        self.notify(text, severity="error" if failed else "information")
        self.main.log_line(result.call.tick, self.tick_ms, "error" if failed else "call", text)
        if failed and result.error.errno == errno.ENOMEM and result.call.name in CALLS_THAT_COMMIT:
            self.main.query_one(AllocPath).refused_tick = result.call.tick

    def on_control_done(self, message: messages.ControlDone) -> None:
        reply = message.reply
        if reply.error is not None:
            self.notify(error_text(reply.error), severity="error", timeout=10)
        elif reply.then is not None:
            reply.then(reply.value)

    def on_level_ended(self, message: messages.LevelEnded) -> None:
        from oomtui.tui.screens.level_end import LevelEndScreen

        self.main.refresh_bindings()
        self.push_screen(LevelEndScreen(message.ending))

    def on_compiling(self, message: messages.Compiling) -> None:
        self.main.compiling(message.done, message.total, message.name)

    def on_seeking(self, message: messages.Seeking) -> None:
        self.main.seeking(message.done, message.total, message.target)

    def on_log_note(self, message: messages.LogNote) -> None:
        line = message.line
        self.main.log_line(line.tick, self.tick_ms, line.kind, line.message)
        if line.kind == "refused" and "ENOMEM" in line.message:
            self.main.query_one(AllocPath).refused_tick = line.tick

    # -- a game level ---------------------------------------------------------------------

    def play_level(self, level) -> None:
        """Open a level: its machine is booted, paused, behind its briefing; Enter there
        starts the clock."""
        from oomtui.tui.screens.briefing import BriefingScreen

        if self.sim is not None:  # else the engine, still loading, boots self.level
            self.sim.play_level(level)
        self.push_screen(BriefingScreen(level), lambda start: start and self.start_clock())

    def retry_level(self, level) -> None:
        """Play the level again from its boot, without the briefing."""
        self.sim.play_level(level)
        self.start_clock()

    def start_clock(self) -> None:
        """Run the level's clock (an app started paused stays paused: space runs it)."""
        if self.start["paused"]:
            return
        if self.sim is None:
            self._clock_at_boot = True
        else:
            self.sim.start_clock()

    # -- keys ----------------------------------------------------------------------------

    def action_help(self) -> None:
        from oomtui.tui.screens.briefing import BriefingScreen
        from oomtui.tui.screens.compare import CompareScreen
        from oomtui.tui.screens.help import HelpScreen
        from oomtui.tui.screens.level_end import LevelEndScreen
        from oomtui.tui.screens.oom import OomScreen
        from oomtui.tui.screens.panic import PanicScreen
        from oomtui.tui.screens.tour import TourScreen

        palette = Binding("ctrl+p", "command_palette", "Command palette: every action by name",
                          id="app-palette")
        self.push_screen(HelpScreen([
            ("main", MainScreen.BINDINGS + ProcessTable.BINDINGS),
            ("everywhere", self.BINDINGS + [palette]),
            ("help", HelpScreen.BINDINGS),
            ("tour", TourScreen.BINDINGS),
            ("level briefing", BriefingScreen.BINDINGS),
            ("level end", LevelEndScreen.BINDINGS),
            ("OOM report", OomScreen.BINDINGS),
            ("panic", PanicScreen.BINDINGS),
            ("branch comparison", CompareScreen.BINDINGS),
        ]))

    def action_picker(self) -> None:
        from oomtui.tui.screens.picker import PickerScreen, open_pick

        self.push_screen(PickerScreen(), lambda pick: pick is not None and open_pick(self, pick))

    def action_sandbox(self) -> None:
        from oomtui.tui.screens.picker import Pick, open_pick

        open_pick(self, Pick("sandbox"))

    def action_welcome(self) -> None:
        from oomtui.tui.screens.welcome import offer

        offer(self)

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield SystemCommand("Open", "A level, a scenario or a save (ctrl+o)", self.action_picker)
        yield SystemCommand("Sandbox", "Choose RAM, swap, overcommit, THP and processes",
                            self.action_sandbox)
        yield SystemCommand("Welcome and tour", "The one-minute tour of the panes and keys",
                            self.action_welcome)
        if screen is self.main:
            for b in ACTION_BINDINGS:
                yield SystemCommand(b.description, f"key {self.get_key_display(b)}",
                                    partial(self.main.run_action, b.action))


def make_app(scenario=None, **kw) -> OomApp:
    """The app, as the CLI and the tests build it (see OomApp for the options). Given a game
    Level it opens on the level's scenario and keeps the level as `app.level`."""
    from oomtui.game import Level

    if isinstance(scenario, Level):
        return OomApp(scenario.scenario, level=scenario, **kw)
    return OomApp(scenario, **kw)
