"""A level's goal: conditions, each judged every tick from what a Watch saw of the machine.

A *ceiling* holds until it is broken, and then the level is lost at once. A *target* is
reached once and stays reached. The level is won at once when every target is reached (and it
has one, and `early_win` is not false), or at its time limit when nothing was broken and every
target was reached. The vocabulary is in the package docstring (oomtui/game/__init__.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

HOLDING, WON, LOST = "holding", "won", "lost"


class GoalError(ValueError):
    """A bad [goal] or [score] table: the key at fault and why."""

    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.key, self.message = key, message


@dataclass(frozen=True)
class Verdict:
    text: str  # one line for the goal line: what it asks and where it stands
    ok: bool  # it holds (a ceiling) or is reached (a target) now
    final: str = HOLDING  # WON: reached for good; LOST: broken for good


def _mib(kb: int) -> str:
    return f"{kb / 1024:.0f} MiB"


# -- value checks -------------------------------------------------------------------------

def _names(key, v) -> tuple[str, ...]:
    v = [v] if isinstance(v, str) else v
    if not isinstance(v, list) or not v or not all(isinstance(s, str) and s for s in v):
        raise GoalError(key, f"must be a process name or a list of them, got {v!r}")
    return tuple(v)


def _number(key, v, lo=0) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < lo:
        raise GoalError(key, f"must be a number >= {lo}, got {v!r}")
    return v


def _true(key, v) -> bool:
    if v is not True:
        raise GoalError(key, f"must be true (leave the key out otherwise), got {v!r}")
    return v


def _cgroups(key, v) -> tuple[str, ...]:
    v = [v] if isinstance(v, str) else v
    if not isinstance(v, list) or not v or not all(isinstance(s, str) and s.startswith("/")
                                                   for s in v):
        raise GoalError(key, f"must be a cgroup path like '/batch' or a list of them, got {v!r}")
    return tuple(v)


def _per_name(key, v, path=False) -> dict:
    if not isinstance(v, Mapping) or not v:
        example = '"/batch"' if path else "app"
        raise GoalError(key, f"must be a table like {{ {example} = 64 }}, got {v!r}")
    for name, n in v.items():
        if path and not name.startswith("/"):
            raise GoalError(key, f"{name!r} is not a cgroup path like '/batch'")
        _number(key, n, 0)
    return dict(v)


# -- the conditions -----------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    key: str
    value: object

    target = False
    check = staticmethod(lambda key, v: v)

    def judge(self, w) -> Verdict:
        raise NotImplementedError

    def comms(self) -> tuple[str, ...]:
        return ()


class Alive(Condition):
    """alive = ["postgres"]: each keeps running to the end (its death loses at once)."""
    check = staticmethod(_names)

    def judge(self, w):
        dead = [c for c in self.value if c in w.gone]
        missing = [c for c in self.value if c not in w.running]
        if dead:
            return Verdict(f"{', '.join(dead)} died ({w.death_of(dead[0])})", False, LOST)
        return Verdict(f"{', '.join(self.value)} alive", not missing)

    def comms(self):
        return self.value


class NotKilled(Condition):
    """not_killed = ["postgres"]: never killed by the OOM killer or an OOM daemon."""
    check = staticmethod(_names)

    def judge(self, w):
        hit = [k for k in w.kills if k.comm in self.value]
        if hit:
            return Verdict(f"{hit[0].comm} was OOM-killed at {w.seconds(hit[0].tick)}", False,
                           LOST)
        return Verdict(f"{', '.join(self.value)} not OOM-killed", True)

    def comms(self):
        return self.value


class MaxKills(Condition):
    """max_kills = 0: at most this many OOM kills (the kernel's and a daemon's)."""
    check = staticmethod(lambda key, v: int(_number(key, v)))

    def judge(self, w):
        n = len(w.kills)
        return Verdict(f"OOM kills {n} (at most {self.value})", n <= self.value,
                       LOST if n > self.value else HOLDING)


class MaxDirectStall(Condition):
    """max_direct_stall_ms = 20: no process stalls longer in direct reclaim or compaction
    (measured in whole ticks, as the engine serves stalls)."""
    check = staticmethod(_number)

    def judge(self, w):
        ms = w.max_direct_stall_us / 1000
        return Verdict(f"longest direct-reclaim stall {ms:.0f} ms (at most {self.value:g})",
                       ms <= self.value, LOST if ms > self.value else HOLDING)


class MaxAllocstall(Condition):
    """max_allocstall = 0: vmstat allocstall (entries into direct reclaim) never above this."""
    check = staticmethod(lambda key, v: int(_number(key, v)))

    def judge(self, w):
        n = w.allocstall
        return Verdict(f"direct reclaim entered {n} times (at most {self.value})",
                       n <= self.value, LOST if n > self.value else HOLDING)


class MaxPsi(Condition):
    """max_psi_some_avg10 / max_psi_full_avg10 = 5.0: /proc/pressure/memory's avg10 (%) never
    above this."""
    check = staticmethod(_number)

    def judge(self, w):
        kind = self.key.split("_")[2]
        seen = w.max_psi_avg10[kind]
        return Verdict(f"PSI {kind} avg10 peak {seen:.2f}% (at most {self.value:g}%)",
                       seen <= self.value, LOST if seen > self.value else HOLDING)


class MaxSwapUsed(Condition):
    """max_swap_used_mib = 256: swap in use never above this."""
    check = staticmethod(_number)

    def judge(self, w):
        kb = w.max_swap_used_kb
        over = kb > self.value * 1024
        return Verdict(f"swap used peak {_mib(kb)} (at most {self.value:g} MiB)", not over,
                       LOST if over else HOLDING)


class CommitUnderLimit(Condition):
    """commit_under_limit = true: Committed_AS never above CommitLimit."""
    check = staticmethod(_true)

    def judge(self, w):
        text = f"Committed_AS {_mib(w.committed_kb)} of CommitLimit {_mib(w.commit_limit_kb)}"
        return Verdict(text, not w.over_commit, LOST if w.over_commit else HOLDING)


class NoMaxEvents(Condition):
    """no_max_events = ["/batch"]: memory.events max stays 0 (memory.max never hit)."""
    check = staticmethod(_cgroups)

    def judge(self, w):
        hit = [p for p in self.value if w.cgroup_events(p).get("max", 0)]
        if hit:
            return Verdict(f"{hit[0]} hit memory.max", False, LOST)
        return Verdict(f"memory.max never hit in {', '.join(self.value)}", True)


class NoPanic(Condition):
    """no_panic = true: the kernel never panics (any panic ends a level; this says so)."""
    check = staticmethod(_true)

    def judge(self, w):
        if w.panicked:
            return Verdict("the kernel panicked", False, LOST)
        return Verdict("no kernel panic", True)


class Killed(Condition):
    """killed = ["leaky-app"] (target): each killed by the OOM killer or an OOM daemon."""
    check = staticmethod(_names)
    target = True

    def judge(self, w):
        killed = {k.comm for k in w.kills}
        left = [c for c in self.value if c not in killed]
        if left:
            return Verdict(f"{', '.join(left)} not OOM-killed yet", False)
        return Verdict(f"{', '.join(self.value)} OOM-killed", True, WON)

    def comms(self):
        return self.value


class Gone(Condition):
    """gone = ["hog"] (target): each no longer runs (it exited, or anyone killed it)."""
    check = staticmethod(_names)
    target = True

    def judge(self, w):
        left = [c for c in self.value if c not in w.gone]
        if left:
            return Verdict(f"{', '.join(left)} still running", False)
        return Verdict(f"{', '.join(self.value)} gone", True, WON)

    def comms(self):
        return self.value


class MinMmap(Condition):
    """min_mmap_mib = { analytics = 300 } (target): the process holds one mapping of at least
    this size (an mmap the kernel accepted)."""
    check = staticmethod(_per_name)
    target = True

    def judge(self, w):
        got = {c: w.largest_mapping.get(c, 0) >> 20 for c in self.value}
        ok = all(got[c] >= n for c, n in self.value.items())
        text = ", ".join(f"{c} largest mapping {got[c]} MiB (needs {n:g} MiB)"
                         for c, n in self.value.items())
        return Verdict(text, ok, WON if ok else HOLDING)

    def comms(self):
        return tuple(self.value)


class MinRss(Condition):
    """min_rss_mib = { app = 64 } (target): each process's VmRSS reaches this."""
    check = staticmethod(_per_name)
    target = True

    def judge(self, w):
        left = {c: n for c, n in self.value.items() if w.max_rss_kb.get(c, 0) < n * 1024}
        text = ", ".join(f"{c} RSS {_mib(w.max_rss_kb.get(c, 0))} (needs {n:g} MiB)"
                         for c, n in self.value.items())
        return Verdict(text, not left, HOLDING if left else WON)

    def comms(self):
        return tuple(self.value)


