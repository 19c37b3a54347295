"""Workload programs: what a simulated process does, tick by tick (DESIGN.md §4).

A `Program` is a named tuple of phases run in order: allocate at a rate, touch a working set,
stream a file through the page cache, free, fork, sleep, lock, loop. A `Runner` executes one
process's program against a Machine through its public API only; the engine's step() calls
`Runner.tick` once per tick for every process that has one.

Choices worth knowing:

- Time: a tick gives a runner `tick_ms` of simulated time. Phases that take time (Alloc, Touch,
  ReadFile, WriteFile, Sleep) use whole ticks; the others (Free, Fork, Lock, Loop) take none and
  run as soon as the phase before them is complete, in the same tick. The next timed phase
  starts on the next tick, so Sleep(0.05) at 10 ms ticks is exactly 5 idle ticks.
- Rates are exact: each tick adds rate × tick_ms to a credit of pages kept as a Fraction (with
  the decimal the user wrote: 0.1 MiB/s is 1/10, not the nearest double), and the whole pages of
  it are done now. A refused call forfeits that tick's pages; the same amount is tried again
  on the next tick, as a process retrying a failed malloc would, with no burst of backlog.
- Memory: each tick's share of an Alloc is one mmap (MAP_POPULATE when touched: malloc plus
  memset, all or nothing), placed right below the previous one. The kernel merges adjacent
  anonymous mappings, so a leak stays one VMA however long it runs, while VmSize and
  Committed_AS grow with the leak as a malloc'ing process's would (a reservation of the phase's
  total up front would instead fail overcommit at once, or charge Committed_AS long before the
  leak happened). The runner records its mappings as [lo, hi) regions that grow downwards:
  the oldest page is at the top, the newest at `lo`, and Free unmaps from there.
- A Touch works on the oldest `working_set_mib` of the memory the program mapped (all of it if
  it mapped less, or inherited less across fork). Random accesses touch 64 KiB blocks, so a
  tick costs a few touch calls rather than one per page.
- Files: the engine keeps files only in the page cache. ReadFile of a file that does not exist
  lays it out on "disk" first as a sparse file of the phase's size (one page written at its
  end), then reads it: Cached grows by exactly the file size.
- Randomness only from np.random.default_rng([seed, pid, tick]).
- A refused call (OSError) is recorded in `last_error` and retried next tick; ESRCH (the
  process is gone) ends the runner.
- Bounds (MAX_*): whatever a file or a save asks, a tick stays cheap to simulate: rates up to
  8 GiB/s or a million lookups a second, 100 forks a phase, children's programs 32 deep.
"""

from __future__ import annotations

import errno
import functools
import math
import reprlib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from fractions import Fraction
from typing import ClassVar

import numpy as np

from oomtui.engine.constants import PAGE_SIZE

PAGE = PAGE_SIZE
PAGES_PER_MIB = (1 << 20) // PAGE
TOUCH_BLOCK = 16  # pages one random access touches (64 KiB)
PATTERNS = ("sequential", "random", "hotcold")
ANON = "private|anonymous"
# Bounds on what a program may ask, so that a tick stays cheap to simulate whatever a file says:
MAX_MIB = 1 << 27  # 128 TiB: x86-64's user address space (TASK_SIZE), within the page-cache key
MAX_RATE_MIB_S = 8192  # 8 GiB/s: about what one core writes to memory, or a fast NVMe drive reads
MAX_LOOKUPS_S = 1_000_000  # stat(2) calls a second: a find over a warm disk cache
MAX_FORKS = 100  # forks of one phase, all made in one tick: about what fork(2) does in 10 ms
MAX_DEPTH = 32  # programs of children nested in programs (the forkbomb preset uses 8)
MAX_INT = 2**63 - 1  # what a save (msgpack) and TOML can hold


_show = reprlib.repr  # a value in a message, cut short however big or nested it is


def _einval(message: str) -> OSError:
    return OSError(errno.EINVAL, message)


@functools.lru_cache(maxsize=1024)
def _exact(x) -> Fraction:
    """x as the decimal it was written as (0.1 is 1/10, not the nearest double)."""
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


def _pages(mib) -> int:
    return math.ceil(_exact(mib) * PAGES_PER_MIB)


