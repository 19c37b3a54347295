"""The simulation driver the app runs in a thread worker.

`Sim.run` owns the Machine: it steps it at the chosen speed, makes queued calls between steps,
and publishes `Frame`s (immutable pictures of everything the screen shows). The UI thread never
touches the Machine: it submits `Call`s and control requests (time travel, branch, load, a
snapshot to save) and says what frames should hold when that changes (`relayout`: a resize,
another process selected, another machine). The worker answers with the messages of
tui/messages.py (frames, engine events, call results, replies, log lines), handed to `post`
(the app's thread-safe post_message). The machine is stepped through a Timeline, so it can go
back in time and branch. A game level is played here too (tui/level_play.py): judged after every
tick, call and trip in time, and summed up when it ends.
"""

from __future__ import annotations

import errno
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numba.core import event

from oomtui import saves
from oomtui.engine import Machine
from oomtui.engine.compiler import BackgroundCompile
from oomtui.engine.kernels.jit import interpret
from oomtui.engine.warmup import EXPECTED_KERNELS, CompileProgress, is_complete, warm_up
from oomtui.engine.views import (
    FRAME_KINDS,
    MOVED_FROM,
    MOVED_TO,
    PAGE_STATES,
)
from oomtui.kill_sentence import kill_sentence
from oomtui.scenarios import Call, Scenario
from oomtui.timeline import Timeline
from oomtui.tui.level_play import LevelPlay
from oomtui.tui.messages import (
    CallDone, Compiling, ControlDone, EngineEvents, FrameReady, LevelEnded, LogNote, Seeking,
    TimeMoved,
)

# Simulated seconds per wall second.
SPEEDS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)
DEFAULT_SPEED = 1
FRAME_INTERVAL = 1 / 30  # the most often a frame is built
SLICE_SECONDS = 0.05  # the wall time one slice of steps aims at: a pause, a call or a frame waits
# about this long for the engine (a fork bomb's tick can cost seconds: then one tick a slice)
TRAVEL_GATHER = 0.3  # wall seconds a time-travel press waits for another: quick presses add up
# to one trip (one seek), not one seek each
SEEK_REPORTS = 0.1  # wall seconds between progress reports of a long seek
SLOW_VIEWS = 0.2  # the process table and the selected process's pages, at most this often (s)
FRAME_SHARE = 0.3  # the most of the worker's time frames may take (the rest steps the engine)
# Simulated seconds between checkpoints: a rewind replays at most this much, and each one copies
# the machine's arrays (~0.1 s for 2 GiB), so denser ones would slow high speeds down.
CHECKPOINT_SECONDS = 2
MOVES_SHOWN = 1.5  # wall seconds the grid marks the pages the last compaction run moved
SPEED_WINDOW = 2  # wall seconds the achieved speed is measured over
GRID_SHARE = 0.1  # the most of the worker's time the grid may take: it is a pass over every
# frame of RAM, so a big machine's grid is rebuilt less often than frames (and reused between)
SYSCTLS_SHOWN = ("vm.overcommit_memory", "vm.overcommit_ratio", "vm.overcommit_kbytes",
                 "vm.swappiness", "vm.min_free_kbytes", "vm.watermark_scale_factor",
                 "vm.panic_on_oom", "vm.oom_kill_allocating_task", "vm.admin_reserve_kbytes",
                 "vm.user_reserve_kbytes", "vm.vfs_cache_pressure", "vm.vfs_cache_pressure_denom",
                 "vm.drop_caches")


@dataclass(frozen=True)
class Result:
    """What a submitted call did: ok with its return value, or the engine's OSError."""
    call: Call
    label: str
    value: object = None
    error: OSError | None = None


@dataclass(frozen=True)
class SaveStart:
    """A save file as what the app runs (in place of a Scenario): boot() gives its machine."""
    name: str
    state: dict  # saves.read()'s
    config: object  # MachineConfig
    tick: int  # the saved machine's: where it (and a restart) starts
    calls: tuple = ()  # a save schedules no calls
    description: str = ""  # a save says nothing of what it is about

    @classmethod
    def read(cls, path) -> SaveStart:
        """The save at `path`, checked whole; SaveError or OSError if it cannot be opened."""
        meta, state = saves.read(path)
        try:
            machine = Machine.from_snapshot(state)
        except ValueError as e:
            raise saves.SaveError(f"{path}: {e}") from None
        return cls(meta["scenario"] or Path(path).stem, state, machine.config, machine.tick)

    def boot(self) -> Machine:
        return Machine.from_snapshot(self.state)


