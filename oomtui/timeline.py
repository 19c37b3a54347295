"""Time travel: checkpoints of a running Machine, rewind and forward, branches, comparisons.

A Timeline drives the machine the app shows. Each branch keeps its input log (everything its
machine did since boot, so also its future once rewound) and the checkpoints of its past.
seek(tick) restores the nearest checkpoint at or before `tick` and replays the log from there,
up to and including the calls made at that tick. A call made on the machine in the past (a
sysctl, a kill, ...) starts a new branch at that moment; the old branch keeps its future.

Positions are (tick, calls): the calls are the logged inputs other than successful steps, so a
position does not depend on how time was chunked into steps. Checkpoints cost a copy of the
machine's arrays each (what the machine holds: its tables grow by their own use): over the
byte budget (a share of the host's RAM), the one whose neighbours are closest together for its
age goes, so recent time stays dense and old time is thinned out. A branch's first and newest
checkpoints stay, and in its last two seconds none goes that would leave more than a second
between two, so a seek up to a second back replays a second at most, however long the run
and whatever a checkpoint costs.

No Textual here: the app calls step()/seek()/branch()/compare() from its engine worker.
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass, field

from oomtui.engine import Machine
from oomtui.engine.daemons import told
from oomtui.engine.inputs import Input, apply, step_ticks

DEATHS = ("oom_kill", "kill", "exit", "sigsegv", "sigbus")  # event kinds that end a process
STEP_CHUNK = 100  # ticks replayed between two progress reports
HOST_SHARE = 8  # checkpoints may hold an eighth of the host's RAM


def host_budget() -> int:
    """The checkpoints' byte budget: a share of the host's RAM (256 MiB where it is unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // HOST_SHARE
    except (ValueError, OSError, AttributeError):
        return 256 << 20


def _is_step(e: Input) -> bool:
    return e.name == "step" and e.error is None


def calls_in(entries) -> int:
    """The calls of a log other than successful steps (a position's second half)."""
    return sum(not _is_step(e) for e in entries)


def advance(m: Machine, log: list, tick: int, calls: int, progress=None) -> None:
    """Replay `log` on m, which is at an earlier position of the same log, up to (tick, calls).

    Steps are replayed STEP_CHUNK ticks at a time (step(a + b) is step(a) then step(b)), and
    progress(ticks done, ticks to do) is called after each, so a long replay can be shown
    and interrupted."""
    done = calls_in(m.inputs.entries)
    seen = 0
    start = m.tick
    for i, e in enumerate(log):
        if _is_step(e):
            if m.tick >= tick or m.panicked:
                if seen >= calls:
                    return
                continue
            end = min(e.tick + step_ticks(e), tick)
            while m.tick < end and not m.panicked:
                m.step(min(end - m.tick, STEP_CHUNK))
                if progress is not None:
                    progress(m.tick - start, tick - start)
        else:
            seen += 1
            if seen > calls:
                return
            if seen > done:
                apply(m, e, i)


@dataclass(eq=False)
class Checkpoint:
    tick: int
    calls: int
    state: dict  # Machine.snapshot()
    nbytes: int


@dataclass(eq=False)
class Branch:
    name: str
    parent: str | None
    fork_tick: int
    log: list  # the machine's own input list while this branch is live at its end
    end_tick: int
    checkpoints: list = field(default_factory=list)
    swap_used: array = field(default_factory=lambda: array("q"))  # kB, by tick, stepped live


@dataclass(frozen=True)
class BranchSummary:
    name: str
    fork_tick: int
    end_tick: int
    deaths: tuple  # (tick, pid, kind, message) of every process that ended
    panicked: str | None
    peak_swap_kb: int
    psi_total_us: dict  # {"some": µs, "full": µs}
    digest: str
    policy: tuple  # Machine.policy() at its end: (the OOM policy's name, its settings)


@dataclass(frozen=True)
class Comparison:
    a: BranchSummary
    b: BranchSummary

    def deaths_only_in(self, which: str) -> tuple:
        """Deaths one branch has and the other has not (same pid, same way, any tick)."""
        mine, other = (self.a, self.b) if which == "a" else (self.b, self.a)
        theirs = {(pid, kind) for _, pid, kind, _ in other.deaths}
        return tuple(d for d in mine.deaths if (d[1], d[2]) not in theirs)


class Timeline:
    """Checkpoints every `every` ticks within `budget` bytes (host_budget() by default),
    branches, and comparisons."""

    def __init__(self, machine: Machine, *, every: int = 100, budget: int | None = None):
        self.machine, self.every = machine, every
        self.budget = host_budget() if budget is None else budget
        main = Branch("main", None, machine.tick, machine.inputs.entries, machine.tick)
        self.branches = {main.name: main}
        self.current = main
        self._checkpoint()
        self._mark = self._position_mark()

    # -- where we are -----------------------------------------------------------------------

    @property
    def tick(self) -> int:
        return self.machine.tick

    @property
    def at_end(self) -> bool:
        """True when the machine is at its branch's end, where stepping runs live."""
        return self.machine.inputs.entries is self.current.log

    def position(self) -> tuple[int, int]:
        """(tick, calls made so far)."""
        return self.machine.tick, calls_in(self.machine.inputs.entries)

    def _position_mark(self):
        entries = self.machine.inputs.entries
        return self.position(), len(entries), entries[-1] if entries else None

    def sync(self) -> Branch | None:
        """Notice calls made on the machine directly since the timeline last acted: in the
        past, they start a new branch, which is returned."""
        b, forked = self.current, None
        if self.at_end:
            b.end_tick = self.machine.tick
        elif self._position_mark() != self._mark:
            forked = self._fork(f"{b.name}.{len(self.branches)}", self._mark[0])
        self._mark = self._position_mark()
        return forked

    # -- moving -----------------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """n ticks on: live at the branch's end (checkpointing on the way), else along the
        branch's recorded future, then live past its end."""
        self.sync()
        m, b = self.machine, self.current
        for _ in range(n):
            if m.panicked:
                break
            if not self.at_end:
                self.seek(m.tick + 1)
                continue
            m.step(1)
            b.swap_used.extend([0] * (m.tick + 1 - len(b.swap_used)))  # ticks not sampled: 0
            meminfo = m.meminfo()
            b.swap_used[m.tick] = meminfo["SwapTotal"] - meminfo["SwapFree"]
            b.end_tick = m.tick
            if m.tick % self.every == 0:
                self._checkpoint()
        self._mark = self._position_mark()

    def seek(self, tick: int, progress=None) -> None:
        """Go to `tick` of the current branch (clamped to what it has), after its calls;
        progress(ticks replayed, ticks to replay) as it goes (see advance())."""
        self.sync()
        b, m = self.current, self.machine
        if self.at_end:
            self._checkpoint()  # the end, to come back to (and to compare)
        tick = max(b.checkpoints[0].tick, min(tick, b.end_tick))
        target = (tick, sum(not _is_step(e) and e.tick <= tick for e in b.log))
        ck = max((c for c in b.checkpoints if (c.tick, c.calls) <= target),
                 key=lambda c: (c.tick, c.calls))
        if not (ck.tick, ck.calls) <= self.position() <= target:  # else replaying is shorter
            m.restore(ck.state)
        advance(m, b.log, *target, progress)
        if target == (b.end_tick, calls_in(b.log)):
            b.log = m.inputs.entries  # back at the end: live again
        self._mark = self._position_mark()

    def branch(self, name: str) -> Branch:
        """Start a branch here; the current one keeps its future. Calls made from now on
        belong to the new branch."""
        self.sync()
        if name in self.branches:
            raise ValueError(f"there is already a branch named {name!r}")
        return self._fork(name, self.position())

    def switch(self, name: str) -> None:
        """Go to the end of another branch."""
        self.sync()
        if self.at_end:
            self._checkpoint()
        self.current = self.branches[name]
        self.machine.restore(self.current.checkpoints[-1].state)
        self._mark = self._position_mark()
        self.seek(self.current.end_tick)

    def _fork(self, name: str, at: tuple[int, int]) -> Branch:
        """A branch from position `at` of the current one, whose history is the machine's."""
        parent, m = self.current, self.machine
        b = Branch(name, parent.name, at[0], m.inputs.entries, m.tick,
                   [c for c in parent.checkpoints if (c.tick, c.calls) <= at],
                   parent.swap_used[:at[0] + 1])
        if parent.log is m.inputs.entries:
            parent.log = list(parent.log)  # the parent stays as it is now
        self.branches[name] = b
        self.current = b
        return b

    # -- checkpoints ------------------------------------------------------------------------

    def _checkpoint(self) -> None:
        m, b = self.machine, self.current
        position = self.position()
        if b.checkpoints and (b.checkpoints[-1].tick, b.checkpoints[-1].calls) == position:
            return
        state = m.snapshot()
        b.checkpoints.append(Checkpoint(*position, state,
                                        sum(len(a["data"]) for a in state["arrays"].values())))
        self._thin()

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint held, once (branches share those before their fork)."""
        return list({id(c): c for b in self.branches.values() for c in b.checkpoints}.values())

    def _thin(self) -> None:
        second = max(1, 1000 // self.machine.config.tick_ms)
        while sum(c.nbytes for c in self.checkpoints()) > self.budget:
            best = None
            for b in self.branches.values():
                cs, end = b.checkpoints, b.end_tick
                for i in range(1, len(cs) - 1):  # the first and the latest always stay
                    if cs[i].tick >= end - 2 * second and cs[i + 1].tick - cs[i - 1].tick > second:
                        continue  # a seek in the last second would replay more than one
                    score = (cs[i + 1].tick - cs[i - 1].tick) / (end - cs[i].tick + 1)
                    if best is None or score < best[0]:
                        best = (score, cs[i])
            if best is None:
                return
            for b in self.branches.values():
                b.checkpoints = [c for c in b.checkpoints if c is not best[1]]

    # -- comparing --------------------------------------------------------------------------

    def compare(self, a: str, b: str) -> Comparison:
        self.sync()
        return Comparison(self._summary(self.branches[a]), self._summary(self.branches[b]))

    def _summary(self, b: Branch) -> BranchSummary:
        if b is self.current and self.at_end:
            m = self.machine
        else:
            m = Machine.from_snapshot(b.checkpoints[-1].state)
            advance(m, b.log, b.end_tick, calls_in(b.log))
        meminfo, psi = m.meminfo(), m.pressure()
        swap = meminfo["SwapTotal"] - meminfo["SwapFree"]
        return BranchSummary(
            b.name, b.fork_tick, m.tick,
            tuple((e.tick, e.pid, e.kind, told(e)) for e in m.events if e.kind in DEATHS),
            m.panicked, max(swap, max(b.swap_used, default=0)),
            {k: psi[k]["total"] for k in ("some", "full")}, m.state_digest(), m.policy())
