"""What a level's goal, score and debrief need to know of a run, gathered after every tick
from the machine's public views (processes, meminfo, vmstat, pressure, cgroup_stat, maps,
events): running totals and peaks, so a condition is judged on the whole run so far."""

from __future__ import annotations

import re
from dataclasses import dataclass

DIRECT_STALLS = ("reclaim", "compaction")  # a task stalled in the allocation slow path


@dataclass(frozen=True)
class Kill:
    tick: int
    pid: int
    comm: str
    by: str  # "the OOM killer", "the memcg OOM killer" or a daemon's name
    held_kb: int  # RSS + swap when it was chosen (0 when unknown)


@dataclass(frozen=True)
class Moment:
    """A tick and the numbers worth telling about it."""
    tick: int
    facts: dict


class Watch:
    """Facts of one run of machine `m`, judged at `end_tick`; update() after each tick."""

    def __init__(self, m, end_tick: int, *, watch_maps: bool = False):
        self.m = m
        self.end_tick = end_tick
        self.watch_maps = watch_maps
        self.tick = -1
        self._events = 0  # events already read
        self._direct: set[int] = set()  # pids in a direct-reclaim stall at the last update
        self.running: set[str] = set()
        self.seen: set[str] = set()
        self.deaths: dict[str, str] = {}  # comm -> how it ended, first time
        self.kills: list[Kill] = []
        self.oom_events: list = []  # the OOM killer's decisions: a kill, a panic, nobody
        self.max_direct_stall_us = 0
        self.longest_stall: Moment | None = None
        self.max_psi_avg10 = {"some": 0.0, "full": 0.0}
        self.max_swap_used_kb = 0
        self.committed_kb = self.commit_limit_kb = 0
        self.over_commit = False
        self.largest_mapping: dict[str, int] = {}  # comm -> its largest VMA ever, bytes
        self.max_rss_kb: dict[str, int] = {}
        self.max_thp = 0
        self.locked_seen: set[str] = set()
        self.unlocked: set[str] = set()
        self.panicked: str | None = None
        self.kswapd_woke: Moment | None = None
        self.direct_reclaim: Moment | None = None
        self.swapped_out: Moment | None = None
        self.allocstall = 0  # vmstat allocstall: entries into direct reclaim
        self.throttles = 0
        self.throttle_ms = 0

    # -- reading the machine --------------------------------------------------------------

    def update(self) -> None:
        """Read the machine after a tick or a call (reading twice counts nothing twice)."""
        m = self.m
        self.tick = m.tick
        self.panicked = m.panicked
        self._read_events()
        if not m.panicked:  # else the processes died with the machine: keep the last seen
            self._read_processes()
        info = m.meminfo()
        self.max_swap_used_kb = max(self.max_swap_used_kb, info["SwapTotal"] - info["SwapFree"])
        self.committed_kb, self.commit_limit_kb = info["Committed_AS"], info["CommitLimit"]
        self.over_commit |= self.committed_kb > self.commit_limit_kb
        self.max_thp = max(self.max_thp, info["AnonHugePages"] // 2048)
        psi = m.pressure()
        for kind in ("some", "full"):
            self.max_psi_avg10[kind] = max(self.max_psi_avg10[kind], psi[kind]["avg10"])
        self._read_firsts(info)

    def _read_processes(self) -> None:
        m = self.m
        live = [r for r in m.processes() if r["state"] != "oom-victim"]
        self.running = {r["comm"] for r in live}
        self.seen |= self.running
        for r in live:
            comm = r["comm"]
            self.max_rss_kb[comm] = max(self.max_rss_kb.get(comm, 0), r["VmRSS"])
            if r["VmLck"]:
                self.locked_seen.add(comm)
                self.unlocked.discard(comm)
            elif comm in self.locked_seen:
                self.unlocked.add(comm)
        self.unlocked |= self.locked_seen - self.running
        if self.watch_maps:
            for r in live:
                largest = max((v["end"] - v["start"] for v in m.maps(r["pid"])), default=0)
                comm = r["comm"]
                self.largest_mapping[comm] = max(self.largest_mapping.get(comm, 0), largest)
        self._read_stalls()

    def _read_events(self) -> None:
        m = self.m
        for e in m.events[self._events:]:
            comm = _comm(e.message)
            if e.kind == "oom":
                self.oom_events.append(e)
            if e.kind == "oom_kill" or (e.kind == "kill" and "by" in e.data):
                by = e.data.get("by") or ("the memcg OOM killer" if "Memory cgroup" in e.message
                                          else "the OOM killer")
                self.kills.append(Kill(e.tick, e.pid, comm or f"pid {e.pid}", by,
                                       e.data.get("freed_kb", 0) or self._held(e)))
            if e.kind in ("oom_kill", "kill", "exit") and comm:
                self.deaths.setdefault(comm, f"{_how(e)} at {self.seconds(e.tick)}")
            if e.kind == "kswapd" and "woke" in e.message and self.kswapd_woke is None:
                self.kswapd_woke = Moment(e.tick, {"zones": m.zoneinfo()})
            if e.kind == "throttle":
                self.throttles += 1
                self.throttle_ms += e.data.get("jiffies", 0)
        self._events = len(m.events)

    def _held(self, kill_event) -> int:
        """RSS + swap of an OOM victim as its OOM decision's table shows it, kB."""
        for e in reversed(self.oom_events):
            for row in e.data.get("candidates", ()):
                if row["pid"] == kill_event.pid:
                    return (row["rss"] + row["swapents"]) * 4
        return 0

    def _read_stalls(self) -> None:
        """A stall in direct reclaim is owed whole when it starts and served tick by tick: its
        length is what is left after its first tick, plus that tick."""
        m = self.m
        tick_us = m.config.tick_ms * 1000
        now = set()
        for p in m.procs.values():
            if p.stall_us and p.stall_kind in DIRECT_STALLS:
                now.add(p.pid)
                if p.pid not in self._direct and p.stall_us + tick_us > self.max_direct_stall_us:
                    self.max_direct_stall_us = p.stall_us + tick_us
                    self.longest_stall = Moment(m.tick, {"comm": p.comm, "kind": p.stall_kind,
                                                         "us": p.stall_us + tick_us})
        self._direct = now

    def _read_firsts(self, info: dict) -> None:
        """allocstall, and the first time direct reclaim ran and a page went to swap."""
        m = self.m
        vm = m.vmstat()
        self.allocstall = vm["allocstall"]
        if self.direct_reclaim is None or self.swapped_out is None:
            if self.direct_reclaim is None and vm["allocstall"]:
                self.direct_reclaim = Moment(m.tick, {"zones": m.zoneinfo(),
                                                      "pgscan_direct": vm["pgscan_direct"]})
            if self.swapped_out is None and vm["pswpout"]:
                self.swapped_out = Moment(m.tick, {"pswpout": vm["pswpout"],
                                                   "SwapFree": info["SwapFree"]})

    # -- answers ----------------------------------------------------------------------------

    @property
    def gone(self) -> set[str]:
        return self.seen - self.running

    @property
    def at_end(self) -> bool:
        return self.tick >= self.end_tick

    def death_of(self, comm: str) -> str:
        return self.deaths.get(comm, "gone")

    def cgroup_events(self, path: str) -> dict:
        if self.panicked or path not in self.m.cgroups():
            return {}
        return self.m.cgroup_stat(path)["memory.events"]

    def seconds(self, tick: int) -> str:
        return f"{tick * self.m.config.tick_ms / 1000:.2f} s"


def _comm(message: str) -> str | None:
    """The process an event is about: "Killed process 42 (comm)" or "comm[42] ..."."""
    found = re.search(r"Killed process \d+ \((.+?)\)", message) or re.match(r"(\S+?)\[\d+\]",
                                                                           message)
    return found.group(1) if found else None


def _how(e) -> str:
    if e.kind == "oom_kill":
        return "OOM-killed"
    if e.kind == "kill":
        return f"killed by {e.data['by']}" if "by" in e.data else "killed"
    return "exited"
