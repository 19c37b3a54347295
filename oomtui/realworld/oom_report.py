"""Kernel OOM reports as people paste them, read into plain data.

Accepted around each line: `dmesg` timestamps (`[  123.456789]`, `dmesg -T`'s `[Sat Dec  5 …]`,
printk caller ids `[T1234]`), syslog and `journalctl -k` heads (`Dec  5 15:37:09 host kernel: `,
ISO dates). Formats follow the printk strings of mm/oom_kill.c, mm/show_mem.c (mm/page_alloc.c
before 6.1) and mm/memcontrol.c from 4.19 to 6.18:
- dump_header: `COMM invoked oom-killer: gfp_mask=0x…(FLAGS), [nodemask=…, ]order=N,
  oom_score_adj=N` (nodemask until 5.0); the CPU line names the trigger's pid.
- __show_mem: zone lines with `managed:NkB`, `Total swap = NkB`, `N pages RAM`, `N pages reserved`.
- mem_cgroup_print_oom_meminfo: `memory: usage NkB, limit NkB, …`, `swap:` (v2) or
  `memory+swap:` (v1); before 5.0 `Task in X killed as a result of limit of Y` named the memcg.
- dump_tasks: a header naming its columns (`rss_anon rss_file rss_shmem` since 6.8,
  `pgtables_bytes` since 4.15), then one `[ pid ]` row per task.
- the victim: `oom-kill:constraint=…,oom_memcg=…,task_memcg=…,task=…,pid=…` (5.0+),
  `…: Kill process N (comm) score S or sacrifice child` (until 5.1) and
  `…: Killed process N (comm) total-vm:…, anon-rss:…, file-rss:…, shmem-rss:…[, UID:…
  pgtables:… oom_score_adj:…]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from oomtui.engine.oom import PAGE_COUNTER_MAX_KB
from oomtui.realworld.rebuild import PAGE, Task

_HEADS = [
    re.compile(r"^(?:[A-Z][a-z]{2} [ \d]\d [\d:]{8}(?:\.\d+)?|\d{4}-\d\d-\d\dT\S+)\s+\S+\s+"
               r"kernel:\s?"),
    re.compile(r"^\s*kern\s*:\s*\w+\s*:\s?"),                  # dmesg -x
    re.compile(r"^<\d+>"),                                    # raw printk level
]
_STAMP = re.compile(r"^\[(?:\s*\d+\.\d+|[A-Z][a-z]{2} [^\]]*\d{4}|\s*[TC]\d+)\]\s?")
_INVOKED = re.compile(r"^(?P<comm>.*?) invoked oom-killer: gfp_mask=(?P<mask>0x[0-9a-f]+)"
                      r"\((?P<flags>[^)]*)\),(?: nodemask=[^,]*,)? order=(?P<order>-?\d+), "
                      r"oom_score_adj=(?P<adj>-?\d+)")
_CPU = re.compile(r"^CPU: \d+ (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: ")
_ZONE = re.compile(r"^Node \d+ (?P<zone>DMA32|DMA|Normal|Movable|Device|HighMem) free:\d+kB"
                   r".* managed:(?P<kb>\d+)kB")
_TOTAL_SWAP = re.compile(r"^Total swap = (\d+)kB")
_PAGES = re.compile(r"^(\d+) pages (RAM|reserved)$")
_MEMCG_MEM = re.compile(r"^memory: usage (\d+)kB, limit (\d+)kB, failcnt \d+")
_MEMCG_SWAP = re.compile(r"^(swap|memory\+swap): usage (\d+)kB, limit (\d+)kB, failcnt \d+")
_PANIC = re.compile(r"^Kernel panic - not syncing: (.*)")
_TASK_IN = re.compile(r"^Task in \S+ killed as a result of limit of (\S+)")   # before 5.0
_ROW = re.compile(r"^\[\s*(\d+)\]\s+(.*)$")
_OOM_KILL = re.compile(r"^oom-kill:constraint=(?P<constraint>CONSTRAINT_\w+),.*?"
                       r"(?:global_oom|oom_memcg=(?P<memcg>[^,]*)),task_memcg=[^,]*,"
                       r"task=(?P<comm>.*),pid=(?P<pid>\d+),uid=(?P<uid>\d+)$")
_KILL = re.compile(r"^(?P<what>[^:]*[Oo]ut of memory[^:]*): Kill process (?P<pid>\d+) "
                   r"\((?P<comm>.*)\) score \d+ or sacrifice child")
_KILLED = re.compile(r"^(?:(?P<what>[^:]*[Oo]ut of memory[^:]*): )?Killed process (?P<pid>\d+) "
                     r"\((?P<comm>.*)\) total-vm:(?P<total_vm>\d+)kB, anon-rss:(?P<anon>\d+)kB, "
                     r"file-rss:(?P<file>\d+)kB, shmem-rss:(?P<shmem>\d+)kB"
                     r"(?:, UID:(?P<uid>\d+) pgtables:(?P<pgtables>\d+)kB "
                     r"oom_score_adj:(?P<adj>-?\d+))?")

# task table columns as dump_tasks names them -> Task fields
_COLUMNS = {"uid": "uid", "total_vm": "total_vm", "rss_anon": "rss_anon", "rss_file": "rss_file",
            "rss_shmem": "rss_shmem", "pgtables_bytes": "pgtables_bytes", "swapents": "swapents",
            "oom_score_adj": "oom_score_adj"}


class ReportError(ValueError):
    """The text is not a kernel OOM report this reader understands; says which line."""


@dataclass
class Victim:
    """The task the kernel chose (selected; a 4.19 kernel may then have killed a child)."""
    pid: int
    comm: str
    line: int


@dataclass
class OomReport:
    """One OOM report. Sizes in kB as printed, tasks in pages; lines are 1-based file lines."""
    first_line: int
    comm: str = ""
    pid: int | None = None
    gfp_mask: str = ""
    gfp_flags: tuple[str, ...] = ()
    order: int = 0                     # -1: sysrq-f (is_sysrq_oom)
    oom_score_adj: int = 0
    constraint: str | None = None
    memcg: str | None = None           # the OOMing cgroup of a memcg OOM
    memcg_limit_kb: int | None = None
    memcg_usage_kb: int | None = None
    memcg_swap_kb: int | None = None   # swap room left to the cgroup (v2 swap.max, v1 memsw - mem)
    zones_kb: dict[str, int] = field(default_factory=dict)
    pages_ram: int | None = None
    pages_reserved: int | None = None
    total_swap_kb: int | None = None
    tasks: list[Task] = field(default_factory=list)
    has_table: bool = False
    rss_split: bool = False            # the table has rss_anon/rss_file/rss_shmem (6.8+)
    victim: Victim | None = None
    killed: Task | None = None         # what the "Killed process" line says of the victim
    allocating_task: bool = False      # "Out of memory (oom_kill_allocating_task)": current died

    @property
    def memcg_oom(self) -> bool:
        return self.memcg is not None or self.constraint == "CONSTRAINT_MEMCG"

    @property
    def totalram_pages(self) -> int | None:
        """totalram_pages: the zones' managed pages (else pages RAM less reserved)."""
        if self.zones_kb:
            return sum(self.zones_kb.values()) // 4
        if self.pages_ram is not None and self.pages_reserved is not None:
            return self.pages_ram - self.pages_reserved
        return None


