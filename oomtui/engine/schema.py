"""The saved state, declared: every value a snapshot holds besides its arrays (those are
state.FIELDS), under a public key, with the check that validates it and where the Machine keeps it.

The keys are the save format (oomtui/saves.py writes them): they are declared here, never
derived from attribute names, so renaming an attribute is one entry's `attr`, and the format
stays as it was. MACHINE lists the machine's values in the order state_digest() hashes them;
a Record lists an object's fields (a Process with its Mm and VMAs, a File, an Event, a cgroup).
Each check takes the saved value and returns the engine's (a frozenset saved as a list comes
back a frozenset), or raises ValueError saying where and what is wrong. Workload runners and
PSI keep their own declared formats (Runner.to_state, Psi.to_state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oomtui.engine.config import SYSCTLS, MachineConfig, validate_sysctl
from oomtui.engine.daemons.driver import Daemon
from oomtui.engine.inputs import RECORDED, Input, InputLog, Opaque
from oomtui.engine.memcg import EVENTS, PAGE_SIZE, CgroupTree
from oomtui.engine.psi import Psi
from oomtui.engine.events import Event
from oomtui.engine.records import CAPS, RLIMITS, File, Process
from oomtui.engine.vma import Mm, Vma
from oomtui.saves import Ext
from oomtui.workloads import Program, Runner

# Where the Machine keeps each group of state arrays (state.GROUPS); saved as "group.field".
GROUP_ATTR = {"frames": "fr", "zones": "zn", "lru": "lru", "counters": "ctr", "mms": "mms",
              "pagetables": "pt", "swap": "sw", "reclaim": "rs", "pagecache": "pc"}


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- checks: (saved value, where) -> the engine's value, or ValueError ---------------------------

def integer(lo: int = -(2**63), hi: int = 2**64 - 1):
    def check(value, where):
        if type(value) is not int or not lo <= value <= hi:
            raise ValueError(f"{where} must be an int in {lo}..{hi}, got {short(value)}")
        return value
    return check


COUNT = integer(0)
ID = integer(-1)  # an id, or -1 for none


def text(value, where):
    if type(value) is not str:
        raise ValueError(f"{where} must be a string, got {short(value)}")
    return value


def boolean(value, where):
    if type(value) is not bool:
        raise ValueError(f"{where} must be true or false, got {short(value)}")
    return value


def optional(check):
    return lambda value, where: None if value is None else check(value, where)


def list_of(check):
    def checked(value, where):
        if type(value) is not list:
            raise ValueError(f"{where} must be a list, got {short(value)}")
        return [check(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return checked


def keys(value, names, where, what: str) -> None:
    """value must be a dict with exactly these keys."""
    if type(value) is not dict or set(value) != set(names):
        raise ValueError(f"{where} must have {what}, got {short(value)}")


def counts(names, what: str):
    """A dict of these names to counts (memory.events, the next ids)."""
    def check(value, where):
        keys(value, names, where, what)
        return {k: COUNT(value[k], f"{where}.{k}") for k in names}
    return check


def plain(value, where):
    """Event data: values made of None, bool, int, float, str, lists, tuples, dicts."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (list, tuple):
        return type(value)(plain(v, where) for v in value)
    if type(value) is dict and all(type(k) in (str, int) for k in value):
        return {k: plain(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"{where} holds {short(value)}, which no event has")


# -- objects saved as a map of their fields -------------------------------------------------------

@dataclass(frozen=True)
class Field:
    key: str  # the format's name
    check: Callable
    attr: str  # the object's attribute


def field(key: str, check, attr: str | None = None) -> Field:
    """A field saved under `key`, kept in the attribute of the same name unless `attr` says."""
    return Field(key, check, attr or key)


class Record:
    """An object saved as a map of its fields; loading checks each and builds it with make()."""

    def __init__(self, make, fields: tuple[Field, ...]):
        self.make, self.fields = make, fields

    def dump(self, obj) -> dict:
        return {f.key: _dump(getattr(obj, f.attr)) for f in self.fields}

    def __call__(self, value, where):
        names = [f.key for f in self.fields]
        keys(value, names, where, f"the fields {', '.join(names)}")
        return self.make(**{f.attr: f.check(value[f.key], f"{where}.{f.key}") for f in self.fields})


def _dump(value):
    """A copy of a field made of plain values (snapshots must not share mutable objects)."""
    record = _NESTED.get(type(value))
    if record is not None:
        return record.dump(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_dump(v) for v in value)
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _caps(value, where):
    caps = list_of(text)(value, where)
    unknown = set(caps) - CAPS
    if unknown:
        raise ValueError(f"{where}: unknown capability {min(unknown)!r}")
    return frozenset(caps)


def _rlimits(value, where):
    keys(value, RLIMITS, where, f"the limits {', '.join(RLIMITS)}")
    limits = {n: list_of(COUNT)(value[n], f"{where}.{n}") for n in RLIMITS}
    if any(len(v) != 2 for v in limits.values()):
        raise ValueError(f"{where}: each limit is [soft, hard], got {short(value)}")
    return limits


def _bytes_or_max(value, where):
    """A memcg setting: bytes in whole pages, or None for "max"."""
    if value is not None and (COUNT(value, where) % PAGE_SIZE):
        raise ValueError(f"{where} must be whole pages, got {value}")
    return value


VMA = Record(Vma, (field("start", COUNT), field("end", COUNT), field("flags", COUNT),
                   field("file", ID), field("pgoff", COUNT), field("anon", ID),
                   field("has_anon", boolean), field("name", text)))
MM = Record(Mm, (field("id", COUNT), field("vmas", list_of(VMA)), field("start_brk", COUNT),
                 field("brk", COUNT), field("def_flags", COUNT), field("hiwater_rss", COUNT),
                 field("hiwater_vm", COUNT)))
_ADJ = integer(-1000, 1000)
PROCESS = Record(Process, (
    field("pid", integer(1)), field("comm", text), field("ppid", COUNT), field("uid", COUNT),
    field("caps", _caps), field("mm", MM), field("oom_score_adj", _ADJ),
    field("oom_score_adj_min", _ADJ), field("cgroup", text), field("rlimits", _rlimits),
    field("kstack", COUNT), field("pgd", COUNT), field("stall_us", COUNT),
    field("stall_kind", text), field("oom_victim_tick", optional(COUNT)),
    field("reaped", boolean)))
FILE = Record(File, (field("id", COUNT), field("path", text), field("size", COUNT),
                     field("shmem", boolean), field("charged", COUNT)))
EVENT = Record(Event, (field("tick", COUNT), field("kind", text), field("pid", integer()),
                       field("message", text), field("data", plain)))
_MEMCG_EVENTS = counts(EVENTS, "the memory.events counts")
# A memcg's settings and counters, loaded as a dict of its attributes (the tree comes from
# the paths, in id order: a parent before its children).
CGROUP = Record(dict, (
    field("path", text), field("min", _bytes_or_max), field("low", _bytes_or_max),
    field("high", _bytes_or_max), field("max", _bytes_or_max), field("swap_max", _bytes_or_max),
    field("oom_group", boolean), field("usage", COUNT), field("swap_usage", COUNT),
    field("peak", COUNT), field("events", _MEMCG_EVENTS), field("events_local", _MEMCG_EVENTS)))
_NESTED = {Vma: VMA, Mm: MM}  # records inside records


# -- the machine's other values ------------------------------------------------------------------

NEXT_IDS = ("pid", "mm", "anon", "file")
# Ticks times microseconds per tick (at most 10^6) must fit the int64 the kernels keep time in:
# 2^40 ticks are 35 years at 1 ms.
MAX_TICK = 1 << 40


def _config(value, where) -> MachineConfig:
    try:
        return MachineConfig.from_dict(value)
    except (OSError, TypeError) as e:
        raise ValueError(f"{where}: {getattr(e, 'strerror', None) or e}") from None


def _sysctls(value, where):
    keys(value, SYSCTLS, where, "every sysctl oomtui knows")
    try:
        # a sysctl may still hold a default no write could set (vm.drop_caches' 0); the table's
        # order, not the file's, as the digest hashes the map
        return {name: value[name] if value[name] == SYSCTLS[name].default
                else validate_sysctl(name, value[name]) for name in SYSCTLS}
    except OSError as e:
        raise ValueError(f"{where}: {e.strerror}") from None


def _pids(value, where) -> set:
    return set(list_of(integer(1))(value, where))


def _runner(value, where):
    try:
        return Runner.from_state(value)
    except OSError as e:
        raise ValueError(f"{where}: {e.strerror}") from None
    except ZeroDivisionError:  # its credit, a Fraction, with a zero denominator
        raise ValueError(f"{where}: a workload's credit divides by zero") from None


def _cgroups(value, where) -> tuple[CgroupTree, list]:
    """The memcg tree, saved as its cgroups in id order (parents come before children)."""
    tree, by_id = CgroupTree(), []
    for i, d in enumerate(list_of(CGROUP)(value, where)):
        path = d.pop("path")
        if (i == 0) != (path == "/"):
            raise ValueError(f"{where}[{i}]: the root cgroup must come first, and only once")
        try:
            cg = tree.root if i == 0 else tree.create(path)
        except OSError as e:
            raise ValueError(f"{where}[{i}]: {e.strerror}") from None
        for attr, v in d.items():
            setattr(cg, attr, v)
        cg.id = i
        by_id.append(cg)
    return tree, by_id


def _psi(value, where):
    template = Psi().to_state()
    keys(value, template, where, "the fields of a PSI state")
    if not all(_like(value[k], t) for k, t in template.items()) or value["hz"] < 1:
        raise ValueError(f"{where} must be a PSI state, got {short(value)}")
    return Psi.from_state(value)


def _like(value, template) -> bool:
    """Made the same way as template: lists of the same lengths, with u64 ints at the leaves."""
    if type(template) is list:
        return type(value) is list and len(value) == len(template) \
            and all(_like(v, t) for v, t in zip(value, template))
    return type(value) is int and 0 <= value < 2**64


# -- the input log ---------------------------------------------------------------------------

INPUT_KEYS = ("tick", "call", "args", "kwargs", "error")
ERROR_KEYS = ("exception", "errno", "message")


def _saved_arg(value):
    """A logged argument with its engine values (programs, opaque stand-ins) as saves.Ext."""
    if isinstance(value, Program):
        return Ext("program", value.to_dict())
    if isinstance(value, Opaque):
        return Ext("opaque", value.text)
    if type(value) in (list, tuple):
        return type(value)(_saved_arg(v) for v in value)
    if type(value) is dict:
        return {_saved_arg(k): _saved_arg(v) for k, v in value.items()}
    return value


def _arg(value, where):
    """_saved_arg undone."""
    if type(value) is Ext and value.kind == "opaque":
        return Opaque(text(value.value, where))
    if type(value) is Ext:
        try:
            return Program.from_dict(value.value)
        except OSError as e:
            raise ValueError(f"{where}: a workload program: {e.strerror}") from None
        except TypeError as e:  # a hostile program's unhashable phase kind
            raise ValueError(f"{where}: a workload program: {e}") from None
    if type(value) in (list, tuple):
        return type(value)(_arg(v, where) for v in value)
    if type(value) is dict:
        return {_arg(k, where): _arg(v, where) for k, v in value.items()}
    return value


def dump_input(e: Input) -> dict:
    error = None if e.error is None else dict(zip(ERROR_KEYS, e.error))
    return dict(zip(INPUT_KEYS, (e.tick, e.name, _saved_arg(e.args), _saved_arg(e.kwargs), error)))


def _input(value, where) -> Input:
    keys(value, INPUT_KEYS, where, f"the fields {', '.join(INPUT_KEYS)}")
    name, args, kwargs, error = value["call"], value["args"], value["kwargs"], value["error"]
    if type(name) is not str or name not in RECORDED:
        raise ValueError(f"{where}: {short(name)} is not a call the input log records")
    if type(args) not in (list, tuple) or type(kwargs) is not dict \
            or not all(type(k) is str for k in kwargs):
        raise ValueError(f"{where}: bad arguments {short(args)}, {short(kwargs)}")
    if error is not None:
        keys(error, ERROR_KEYS, f"{where}.error", f"the fields {', '.join(ERROR_KEYS)}")
        error = (text(error["exception"], f"{where}.error.exception"),
                 optional(integer())(error["errno"], f"{where}.error.errno"),
                 text(error["message"], f"{where}.error.message"))
    return Input(COUNT(value["tick"], f"{where}.tick"), name, tuple(_arg(args, where)),
                 _arg(kwargs, where), error)


def _inputs(value, where) -> InputLog:
    return InputLog(list_of(_input)(value, where))


# -- the machine -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """One value of a saved machine: its key, its check, how it is read off the Machine, and
    how it is put back (None: the machine is booted with it)."""
    key: str
    check: Callable
    get: Callable  # machine -> saved value
    put: Callable | None  # (machine, checked value) -> None


def attribute(key: str, attr: str, check, dump=_dump) -> Part:
    """A value the Machine keeps in one attribute."""
    return Part(key, check, lambda m: dump(getattr(m, attr)), lambda m, v: setattr(m, attr, v))


def _put_procs(m, procs: list) -> None:
    m.procs = {p.pid: p for p in procs}


def _put_files(m, files: list) -> None:
    m.file_by_id = {f.id: f for f in files}
    m.files = {f.path: f for f in files if not f.shmem}


def _put_runners(m, runners: list) -> None:
    m.runners = {r.pid: r for r in runners}


def _put_cgroups(m, cgroups: tuple) -> None:
    m.cgtree, m._cg_by_id = cgroups


# Everything state_digest() covers, in its order: the machine less its arrays and input log.
MACHINE = (
    attribute("tick", "tick", integer(0, MAX_TICK)),
    attribute("committed", "committed", integer()),
    attribute("least_priority", "least_priority", integer(-(2**31), -1)),
    attribute("panicked", "panicked", optional(text)),
    attribute("sysctl", "_sysctl", _sysctls),
    attribute("next", "_next", counts(NEXT_IDS, "the next ids")),
    attribute("embryo", "_embryo", COUNT),
    attribute("kswapd_was_awake", "_kswapd_was_awake", boolean),
    attribute("protected", "_protected", boolean),
    attribute("psi", "psi", _psi, Psi.to_state),
    attribute("stalled", "_stalled", _pids),
    attribute("victims", "_victims", _pids),
    Part("config", _config, lambda m: m.config.to_dict(), None),
    Part("seed", integer(), lambda m: m.config.seed, None),
    Part("procs", list_of(PROCESS),
         lambda m: [PROCESS.dump(p) for _, p in sorted(m.procs.items())], _put_procs),
    Part("files", list_of(FILE),
         lambda m: [FILE.dump(f) for _, f in sorted(m.file_by_id.items())], _put_files),
    Part("runners", list_of(_runner),
         lambda m: [r.to_state() for _, r in sorted(m.runners.items())], _put_runners),
    Part("cgroups", _cgroups, lambda m: [CGROUP.dump(cg) for cg in m._cg_by_id], _put_cgroups),
    attribute("events", "events", list_of(EVENT), lambda events: [EVENT.dump(e) for e in events]),
)
INPUTS = attribute("inputs", "inputs", _inputs, lambda log: [dump_input(e) for e in log.entries])
SAVED = (*MACHINE, INPUTS)  # a snapshot: these and "arrays"
# Saved only when set (absent: None), so a machine without them saves as it did before.
OPTIONAL = (
    Part("daemon", Daemon.from_state, lambda m: None if m.daemon is None else m.daemon.to_state(),
         lambda m, v: setattr(m, "daemon", v)),  # the OOM policy's daemon (engine/daemons/)
)