def _number(where: str, name: str, value, *, lo=0, hi=MAX_INT, lo_ok=False, hi_ok=True):
    """Refuse anything but a finite int or float from lo to hi (each end excluded unless
    lo_ok / hi_ok)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or isinstance(value, float) and not math.isfinite(value)):
        raise _einval(f"{where}: {name} must be a number, got {_show(value)}")
    if value < lo or (value == lo and not lo_ok) or value > hi or (value == hi and not hi_ok):
        rng = f"{'[' if lo_ok else '('}{lo}, {hi}{']' if hi_ok else ')'}"
        raise _einval(f"{where}: {name}={value} is out of range {rng}")


def _count(where: str, name: str, value, hi: int = MAX_INT, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _einval(f"{where}: {name} must be an int from {lo} to {hi}, got {_show(value)}")
    return value


def _path(where: str, value) -> None:
    if not isinstance(value, str) or not value:
        raise _einval(f"{where}: path must be a non-empty string, got {_show(value)}")


# -- phases ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Phase:
    """One step of a program: `kind` names it in dicts, `verb` is the UI state, `timed` says
    whether it takes simulated time (see the module docstring)."""
    kind: ClassVar[str] = ""
    verb: ClassVar[str] = ""
    timed: ClassVar[bool] = False

    def validate(self, where: str) -> None:
        raise NotImplementedError

    def to_dict(self) -> dict:
        """Plain types only; None fields are left out (TOML has no null)."""
        d = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                d[f.name] = value.to_dict() if isinstance(value, Program) else value
        return d


@dataclass(frozen=True)
class Alloc(Phase):
    """Grow anonymous memory by `mib` at `rate_mib_s`, touching (writing) it as it arrives."""
    kind: ClassVar[str] = "alloc"
    verb: ClassVar[str] = "allocating"
    timed: ClassVar[bool] = True
    mib: float
    rate_mib_s: float
    touch: bool = True

    def validate(self, where: str) -> None:
        _number(where, "mib", self.mib, hi=MAX_MIB)
        _number(where, "rate_mib_s", self.rate_mib_s, hi=MAX_RATE_MIB_S)
        if not isinstance(self.touch, bool):
            raise _einval(f"{where}: touch must be true or false, got {_show(self.touch)}")


@dataclass(frozen=True, kw_only=True)
class Touch(Phase):
    """Access the working set at `rate_mib_s` for `seconds` (None: forever).

    sequential sweeps it in a cycle; random picks 64 KiB blocks uniformly; hotcold sends
    `hot_share` of the accesses to the first `hot_fraction` of it and the rest to the remainder.
    """
    kind: ClassVar[str] = "touch"
    verb: ClassVar[str] = "touching"
    timed: ClassVar[bool] = True
    pattern: str = "sequential"
    working_set_mib: float
    rate_mib_s: float
    hot_fraction: float = 0.2
    hot_share: float = 0.8
    write: bool = False
    seconds: float | None = None

    def validate(self, where: str) -> None:
        if self.pattern not in PATTERNS:
            raise _einval(f"{where}: unknown pattern {_show(self.pattern)}: use "
                          f"{', '.join(PATTERNS)}")
        _number(where, "working_set_mib", self.working_set_mib, hi=MAX_MIB)
        _number(where, "rate_mib_s", self.rate_mib_s, hi=MAX_RATE_MIB_S)
        _number(where, "hot_fraction", self.hot_fraction, hi=1, hi_ok=False)
        _number(where, "hot_share", self.hot_share, hi=1, lo_ok=True)
        if not isinstance(self.write, bool):
            raise _einval(f"{where}: write must be true or false, got {_show(self.write)}")
        if self.seconds is not None:
            _number(where, "seconds", self.seconds)


@dataclass(frozen=True)
class _FileIO(Phase):
    """`mib` of `path`, from its start, through the page cache at `rate_mib_s`."""
    timed: ClassVar[bool] = True
    path: str
    mib: float
    rate_mib_s: float

    def validate(self, where: str) -> None:
        _path(where, self.path)
        _number(where, "mib", self.mib, hi=MAX_MIB)
        _number(where, "rate_mib_s", self.rate_mib_s, hi=MAX_RATE_MIB_S)


@dataclass(frozen=True)
class ReadFile(_FileIO):
    """Read the first `mib` of `path` at `rate_mib_s` (stops at EOF)."""
    kind: ClassVar[str] = "read_file"
    verb: ClassVar[str] = "reading"


@dataclass(frozen=True)
class WriteFile(_FileIO):
    """Write `mib` to `path` from its start at `rate_mib_s`: dirty page-cache pages."""
    kind: ClassVar[str] = "write_file"
    verb: ClassVar[str] = "writing"


@dataclass(frozen=True)
class Walk(Phase):
    """stat `files` names that are not in the dcache at `rate_per_s` (find, updatedb, a
    backup's scan; `negative`: names that do not exist). Each lookup leaves a cached dentry
    and inode (a negative dentry alone): the Slab the shrinker frees under pressure."""
    kind: ClassVar[str] = "walk"
    verb: ClassVar[str] = "walking"
    timed: ClassVar[bool] = True
    files: int
    rate_per_s: float
    negative: bool = False

    def validate(self, where: str) -> None:
        _count(where, "files", self.files)
        _number(where, "rate_per_s", self.rate_per_s, hi=MAX_LOOKUPS_S)
        if not isinstance(self.negative, bool):
            raise _einval(f"{where}: negative must be true or false, got {_show(self.negative)}")


@dataclass(frozen=True)
class Free(Phase):
    """munmap the newest `mib` the program mapped (None: all of it)."""
    kind: ClassVar[str] = "free"
    verb: ClassVar[str] = "freeing"
    mib: float | None = None

    def validate(self, where: str) -> None:
        if self.mib is not None:
            _number(where, "mib", self.mib, hi=MAX_MIB)


@dataclass(frozen=True)
class Fork(Phase):
    """fork() `count` children; each runs `child` (from its start, with the parent's memory)
    or, without one, idles."""
    kind: ClassVar[str] = "fork"
    verb: ClassVar[str] = "forking"
    count: int = 1
    child: Program | None = None

    def validate(self, where: str) -> None:
        _count(where, "count", self.count, MAX_FORKS)
        if self.child is not None and not isinstance(self.child, Program):
            raise _einval(f"{where}: child must be a Program, got {type(self.child).__name__}")


@dataclass(frozen=True)
class Sleep(Phase):
    kind: ClassVar[str] = "sleep"
    verb: ClassVar[str] = "sleeping"
    timed: ClassVar[bool] = True
    seconds: float

    def validate(self, where: str) -> None:
        _number(where, "seconds", self.seconds)


@dataclass(frozen=True)
class Lock(Phase):
    """mmap `mib` with MAP_LOCKED: populated and unevictable at once (RLIMIT_MEMLOCK applies:
    8 MiB unless the process has CAP_IPC_LOCK; over it the mmap gets EAGAIN)."""
    kind: ClassVar[str] = "lock"
    verb: ClassVar[str] = "locking"
    mib: float

    def validate(self, where: str) -> None:
        _number(where, "mib", self.mib, hi=MAX_MIB)


@dataclass(frozen=True)
class Loop(Phase):
    """Jump back to the first phase: the program runs `times` times in all (None: forever)."""
    kind: ClassVar[str] = "loop"
    verb: ClassVar[str] = "looping"
    times: int | None = None

    def validate(self, where: str) -> None:
        if self.times is not None:
            _count(where, "times", self.times)


KINDS: dict[str, type[Phase]] = {c.kind: c for c in (Alloc, Touch, ReadFile, WriteFile, Walk,
                                                      Free, Fork, Sleep, Lock, Loop)}


def _phase_from_dict(d, where: str, depth: int) -> Phase:
    if not isinstance(d, Mapping):
        raise _einval(f"{where}: a phase must be a table, got {type(d).__name__}")
    kind = d.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise _einval(f"{where}: unknown phase kind {_show(kind)}: use {', '.join(KINDS)}")
    names = {f.name for f in fields(cls)}
    unknown = [k for k in d if k not in names and k != "kind"]
    if unknown:
        raise _einval(f"{where}: {cls.kind} has no field {_show(unknown[0])}: use "
                      f"{', '.join(sorted(names))}")
    missing = [f.name for f in fields(cls)
               if f.default is MISSING and f.default_factory is MISSING and f.name not in d]
    if missing:
        raise _einval(f"{where}: {cls.kind} needs {', '.join(missing)}")
    kwargs = {k: v for k, v in d.items() if k != "kind"}
    if kwargs.get("child") is not None:
        if depth >= MAX_DEPTH:
            raise _einval(f"{where}: programs nest more than {MAX_DEPTH} deep")
        kwargs["child"] = Program.from_dict(kwargs["child"], depth=depth + 1,
                                            what=f"{where}: child")
    return cls(**kwargs)


@dataclass(frozen=True)
class Program:
    name: str
    phases: tuple[Phase, ...]

    def __post_init__(self):
        if isinstance(self.phases, list):
            object.__setattr__(self, "phases", tuple(self.phases))

    def validate(self, *, depth: int = 0) -> None:
        """OSError(EINVAL) naming the program, phase and value at fault. `depth`: how many
        programs this one is nested in (as a fork's child)."""
        if not isinstance(self.name, str) or not self.name:
            raise _einval(f"a program name must be a non-empty string, got {_show(self.name)}")
        if not isinstance(self.phases, tuple) or not self.phases:
            raise _einval(f"program {_show(self.name)} has no phases")
        last = len(self.phases) - 1
        for i, phase in enumerate(self.phases):
            if not isinstance(phase, Phase) or type(phase) is Phase:
                raise _einval(f"program {_show(self.name)}, phase {i}: not a phase: {_show(phase)}")
            where = f"program {_show(self.name)}, phase {i} ({phase.kind})"
            phase.validate(where)
            if isinstance(phase, Loop) and i != last:
                raise _einval(f"{where}: Loop must be the last phase")
            if isinstance(phase, Loop) and not any(p.timed for p in self.phases):
                raise _einval(f"{where}: a Loop needs a phase that takes time "
                              f"({', '.join(k for k, c in KINDS.items() if c.timed)}), "
                              f"else it would spin within one tick")
            if isinstance(phase, Fork) and phase.child is not None:
                if depth >= MAX_DEPTH:
                    raise _einval(f"{where}: programs nest more than {MAX_DEPTH} deep")
                phase.child.validate(depth=depth + 1)

    def to_dict(self) -> dict:
        return {"name": self.name, "phases": [p.to_dict() for p in self.phases]}

    @classmethod
    def from_dict(cls, d, *, depth: int = 0, what: str = "a program") -> Program:
        """A validated Program from its to_dict() form; `depth` as for validate(), `what`
        names it in errors."""
        if not isinstance(d, Mapping):
            raise _einval(f"{what} must be a table, got {type(d).__name__}")
        unknown = [k for k in d if k not in ("name", "phases")]
        if unknown:
            raise _einval(f"{what} has no field {_show(unknown[0])}: use name, phases")
        name, phases = d.get("name"), d.get("phases")
        if not isinstance(name, str) or not name:
            raise _einval(f"{what}'s name must be a non-empty string, got {_show(name)}")
        if not isinstance(phases, (list, tuple)):
            raise _einval(f"program {_show(name)}: phases must be a list, got "
                          f"{type(phases).__name__}")
        program = cls(name, tuple(_phase_from_dict(p, f"program {_show(name)}, phase {i}", depth)
                                  for i, p in enumerate(phases)))
        program.validate(depth=depth)
        return program


def _forkbomb(generations: int) -> Program:
    """Every process forks a child every 0.1 s; children do the same, down `generations`."""
    child = _forkbomb(generations - 1) if generations > 1 else None
    return Program("forkbomb", (Sleep(0.1), Fork(1, child), Loop()))


PRESETS: dict[str, Program] = {p.name: p for p in (
    Program("leaker", (Alloc(1, 2), Loop())),  # 2 MiB/s, forever
    Program("database", (Alloc(96, 200),
                         Touch(pattern="hotcold", working_set_mib=96, rate_mib_s=100))),
    Program("batch", (Alloc(64, 256), Sleep(1), Free(), Sleep(2), Loop())),
    Program("backup", (ReadFile("/srv/data.img", 1024, 100),)),
    Program("find", (Walk(5_000_000, 100_000),)),  # stats 5 M files at 100,000/s
    _forkbomb(8),
    Program("mlocker", (Lock(4), Sleep(0.5), Loop())),  # until RLIMIT_MEMLOCK says no
)}


# -- the runner --------------------------------------------------------------------------------

class Runner:
    """Executes one process's program against a Machine through its public API only."""

    def __init__(self, program: Program, pid: int, seed: int):
        program.validate()
        for name, value in (("pid", pid), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _einval(f"{name} must be an int >= 0, got {_show(value)}")
        self.program = program
        self.pid = pid
        self.seed = seed
        self.phase_index = 0
        self.runs = 1  # times the program has started (for Loop)
        self.credit = Fraction(0)  # pages owed by the current phase's rate
        self.progress = 0  # pages (or forks) the current phase has done
        self.elapsed_ms = 0  # time spent in the current phase
        self.cursor = 0  # next page of a sequential Touch
        self.regions: list[list[int]] = []  # [lo, hi) bytes mapped, oldest first; newest page at lo
        self.finished = False  # the process is gone
        self.last_error: dict | None = None  # {"tick", "errno", "message"} of the last refusal
        self.spawned: list[Runner] = []  # runners of children forked, until take_spawned()

    @property
    def done(self) -> bool:
        return self.finished or self.phase_index >= len(self.program.phases)

    @property
    def state(self) -> str:
        return "done" if self.done else self.program.phases[self.phase_index].verb

    def take_spawned(self) -> list[Runner]:
        """Runners of the children forked since the last call (the caller runs them from the
        next tick on)."""
        out, self.spawned = self.spawned, []
        return out

    def tick(self, machine, tick: int, tick_ms: int) -> None:
        """Do this tick's share of the program: at most one timed phase, and the untimed
        phases before and after it."""
        timed_ran = False
        while not self.done:
            phase = self.program.phases[self.phase_index]
            if phase.timed and timed_ran:
                return
            try:
                finished = getattr(self, f"_{phase.kind}")(machine, phase, tick, tick_ms)
            except OSError as e:
                self.last_error = {"tick": tick, "errno": e.errno, "message": e.strerror or str(e)}
                self.finished = e.errno == errno.ESRCH
                return
            if finished:
                self._start(self.phase_index + 1)
            elif phase.timed:
                return
            timed_ran = timed_ran or phase.timed

    def _start(self, index: int) -> None:
        self.phase_index = index
        self.credit = Fraction(0)
        self.progress = self.elapsed_ms = self.cursor = 0

    def _take(self, rate_mib_s, tick_ms: int, unit: int = 1) -> int:
        """This tick's whole units of pages at the rate; the fraction carries over."""
        return self._take_units(_exact(rate_mib_s) * PAGES_PER_MIB, tick_ms, unit)

    def _take_units(self, per_s: Fraction, tick_ms: int, unit: int = 1) -> int:
        self.credit += per_s * tick_ms / 1000
        n = math.floor(self.credit / unit)
        self.credit -= n * unit
        return n

    def _map(self, machine, pages: int, flags: str) -> None:
        """mmap just below the newest region, where the kernel merges it into the same VMA."""
        length = pages * PAGE
        hint = self.regions[-1][0] - length if self.regions else None
        addr = machine.mmap(self.pid, length, flags=flags, addr=hint)
        if self.regions and addr + length == self.regions[-1][0]:
            self.regions[-1][0] = addr
        else:
            self.regions.append([addr, addr + length])

    def _owned(self) -> int:
        return sum(hi - lo for lo, hi in self.regions) // PAGE

    def _touch_pages(self, machine, a: int, b: int, write: bool) -> None:
        """Touch pages [a, b) of the program's memory, counted from its oldest page."""
        for lo, hi in self.regions:
            size = (hi - lo) // PAGE
            if a < size:
                end = min(b, size)
                machine.touch(self.pid, hi - end * PAGE, (end - a) * PAGE, write=write)
            if b <= size:
                return
            a, b = max(a - size, 0), b - size

    # One handler per phase kind: do this tick's work, return True when the phase is complete.

    def _alloc(self, machine, ph: Alloc, tick: int, tick_ms: int) -> bool:
        total = _pages(ph.mib)
        n = min(self._take(ph.rate_mib_s, tick_ms), total - self.progress)
        if n:
            self._map(machine, n, ANON + "|populate" if ph.touch else ANON)
            self.progress += n
        return self.progress == total

    def _touch(self, machine, ph: Touch, tick: int, tick_ms: int) -> bool:
        self.elapsed_ms += tick_ms
        ws = min(_pages(ph.working_set_mib), self._owned())
        if ph.pattern == "sequential":
            n = min(self._take(ph.rate_mib_s, tick_ms), ws)
            while n:
                end = min(self.cursor + n, ws)
                self._touch_pages(machine, self.cursor, end, ph.write)
                n -= end - self.cursor
                self.cursor = end % ws
        else:
            k = self._take(ph.rate_mib_s, tick_ms, TOUCH_BLOCK)
            blocks = -(-ws // TOUCH_BLOCK)
            if k and blocks:
                for b in self._pick_blocks(ph, blocks, k, tick):
                    self._touch_pages(machine, b * TOUCH_BLOCK, min((b + 1) * TOUCH_BLOCK, ws),
                                      ph.write)
        return ph.seconds is not None and self.elapsed_ms >= _exact(ph.seconds) * 1000

    def _pick_blocks(self, ph: Touch, blocks: int, k: int, tick: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.pid, tick])
        if ph.pattern == "random" or blocks < 2:
            return rng.integers(0, blocks, k)
        hot = min(max(math.floor(blocks * _exact(ph.hot_fraction)), 1), blocks - 1)
        is_hot = rng.random(k) < ph.hot_share
        return np.where(is_hot, rng.integers(0, hot, k), rng.integers(hot, blocks, k))

    def _read_file(self, machine, ph: ReadFile, tick: int, tick_ms: int) -> bool:
        total = _pages(ph.mib)
        n = min(self._take(ph.rate_mib_s, tick_ms), total - self.progress)
        if not n:
            return False
        args = (self.pid, ph.path, n * PAGE)
        try:
            got = machine.read_file(*args, offset=self.progress * PAGE)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            machine.write_file(self.pid, ph.path, PAGE, offset=(total - 1) * PAGE)  # sparse file
            got = machine.read_file(*args, offset=self.progress * PAGE)
        self.progress += n
        return got < n * PAGE or self.progress == total

    def _write_file(self, machine, ph: WriteFile, tick: int, tick_ms: int) -> bool:
        total = _pages(ph.mib)
        n = min(self._take(ph.rate_mib_s, tick_ms), total - self.progress)
        if n:
            machine.write_file(self.pid, ph.path, n * PAGE, offset=self.progress * PAGE)
            self.progress += n
        return self.progress == total

    def _walk(self, machine, ph: Walk, tick: int, tick_ms: int) -> bool:
        n = min(self._take_units(_exact(ph.rate_per_s), tick_ms), ph.files - self.progress)
        if n:
            self.progress += machine.stat_files(self.pid, n, negative=ph.negative)
        return self.progress == ph.files

    def _free(self, machine, ph: Free, tick: int, tick_ms: int) -> bool:
        left = math.inf if ph.mib is None else _pages(ph.mib)
        while left and self.regions:
            lo, hi = self.regions[-1]
            n = min(left, (hi - lo) // PAGE)
            machine.munmap(self.pid, lo, n * PAGE)
            left -= n
            if lo + n * PAGE == hi:
                self.regions.pop()
            else:
                self.regions[-1][0] = lo + n * PAGE
        return True

    def _fork(self, machine, ph: Fork, tick: int, tick_ms: int) -> bool:
        while self.progress < ph.count:
            child = machine.fork(self.pid)
            self.progress += 1
            if ph.child is not None:
                runner = Runner(ph.child, child, self.seed)
                runner.regions = [list(r) for r in self.regions]  # the child's copy of them
                self.spawned.append(runner)
        return True

    def _sleep(self, machine, ph: Sleep, tick: int, tick_ms: int) -> bool:
        self.elapsed_ms += tick_ms
        return self.elapsed_ms >= _exact(ph.seconds) * 1000

    def _lock(self, machine, ph: Lock, tick: int, tick_ms: int) -> bool:
        self._map(machine, _pages(ph.mib), ANON + "|locked")
        return True

    def _loop(self, machine, ph: Loop, tick: int, tick_ms: int) -> bool:
        if ph.times is None or self.runs < ph.times:
            self.runs += 1
            self._start(0)
            return False  # already moved to the first phase
        return True

    # -- saves ---------------------------------------------------------------------------------

    def to_state(self) -> dict:
        """Plain types (msgpack-friendly): everything needed to resume exactly."""
        return {"program": self.program.to_dict(), "pid": self.pid, "seed": self.seed,
                "phase_index": self.phase_index, "runs": self.runs,
                "credit": [self.credit.numerator, self.credit.denominator],
                "progress": self.progress, "elapsed_ms": self.elapsed_ms, "cursor": self.cursor,
                "regions": [list(r) for r in self.regions], "finished": self.finished,
                "last_error": self.last_error,
                "spawned": [r.to_state() for r in self.spawned]}

    @classmethod
    def from_state(cls, d, *, child: bool = False) -> Runner:
        """A Runner from to_state()'s dict, as a save holds it. Anything to_state() could not
        have written is OSError(EINVAL) "bad workload runner state: ..." naming the field, so
        that tick() meets no error but the machine's refusals. `child`: the state of a runner
        in another's `spawned` (it has not run yet, so it has spawned none). Whether `pid` is a
        live process of the machine is the caller's to check."""
        where = "bad workload runner state"
        if not isinstance(d, Mapping) or set(d) != set(STATE_FIELDS):
            raise _einval(f"{where}: it has the fields {', '.join(STATE_FIELDS)}, got "
                          f"{_show(sorted(map(str, d)) if isinstance(d, Mapping) else d)}")
        try:
            r = cls(Program.from_dict(d["program"]), d["pid"], d["seed"])
        except OSError as e:
            raise _einval(f"{where}: {e.strerror}") from None
        phases = r.program.phases
        r.phase_index = _count(where, "phase_index", d["phase_index"], len(phases), lo=0)
        phase = phases[r.phase_index] if r.phase_index < len(phases) else None
        r.runs = _count(where, "runs", d["runs"])
        r.credit = _credit(where, d["credit"])
        r.progress = _count(where, "progress", d["progress"], _goal(phase), lo=0)
        r.elapsed_ms = _count(where, "elapsed_ms", d["elapsed_ms"], lo=0)
        r.regions = _regions(where, d["regions"])
        ws = min(_pages(phase.working_set_mib), r._owned()) if isinstance(phase, Touch) else 0
        r.cursor = _count(where, "cursor", d["cursor"], max(ws - 1, 0), lo=0)
        if not isinstance(d["finished"], bool):
            raise _einval(f"{where}: finished must be true or false, got {_show(d['finished'])}")
        r.finished = d["finished"]
        r.last_error = _last_error(where, d["last_error"])
        spawned = d["spawned"]
        if not isinstance(spawned, (list, tuple)) or child and spawned:
            raise _einval(f"{where}: spawned must be a list of runner states (empty in a "
                          f"child's), got {_show(spawned)}")
        r.spawned = [cls.from_state(s, child=True) for s in spawned]
        return r


STATE_FIELDS = ("program", "pid", "seed", "phase_index", "runs", "credit", "progress",
                "elapsed_ms", "cursor", "regions", "finished", "last_error", "spawned")


def _goal(phase: Phase | None) -> int:
    """What a phase's progress counts up to: pages, files or forks (0: it counts nothing)."""
    if isinstance(phase, (Alloc, _FileIO)):
        return _pages(phase.mib)
    if isinstance(phase, Walk):
        return phase.files
    return phase.count if isinstance(phase, Fork) else 0


def _credit(where: str, value) -> Fraction:
    """[numerator, denominator] of what a rate owes: under the largest unit a tick takes."""
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or any(isinstance(x, bool) or not isinstance(x, int) for x in value)
            or value[1] < 1 or not 0 <= value[0] < TOUCH_BLOCK * value[1]):
        raise _einval(f"{where}: credit must be [numerator, denominator] of a fraction from 0 "
                      f"to {TOUCH_BLOCK}, got {_show(value)}")
    return Fraction(*value)


def _regions(where: str, value) -> list[list[int]]:
    """[lo, hi) byte ranges the program mapped: page-aligned, in the address space, disjoint."""
    if not isinstance(value, (list, tuple)):
        raise _einval(f"{where}: regions must be a list, got {_show(value)}")
    for i, r in enumerate(value):
        if (not isinstance(r, (list, tuple)) or len(r) != 2
                or any(type(x) is not int or x % PAGE for x in r)
                or not 0 <= r[0] < r[1] <= MAX_MIB * (1 << 20)):
            raise _einval(f"{where}: regions[{i}] must be [lo, hi), page-aligned addresses "
                          f"below 128 TiB, got {_show(r)}")
    spans = sorted(map(tuple, value))
    for a, b in zip(spans, spans[1:]):
        if b[0] < a[1]:
            raise _einval(f"{where}: regions {_show(a)} and {_show(b)} overlap")
    return [[lo, hi] for lo, hi in value]


def _last_error(where: str, value) -> dict | None:
    if value is not None and (
            not isinstance(value, Mapping) or set(value) != {"tick", "errno", "message"}
            or type(value["tick"]) is not int
            or not (value["errno"] is None or type(value["errno"]) is int)
            or not isinstance(value["message"], str)):
        raise _einval(f"{where}: last_error must be none or {{tick, errno, message}}, got "
                      f"{_show(value)}")
    return None if value is None else dict(value)
