"""Scenarios: a machine, the processes it boots with, and calls made at given ticks (TOML).

    name = "leaky-service"
    description = "..."
    [machine]                  # MachineConfig fields: ram_mib or zones, swap, sysctl, thp, seed…
    [[process]]                # spawn() arguments: comm, oom_score_adj, cgroup, uid, caps, and
    workload = "database"      #   workload: a preset name or an inline program table
    [[at]]                     # an API call at a tick: tick, call, args, kwargs
    tick = 1500
    call = "sysctl"
    args = ["vm.overcommit_memory", 0]

A bad file raises OSError(EINVAL) naming the file and the fault; nothing is half-loaded.
"""

from __future__ import annotations

import errno
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

BUILTIN_DIR = Path(__file__).parent
DEFAULT = "leaky-service"
# The calls a scenario may schedule: the engine's calls that change state.
CALLS = frozenset({"spawn", "fork", "exit", "kill", "mmap", "munmap", "mremap", "mprotect",
                   "madvise", "mlock", "munlock", "mlockall", "touch", "read_file", "write_file",
                   "set_oom_score_adj", "sysctl", "swapon", "swapoff", "prlimit", "brk", "sbrk",
                   "cgroup_create", "cgroup_set", "cgroup_move"})
PROCESS_KEYS = frozenset({"comm", "oom_score_adj", "cgroup", "uid", "caps", "workload"})


@dataclass(frozen=True)
class Call:
    """One engine call: getattr(machine, name)(*args, **kwargs), at `tick` when scheduled."""
    name: str
    args: tuple = ()
    kwargs: Mapping = field(default_factory=dict)
    tick: int = 0

    def apply(self, machine):
        return getattr(machine, self.name)(*self.args, **self.kwargs)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    config: object  # MachineConfig
    processes: tuple[dict, ...] = ()  # spawn() keyword arguments, comm included
    calls: tuple[Call, ...] = ()  # sorted by tick
    source: str = ""

    def boot(self):
        """A fresh Machine with the scenario's processes spawned, at tick 0."""
        from oomtui.engine import Machine

        machine = Machine(self.config)
        for spec in self.processes:
            spec = dict(spec)
            machine.spawn(spec.pop("comm"), **spec)
        return machine


def _fail(where: str, message: str) -> OSError:
    return OSError(errno.EINVAL, f"{where}: {message}")


def _table(where: str, value, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise _fail(where, f"{what} must be a table, got {type(value).__name__}")
    return value


def _process(where: str, d) -> dict:
    from oomtui.workloads import Program

    d = dict(_table(where, d, "a [[process]]"))
    unknown = sorted(set(d) - PROCESS_KEYS)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}: use {', '.join(sorted(PROCESS_KEYS))}")
    if not isinstance(d.get("comm"), str) or not d["comm"]:
        raise _fail(where, "comm must be a non-empty string")
    if isinstance(d.get("workload"), Mapping):
        d["workload"] = Program.from_dict(d["workload"])
    if "caps" in d:
        d["caps"] = tuple(d["caps"])
    return d


def _call(where: str, d) -> Call:
    d = _table(where, d, "an [[at]]")
    unknown = sorted(set(d) - {"tick", "call", "args", "kwargs"})
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}: use tick, call, args, kwargs")
    tick, name = d.get("tick"), d.get("call")
    if isinstance(tick, bool) or not isinstance(tick, int) or tick < 0:
        raise _fail(where, f"tick must be an int >= 0, got {tick!r}")
    if name not in CALLS:
        raise _fail(where, f"call {name!r} is not one a scenario may make: use "
                           f"{', '.join(sorted(CALLS))}")
    args, kwargs = d.get("args", []), d.get("kwargs", {})
    if not isinstance(args, list):
        raise _fail(where, f"args must be a list, got {type(args).__name__}")
    _table(where, kwargs, "kwargs")
    return Call(name, tuple(args), dict(kwargs), tick)


def parse(data: Mapping, source: str) -> Scenario:
    """A Scenario from a parsed TOML document; errors name `source`."""
    from oomtui.engine import MachineConfig

    unknown = sorted(set(data) - {"name", "description", "machine", "process", "at"})
    if unknown:
        raise _fail(source, f"unknown key {unknown[0]!r}: use name, description, machine, "
                            "process, at")
    name = data.get("name", Path(source).stem)
    description = data.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise _fail(source, "name and description must be strings")
    try:
        config = MachineConfig.from_dict(_table(source, data.get("machine", {}), "[machine]"))
        processes = tuple(_process(f"{source}: process {i}", p)
                          for i, p in enumerate(data.get("process", [])))
    except OSError as e:
        raise _fail(source, e.strerror or str(e)) from None
    calls = sorted((_call(f"{source}: at {i}", c) for i, c in enumerate(data.get("at", []))),
                   key=lambda c: c.tick)
    return Scenario(name, description, config, processes, tuple(calls), source)


def load(path: str | Path) -> Scenario:
    """Read a scenario TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OSError(getattr(e, "errno", None) or errno.EINVAL,
                      f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _fail(str(path), f"invalid TOML: {e}") from None
    return parse(data, str(path))


def from_inputs(name: str, config, inputs) -> Scenario:
    """A save's input log as a scenario: its calls at their ticks, booted from its config. The
    log's steps are left out (the app steps in between), so playing it shows the saved run
    again from boot, to the same state."""
    calls = tuple(Call(e.name, tuple(e.args), dict(e.kwargs), e.tick) for e in inputs
                  if e.name != "step")
    return Scenario(name, f"a replay of {name}", config, calls=calls, source=name)


def builtin(name: str = DEFAULT) -> Scenario:
    """A scenario shipped with oomtui, by name."""
    return load(BUILTIN_DIR / f"{name}.toml")


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))
