"""`oomtui live`: a snapshot of a real Linux machine read from /proc (and /sys/fs/cgroup),
rebuilt as a paused Machine, and who the OOM killer would take next.

Read: /proc/meminfo, /proc/zoneinfo (managed pages per zone, read at the snapshot: a VM may grow
them while it runs, KERNEL.md §11), /proc/swaps, /proc/sys/vm/* for the sysctls the engine has,
and per process /proc/PID/{status,oom_score_adj,cgroup}. Kernel threads, zombies, pids that end
while being read and files that cannot be read are left out with a note.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from oomtui.engine.config import SYSCTLS
from oomtui.engine.oom import badness_terms, out_of_memory
from oomtui.realworld.rebuild import Cgroup, Rebuilt, Snapshot, Task, build

NO_LIMIT = 1 << 62   # cgroup v1 prints "no limit" as PAGE_COUNTER_MAX pages in bytes, about 2^63


@dataclass
class ProcSnapshot:
    """What was read: the snapshot, /proc/meminfo (kB) and the notes on what was left out."""
    snapshot: Snapshot
    meminfo: dict[str, int]
    notes: list[str]


def _read(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _fields(text: str) -> dict[str, str]:
    """`Key:   value` lines (/proc/meminfo, /proc/PID/status)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key] = value.strip()
    return out


def _kb(value: str) -> int:
    return int(value.split()[0])


def read_meminfo(root: Path) -> dict[str, int]:
    return {k: _kb(v) for k, v in _fields(_read(root / "meminfo")).items()}


def read_zones(root: Path) -> dict[str, int]:
    """Managed pages per zone, from /proc/zoneinfo (node 0; other nodes are added in)."""
    zones: dict[str, int] = {}
    zone = None
    for line in _read(root / "zoneinfo").splitlines():
        words = line.split()
        if line.startswith("Node ") and "zone" in words:
            zone = words[-1]
        elif zone is not None and words[:1] == ["managed"]:
            zones[zone] = zones.get(zone, 0) + int(words[1])
    return zones


