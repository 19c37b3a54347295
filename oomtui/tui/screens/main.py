"""MainScreen: the panes of DESIGN.md §5, redrawn from Frames; the actions live in Actions."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, LoadingIndicator, Static

from oomtui.tui.actions import ACTION_BINDINGS, Actions
from oomtui.tui.explain import readings
from oomtui.tui.timetravel import TimeTravel
from oomtui.tui.widgets.alloc_path import AllocPath
from oomtui.tui.widgets.event_log import EventLog
from oomtui.tui.widgets.gauges import Gauges
from oomtui.tui.widgets.memory_grid import KIND_COLOURS, SELECTED, MemoryGrid
from oomtui.tui.widgets.process_table import ProcessTable
from oomtui.tui.widgets.timeline_bar import TimelineBar
from oomtui.tui.widgets.vma_view import VmaView


class FilterBox(Input):
    """The process filter; Escape clears it."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", id="filter-clear")]

    class Cleared(Message):
        pass

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Cleared())


class MainScreen(Actions, TimeTravel, Screen):
    BINDINGS = ACTION_BINDINGS

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield AllocPath(id="path")
        yield TimelineBar(id="timeline")
        with Horizontal(id="top", classes="row"):
            with Vertical(id="procs-pane", classes="pane"):
                yield FilterBox(placeholder="filter by pid, comm or cgroup (Enter to apply, Esc to "
                            "clear)", id="filter")
                yield ProcessTable(id="procs")
            with Vertical(id="grid-pane", classes="pane"):
                yield LoadingIndicator(id="preparing")
                yield MemoryGrid(id="grid")
                yield Static(id="grid-legend")
        with Horizontal(id="bottom", classes="row"):
            yield VmaView(id="vmas", classes="pane")
            yield Gauges(id="gauges", classes="pane")
        yield EventLog(id="events", classes="pane")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#grid-pane").border_title = "Physical memory (frames by type)"
        self.query_one("#gauges").border_title = "Watermarks & gauges (hover or e: explain)"
        self.query_one("#events").border_title = "Events"
        self.query_one("#vmas").border_title = "Virtual memory"
        self.query_one("#filter").display = False
        self.query_one(ProcessTable).focus()
        self.status("preparing engine: loading the simulator's compiled kernels (the first run "
                    "compiles them, which takes a while)…")

    def on_resize(self) -> None:
        self.set_class(self.size.width < 120, "-narrow")

    def status(self, text: str) -> None:
        self.query_one("#status", Static).update(Text(text, style="bold"))

    @property
    def selected_pid(self) -> int | None:
        return self.query_one(ProcessTable).selected_pid

    def layout_request(self, frame) -> tuple[dict, int, int | None]:
        """What the next frames should hold for this screen's current size."""
        managed = {name: z["managed"] for name, z in frame.zoneinfo.items()}
        return (self.query_one(MemoryGrid).layout_for(managed),
                self.query_one(VmaView).band_width, self.selected_pid)

    def show(self, frame, scenario: str, where) -> None:
        """Redraw every pane from a frame (tables only when their rows were rebuilt), and the
        timeline line from where the timeline is."""
        self.query_one("#preparing").display = False
        state = "⏸ paused" if frame.paused else f"▶ ×{frame.speed:g}"
        busy = f" · busy: {frame.busy}" if frame.busy else ""
        self.status(f"oomtui ─ tick {frame.tick} ({frame.seconds:.2f} s) {state} ─ scenario: "
                    f"{scenario}{busy}")
        self.query_one(AllocPath).show(frame)
        self.query_one(TimelineBar).show(where, frame.tick_ms)
        self.query_one(MemoryGrid).update(frame.grid, frame.frame_kinds)
        self.query_one(Gauges).show(readings(frame), frame.tick)
        if frame.processes is not self._shown_rows:
            self._shown_rows = frame.processes
            self.query_one(ProcessTable).update(frame.processes)
        if frame.vmas is not self._shown_vmas:
            self._shown_vmas = frame.vmas
            comm = next((r["comm"] for r in frame.processes if r["pid"] == frame.pid), "")
            self.query_one(VmaView).update(frame.pid, comm, frame.vmas, frame.page_states)
        if frame.pid != self._legend_pid:
            self._legend_pid = frame.pid
            self._legend(frame)

    _shown_rows = None
    _shown_vmas = None
    _legend_pid: int | None = -1  # the selected pid the legend names (-1: none drawn yet)

    def _legend(self, frame) -> None:
        legend = Text()
        for kind in frame.frame_kinds:
            legend.append("■", style=KIND_COLOURS[kind]).append(f" {kind}  ")
        if frame.pid is not None:
            legend.append("■", style=SELECTED).append(f" pages of PID {frame.pid}")
        self.query_one("#grid-legend", Static).update(legend)

    def log_line(self, tick: int, tick_ms: int, kind: str, message: str) -> None:
        self.query_one(EventLog).add(tick, tick_ms, kind, message)

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
        table.update(self._shown_rows or [])
        box.display = bool(text)
        table.focus()
