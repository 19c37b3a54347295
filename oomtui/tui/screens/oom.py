"""OomScreen: one OOM kill: why this victim (every candidate's badness terms) and the report."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.markup import escape
from textual.widgets import DataTable, Footer, Static

LONG_MIN = -(2**63)  # what oom_badness answers for an unkillable task
PREDATES = " (this save predates the table of candidates: see the kernel log)"


def candidates(event) -> list[dict]:
    """The engine's badness terms per candidate (oom.BadnessTerms as dicts), victim first,
    then by points; [] for an OOM saved before events carried them."""
    rows = event.data.get("candidates", [])
    return sorted(rows, key=lambda r: (not r["victim"],
                                       -(LONG_MIN if r["points"] is None else r["points"])))


class OomScreen(Screen):
    """The latest OOM kill; ←/→ go through earlier ones."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="oom-back"),
        Binding("left", "show(-1)", "Earlier", id="oom-earlier"),
        Binding("right", "show(1)", "Later", id="oom-later"),
    ]

    def __init__(self, events: list, tick_ms: int):
        super().__init__()
        self.events = events
        self.tick_ms = tick_ms
        self.index = len(events) - 1

    def compose(self) -> ComposeResult:
        yield Static(id="oom-title", markup=False)
        yield DataTable(id="oom-table", cursor_type="row")
        with VerticalScroll(id="oom-report"):
            yield Static(id="oom-text", markup=False)  # kernel text: "[  pid  ]" is no markup
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("", "PID", "COMM", "RSS", "SWAP", "PGTABLES", "ADJ", "ADJ TERM", "POINTS"):
            table.add_column(label)
        table.border_title = ("Why this victim: points = rss + swapents + pgtables + "
                              "adj × totalpages/1000 (pages); highest wins, ties to the newest")
        self.query_one("#oom-report").border_title = "Kernel log (dmesg)"
        self.action_show(0)

    def action_show(self, step: int) -> None:
        self.index = max(0, min(len(self.events) - 1, self.index + step))
        event = self.events[self.index]
        self.query_one("#oom-title", Static).update(
            f"OOM {self.index + 1} of {len(self.events)} at {event.tick * self.tick_ms / 1000:.2f}"
            f" s: {event.message}{'' if 'candidates' in event.data else PREDATES}")
        table = self.query_one(DataTable)
        table.clear()
        for r in candidates(event):
            unkillable = r["points"] is None
            # a str cell is markup to DataTable: the comm is escaped to show as it is
            table.add_row("victim" if r["victim"] else "", r["pid"], escape(r["comm"]), r["rss"],
                          r["swapents"], r["pgtables"], r["adj"],
                          "" if unkillable else r["adj_term"],
                          f"unkillable: {r['unkillable']}" if unkillable else r["points"])
        self.query_one("#oom-text", Static).update(event.data.get("report", ""))