@dataclass(frozen=True)
class Reply:
    """What a control request returned, or the ValueError/OSError it raised (nothing changed
    then); the UI thread hands the value to `then`."""
    then: Callable | None
    value: object = None
    error: Exception | None = None


@dataclass(frozen=True)
class Moved:
    """The machine jumped (boot, rewind, forward, load, restart): the UI forgets what it kept
    from the events of the time it left."""
    tick: int
    message: str
    oom_acts: tuple  # the OOM kills and OOM daemons' acts in the machine's history now
    tick_ms: int  # the machine's tick length (a load may change it)
    managed: dict  # zone -> managed pages: what the grid's split depends on
    fresh: bool  # a new timeline (boot, restart, load): the events logged are another history's
    description: str  # what the running scenario is about (its description)
    level: object  # the game Level played on the machine (None: a scenario or a save)


@dataclass(frozen=True)
class Where:
    """Where the timeline is, for the timeline line."""
    tick: int
    first: int  # the oldest tick one can go back to
    end: int  # the branch's latest tick
    branch: str
    parent: str | None
    branches: tuple[str, ...]
    live: bool  # at the branch's end: stepping runs the simulation, not the recorded future


def is_oom_kill(event) -> bool:
    return event.kind == "oom" and event.data.get("victim") is not None


def explained(m: Machine, event):
    """An OOM kill with its plain sentence (kill_sentence) in data["why"], for the toast and the
    OOM screen; any other event (or a kill saved before events carried their table) as it is."""
    if not is_oom_kill(event) or "candidates" not in event.data:
        return event
    return replace(event, data=event.data | {"why": kill_sentence(m, event)})


def is_oom_act(event) -> bool:
    """The kernel's OOM kill, or a userspace OOM daemon's signal (engine/daemons/driver.py)."""
    return is_oom_kill(event) or event.kind == "daemon"


@dataclass(frozen=True)
class LogLine:
    """A line for the event log that is not an engine event (derived from counters)."""
    tick: int
    kind: str
    message: str


@dataclass(frozen=True)
class Layout:
    """What the screen asks frames to contain: grid pixels per zone, VMA bar width, selection,
    and the grid's width in cells the pixels were split for (rows = pixels / 2 / grid_width)."""
    zone_pixels: dict = field(default_factory=dict)
    vma_width: int = 40
    pid: int | None = None
    grid_width: int = 0


@dataclass
class Kept:
    """What the worker keeps between frames; a jump in time (Sim._moved) starts a new one."""
    tick: int
    """The tick the faults/s column was last measured at."""
    vm: dict
    """vmstat at the last per-second reclaim summary."""
    second: int
    """The simulated second that summary was for."""
    events: int
    """How many of the machine's events the UI has been sent."""
    faults: dict = field(default_factory=dict)
    """pid -> (minflt, majflt, faults/s) at the last measure."""
    errors: dict = field(default_factory=dict)
    """pid -> tick of its workload's last refusal the UI was told of."""
    slow_at: float = 0.0
    """When (time.monotonic) the per-process views were last rebuilt."""
    grid: dict = field(default_factory=dict)
    """The grid last built, with the selected process's frames (frames get copies with the
    compaction marks drawn in)."""
    grid_for: tuple | None = None
    """(pixels per zone, selected pid) that grid was built for."""
    grid_at: float = 0.0
    """When it was built."""
    moves: tuple | None = None
    """(from pfns, to pfns) of the last compaction run's page moves, while they are shown."""
    moves_until: float = 0.0
    """When their marks go."""
    move_marks: list | None = None
    """[(MOVED_FROM, marks), (MOVED_TO, marks)], drawn for move_pixels."""
    move_pixels: dict | None = None
    """The pixels per zone move_marks were drawn for."""


