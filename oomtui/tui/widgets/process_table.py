"""ProcessTable: a top-like table of processes, keyed by pid and updated cell by cell."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from oomtui.tui.fmt import kb

# (key, header, width, cell text from a row, sort value); sizes in kB as /proc prints them.
# The columns an OOM hunt needs come first; the rest scroll in from the right.
COLUMNS = (
    ("pid", "PID", 6, lambda r: str(r["pid"]), lambda r: r["pid"]),
    ("comm", "COMM", 15, lambda r: r["comm"], lambda r: r["comm"]),
    ("rss", "RSS", 6, lambda r: kb(r["VmRSS"]), lambda r: r["VmRSS"]),
    ("anon", "ANON", 6, lambda r: kb(r["RssAnon"]), lambda r: r["RssAnon"]),
    ("file", "FILE", 6, lambda r: kb(r["RssFile"]), lambda r: r["RssFile"]),
    ("shmem", "SHM", 6, lambda r: kb(r["RssShmem"]), lambda r: r["RssShmem"]),
    ("swap", "SWAP", 6, lambda r: kb(r["VmSwap"]), lambda r: r["VmSwap"]),
    ("score", "SCORE", 5, lambda r: str(r["oom_score"]), lambda r: r["oom_score"]),
    ("adj", "ADJ", 5, lambda r: str(r["oom_score_adj"]), lambda r: r["oom_score_adj"]),
    ("state", "STATE", 10, lambda r: r.get("state", ""), lambda r: r.get("state", "")),
    ("faults", "FLT/s", 7, lambda r: f"{r['faults_s']:.0f}", lambda r: r["faults_s"]),
    ("virt", "VIRT", 6, lambda r: kb(r["VmSize"]), lambda r: r["VmSize"]),
    ("pte", "PTE", 6, lambda r: kb(r["VmPTE"]), lambda r: r["VmPTE"]),
    ("cgroup", "CGROUP", 12, lambda r: r["cgroup"], lambda r: r["cgroup"]),
)
_SORT_VALUE = {key: value for key, _, _, _, value in COLUMNS}
NUMERIC = {"pid", "virt", "rss", "anon", "file", "shmem", "swap", "pte", "adj", "score", "faults"}


def _cell(key: str, text: str) -> Text | str:
    return Text(text, justify="right") if key in NUMERIC else text


class ProcessTable(DataTable):
    """Processes; the highlighted row is the selected process."""

    BINDINGS = [
        Binding("greater_than_sign", "sort(1)", "Sort next", id="proc-sort-next", show=False),
        Binding("less_than_sign", "sort(-1)", "Sort prev", id="proc-sort-prev", show=False),
    ]

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self.sort_key = "rss"
        """Column the rows are sorted by (descending, except pid and comm)."""
        self.filter = ""
        """Only rows whose pid, comm or cgroup contain this are shown."""
        self._shown: dict[str, dict] = {}  # pid -> {column: text} on screen

    def on_mount(self) -> None:
        for key, header, width, _, _ in COLUMNS:
            self.add_column(header, key=key, width=width)
        self._title()

    def _title(self) -> None:
        header = {k: h for k, h, _, _, _ in COLUMNS}[self.sort_key]
        self.border_title = f"Processes (sorted by {header}" + (
            f", filter '{self.filter}')" if self.filter else ")")

    def action_sort(self, step: int) -> None:
        keys = [c[0] for c in COLUMNS]
        self.sort_key = keys[(keys.index(self.sort_key) + step) % len(keys)]
        self._title()
        self._sort()

    def set_filter(self, text: str) -> None:
        self.filter = text.strip()
        self._title()

    @property
    def selected_pid(self) -> int | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return int(key)

    def update(self, rows: list[dict]) -> None:
        """Show these processes.rows: add, drop and change only what differs."""
        f = self.filter.lower()
        rows = [r for r in rows if not f or f in f"{r['pid']} {r['comm']} {r['cgroup']}".lower()]
        selected = self.selected_pid if self._shown else None  # first fill: the top row
        wanted = {str(r["pid"]): r for r in rows}
        changed = False
        for pid in [p for p in self._shown if p not in wanted]:
            self.remove_row(pid)
            del self._shown[pid]
            changed = True
        for pid, r in wanted.items():
            cells = {key: text(r) for key, _, _, text, _ in COLUMNS}
            old = self._shown.get(pid)
            if old is None:
                self.add_row(*(_cell(k, t) for k, t in cells.items()), key=pid)
                changed = True
            else:
                for key, text in cells.items():
                    if old[key] != text:
                        self.update_cell(pid, key, _cell(key, text))
                        changed = changed or key == self.sort_key
            self._shown[pid] = cells | {"_row": r}
        if changed:
            self._sort(selected)

    def _sort(self, keep: int | None = -1) -> None:
        """Sort by sort_key; the cursor stays on pid `keep` (-1: the selected one; None: the
        top row)."""
        keep = self.selected_pid if keep == -1 else keep
        value = _SORT_VALUE[self.sort_key]
        self.sort("pid", key=lambda pid: value(self._shown[str(pid)]["_row"]),
                  reverse=self.sort_key in NUMERIC - {"pid"})
        row = self.get_row_index(str(keep)) if str(keep) in self._shown else 0
        self.move_cursor(row=row)
