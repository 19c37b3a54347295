"""ProcessTable: a top-like table of processes, keyed by pid (Line API).

Each row is one line of text, cached as a Strip by its text and style: an update costs a few
string joins and repaints only what changed, however many rows there are. PID and COMM stay
put when the other columns scroll sideways (a narrow terminal). The cursor row is the selected
process; it follows its pid through updates and re-sorts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from textual.binding import Binding
from textual.content import Content
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from oomtui.tui.fmt import count, kb


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    width: int
    text: Callable[[dict], str]
    value: Callable[[dict], object]
    """What the rows sort by."""
    numeric: bool = True
    """Right-aligned, sorted largest first."""


def _size(key: str, header: str, field: str) -> Column:
    """A size column: /proc's kB shown as 512K, 96.0M, 1.23G (at most 5 characters)."""
    return Column(key, header, 5, lambda r: kb(r[field]), lambda r: r[field])


# The columns an OOM hunt needs come first; at 160 columns all fit, and in a narrow terminal
# the rest scroll in from the right. CGROUP, the last, takes the width left over.
COLUMNS = (
    Column("pid", "PID", 5, lambda r: str(r["pid"]), lambda r: -r["pid"]),
    Column("comm", "COMM", 12, lambda r: r["comm"], lambda r: r["comm"], numeric=False),
    _size("rss", "RSS", "VmRSS"),
    _size("anon", "ANON", "RssAnon"),
    _size("file", "FILE", "RssFile"),
    _size("shmem", "SHM", "RssShmem"),
    _size("swap", "SWAP", "VmSwap"),
    Column("score", "SCORE", 5, lambda r: str(r["oom_score"]), lambda r: r["oom_score"]),
    Column("adj", "ADJ", 5, lambda r: str(r["oom_score_adj"]), lambda r: r["oom_score_adj"]),
    Column("state", "STATE", 10, lambda r: r["state"], lambda r: r["state"], numeric=False),
    Column("faults", "FLT/s", 5, lambda r: count(r["faults_s"]), lambda r: r["faults_s"]),
    _size("virt", "VIRT", "VmSize"),
    _size("pte", "PTE", "VmPTE"),
    Column("cgroup", "CGROUP", 6, lambda r: r["cgroup"], lambda r: r["cgroup"], numeric=False),
)
FIXED = 2  # PID and COMM do not scroll sideways
FIXED_WIDTH = sum(c.width + 1 for c in COLUMNS[:FIXED])


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        text = text[:width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


def interest(row: dict) -> tuple:
    """The process a user most likely wants to look at first: the largest resident one, then
    one that runs a workload, then the lowest pid."""
    return row["VmRSS"], row["state"] != "sleeping", -row["pid"]


class ProcessTable(ScrollView, can_focus=True):
    """Processes: ↑/↓ (or a click) select one, `<`/`>` change the sort column."""

    BINDINGS = [
        Binding("greater_than_sign", "sort(1)", "Sort next", id="proc-sort-next", show=False),
        Binding("less_than_sign", "sort(-1)", "Sort prev", id="proc-sort-prev", show=False),
        Binding("up", "move(-1)", "Up", id="proc-up", show=False),
        Binding("down", "move(1)", "Down", id="proc-down", show=False),
        Binding("pageup", "page(-1)", "Page up", id="proc-page-up", show=False),
        Binding("pagedown", "page(1)", "Page down", id="proc-page-down", show=False),
        Binding("home", "move(-1_000_000)", "First", id="proc-first", show=False),
        Binding("end", "move(1_000_000)", "Last", id="proc-last", show=False),
    ]
    COMPONENT_CLASSES = {"process-table--header", "process-table--sorted",
                         "process-table--cursor", "process-table--odd"}
    DEFAULT_CSS = """
    ProcessTable { scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    ProcessTable > .process-table--header { text-style: bold; background: $panel; }
    ProcessTable > .process-table--sorted { text-style: bold underline; color: $accent;
                                            background: $panel; }
    ProcessTable > .process-table--cursor { background: $block-cursor-background;
                                            color: $block-cursor-foreground; text-style: bold; }
    ProcessTable > .process-table--odd { background: $surface-lighten-1 30%; }
    """

    class Selected(Message):
        """Another process is under the cursor (selected_pid)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.sort_key = "rss"
        """Column the rows are sorted by (largest first, names alphabetically)."""
        self.filter = ""
        """Only rows whose pid, comm or cgroup contain this are shown."""
        self.selected_pid: int | None = None
        """The process under the cursor."""
        self.order: list[int] = []
        """The pids shown, top to bottom."""
        self._rows: list[dict] = []  # the last update's rows
        self._lines: dict[int, str] = {}  # pid -> its row's text
        self._strips: dict[tuple, Strip] = {}  # (text, style) -> Strip
        self._settled = False  # the selection stays on its pid (chosen, or picked with RSS)

    @property
    def title(self) -> str:
        header = next(c.header for c in COLUMNS if c.key == self.sort_key)
        shown = f", filter '{self.filter}'" if self.filter else ""
        return f"Processes (sorted by {header}{shown}; < > sort, / filter)"

    # -- data ------------------------------------------------------------------------------

    def update(self, rows: list[dict]) -> None:
        """Show these processes() rows (plus faults_s), keeping the selection on its pid."""
        self._rows = rows
        self._arrange()

    def set_filter(self, text: str) -> None:
        self.filter = text.strip()
        self._arrange()

    def action_sort(self, step: int) -> None:
        keys = [c.key for c in COLUMNS]
        self.sort_key = keys[(keys.index(self.sort_key) + step) % len(keys)]
        self._arrange()

    def _widths(self) -> list[int]:
        """Column widths now: the last one stretches to the width left over."""
        widths = [c.width for c in COLUMNS]
        widths[-1] = max(widths[-1], self.scrollable_content_region.width - sum(widths)
                         - len(widths) + 1)
        return widths

    def _arrange(self) -> None:
        """Filter, sort and format the rows; repaint if anything shown changed."""
        f = self.filter.lower()
        rows = [r for r in self._rows
                if not f or f in f"{r['pid']} {r['comm']} {r['cgroup']}".lower()]
        column = next(c for c in COLUMNS if c.key == self.sort_key)
        rows.sort(key=column.value, reverse=column.numeric)
        widths = self._widths()
        lines = {r["pid"]: " ".join(_fit(c.text(r), w, c.numeric)
                                    for c, w in zip(COLUMNS, widths)) for r in rows}
        order = list(lines)
        self.border_title = Content(self.title)  # the filter is typed text, not markup
        before = self.cursor
        if self.selected_pid not in lines or not self._settled:
            self._select_pid(max(rows, key=interest)["pid"] if rows else None)
            self._settled = any(r["VmRSS"] for r in rows)
        if order == self.order and lines == self._lines:
            return
        self.order, self._lines = order, lines
        self._strips = {k: s for k, s in self._strips.items() if lines.get(k[0]) == k[1]}
        self.virtual_size = Size(sum(widths) + len(widths) - 1, len(order) + 1)
        if self.cursor != before:
            self._show_cursor()
        self.refresh()

    def on_resize(self) -> None:
        self._arrange()

    # -- the cursor ------------------------------------------------------------------------

    @property
    def cursor(self) -> int | None:
        """The selected row's index in `order`."""
        try:
            return self.order.index(self.selected_pid)
        except ValueError:
            return None

    def select(self, index: int) -> None:
        """Put the cursor on the row at `index` (clamped)."""
        if not self.order:
            return
        self._select_pid(self.order[max(0, min(len(self.order) - 1, index))])
        self._settled = True
        self._show_cursor()
        self.refresh()

    def _select_pid(self, pid: int | None) -> None:
        if pid != self.selected_pid:
            self.selected_pid = pid
            self.post_message(self.Selected())

    def action_move(self, step: int) -> None:
        self.select((self.cursor or 0) + step)

    def action_page(self, step: int) -> None:
        self.action_move(step * max(1, self.scrollable_content_region.height - 1))

    def _show_cursor(self) -> None:
        """Scroll so the cursor row is visible below the header."""
        i, top = self.cursor, self.scroll_offset.y
        rows = self.scrollable_content_region.height - 1
        if i is None or rows < 1:
            return
        if i < top:
            self.scroll_to(y=i, animate=False)
        elif i >= top + rows:
            self.scroll_to(y=i - rows + 1, animate=False)

    def on_click(self, event: Click) -> None:
        at = event.get_content_offset(self)
        if at is not None and at.y > 0:
            self.select(self.scroll_offset.y + at.y - 1)

    # -- painting --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._scrolled(self._header(), width)
        i = self.scroll_offset.y + y - 1
        if i >= len(self.order):
            return Strip.blank(width, self.rich_style)
        pid = self.order[i]
        component = ("process-table--cursor" if pid == self.selected_pid
                     else "process-table--odd" if i % 2 else None)
        style = self.get_component_rich_style(component) if component else self.rich_style
        text = self._lines[pid]
        strip = self._strips.get((pid, text, style))
        if strip is None:
            strip = self._strips[pid, text, style] = Strip([Segment(text, style)])
        return self._scrolled(strip, width)

    def _header(self) -> Strip:
        plain = self.get_component_rich_style("process-table--header")
        sorted_ = self.get_component_rich_style("process-table--sorted")
        segments = []
        for c, w in zip(COLUMNS, self._widths()):
            if segments:
                segments.append(Segment(" ", plain))
            segments.append(Segment(_fit(c.header, w, c.numeric),
                                    sorted_ if c.key == self.sort_key else plain))
        return Strip(segments)

    def _scrolled(self, strip: Strip, width: int) -> Strip:
        """The visible part of a full-width line: PID and COMM, then the scrolled rest."""
        x = self.scroll_offset.x
        if x:
            strip = Strip.join([strip.crop(0, FIXED_WIDTH),
                                strip.crop(FIXED_WIDTH + x, x + width)])
        return strip.crop(0, width).extend_cell_length(width, self.rich_style)