class SpeedMeter:
    """The speed achieved (simulated seconds per wall second) over the last SPEED_WINDOW: the
    engine may not keep up with the speed asked for."""

    def __init__(self):
        self.samples: deque = deque()  # (wall time, simulated seconds), oldest first

    def add(self, wall: float, seconds: float) -> None:
        self.samples.append((wall, seconds))
        while len(self.samples) > 2 and wall - self.samples[1][0] >= SPEED_WINDOW:
            self.samples.popleft()

    def clear(self) -> None:
        """Paused or jumped: the time since then is no measure of running."""
        self.samples.clear()

    @property
    def achieved(self) -> float | None:
        """None until it has run for a frame."""
        if len(self.samples) < 2:
            return None
        (wall0, sim0), (wall1, sim1) = self.samples[0], self.samples[-1]
        return (sim1 - sim0) / (wall1 - wall0) if wall1 > wall0 else None


@dataclass(frozen=True)
class Frame:
    tick: int
    tick_ms: int
    speed: float
    achieved: float | None  # SpeedMeter's, None while paused
    paused: bool
    busy: str  # the call being made, "" if none
    compiling: tuple[int, int, str] | None  # a first run's compile workers: kernels compiled
    # so far, about how many they compile, the ones compiling now; None: running compiled
    meminfo: dict
    zoneinfo: dict
    vmstat: dict
    swaps: list
    kswapd: dict
    terms: dict  # mem_available_terms()
    watermarks: dict  # watermark_terms()
    commit: dict  # commit_limit_terms()
    kswapd_max_failures: int  # kswapd_failures at which kswapd gives up
    sysctl: dict
    processes: list  # processes() rows + "faults_s"
    pressure: dict  # /proc/pressure/memory
    cgroups: dict  # path -> cgroup_stat(path), tree order
    grid: dict  # zone -> levels (views.frame_grid)
    grid_scale: dict  # zone -> frames per pixel (views.frames_per_pixel)
    pid: int | None  # the selected process, if alive
    vmas: list  # [(maps() row, page_states counts)]
    panic: str | None
    layout: Layout  # what it was built for: drawn as built even if the screen has changed since
    frame_kinds: tuple = FRAME_KINDS
    page_states: tuple = PAGE_STATES
    goal: object = None  # the level's game.GoalStatus (None: no level is played)
    hints_taken: int = 0  # the level's hints shown so far

    @property
    def seconds(self) -> float:
        return self.tick * self.tick_ms / 1000