def strip_line(line: str) -> str:
    """The kernel's text of one pasted line (timestamps, hosts and `kernel:` prefixes removed)."""
    line = line.rstrip("\r\n")
    for head in _HEADS:
        line = head.sub("", line, count=1)
    while (m := _STAMP.match(line)) is not None:
        line = line[m.end():]
    return line.rstrip()


def read_reports(text: str) -> list[OomReport]:
    """Every OOM report in the text, in order; ReportError when there is none or one is broken."""
    lines = [strip_line(s) for s in text.splitlines()]
    starts = [i for i, s in enumerate(lines) if _INVOKED.match(s)]
    if not starts:
        near = next((i for i, s in enumerate(lines) if "invoked oom-killer" in s), None)
        if near is not None:
            raise ReportError(f"line {near + 1}: cannot read this 'invoked oom-killer' line: "
                              f"{lines[near]!r}")
        raise ReportError("no OOM report found: no line says '… invoked oom-killer: …'")
    bounds = zip(starts, [*starts[1:], len(lines)])
    return [_parse(lines, a, b) for a, b in bounds]


def _parse(lines: list[str], start: int, end: int) -> OomReport:
    inv = _INVOKED.match(lines[start])
    r = OomReport(first_line=start + 1, comm=inv["comm"], gfp_mask=inv["mask"],
                  gfp_flags=tuple(f for f in inv["flags"].split("|") if f),
                  order=int(inv["order"]), oom_score_adj=int(inv["adj"]))
    columns: list[str] | None = None
    for i in range(start + 1, end):
        s, n = lines[i], i + 1
        if columns is not None:
            if (row := _ROW.match(s)) is not None:
                r.tasks.append(_task(row, columns, n))
                continue
            columns = None            # the table ended
        if (m := _CPU.match(s)) is not None and r.pid is None:
            r.pid = int(m["pid"])
        elif (m := _ZONE.match(s)) is not None:
            r.zones_kb[m["zone"]] = int(m["kb"])
        elif (m := _TOTAL_SWAP.match(s)) is not None:
            r.total_swap_kb = int(m[1])
        elif (m := _PAGES.match(s)) is not None:
            setattr(r, "pages_ram" if m[2] == "RAM" else "pages_reserved", int(m[1]))
        elif (m := _MEMCG_MEM.match(s)) is not None:
            r.memcg_usage_kb, r.memcg_limit_kb = int(m[1]), int(m[2])
        elif (m := _MEMCG_SWAP.match(s)) is not None:
            limit = int(m[3])
            if limit >= PAGE_COUNTER_MAX_KB:
                r.memcg_swap_kb = None
            elif m[1] == "swap":
                r.memcg_swap_kb = limit
            else:                     # v1: memory+swap limit, the room above the memory limit
                r.memcg_swap_kb = max(0, limit - (r.memcg_limit_kb or 0))
        elif s.startswith("[") and "pid" in s and s.rstrip().endswith(" name"):
            columns = _header(s, n)
            r.has_table, r.rss_split = True, "rss_anon" in columns
        elif (m := _PANIC.match(s)) is not None:
            raise ReportError(f"line {n}: the kernel panicked instead of killing ({m[1]}): "
                              "there is no victim to explain")
        elif (m := _TASK_IN.match(s)) is not None:
            r.constraint, r.memcg = "CONSTRAINT_MEMCG", m[1]
        elif (m := _OOM_KILL.match(s)) is not None:
            r.constraint, r.memcg = m["constraint"], m["memcg"]
            if r.victim is None:
                r.victim = Victim(int(m["pid"]), m["comm"], n)
        elif (m := _KILL.match(s)) is not None:
            r.victim = Victim(int(m["pid"]), m["comm"], n)
            _constraint_from(r, m["what"])
        elif (m := _KILLED.match(s)) is not None and r.killed is None:
            r.killed = _killed_task(m)
            if r.victim is None:
                r.victim = Victim(r.killed.pid, r.killed.comm, n)
            if m["what"]:
                _constraint_from(r, m["what"])
    if r.victim is None:
        raise ReportError(f"line {end}: the report that starts on line {start + 1} ends before "
                          "the kernel names its victim (no 'Killed process' or 'oom-kill:' line): "
                          "is it cut off, or did nothing get killed?")
    return r


