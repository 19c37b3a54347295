"""Scenarios: a machine, the processes it boots with, and calls made at given ticks (TOML).

    name = "leaky-service"
    description = "..."
    [machine]                  # MachineConfig fields: ram_mib or zones, swap, sysctl, thp, seed…
    [[process]]                # spawn() arguments: comm, oom_score_adj, cgroup ("/": the only
    workload = "database"      #   one at boot), uid, caps, and workload: a preset name or an
                               #   inline program table
    important = true           #   (optional: marks it for `oomtui compare`'s survivors)
    [[at]]                     # an API call at a tick: tick, call, args, kwargs (checked
    tick = 1500                #   against the call's signature)
    call = "sysctl"
    args = ["vm.overcommit_memory", 0]
    [policy]                   # optional: the OOM policy, "kernel" (the default), "earlyoom",
    name = "earlyoom"          #   "systemd-oomd" or "nohang"; its other keys are the policy's
    mem_term_percent = 15      #   settings (engine/daemons/: each policy's defaults)

A bad file raises OSError(EINVAL) naming the file and the key at fault; nothing is half-loaded.
"""

from __future__ import annotations

import errno
import inspect
import reprlib
import tomllib
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

BUILTIN_DIR = Path(__file__).parent
DEFAULT = "leaky-service"
# The calls a scenario may schedule: the engine's calls that change state.
CALLS = frozenset({"spawn", "fork", "exit", "kill", "mmap", "munmap", "mremap", "mprotect",
                   "madvise", "mlock", "munlock", "mlockall", "touch", "read_file", "write_file",
                   "set_oom_score_adj", "sysctl", "swapon", "swapoff", "prlimit", "brk", "sbrk",
                   "cgroup_create", "cgroup_set", "cgroup_move"})
_show = reprlib.repr  # a value in a message, cut short however big or nested it is
MAX_FILE_BYTES = 1 << 20  # a scenario is a page or two of TOML; a bigger file is not one
MAX_TICK = 2**63 - 1  # what a save (msgpack) and TOML can hold
MACHINE_NESTING = 3  # [machine] swap = [{size_mib = ...}] is the deepest it goes


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
    policy: tuple[str, dict] | None = None  # (name, settings) for set_policy; None: the kernel's
    important: tuple[str, ...] = ()  # the comms of the processes marked important

    def boot(self):
        """A fresh Machine with the scenario's processes spawned and its OOM policy set, at
        tick 0."""
        from oomtui.engine import Machine

        machine = Machine(self.config)
        for spec in self.processes:
            spec = dict(spec)
            machine.spawn(spec.pop("comm"), **spec)
        if self.policy is not None:
            machine.set_policy(*self.policy)
        return machine


def _fail(where: str, message: str) -> OSError:
    return OSError(errno.EINVAL, f"{where}: {message}")


@contextmanager
def _within(where: str):
    """An OSError from the engine or the workloads, as EINVAL naming where it was found."""
    try:
        yield
    except OSError as e:
        raise _fail(where, e.strerror or str(e)) from None