class Sim:
    """Steps a Machine in real time; thread-safe to submit calls and read frames."""

    def __init__(self, scenario: Scenario | SaveStart, *, paused: bool = False,
                 speed: float = DEFAULT_SPEED, post: Callable = lambda message: None,
                 level=None):
        self.scenario = scenario
        self.level = level
        """The game Level played on the scenario's machine (None: none)."""
        self.game: LevelPlay | None = None
        """That level's play on the machine booted last."""
        self.paused = paused
        self.speed_index = SPEEDS.index(speed) if speed in SPEEDS else SPEEDS.index(DEFAULT_SPEED)
        self.layout = Layout()
        self.latest: Frame | None = None
        """The last frame built (also posted as a FrameReady)."""
        self.post = post
        """Where the worker's messages go (tui/messages.py): the app's post_message."""
        self.kept: Kept | None = None
        """What the worker keeps between frames (set at boot)."""
        self._unsaid: list = []  # messages for the UI, posted with the next frame
        self._queue: deque = deque()  # (Call, label), or (function, then): a control request
        self._wake = threading.Event()
        self._steps = 0  # single ticks requested while paused
        self.machine: Machine | None = None
        self.timeline: Timeline | None = None
        self._busy = ""
        self._tick_cost = SLICE_SECONDS  # wall seconds per tick in the last slice of steps
        # (unknown before the first: that slice is one tick)
        self._trip = 0.0  # seconds of time travel asked for and not yet made
        self._trip_at = 0.0  # when (time.monotonic) the last press asked for some
        self._trip_lock = threading.Lock()
        self._dirty = False  # a redraw asked for
        self._unshown = False  # served (a call, steps, a redraw), not yet in a published frame
        self.meter = SpeedMeter()
        self.build_times: deque = deque(maxlen=240)
        """Seconds each frame took to build (engine thread), newest last."""

    # -- from the UI thread ------------------------------------------------------------------

    @property
    def speed(self) -> float:
        return SPEEDS[self.speed_index]

    def set_speed(self, delta: int) -> float:
        self.speed_index = max(0, min(len(SPEEDS) - 1, self.speed_index + delta))
        self._redraw()
        return self.speed

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        self._redraw()
        return self.paused

    def _redraw(self) -> None:
        """Ask the worker for a new frame (the header shows speed and pause)."""
        self._dirty = True
        self._wake.set()

    def step(self, n: int = 1) -> None:
        """n more ticks, then stay paused (pauses the simulation first)."""
        self.paused = True
        self._steps += n
        self._wake.set()

    def submit(self, call: Call, label: str) -> None:
        """Make `call` between two steps; its Result is posted (CallDone)."""
        self._queue.append((call, label))
        self._wake.set()

    def control(self, fn: Callable, then: Callable | None = None) -> None:
        """Run fn() in the worker between two steps; a Reply with its value is posted
        (ControlDone)."""
        self._queue.append((fn, then))
        self._wake.set()

    def restart(self) -> None:
        """Start again from the scenario's boot (or the save's state), on a new timeline."""
        self.control(self.boot)

    def travel(self, seconds: float, then: Callable | None = None) -> float:
        """Go back (seconds < 0) or forward along the current branch, and pause;
        `then((tick before, tick after))`. Presses less than TRAVEL_GATHER apart, or made while
        the trip waits its turn, add up to one trip (the first one's `then` is told). Returns
        the seconds of the trip so far."""
        self.paused = True
        with self._trip_lock:
            queued = self._trip_at > 0
            self._trip += seconds
            self._trip_at = time.monotonic()
            trip = self._trip
        if not queued:
            self.control(self._take_trip, then)
        return trip

    def _take_trip(self) -> tuple[int, int]:
        while (wait := self._trip_at + TRAVEL_GATHER - time.monotonic()) > 0:
            time.sleep(wait)
        with self._trip_lock:
            seconds, self._trip, self._trip_at = self._trip, 0.0, 0.0
        return self._travel(seconds)

    def load(self, path, then: Callable | None = None) -> None:
        """Replace the machine by a save's, paused, on a new timeline; `then(SaveStart)`. A
        file that cannot be opened changes nothing (the Reply carries its error)."""
        self.control(lambda: self._open(SaveStart.read(path), paused=True), then)

    def open(self, start: Scenario | SaveStart, *, paused: bool,
             then: Callable | None = None) -> None:
        """Replace the machine by a scenario's (or a save's) on a new timeline; `then(start)`.
        One that cannot boot changes nothing (the Reply carries its error)."""
        self.control(lambda: self._open(start, paused=paused), then)

    def play_level(self, level, then: Callable | None = None) -> None:
        """Boot a game level's machine, paused, on a new timeline (start_clock runs it)."""
        self.control(lambda: self._open(level.scenario, paused=True, level=level), then)

    def start_clock(self) -> None:
        """Run the simulation (after the requests queued before this one)."""
        self.control(self._run_clock)

    def _run_clock(self) -> None:
        self.paused = False

    def hint(self, then: Callable) -> None:
        """The level's next hint: `then((its number, text))`; ENOENT when no level is played or
        no hint is left."""
        self.control(self._hint, then)

    def _hint(self) -> tuple[int, str]:
        if self.game is None:
            raise OSError(errno.ENOENT, "no level is being played")
        return self.game.hint()

    def relayout(self, **layout) -> None:
        """What frames should hold from now on (Layout's fields): asked once per change."""
        self.layout = Layout(**layout)
        self._redraw()

    @property
    def pending(self) -> int:
        """Requests (calls, steps, restarts, redraws) whose outcome no published frame shows
        yet. The worker sets _unshown before it takes a request, so no read falls between."""
        return len(self._queue) + self._steps + bool(self._busy) + self._dirty + self._unshown

    # -- in the worker thread ----------------------------------------------------------------

    def boot(self, until_tick: int = 0) -> None:
        """A fresh machine from the scenario (or the save) on a new timeline, run to a tick."""
        self.machine = self.scenario.boot()
        self.timeline = Timeline(
            self.machine, every=max(1, CHECKPOINT_SECONDS * 1000 // self.machine.config.tick_ms))
        self.game = None if self.level is None else LevelPlay(self.level, self.machine)
        self._moved(f"{self.scenario.name}: the timeline starts here", fresh=True)
        self._make_due()
        self._advance(until_tick - self.machine.tick)
        self._publish(force_slow=True)

    def _say(self, message) -> None:
        """A message for the UI (tui/messages.py); it goes with the next frame, which every
        request, step and jump is followed by."""
        self._unsaid.append(message)

    def _moved(self, message: str, fresh: bool = False) -> None:
        """After a jump: counters start over here, and the UI is told."""
        m = self.machine
        self.meter.clear()
        self.kept = Kept(tick=m.tick, vm=m.vmstat(), second=m.tick * m.config.tick_ms // 1000,
                         events=len(m.events))
        self._say(TimeMoved(Moved(m.tick, message,
                                  tuple(explained(m, e) for e in m.events if is_oom_act(e)),
                                  m.config.tick_ms, {n: z["managed"]
                                                     for n, z in m.zoneinfo().items()}, fresh,
                                  self.scenario.description, self.level)))

    def _travel(self, seconds: float) -> tuple[int, int]:
        m = self.machine
        before = m.tick
        b = self.timeline.current  # seek() goes no further than the branch holds
        target = max(b.checkpoints[0].tick,
                     min(before + round(seconds * 1000 / m.config.tick_ms), b.end_tick))
        reported = time.monotonic()

        def progress(done: int, total: int) -> None:
            nonlocal reported
            if time.monotonic() - reported >= SEEK_REPORTS:
                reported = time.monotonic()
                self.post(Seeking(done, total, target))  # now: no frame comes until it is done

        self.timeline.seek(target, progress=progress)
        if m.tick != before:
            self._moved(f"{'back' if m.tick < before else 'forward'} to tick {m.tick} on "
                        f"branch {self.timeline.current.name}")
        return before, m.tick

    def _open(self, start: Scenario | SaveStart, *, paused: bool,
              level=None) -> Scenario | SaveStart:
        previous = self.scenario, self.paused, self.level
        self.scenario, self.paused, self.level = start, paused, level
        try:
            self.boot()  # it replaces the machine only once the new one is up
        except BaseException:
            self.scenario, self.paused, self.level = previous
            raise
        return start

    def run(self, cancelled) -> None:
        """The worker: boot, prepare the engine, then its loop until cancelled()."""
        if self.machine is None:
            self.boot()
        self._prepare()
        try:
            self._loop(cancelled)
        finally:  # quitting during a first run: the workers stop, the kernels run compiled
            self.needs_compile = False
            if self._compile is not None:
                self._compile.stop()
            interpret(False)

    def _loop(self, cancelled) -> None:
        """Calls, steps at speed, frames."""
        anchor_wall, anchor_tick = time.monotonic(), self.machine.tick
        while not cancelled():
            if self._compile is not None and self._compile.done():
                self._compiled()
            if self._dirty:
                self._unshown = True
                self._dirty = False
            self._serve_queue()
            m = self.machine
            if self._steps:
                self._unshown = True
                n, self._steps = self._steps, 0
                self._advance(n)
            if self.paused or m.panicked:
                # A panic met while running is published at once (no request will ask for it).
                if self._unshown or self._moves_expired() or self.latest.panic != m.panicked:
                    self._publish(force_slow=True)
                self._wake.wait(0.1)
                self._wake.clear()
                anchor_wall, anchor_tick = time.monotonic(), m.tick
                self.meter.clear()
                continue
            rate = 1000 / m.config.tick_ms * self.speed  # ticks per wall second
            due = anchor_tick + int((time.monotonic() - anchor_wall) * rate) - m.tick
            if due > rate:  # more than a second behind: the engine cannot keep up, drop it
                anchor_wall, anchor_tick, due = time.monotonic(), m.tick, 1
            if due > 0:
                # Step in slices of at most one frame's worth, and of about SLICE_SECONDS, so
                # a pause, calls and frames interleave with the steps however costly a tick is.
                n = min(due, max(1, int(rate * FRAME_INTERVAL)),
                        max(1, int(SLICE_SECONDS / max(self._tick_cost, 1e-6))))
                started, before = time.monotonic(), m.tick
                self._advance(n)
                if m.tick > before:
                    self._tick_cost = (time.monotonic() - started) / (m.tick - before)
            if time.monotonic() - self._published >= self._frame_interval:
                self.meter.add(time.monotonic(), m.tick * m.config.tick_ms / 1000)
                self._publish()
            if due <= 0:
                self._wake.wait(1 / rate)
                self._wake.clear()

    _published = 0.0
    _frame_interval = FRAME_INTERVAL  # grows when frames are costly (a big machine)
    _slow_interval = SLOW_VIEWS
    _grid_interval = FRAME_INTERVAL

    _compile: BackgroundCompile | None = None  # a first run's compile, under way
    _prepared = False  # the engine can step (compiled, or interpreted while _compile runs)
    needs_compile = False  # a first run, interpreted, whose compile workers are not started

    def _prepare(self) -> None:
        """Load the compiled kernels; on a first run (the cache not complete), run them
        interpreted until the compile workers are done (start_compile)."""
        if is_complete():
            self._warm_up()
        else:
            self.needs_compile = True
            interpret(True)
        self._prepared = True

    def start_compile(self) -> None:
        """Start a first run's compile workers (engine/compiler.py). The app calls it from its
        own thread once the first tick is shown (or at once, paused): the workers then run at
        the app's priority, above the engine thread's, so the compile goes first and the
        interpreted run takes the CPU left, after a first tick as quick as it can be."""
        if self.needs_compile:
            self.needs_compile = False
            self._compile = BackgroundCompile()

    def _compiling(self) -> tuple[int, int, str] | None:
        c = self._compile
        if c is None:
            return (0, EXPECTED_KERNELS, "") if self.needs_compile else None
        return c.compiled, c.expected, c.status()

    def _compiled(self) -> None:
        """The workers are done: load what they compiled (and compile here what they could
        not), then switch to the compiled kernels."""
        workers, self._compile = self._compile, None
        workers.wait()  # marks the cache complete if every worker succeeded
        interpret(False)
        self._warm_up()

    def _warm_up(self) -> None:
        """Have every kernel compiled before the first step (engine/warmup.py), saying so and
        showing which one is being compiled (on a first run)."""
        self._busy = ("preparing engine: loading its compiled kernels" if is_complete() else
                      "preparing engine: compiling its kernels (on the first run only)")
        self._publish(force_slow=True)

        def report(done: int, total: int, name: str) -> None:
            self.post(Compiling(done, total, name))  # now: no frame comes until it is done

        with event.install_listener("numba:compile", CompileProgress(report)):
            warm_up()
        self._busy = ""
        self._publish(force_slow=True)

    def _serve_queue(self) -> None:
        # A request leaves the queue only once it is served: a boot inside a control publishes
        # a frame before its reply is said, and `pending` must not read 0 in between.
        while self._queue:
            self._unshown = True
            item = self._queue[0]
            if not isinstance(item[0], Call):
                reply = self._control(*item)
                self._say(ControlDone(reply))
            else:
                call, label = item
                self._busy = label
                try:
                    self._say(CallDone(self._make(call, label)))
                finally:
                    self._busy = ""
            self._unshown = True  # a boot in it published a frame: what was said needs the next
            self._judge()  # after a call or a trip in time
            self._queue.popleft()

    def _control(self, fn: Callable, then: Callable | None) -> Reply:
        try:
            return Reply(then, fn())
        except (ValueError, OSError) as e:
            return Reply(then, error=e)

    def _make(self, call: Call, label: str) -> Result:
        m = self.machine
        call = Call(call.name, call.args, call.kwargs, m.tick)
        try:
            value = call.apply(m)
        except OSError as e:
            return Result(call, label, error=e)
        finally:
            self._collect()
            forked = self.timeline.sync()
            if forked is not None:
                self._say(LogNote(LogLine(m.tick, "branch", f"{label or call.name} in the past "
                                          f"started branch {forked.name}; {forked.parent} "
                                          "keeps its future")))
        return Result(call, label, value)

    def _make_due(self) -> None:
        """The scenario's calls scheduled at this tick (made when the machine reaches it)."""
        for call in self.scenario.calls:
            if call.tick == self.machine.tick:
                self._say(CallDone(self._make(call, f"scenario: {call.name}")))

    def _advance(self, n: int) -> None:
        """n ticks on: along the branch's recorded future while in the past; live at its end,
        making the scenario's calls at their ticks. A level being played goes one tick at a
        time, judged after each (its goal watches peaks), and stops when it ends."""
        m, timeline = self.machine, self.timeline
        target = m.tick + n
        while m.tick < target and not m.panicked:
            before = m.tick
            playing = self.game is not None and not self.game.over
            upto = before + 1 if playing else target
            if timeline.at_end:
                upto = min([upto] + [c.tick for c in self.scenario.calls if c.tick > m.tick])
                timeline.step(upto - m.tick)
                self._make_due()
            else:
                timeline.seek(min(upto, timeline.current.end_tick))
            self._collect()
            if playing and self._judge():
                break
            if m.tick == before and not timeline.at_end:
                break  # no way on: never spin in the worker

    def _judge(self) -> bool:
        """Judge the level being played (if any); when that ends it: pause, and tell the UI
        how it ended (LevelEnded). True then."""
        if self.game is None or not self.game.judge():
            return False
        self.paused = True
        self._busy = "the level is over: playing it once without your moves, to compare"
        self._publish(force_slow=True)
        try:
            self._say(LevelEnded(self.game.ending()))
        finally:
            self._busy = ""
        self._unshown = True
        return True

    def _collect(self) -> None:
        """New engine events, workload refusals and per-second reclaim summaries: posted."""
        m, kept = self.machine, self.kept
        new = m.events[kept.events:]
        if new:
            self._say(EngineEvents(tuple(explained(m, e) for e in new)))
        kept.events = len(m.events)
        if any(e.kind == "compaction" and e.data.get("moved") for e in new):
            kept.moves = m.compaction_moves()
            kept.moves_until = time.monotonic() + MOVES_SHOWN
            kept.move_marks = None  # drawn for the next frame's pixels
        for pid, runner in list(m.runners.items()):
            e = runner.last_error
            if e is not None and kept.errors.get(pid) != e["tick"]:
                kept.errors[pid] = e["tick"]
                comm = m.procs[pid].comm if pid in m.procs else "?"
                code = errno.errorcode.get(e["errno"], e["errno"])
                self._say(LogNote(LogLine(e["tick"], "refused",
                                          f"{comm}[{pid}] {runner.state}: {code}, {e['message']}")))
        second = m.tick * m.config.tick_ms // 1000
        if second != kept.second:
            self._summarise_second(second)

    def _summarise_second(self, second: int) -> None:
        """One line per simulated second with direct reclaim or swap-out in it."""
        m, kept = self.machine, self.kept
        vm = m.vmstat()
        d = {k: vm[k] - kept.vm[k] for k in ("allocstall", "pswpout", "pswpin", "pgscan_direct")}
        kept.vm, kept.second = vm, second
        parts = []
        if d["allocstall"]:
            parts.append(f"{d['allocstall']} direct reclaim stalls ({d['pgscan_direct']} pages "
                         "scanned)")
        if d["pswpout"]:
            parts.append(f"{d['pswpout'] * 4 // 1024} MiB swapped out")
        if d["pswpin"]:
            parts.append(f"{d['pswpin'] * 4 // 1024} MiB swapped in")
        if parts:
            self._say(LogNote(LogLine(m.tick, "reclaim",
                                      "; ".join(parts) + " in the last second")))

    def _publish(self, force_slow: bool = False) -> None:
        """Build a frame. The per-process views (table, pages, highlighted frames) are rebuilt
        at most every SLOW_VIEWS and the grid (with the selected process's frames) at most every
        FRAME_INTERVAL, each less often when it is costly (FRAME_SHARE, GRID_SHARE); in between
        frames reuse them. For MOVES_SHOWN after a compaction run the grid marks the pixels it
        moved pages out of and into."""
        m, kept = self.machine, self.kept
        started = self._published = time.monotonic()
        layout = self.layout
        prev = self.latest
        slow = force_slow or prev is None or started - kept.slow_at >= self._slow_interval
        pid = layout.pid if layout.pid in m.procs and not m.panicked else None
        if m.panicked:  # the machine answers nothing per process any more
            processes, vmas = (prev.processes if prev else []), []
        elif slow:
            kept.slow_at = started
            processes, vmas = self._processes(), self._vmas(pid, layout.vma_width)
            self._slow_interval = max(SLOW_VIEWS, (time.monotonic() - started) / FRAME_SHARE)
        else:
            processes, vmas = prev.processes, prev.vmas
        at = time.monotonic()
        grid = self._grid(layout.zone_pixels, pid, force_slow)
        grid_cost = time.monotonic() - at
        for value, zone_marks in self._moves(layout.zone_pixels):
            for zone, mark in zone_marks.items():
                if zone in grid and mark.size == grid[zone].size:
                    grid[zone] = np.where(mark, np.uint8(value), grid[zone])
        self.latest = Frame(
            tick=m.tick, tick_ms=m.config.tick_ms, speed=self.speed,
            achieved=None if self.paused or m.panicked else self.meter.achieved, paused=self.paused,
            busy=self._busy, compiling=self._compiling(), meminfo=m.meminfo(), zoneinfo=m.zoneinfo(), vmstat=m.vmstat(),
            swaps=m.swaps(), kswapd=m.kswapd_state(), terms=m.mem_available_terms(),
            watermarks=m.watermark_terms(), commit=m.commit_limit_terms(),
            kswapd_max_failures=m.KSWAPD_MAX_FAILURES,
            sysctl={k: m.sysctl(k) for k in SYSCTLS_SHOWN}, processes=processes,
            pressure=m.pressure(), cgroups={path: m.cgroup_stat(path) for path in m.cgroups()},
            grid=grid, grid_scale=m.frames_per_pixel(layout.zone_pixels), pid=pid, vmas=vmas,
            panic=m.panicked, layout=layout,
            goal=None if self.game is None else self.game.status,
            hints_taken=0 if self.game is None else self.game.hints_taken)
        where = self._where()
        cost = time.monotonic() - started
        self.build_times.append(cost)
        if not slow:  # the slow views and the grid stretch only their own intervals
            self._frame_interval = max(FRAME_INTERVAL, (cost - grid_cost) / FRAME_SHARE)
        self._unshown = False
        # Posted last, with what was said since the last frame: the UI thread wakes once per
        # frame (not per message), and the time it takes is not counted as the build's.
        for message in self._unsaid:
            self.post(message)
        self._unsaid.clear()
        self.post(FrameReady(self.latest, where, self.scenario.name))

    def _grid(self, pixels: dict, pid: int | None, force: bool) -> dict:
        """frame_grid(pixels, pid), rebuilt when due or asked for a new split or selection."""
        kept = self.kept
        now = time.monotonic()
        if force or kept.grid_for != (pixels, pid) or now - kept.grid_at >= self._grid_interval:
            kept.grid = self.machine.frame_grid(pixels, pid) if pixels else {}
            kept.grid_for, kept.grid_at = (pixels, pid), now
            self._grid_interval = max(FRAME_INTERVAL, (time.monotonic() - now) / GRID_SHARE)
        return dict(kept.grid)  # marks replace arrays in this copy, never the kept ones

    def _moves(self, pixels: dict) -> list:
        """[(MOVED_FROM, marks), (MOVED_TO, marks)] for the last compaction run's page moves
        while they are shown (MOVES_SHOWN after the run), else []."""
        kept = self.kept
        if kept.moves is None or time.monotonic() >= kept.moves_until:
            kept.moves = None
            return []
        if kept.move_marks is None or kept.move_pixels != pixels:
            kept.move_pixels = pixels
            kept.move_marks = [(value, self.machine.frame_pixels_at(pfns, pixels))
                               for value, pfns in zip((MOVED_FROM, MOVED_TO), kept.moves)]
        return kept.move_marks

    def _moves_expired(self) -> bool:
        """The compaction marks shown should go (a paused machine publishes no frame else)."""
        return self.kept.moves is not None and time.monotonic() >= self.kept.moves_until

    def _where(self) -> Where:
        tl = self.timeline
        b = tl.current
        return Where(self.machine.tick, b.checkpoints[0].tick, b.end_tick, b.name, b.parent,
                     tuple(tl.branches), tl.at_end)

    def _processes(self) -> list[dict]:
        """processes() rows with faults per simulated second."""
        m, kept = self.machine, self.kept
        seconds = (m.tick - kept.tick) * m.config.tick_ms / 1000
        rows = []
        for row in m.processes():
            minflt, majflt = row["minflt"], row["majflt"]
            before = kept.faults.get(row["pid"], (minflt, majflt, 0.0))
            rate = ((minflt + majflt - before[0] - before[1]) / seconds if seconds > 0
                    else before[2])
            kept.faults[row["pid"]] = (minflt, majflt, rate)
            rows.append(row | {"faults_s": rate})
        kept.tick = m.tick
        return rows

    def _vmas(self, pid: int | None, width: int) -> list:
        if pid is None:
            return []
        m = self.machine
        return [(v, m.page_states(pid, v["start"], v["end"] - v["start"], width))
                for v in m.maps(pid)]
