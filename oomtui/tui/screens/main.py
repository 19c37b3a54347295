"""MainScreen: the panes of DESIGN.md §5, redrawn from Frames; the actions live in Actions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, LoadingIndicator, Static

from oomtui.tui.actions import ACTION_BINDINGS, Actions
from oomtui.tui.explain import readings
from oomtui.tui.timetravel import TimeTravel
from oomtui.tui.widgets.alloc_path import AllocPath
from oomtui.tui.widgets.event_log import EventLog
from oomtui.tui.widgets.gauges import Gauges
from oomtui.tui.widgets.goal_line import GoalLine
from oomtui.tui.widgets.key_footer import KeyFooter
from oomtui.tui.widgets.memory_grid import MemoryGrid, palette, scale_label
from oomtui.tui.widgets.process_table import ProcessTable
from oomtui.tui.widgets.timeline_bar import TimelineBar
from oomtui.tui.widgets.vma_view import VmaView


def bar(done: int, total: int) -> str:
    """A progress bar BAR_WIDTH cells wide."""
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    return "█" * filled + "░" * (BAR_WIDTH - filled)


class FilterBox(Input):
    """The process filter; Escape clears it."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", id="filter-clear")]

    class Cleared(Message):
        pass

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())


NARROW = 120  # below this many columns the lower panes take turns (v)
BAR_WIDTH = 20  # the compile progress bar in the status line, in cells
LOWER_PANES = (("grid-pane", "Physical memory"), ("vmas", "Virtual memory"),
               ("gauges", "Gauges"), ("events", "Events"))


LEVEL_BINDINGS = [  # first: a narrow footer keeps them in view
    Binding("h", "hint", "Hint", id="level-hint", tooltip="The level's next hint (it costs score)"),
]


