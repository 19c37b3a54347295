"""What a userspace OOM daemon reads at a poll, gathered from the machine's public views, and
the answer a policy gives. The policies are pure functions of these (STYLE.md: the caller
gathers the facts, the function decides, the caller acts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """A process as /proc/PID shows it to a daemon."""
    pid: int
    comm: str
    oom_score: int
    oom_score_adj: int
    cgroup: str
    rss_kb: int  # VmRSS


@dataclass(frozen=True)
class Group:
    """A cgroup's memory files as systemd-oomd reads them."""
    path: str
    current: int  # memory.current, bytes
    swap: int  # memory.swap.current, bytes
    oom_group: bool  # memory.oom.group
    leaf: bool  # no child cgroups
    pressure: float  # memory.pressure "full avg10" (%), 0 where not tracked


@dataclass(frozen=True)
class Facts:
    now_us: int
    meminfo: Mapping[str, int]  # /proc/meminfo, kB
    pressure: Mapping  # /proc/pressure/memory, as Machine.pressure()
    pgscan: int  # /proc/vmstat pgscan_kswapd + pgscan_direct
    tasks: tuple[Task, ...]  # in pid order, init included
    groups: tuple[Group, ...]  # in the order Machine.cgroups() lists them


@dataclass(frozen=True)
class Action:
    """Send `signal` (15 or 9) to `pids`, or (cgroup given) to every process in that cgroup
    and below, as cgroup.kill does."""
    signal: int
    pids: tuple[int, ...]
    why: str
    cgroup: str | None = None
    ranking: tuple = ()  # the candidates as the policy ranked them, first choice first (dicts)


@dataclass(frozen=True)
class Verdict:
    action: Action | None
    sleep_us: int  # until the next poll
    memo: dict  # the daemon's timers, carried to the next poll (plain values: saves hold them)


def ranked_task(t: Task, score: int) -> dict:
    """A candidate process as a ranking lists it: what the daemon read, and its score."""
    return {"pid": t.pid, "comm": t.comm, "oom_score": t.oom_score,
            "oom_score_adj": t.oom_score_adj, "rss_kb": t.rss_kb, "score": score}


def gather(m, *, now_us: int, pressure: Mapping, group_pressure: Mapping[str, float],
           groups: bool) -> Facts:
    """The facts at now_us; cgroups only when the policy reads them (groups=True)."""
    tasks = tuple(Task(pid, p.comm, m.oom_score(pid), p.oom_score_adj, p.cgroup,
                       m.proc_status(pid)["VmRSS"]) for pid, p in sorted(m.procs.items()))
    found = ()
    if groups:
        paths = m.cgroups()
        parents = {parent_of(p) for p in paths if p != "/"}
        found = []
        for path in paths:
            st = m.cgroup_stat(path)
            found.append(Group(path, st["memory.current"], st["memory.swap.current"],
                               bool(st["memory.oom.group"]), path not in parents,
                               group_pressure.get(path, 0.0)))
        found = tuple(found)
    vm = m.vmstat()
    return Facts(now_us, m.meminfo(), pressure, vm["pgscan_kswapd"] + vm["pgscan_direct"],
                 tasks, found)


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def within(path: str, top: str) -> bool:
    """path is top or below it."""
    return top == "/" or path == top or path.startswith(top + "/")


def named(pattern: str, path: str) -> bool:
    """A cgroup pattern: a path, or "/x/*" for every child of /x."""
    if pattern.endswith("/*"):
        return path != "/" and parent_of(path) == (pattern[:-2] or "/")
    return path == pattern