def _table(where: str, value, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise _fail(where, f"{what} must be a table, got {type(value).__name__}")
    return value


def _tables(where: str, value, what: str) -> list:
    if not isinstance(value, list):
        raise _fail(where, f"{what} must be an array of tables ([[{what}]]), got "
                           f"{type(value).__name__}")
    return value


def _known(where: str, d: Mapping, keys) -> None:
    unknown = [k for k in d if k not in keys]
    if unknown:
        raise _fail(where, f"unknown key {_show(unknown[0])}: use {', '.join(keys)}")


def _int(lo: int, hi: int):
    def check(where: str, value):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _fail(where, f"must be an int from {lo} to {hi}, got {_show(value)}")
        return value
    return check


def _comm(where: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(where, f"must be a non-empty string, got {_show(value)}")
    return value


def _caps(where: str, value) -> tuple:
    from oomtui.engine.machine import CAPS

    if not isinstance(value, list) or not all(isinstance(c, str) and c in CAPS for c in value):
        raise _fail(where, f"must be a list of capabilities from {', '.join(sorted(CAPS))}, "
                           f"got {_show(value)}")
    return tuple(value)


def _cgroup(where: str, value) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise _fail(where, f"must be a cgroup path like '/' or '/db', got {_show(value)}")
    return value


def _workload(where: str, value):
    """A preset's name, or a program as a table (workloads.Program.from_dict)."""
    from oomtui.workloads import PRESETS, Program

    if isinstance(value, Mapping):
        with _within(where):
            return Program.from_dict(value)
    if not isinstance(value, str) or value not in PRESETS:
        raise _fail(where, f"must be a program table or one of {', '.join(sorted(PRESETS))}, "
                           f"got {_show(value)}")
    return value


# spawn()'s arguments, each with its check: a [[process]]'s keys, and those of an [[at]] spawn.
SPAWN_ARGS = {"comm": _comm, "oom_score_adj": _int(-1000, 1000), "cgroup": _cgroup,
              "uid": _int(0, 2**32 - 2), "caps": _caps, "workload": _workload}
# Arguments of other calls that are not a plain value (see _argument).
CALL_ARGS = {"caps": _caps}


def _process(where: str, d) -> dict:
    d = _table(where, d, "a [[process]]")
    _known(where, d, (*SPAWN_ARGS, "important"))
    if "comm" not in d:
        raise _fail(where, "comm must be a non-empty string, got nothing")
    if not isinstance(d.get("important", False), bool):
        raise _fail(f"{where}: important", f"must be true or false, got {_show(d['important'])}")
    d = {key: SPAWN_ARGS[key](f"{where}: {key}", value) for key, value in d.items()
         if key != "important"}
    if d.get("cgroup", "/") != "/":  # at boot the root is the only cgroup
        raise _fail(where, f"cgroup {_show(d['cgroup'])} does not exist at boot: create it "
                           "with an [[at]] cgroup_create, then move the process (cgroup_move)")
    return d


def _argument(where: str, value):
    """A plain argument: a bool, int, float or string, or a flat list of them (sysctl's
    per-zone values); the engine refuses a wrong one with an OSError."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (bool, int, float, str)) for v in items):
        raise _fail(where, f"must be a number, a string or a list of them, got {_show(value)}")
    return value


def _call(where: str, d) -> Call:
    from oomtui.engine import Machine

    d = _table(where, d, "an [[at]]")
    _known(where, d, ("tick", "call", "args", "kwargs"))
    tick = _int(0, MAX_TICK)(f"{where}: tick", d.get("tick"))
    name = d.get("call")
    if not isinstance(name, str) or name not in CALLS:
        said = "no call" if name is None else f"call {_show(name)}"
        raise _fail(where, f"{said} is not one a scenario may make: use "
                           f"{', '.join(sorted(CALLS))}")
    args, kwargs = d.get("args", []), d.get("kwargs", {})
    if not isinstance(args, list):
        raise _fail(where, f"args must be a list, got {type(args).__name__}")
    _table(where, kwargs, "kwargs")
    try:
        bound = inspect.signature(getattr(Machine, name)).bind(None, *args, **kwargs)
    except TypeError as e:
        raise _fail(where, f"{name}{_signature(name)} cannot take args {_show(args)} and kwargs "
                           f"{_show(dict(kwargs))}: {e}") from None
    if name == "sysctl" and "value" not in bound.arguments:
        raise _fail(where, "sysctl needs its value argument: a scenario's calls change the "
                           "machine")
    checks = SPAWN_ARGS if name == "spawn" else CALL_ARGS
    params = bound.signature.parameters
    for key, value in list(bound.arguments.items())[1:]:
        if params[key].kind is inspect.Parameter.VAR_KEYWORD:  # cgroup_set(path, **changes)
            bound.arguments[key] = {k: checks.get(k, _argument)(f"{where}: {name}() argument {k}",
                                                                v) for k, v in value.items()}
            continue
        check = checks.get(key, _argument)
        bound.arguments[key] = check(f"{where}: {name}() argument {key}", value)
    return Call(name, bound.args[1:], bound.kwargs, tick)


def _too_deep(value, limit: int) -> str | None:
    """The key path of a list or table nested `limit` deep in value ("swap[0].x"), or None.
    Without recursion: a hostile value may nest thousands deep."""
    stack = [(value, "", 0)]
    while stack:
        v, path, depth = stack.pop()
        if isinstance(v, (list, Mapping)):
            if depth == limit:
                return path
            items = v.items() if isinstance(v, Mapping) else enumerate(v)
            stack.extend((x, f"{path}[{k}]" if isinstance(v, list) else
                          f"{path}.{k}" if path else str(k), depth + 1) for k, x in items)
    return None


def _signature(name: str) -> str:
    """The call's parameters as a scenario writes them: "(pid, length, *, prot='rw', ...)"."""
    from oomtui.engine import Machine

    params = list(inspect.signature(getattr(Machine, name)).parameters.values())[1:]
    plain = (bool, int, float, str, tuple, type(None))  # a sentinel default is left out
    return str(inspect.Signature([
        p.replace(annotation=p.empty, default=p.default if type(p.default) in plain else p.empty)
        for p in params]))


def _policy(source: str, d) -> tuple[str, dict]:
    """[policy]: name, and the policy's settings (checked as set_policy checks them)."""
    from oomtui.engine.daemons.driver import policy_settings

    d = dict(_table(source, d, "policy"))
    name = d.pop("name", None)
    with _within(f"{source}: [policy]"):
        policy_settings(name, d)
    return name, d


def parse(data: Mapping, source: str) -> Scenario:
    """A Scenario from a parsed TOML document; errors name `source`, and the key at fault."""
    from oomtui.engine import MachineConfig

    _known(source, _table(source, data, "a scenario"),
           ("name", "description", "machine", "process", "at", "policy"))
    name = data.get("name", Path(source).stem)
    description = data.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise _fail(source, "name and description must be strings")
    machine = _table(source, data.get("machine", {}), "machine")
    deep = _too_deep(machine, MACHINE_NESTING)
    if deep is not None:
        raise _fail(source, f"[machine] {deep}: lists and tables nest too deep")
    with _within(f"{source}: [machine]"):
        config = MachineConfig.from_dict(machine)
    tables = _tables(source, data.get("process", []), "process")
    processes = tuple(_process(f"{source}: process {i}", p) for i, p in enumerate(tables))
    calls = sorted((_call(f"{source}: at {i}", c)
                    for i, c in enumerate(_tables(source, data.get("at", []), "at"))),
                   key=lambda c: c.tick)
    policy = _policy(source, data["policy"]) if "policy" in data else None
    important = tuple(p["comm"] for p in tables if p.get("important"))
    return Scenario(name, description, config, processes, tuple(calls), source, policy, important)


def load(path: str | Path) -> Scenario:
    """Read a scenario TOML file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OSError(getattr(e, "errno", None) or errno.EINVAL,
                      f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _fail(str(path), f"larger than {MAX_FILE_BYTES >> 10} KiB: not a scenario")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _fail(str(path), f"invalid TOML: {e}") from None
    except RecursionError:
        raise _fail(str(path), "invalid TOML: arrays or tables nested too deep") from None
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