class MainScreen(Actions, TimeTravel, Screen):
    BINDINGS = LEVEL_BINDINGS + ACTION_BINDINGS

    shown_pane = LOWER_PANES[0][0]
    """The lower pane a narrow terminal shows (the others wait for v)."""
    zones: dict | None = None
    """Managed pages per zone of the running machine (the grid's split follows them)."""
    _asked: dict | None = None  # the layout last sent to the worker

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield GoalLine(id="goal")
        yield AllocPath(id="path")
        yield TimelineBar(id="timeline")
        with Grid(id="panes"):
            with Vertical(id="procs-pane"):
                yield FilterBox(placeholder="filter by pid, comm or cgroup (Enter to apply, Esc to "
                                "clear)", id="filter")
                yield ProcessTable(id="procs", classes="pane")
            yield Static(id="pane-bar")
            with Vertical(id="grid-pane", classes="pane lower"):
                yield LoadingIndicator(id="preparing")
                yield MemoryGrid(id="grid")
                yield Static(id="grid-legend")
            yield VmaView(id="vmas", classes="pane lower")
            yield Gauges(id="gauges", classes="pane lower")
            yield EventLog(id="events", classes="pane lower")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#grid-pane").border_title = "Physical memory (frames by type)"
        self.query_one("#gauges").border_title = "Watermarks & gauges (hover or e: explain)"
        self.query_one("#events").border_title = "Events"
        self.query_one("#vmas").border_title = "Virtual memory"
        self.query_one("#filter").display = False
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self.query_one(ProcessTable).focus()
        self.action_show_pane(self.shown_pane)
        self.status("preparing engine…")

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")
        self.refresh_bindings()

    # -- a narrow terminal shows one of the lower panes at a time --------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "hint":
            return self.playing
        return self.has_class("-narrow") if action == "next_pane" else True

    @property
    def playing(self) -> bool:
        """A level is being played (and is not over)."""
        frame = self.app.frame
        return self.app.level is not None and (frame is None or frame.goal is None
                                               or frame.goal.state == "playing")

    def action_hint(self) -> None:
        level, frame = self.app.level, self.app.frame
        taken = frame.hints_taken if frame is not None else 0
        if taken >= len(level.hints):
            self.notify("no hints left for this level", severity="warning")
            return
        self._ask(f"Hint {taken + 1} of {len(level.hints)}", [],
                  lambda v: self.app.sim.hint(self._show_hint),
                  note=f"A hint costs {-level.weights['hint']:g} points of this run's score.",
                  ok="Show it")

    def _show_hint(self, hint: tuple[int, str]) -> None:
        number, text = hint
        self.notify(text, title=f"Hint {number} of {len(self.app.level.hints)}", timeout=30)
        self.log_line(self.app.frame.tick, self.app.tick_ms, "hint", text)

    def action_next_pane(self) -> None:
        ids = [pane for pane, _ in LOWER_PANES]
        self.action_show_pane(ids[(ids.index(self.shown_pane) + 1) % len(ids)])

    def action_show_pane(self, pane: str) -> None:
        """Make `pane` the lower pane a narrow terminal shows."""
        self.shown_pane = pane
        for p, _ in LOWER_PANES:
            self.query_one(f"#{p}").set_class(p == pane, "-shown")
        bar = Content("v ▸ ") + Content(" · ").join(
            Content.from_markup(f"[{'reverse bold' if p == pane else 'underline'} "
                                f"@click=screen.show_pane('{p}')] {name} [/]")
            for p, name in LOWER_PANES)
        self.query_one("#pane-bar", Static).update(bar)

    def status(self, text: str) -> None:
        self.query_one("#status", Static).update(Text(text, style="bold"))

    def compiling(self, done: int, total: int, name: str) -> None:
        """A first run's progress compiling the engine: a bar, and the kernel being compiled."""
        self.status(f"preparing engine (first run only): compiling its kernels "
                    f"{bar(done, total)} {done}/{total} {name}")

    def travelling(self, seconds: float) -> None:
        """A time-travel key was pressed: the trip asked for so far, until the worker moves."""
        self.status(f"time travel: {'back' if seconds < 0 else 'forward'} {abs(seconds):g} s "
                    "(press again to go further)…")

    def seeking(self, done: int, total: int, target: int) -> None:
        """A long time travel's progress: the ticks replayed from the nearest checkpoint."""
        self.status(f"time travel to {target * self.app.tick_ms / 1000:.2f} s: replaying "
                    f"{bar(done, total)} {done}/{total} ticks")

    @property
    def selected_pid(self) -> int | None:
        return self.query_one(ProcessTable).selected_pid

    # -- what frames should hold: sent to the worker when it changes, never per frame -----

    def set_zones(self, managed: dict) -> None:
        """The machine (maybe a new one) has these zones."""
        self.zones = managed
        self.send_layout()

    def send_layout(self) -> None:
        """Tell the worker what frames should hold for this screen's size and selection, if
        that changed (a resize, another process selected, another machine)."""
        sim = self.app.sim
        if sim is None or self.zones is None:
            return
        grid = self.query_one(MemoryGrid)
        layout = {"zone_pixels": grid.layout_for(self.zones), "grid_width": grid.cells_wide,
                  "vma_width": self.query_one(VmaView).band_width, "pid": self.selected_pid}
        if layout != self._asked:
            self._asked = layout
            sim.relayout(**layout)

    def on_memory_grid_resized(self) -> None:
        self.send_layout()

    def on_vma_view_resized(self) -> None:
        self.send_layout()

    def on_process_table_selected(self) -> None:
        self.send_layout()

    def show(self, frame, scenario: str, where) -> None:
        """Redraw every pane from a frame (tables only when their rows were rebuilt), and the
        timeline line from where the timeline is."""
        self.query_one("#preparing").display = False
        self._scenario = scenario
        self.show_state(frame)
        level = self.app.level
        if frame.goal is not None and level is not None:
            self.query_one(GoalLine).show_goal(
                frame.goal, seconds_left=(level.end_tick - frame.tick) * frame.tick_ms / 1000,
                hints_left=len(level.hints) - frame.hints_taken)
        self.query_one(AllocPath).show(frame)
        self.query_one(TimelineBar).show(where, frame.tick_ms)
        self.query_one(MemoryGrid).update(frame.grid, frame.frame_kinds, frame.layout.grid_width)
        self.query_one(Gauges).show(readings(frame), frame.tick)
        if frame.processes is not self._shown_rows:
            self._shown_rows = frame.processes
            self.query_one(ProcessTable).update(frame.processes)
        if frame.vmas is not self._shown_vmas:
            self._shown_vmas = frame.vmas
            comm = next((r["comm"] for r in frame.processes if r["pid"] == frame.pid), "")
            self.query_one(VmaView).update(frame.pid, comm, frame.vmas, frame.page_states,
                                           frame.layout.vma_width)
        self._legend(frame.frame_kinds)
        self.query_one("#grid-pane").border_subtitle = scale_label(frame.grid_scale)

    def show_state(self, frame) -> None:
        """The status line: tick, run state, scenario. A pause asked for shows at once, before
        the worker's frame says it (a fork bomb's tick under way may take seconds)."""
        paused = self.app.sim is not None and self.app.sim.paused
        state = ("✖ panicked" if frame.panic else "⏸ paused" if frame.paused
                 else "⏸ paused (the tick under way finishes first)" if paused
                 else f"▶ ×{frame.speed:g}" + ("" if frame.achieved is None
                                               else f" (achieved ×{frame.achieved:.3g})"))
        busy = f" · busy: {frame.busy}" if frame.busy else ""
        compiling = ""
        if frame.compiling is not None:  # a first run (engine/compiler.py): first, to be seen
            done, total, names = frame.compiling
            compiling = (f"compiling {bar(done, total)} {min(done, total)}/{total} ─ first run: "
                         f"interpreted till then, slower ─ {names + ' ─ ' if names else ''}")
        self.status(f"oomtui ─ {compiling}tick {frame.tick} ({frame.seconds:.2f} s) {state} ─ "
                    f"scenario: {self._scenario}{busy}")

    _scenario = ""  # the name of the scenario (or save) the last frame came from
    _shown_rows = None
    _shown_vmas = None
    _legend_for = None  # (kinds, theme, width) the legend was drawn for

    def _theme_changed(self, _theme) -> None:
        if self._legend_for is not None:
            self._legend(self._legend_for[0])

    def _legend(self, kinds: tuple[str, ...]) -> None:
        """The grid's colours, one item never split across lines."""
        box = self.query_one("#grid-legend", Static)
        theme = self.app.current_theme
        if self._legend_for == (kinds, theme.name, box.size.width):
            return
        self._legend_for = (kinds, theme.name, box.size.width)
        labels = (*kinds, "selected process", "compaction moved from", "to")
        items = list(zip(palette(kinds, theme.dark), labels))
        legend, used = Text(), 0
        for colour, label in items:
            size = len(label) + 2
            if used and used + 2 + size > box.size.width:
                legend.append("\n")
                used = 0
            elif used:
                legend.append("  ")
                used += 2
            legend.append("■", style=colour).append(f" {label}")
            used += size
        box.update(legend)

    def log_line(self, tick: int, tick_ms: int, kind: str, message: str) -> None:
        self.query_one(EventLog).add(tick, tick_ms, kind, message)

    def clear_log(self) -> None:
        self.query_one(EventLog).clear()

    # -- the filter -----------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self._apply_filter(event.value)

    def on_filter_box_cleared(self, event: FilterBox.Cleared) -> None:
        self._apply_filter("")

    def _apply_filter(self, text: str) -> None:
        box = self.query_one("#filter", Input)
        table = self.query_one(ProcessTable)
        table.set_filter(text)
        box.display = bool(text)
        table.focus()