class MinThp(Condition):
    """min_thp = 1 (target): AnonHugePages holds this many 2 MiB huge pages."""
    check = staticmethod(lambda key, v: int(_number(key, v, 1)))
    target = True

    def judge(self, w):
        n = w.max_thp
        ok = n >= self.value
        return Verdict(f"huge pages {n} (needs {self.value})", ok, WON if ok else HOLDING)


class MinHighEvents(Condition):
    """min_high_events = { "/batch" = 1 } (target): memory.events high reaches this (the
    group was throttled over memory.high)."""
    check = staticmethod(lambda key, v: _per_name(key, v, path=True))
    target = True

    def judge(self, w):
        counts = {p: w.cgroup_events(p).get("high", 0) for p in self.value}
        ok = all(counts[p] >= n for p, n in self.value.items())
        text = ", ".join(f"{p} memory.high events {counts[p]} (needs {n:g})"
                         for p, n in self.value.items())
        return Verdict(text, ok, WON if ok else HOLDING)


class Unlocked(Condition):
    """unlocked = ["hog"] (target): each process held mlocked pages, and now holds none (it
    unlocked them, or is gone)."""
    check = staticmethod(_names)
    target = True

    def judge(self, w):
        left = [c for c in self.value if c not in w.unlocked]
        if left:
            return Verdict(f"{', '.join(left)} still holds mlocked pages"
                           if all(c in w.locked_seen for c in left)
                           else f"{', '.join(left)} has not locked memory yet", False)
        return Verdict(f"{', '.join(self.value)} mlocked pages freed", True, WON)

    def comms(self):
        return self.value