def _constraint_from(r: OomReport, what: str) -> None:
    r.allocating_task = r.allocating_task or "(oom_kill_allocating_task)" in what
    # before the oom-kill: line (5.0), the kill line's prefix tells a memcg OOM apart
    if r.constraint is None:
        r.constraint = "CONSTRAINT_MEMCG" if what.startswith("Memory cgroup") else "CONSTRAINT_NONE"


def _header(s: str, n: int) -> list[str]:
    names = s.split("]", 1)[1].split()
    if not names or names[-1] != "name" or "rss" not in names:
        raise ReportError(f"line {n}: a task table header without the columns rss and name: {s!r}")
    return names[:-1]


def _task(row: re.Match, columns: list[str], n: int) -> Task:
    fields = row[2].split(None, len(columns))
    if len(fields) != len(columns) + 1:
        raise ReportError(f"line {n}: a task table row with {len(fields)} of its "
                          f"{len(columns) + 1} columns: {row[0]!r}")
    try:
        values = dict(zip(columns, map(int, fields[:-1])))
    except ValueError:
        raise ReportError(f"line {n}: a task table row with a column that is not a number: "
                          f"{row[0]!r}") from None
    kw = {_COLUMNS[c]: v for c, v in values.items() if c in _COLUMNS}
    if "nr_ptes" in values:          # before 4.15: page-table pages, not bytes
        kw["pgtables_bytes"] = (values["nr_ptes"] + values.get("nr_pmds", 0)) * PAGE
    if "rss_anon" not in values:     # before 6.8 only the sum is printed
        kw["rss_anon"] = values["rss"]
    return Task(pid=int(row[1]), comm=fields[-1], **kw)


def _killed_task(m: re.Match) -> Task:
    kb = lambda key: int(m[key] or 0) // 4  # noqa: E731
    return Task(pid=int(m["pid"]), comm=m["comm"], uid=int(m["uid"] or 0),
                oom_score_adj=int(m["adj"] or 0), rss_anon=kb("anon"), rss_file=kb("file"),
                rss_shmem=kb("shmem"), pgtables_bytes=int(m["pgtables"] or 0) * 1024,
                total_vm=kb("total_vm"))
