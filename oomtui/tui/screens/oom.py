"""OomScreen: one OOM act, by the kernel or a userspace OOM daemon: why this victim (every
candidate as the one who acted ranked it) and the kernel's report or the daemon's trigger."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.markup import escape
from textual.widgets import DataTable, Footer, Static

from oomtui.tui.fmt import human

LONG_MIN = -(2**63)  # what oom_badness answers for an unkillable task
PREDATES = " (this save predates the table of candidates: see the kernel log)"
KERNEL_COLUMNS = ("", "PID", "COMM", "RSS", "SWAP", "PGTABLES", "ADJ", "ADJ TERM", "POINTS")
TASK_COLUMNS = ("", "PID", "COMM", "RSS", "OOM_SCORE", "ADJ", "SCORE")
CGROUP_COLUMNS = ("", "CGROUP", "MEMORY.CURRENT", "SWAP.CURRENT", "PRESSURE FULL AVG10")
# how each daemon ranks (engine/daemons/: the policy module's ranking)
RANKED_BY = {
    "earlyoom": "score = oom_score, +300 if --prefer matches the comm, -300 if --avoid does; "
                "highest wins, ties to the larger RSS (kill.c is_larger)",
    "nohang": "score = badness: oom_score adjusted by badness_adj_re_name; highest wins, none "
              "below min_badness (fast_find_victim)",
    "systemd-oomd": "the candidate cgroups below the managed one, the largest swap "
                    "(ManagedOOMSwap) or memory.current (ManagedOOMMemoryPressure) first; the "
                    "whole cgroup is killed",
}
SIGNALS = {9: "SIGKILL", 15: "SIGTERM: the victim runs on until it exits"}


def units(data: dict) -> str:
    """What the points are counted in, beside the oom_score /proc shows."""
    total = data["totalpages"]
    of = "RAM + swap" if data.get("memcg") is None else f"the memory limit of {data['memcg']}"
    # proc_oom_score (KERNEL.md §2): always against RAM + swap, whatever the cgroup
    return (f"Points are pages (4 KiB each); totalpages = {total} ({of}). /proc/PID/oom_score "
            "is the same badness against RAM + swap, rescaled: (1000 + points × 1000 / "
            "(RAM + swap pages)) × 2/3, 0 for an unkillable task.")


def candidates(event) -> list[dict]:
    """The engine's badness terms per candidate (oom.BadnessTerms as dicts), victim first,
    then by points; [] for an OOM saved before events carried them."""
    rows = event.data.get("candidates", [])
    return sorted(rows, key=lambda r: (not r["victim"],
                                       -(LONG_MIN if r["points"] is None else r["points"])))


class OomScreen(Screen):
    """The latest OOM act (the kernel's kill or a daemon's signal); ←/→ go through the rest."""

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
        yield Static(id="oom-why")
        yield DataTable(id="oom-table", cursor_type="row")
        with VerticalScroll(id="oom-report"):
            yield Static(id="oom-text", markup=False)  # kernel text: "[  pid  ]" is no markup
        yield Footer()

    def on_mount(self) -> None:
        self.action_show(0)

    def action_show(self, step: int) -> None:
        self.index = max(0, min(len(self.events) - 1, self.index + step))
        event = self.events[self.index]
        kernel = event.kind != "daemon"
        predates = "" if not kernel or "candidates" in event.data else PREDATES
        self.query_one("#oom-title", Static).update(
            f"OOM {self.index + 1} of {len(self.events)} at {event.tick * self.tick_ms / 1000:.2f}"
            f" s: {event.message}{predates}")
        if kernel:
            self._kernel(event)
        else:
            self._daemon(event)

    def _table(self, columns, title: str) -> DataTable:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_columns(*columns)
        table.border_title = title
        return table

    def _kernel(self, event) -> None:
        why = self.query_one("#oom-why", Static)
        why.display = "candidates" in event.data
        if why.display:  # the worker's plain sentence (sim.explained), the units under it
            said = event.data.get("why")
            why.update(Text.assemble((f"{said}.\n", "bold") if said else "",
                                     (units(event.data), "dim")))
        table = self._table(KERNEL_COLUMNS, "Why this victim: points = rss + swapents + pgtables "
                                            "+ adj × totalpages/1000 (pages); highest wins, ties "
                                            "to the newest")
        for r in candidates(event):
            unkillable = r["points"] is None
            # a str cell is markup to DataTable: the comm is escaped to show as it is
            table.add_row("victim" if r["victim"] else "", r["pid"], escape(r["comm"]), r["rss"],
                          r["swapents"], r["pgtables"], r["adj"],
                          "" if unkillable else r["adj_term"],
                          f"unkillable: {r['unkillable']}" if unkillable else r["points"])
        self.query_one("#oom-report").border_title = "Kernel log (dmesg)"
        self.query_one("#oom-text", Static).update(event.data.get("report", ""))

    def _daemon(self, event) -> None:
        self.query_one("#oom-why").display = False
        d = event.data
        by, ranking = d["by"], d.get("ranking", [])  # saves from before rankings have none
        if d["cgroup"] is not None:  # systemd-oomd kills whole cgroups
            table = self._table(CGROUP_COLUMNS, f"Whom {by} chose: {RANKED_BY[by]}")
            for r in ranking:
                table.add_row("victim" if r["cgroup"] == d["cgroup"] else "",
                              escape(r["cgroup"]), human(r["current"]), human(r["swap"]),
                              f"{r['pressure']:.2f}%")
        else:
            table = self._table(TASK_COLUMNS, f"Whom {by} chose: {RANKED_BY[by]}")
            for r in ranking:
                table.add_row("victim" if r["pid"] in d["pids"] else "", r["pid"],
                              escape(r["comm"]), human(r["rss_kb"] << 10), r["oom_score"],
                              r["oom_score_adj"], r["score"])
        self.query_one("#oom-report").border_title = f"What {by} read, against its thresholds"
        whom = f"cgroup {d['cgroup']}: pids " if d["cgroup"] is not None else "pids "
        self.query_one("#oom-text", Static).update(
            f"Who acted: {by}, a userspace OOM daemon beside the kernel's OOM killer\n"
            f"Trigger: {d['why']}\n"
            f"Signal: {SIGNALS[d['signal']]}\n"
            f"Sent to: {whom}{', '.join(map(str, d['pids']))}"
            + ("" if ranking else "\n(no ranking: its victim was chosen when it sent SIGTERM)"))