def read_swaps(root: Path) -> tuple[int, ...]:
    """Each swap area's size in pages (/proc/swaps: kB, the header page already left out)."""
    rows = _read(root / "swaps").splitlines()[1:]
    return tuple(int(row.split()[2]) // 4 for row in rows if row.strip())


def read_sysctls(root: Path, notes: list[str]) -> dict:
    out = {}
    for name in SYSCTLS:
        if name == "vm.drop_caches":          # write-only: a command, not a setting
            continue
        try:
            words = _read(root / "sys" / Path(*name.split("."))).split()
        except OSError:
            notes.append(f"{name}: not readable here, the kernel's default is used")
            continue
        values = tuple(int(w) for w in words)
        out[name] = values[0] if len(values) == 1 else values
    return out


def read_task(root: Path, pid: int, cgroup_root: Path | None) -> tuple[Task | None, str]:
    """One /proc/PID as a Task, or None and why it is left out."""
    d = root / str(pid)
    try:
        status = _fields(_read(d / "status"))
        adj = int(_read(d / "oom_score_adj"))
        cgroup = _cgroup_path(_read(d / "cgroup"))
    except (FileNotFoundError, ProcessLookupError):
        return None, f"pid {pid} ended while being read"
    except OSError as e:
        return None, f"pid {pid}: {e.strerror or e}"
    comm = status.get("Name", "?")
    if status.get("State", "").startswith(("Z", "X")):
        return None, f"pid {pid} ({comm}) is a zombie"
    if "VmSize" not in status or status.get("Kthread") == "1":
        return None, f"pid {pid} ({comm}) is a kernel thread"
    kb = lambda key: _kb(status.get(key, "0")) // 4  # noqa: E731
    return Task(pid=pid, comm=comm, ppid=int(status.get("PPid", 0)),
                uid=int(status.get("Uid", "0").split()[0]), oom_score_adj=adj,
                rss_anon=kb("RssAnon"), rss_file=kb("RssFile"), rss_shmem=kb("RssShmem"),
                swapents=kb("VmSwap"), pgtables_bytes=_kb(status.get("VmPTE", "0")) * 1024,
                total_vm=kb("VmSize"),
                cgroup=cgroup if cgroup_root is not None else "/"), ""


def _cgroup_path(text: str) -> str:
    """The memory cgroup: cgroup v1's memory line where there is one, else v2's `0::` line."""
    v2 = "/"
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path or "/"
        if controllers == "":
            v2 = path or "/"
    return v2


def read_cgroup(cgroup_root: Path, path: str) -> Cgroup:
    """memory.max/high/swap.max (v2) or memory.limit_in_bytes (v1), where readable."""
    def value(*names: str) -> int | None:
        for name in names:
            try:
                text = _read(cgroup_root / path.lstrip("/") / name).strip()
            except OSError:
                continue
            return None if text == "max" or int(text) >= NO_LIMIT else int(text)
        return None
    if (cgroup_root / "memory").is_dir() and not (cgroup_root / "cgroup.controllers").exists():
        cgroup_root = cgroup_root / "memory"      # cgroup v1: the memory hierarchy
    return Cgroup(path, memory_max=value("memory.max", "memory.limit_in_bytes"),
                  memory_high=value("memory.high"), swap_max=value("memory.swap.max"))


def from_proc(root: str | os.PathLike = "/proc",
              cgroup_root: str | os.PathLike | None = "/sys/fs/cgroup") -> ProcSnapshot:
    """Read a snapshot of the machine whose /proc is at `root` (any directory laid out like it).
    cgroup_root None: every process in the root cgroup. OSError ENOENT for a /proc without
    Linux's files."""
    root = Path(root)
    cg_root = None if cgroup_root is None or not Path(cgroup_root).is_dir() else Path(cgroup_root)
    try:
        meminfo = read_meminfo(root)
        zones = read_zones(root)
        swaps = read_swaps(root)
    except OSError as e:
        raise OSError(errno.ENOENT, f"{root} is not a Linux /proc: cannot read "
                                    f"{e.filename or root} ({e.strerror})") from None
    if not zones or "MemTotal" not in meminfo:
        raise OSError(errno.ENOENT, f"{root} is not a Linux /proc: no zones or no MemTotal")
    notes: list[str] = []
    extra = meminfo["MemTotal"] // 4 - sum(zones.values())
    if extra:   # oom_score and CommitLimit use totalram_pages (MemTotal), so that one wins
        zones["Normal"] = zones.get("Normal", 0) + extra
        notes.append(f"MemTotal is {extra} pages more than the zones' managed pages (memory the "
                     "zones had not taken over yet): they are simulated in Normal, whose "
                     "watermarks then differ from the kernel's")
    if meminfo.get("HugePages_Total"):
        notes.append(f"{meminfo['HugePages_Total']} hugetlb pages are not simulated: "
                     "CommitLimit differs by them")
    sysctl = read_sysctls(root, notes)
    tasks = []
    for pid in sorted(int(d) for d in os.listdir(root) if d.isdigit()):
        task, why = read_task(root, pid, cg_root)
        if task is None:
            if "kernel thread" not in why:    # kernel threads are many and expected
                notes.append(why)
        else:
            tasks.append(task)
    paths = sorted({t.cgroup for t in tasks} - {"/"})
    cgroups = tuple(read_cgroup(cg_root, p) for p in paths) if cg_root is not None else ()
    snap = Snapshot(zones=zones, swap=swaps, sysctl=sysctl, tasks=tuple(tasks), cgroups=cgroups)
    return ProcSnapshot(snap, meminfo, notes)


def kill_order(rebuilt: Rebuilt) -> list[dict]:
    """The OOM killer's victims, first first, if memory kept running out: each with its
    badness terms (oom.BadnessTerms, the snapshot's pids)."""
    m = rebuilt.machine
    totalpages = m.totalram + m.total_swap_pages()
    cands = rebuilt.candidates()
    order = []
    while True:
        decision = out_of_memory(cands, totalpages=totalpages, current=None)
        if decision.action != "kill":
            return order
        row = next(t for t in badness_terms(cands, decision, totalpages) if t.victim)
        order.append({k: v for k, v in vars(row).items() if k != "victim"})
        cands = [c for c in cands if c.pid not in decision.killed]


def summary(rebuilt: Rebuilt, meminfo: dict[str, int]) -> dict:
    """`oomtui live --json`: the snapshot's meminfo, its processes with the simulated oom_score,
    and the predicted kill order."""
    by_pid = {p["pid"]: p for p in rebuilt.machine.processes()}
    procs = [{"pid": real, "comm": p["comm"], "oom_score": p["oom_score"],
              "oom_score_adj": p["oom_score_adj"], "rss_kb": p["VmRSS"], "swap_kb": p["VmSwap"]}
             for real, p in ((real, by_pid[sim]) for real, sim in rebuilt.pids.items())]
    return {"meminfo": meminfo, "processes": procs, "victims": kill_order(rebuilt)}


def live(root="/proc", cgroup_root="/sys/fs/cgroup") -> tuple[Rebuilt, dict[str, int]]:
    """This machine, rebuilt; and its /proc/meminfo."""
    snap = from_proc(root, cgroup_root)
    rebuilt = build(snap.snapshot)
    rebuilt.notes[:0] = snap.notes
    return rebuilt, snap.meminfo