class Panic(Condition):
    """panic = true (target): the kernel panics (panic_on_oom), ending the level."""
    check = staticmethod(_true)
    target = True

    def judge(self, w):
        if w.panicked:
            return Verdict("the kernel panicked", True, WON)
        return Verdict("no panic yet", False)


CONDITIONS: dict[str, type[Condition]] = {
    "alive": Alive, "not_killed": NotKilled, "max_kills": MaxKills,
    "max_direct_stall_ms": MaxDirectStall, "max_allocstall": MaxAllocstall,
    "max_psi_some_avg10": MaxPsi,
    "max_psi_full_avg10": MaxPsi, "max_swap_used_mib": MaxSwapUsed,
    "commit_under_limit": CommitUnderLimit, "no_max_events": NoMaxEvents, "no_panic": NoPanic,
    "killed": Killed, "gone": Gone, "min_mmap_mib": MinMmap, "min_rss_mib": MinRss,
    "min_thp": MinThp, "min_high_events": MinHighEvents, "unlocked": Unlocked, "panic": Panic,
}
GOAL_KEYS = ("text", "early_win", *CONDITIONS)


@dataclass(frozen=True)
class Goal:
    text: str = ""
    conditions: tuple[Condition, ...] = ()
    early_win: bool = True  # every target reached ends the level at once
    watch_maps: bool = False  # a condition needs the processes' mappings

    def comms(self) -> list[str]:
        return list(dict.fromkeys(c for cond in self.conditions for c in cond.comms()))

    def key_naming(self, comm: str) -> str | None:
        return next((c.key for c in self.conditions if comm in c.comms()), None)

    def judge(self, w) -> tuple[str, str, list[Verdict]]:
        """(state, reason, verdicts): state "playing", "won" or "lost"."""
        verdicts = [c.judge(w) for c in self.conditions]
        lost = next((v for v in verdicts if v.final == LOST), None)
        if lost is not None:
            return "lost", lost.text, verdicts
        targets = [v for c, v in zip(self.conditions, verdicts) if c.target]
        if w.panicked:
            if any(isinstance(c, Panic) for c in self.conditions) and all(
                    v.ok for v in verdicts):
                return "won", f"the kernel panicked ({w.panicked}) as the goal asks", verdicts
            return "lost", f"the kernel panicked: {w.panicked}", verdicts
        if targets and self.early_win and all(v.final == WON for v in targets):
            return "won", "; ".join(v.text for v in targets), verdicts
        if w.at_end:
            broken = next((v for v in verdicts if not v.ok), None)
            if broken is not None:
                return "lost", f"time is up: {broken.text}", verdicts
            return "won", f"the goal held for {w.seconds(w.tick)}", verdicts
        return "playing", "", verdicts


def parse(table: Mapping) -> Goal:
    """A Goal from a [goal] table; GoalError names the key at fault."""
    for key in table:
        if key not in GOAL_KEYS:
            raise GoalError(key, f"unknown goal condition: use {', '.join(GOAL_KEYS)}")
    text = table.get("text")
    if not isinstance(text, str) or not text.strip():
        raise GoalError("text", f"must be a non-empty string saying the goal, got {text!r}")
    early = table.get("early_win", True)
    if not isinstance(early, bool):
        raise GoalError("early_win", f"must be true or false, got {early!r}")
    conditions = tuple(CONDITIONS[k](k, CONDITIONS[k].check(k, v)) for k, v in table.items()
                       if k in CONDITIONS)
    if not conditions:
        raise GoalError("text", "a goal needs at least one condition: "
                                f"{', '.join(CONDITIONS)}")
    return Goal(text, conditions, early, any(isinstance(c, MinMmap) for c in conditions))
