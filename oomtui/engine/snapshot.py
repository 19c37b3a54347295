"""Machine <-> a plain dict of msgpack-able values and numpy arrays: saves and checkpoints.

A snapshot holds everything that affects the future: every array of state.FIELDS under its
"group.field" name (an array added there is saved with no change here), each Python object
through the table of its fields in `_schema()` (a field added to Process is one line there),
and the input log. What is derived is rebuilt instead: managed pages and watermarks (from
the config and sysctls), the reverse map (from the VMAs), scratch buffers.

restore() decodes and checks a whole snapshot before it changes anything, so a bad one
raises ValueError and leaves the machine as it was. Beyond types and shapes, every index an
array holds (pfn, swap slot, page-table row, zone) is checked to be in bounds: the numba
kernels do not check, and a hostile file must not make them read or write out of bounds.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from oomtui.engine import state as S
from oomtui.engine.config import SYSCTLS, MachineConfig, validate_sysctl
from oomtui.engine.inputs import RECORDED, Input, InputLog
from oomtui.engine.memcg import EVENTS, PAGE_SIZE, CgroupTree
from oomtui.engine.psi import Psi
from oomtui.engine.vma import PAGE, Mm, Vma, vmas_changed
from oomtui.workloads import Runner


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def integer(lo: int = -(2**63), hi: int = 2**64 - 1):
    def check(value, where):
        if type(value) is not int or not lo <= value <= hi:
            raise ValueError(f"{where} must be an int in {lo}..{hi}, got {_short(value)}")
        return value
    return check


COUNT = integer(0)
ID = integer(-1)  # an id, or -1 for none


def text(value, where):
    if type(value) is not str:
        raise ValueError(f"{where} must be a string, got {_short(value)}")
    return value


def boolean(value, where):
    if type(value) is not bool:
        raise ValueError(f"{where} must be true or false, got {_short(value)}")
    return value


def optional(check):
    return lambda value, where: None if value is None else check(value, where)


def list_of(check):
    def checked(value, where):
        if type(value) is not list:
            raise ValueError(f"{where} must be a list, got {_short(value)}")
        return [check(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return checked


def keys(value, names, where, what: str) -> None:
    """value must be a dict with exactly these keys."""
    if type(value) is not dict or set(value) != set(names):
        raise ValueError(f"{where} must have {what}, got {_short(value)}")


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
    raise ValueError(f"{where} holds {_short(value)}, which no event has")


class Record:
    """An object saved as a dict of its fields; each field's check validates the saved value
    and returns the object's value (so a frozenset saved as a list comes back a frozenset)."""

    def __init__(self, cls, fields):
        self.cls, self.fields = cls, fields

    def dump(self, obj) -> dict:
        return {name: _dump(getattr(obj, name)) for name, _ in self.fields}

    def __call__(self, value, where):
        names = [name for name, _ in self.fields]
        keys(value, names, where, f"the fields {', '.join(names)}")
        return self.cls(**{name: check(value[name], f"{where}.{name}") for name, check in self.fields})


def _dump(value):
    """A copy of a field made of plain values (snapshots must not share mutable objects)."""
    record = _schema().records.get(type(value))
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
    unknown = set(caps) - _schema().caps
    if unknown:
        raise ValueError(f"{where}: unknown capability {min(unknown)!r}")
    return frozenset(caps)


def _rlimits(value, where):
    names = _schema().rlimits
    keys(value, names, where, f"the limits {', '.join(names)}")
    limits = {n: list_of(COUNT)(value[n], f"{where}.{n}") for n in names}
    if any(len(v) != 2 for v in limits.values()):
        raise ValueError(f"{where}: each limit is [soft, hard], got {_short(value)}")
    return limits


def _sysctls(value, where):
    keys(value, SYSCTLS, where, "every sysctl oomtui knows")
    try:
        # a sysctl may still hold a default no write could set (vm.drop_caches' 0)
        return {name: v if v == SYSCTLS[name].default else validate_sysctl(name, v)
                for name, v in value.items()}
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


def _input(value, where):
    if type(value) not in (list, tuple) or len(value) != 5:
        raise ValueError(f"{where} must be [tick, name, args, kwargs, error], got {_short(value)}")
    tick, name, args, kwargs, error = value
    if type(name) is not str or name not in RECORDED:
        raise ValueError(f"{where}: {_short(name)} is not a call the input log records")
    if type(args) not in (list, tuple) or type(kwargs) is not dict \
            or not all(type(k) is str for k in kwargs):
        raise ValueError(f"{where}: bad arguments {_short(args)}, {_short(kwargs)}")
    if error is not None:
        if type(error) not in (list, tuple) or len(error) != 3:
            raise ValueError(f"{where}: bad error {_short(error)}")
        error = (text(error[0], f"{where}.error"), optional(integer())(error[1], f"{where}.errno"),
                 text(error[2], f"{where}.message"))
    return Input(COUNT(tick, f"{where}.tick"), name, tuple(args), kwargs, error)


def _bytes_or_max(value, where):
    """A memcg setting: bytes in whole pages, or None for "max"."""
    if value is not None and (COUNT(value, where) % PAGE_SIZE):
        raise ValueError(f"{where} must be whole pages, got {value}")
    return value


def _cgroups(value, where) -> tuple[CgroupTree, list]:
    """The memcg tree, saved as its cgroups in id order (parents come before children)."""
    tree, by_id = CgroupTree(), []
    for i, d in enumerate(list_of(_schema().cgroup)(value, where)):
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
        raise ValueError(f"{where} must be a PSI state, got {_short(value)}")
    return Psi.from_state(value)


def _like(value, template) -> bool:
    """Made the same way as template: lists of the same lengths, with u64 ints at the leaves."""
    if type(template) is list:
        return type(value) is list and len(value) == len(template) \
            and all(_like(v, t) for v, t in zip(value, template))
    return type(value) is int and 0 <= value < 2**64


@functools.cache
def _schema() -> SimpleNamespace:
    """The saved fields of every engine object (machine.py imports this module, so its
    classes are looked up on first use)."""
    from oomtui.engine import machine as M

    vma = Record(Vma, (("start", COUNT), ("end", COUNT), ("flags", COUNT), ("file", ID),
                       ("pgoff", COUNT), ("anon", ID), ("has_anon", boolean), ("name", text)))
    mm = Record(Mm, (("id", COUNT), ("vmas", list_of(vma)), ("start_brk", COUNT), ("brk", COUNT),
                     ("def_flags", COUNT), ("hiwater_rss", COUNT), ("hiwater_vm", COUNT)))
    adj = integer(-1000, 1000)
    process = Record(M.Process, (
        ("pid", integer(1)), ("comm", text), ("ppid", COUNT), ("uid", COUNT), ("caps", _caps),
        ("mm", mm), ("oom_score_adj", adj), ("oom_score_adj_min", adj), ("cgroup", text),
        ("rlimits", _rlimits), ("kstack", COUNT), ("pgd", COUNT), ("stall_us", COUNT),
        ("stall_kind", text), ("oom_victim_tick", optional(COUNT)), ("reaped", boolean)))
    file = Record(M.File, (("id", COUNT), ("path", text), ("size", COUNT), ("shmem", boolean),
                           ("charged", COUNT)))
    event = Record(M.Event, (("tick", COUNT), ("kind", text), ("pid", integer()),
                             ("message", text), ("data", plain)))
    events = counts(EVENTS, "the memory.events counts")
    cgroup = Record(dict, (("path", text), ("min", _bytes_or_max), ("low", _bytes_or_max),
                           ("high", _bytes_or_max), ("max", _bytes_or_max),
                           ("swap_max", _bytes_or_max), ("oom_group", boolean), ("usage", COUNT),
                           ("swap_usage", COUNT), ("peak", COUNT), ("events", events),
                           ("events_local", events)))
    # Machine attributes saved as they are: (attribute, check); the key drops the underscore.
    scalars = (("tick", COUNT), ("committed", integer()), ("least_priority", integer(-(2**31), -1)),
               ("panicked", optional(text)), ("_sysctl", _sysctls),
               ("_next", counts(("pid", "mm", "anon", "file"), "the next ids")),
               ("_embryo", COUNT), ("_kswapd_was_awake", boolean), ("_protected", boolean),
               ("psi", _psi), ("_stalled", _pids), ("_victims", _pids))
    return SimpleNamespace(
        records={Vma: vma, Mm: mm, M.Process: process, M.File: file, M.Event: event,
                 Psi: SimpleNamespace(dump=Psi.to_state)},  # PSI saves itself
        process=process, file=file, event=event, cgroup=cgroup, scalars=scalars, caps=M.CAPS,
        rlimits=M.RLIMITS, group_attr=M._GROUP_ATTR)


# -- arrays --------------------------------------------------------------------------------

# The sizes FIELDS' shape rules are made of; each is read off the arrays that have it.
_PROBE = {key: 1_000_003 + i for i, key in enumerate(("frames", "memcgs", "mms", "ht", "rows",
                                                       "slots"))}
_PROBED = {v: k for k, v in _PROBE.items()}

# Arrays holding indexes, and what they index (-1 is "none"), or a fixed range.
INDEXES = {
    "frames.type": (0, len(S.FRAME_TYPE_NAMES) - 1), "frames.lru": (-1, S.NR_LRU_LISTS - 1),
    "frames.order": (-1, S.MAX_ORDER), "frames.next": "frames", "frames.prev": "frames",
    "frames.swap": "slots", "zones.free_head": "frames", "zones.free_tail": "frames",
    "lru.head": "frames", "lru.tail": "frames",
    "pagetables.row_pfn": "frames", "pagetables.free_rows": "rows",
    "frames.dirtyq": "frames", "frames.wbq": "frames",
    "zones.compact_cached_migrate_pfn": "frames", "zones.compact_cached_free_pfn": "frames",
    "zones.cc_migrate": "frames", "zones.cc_free": "frames", "zones.moved_from": "frames",
    "zones.moved_to": "frames", "zones.compact_defer_shift": (0, 6),
    "zones.compact_order_failed": (0, S.MAX_ORDER + 1),
    "swap.cache": "frames", "swap.stack": "slots", "swap.active": (0, 1),
    "frames.memcg": "memcgs", "swap.memcg": "memcgs", "lru.parent": "memcgs", "lru.walk": "memcgs",
    "lru.iter": "memcgs",
}


def _sizes(arrays: dict, frames: int) -> dict:
    sizes = {"frames": frames}
    for group, name, dtype, rule, _ in S.FIELDS:
        key = f"{group}.{name}"
        a = arrays[key]
        if type(a) is not np.ndarray or a.dtype != np.dtype(dtype):
            raise ValueError(f"array {key} must be {np.dtype(dtype)}, got "
                             f"{getattr(a, 'dtype', type(a).__name__)}")
        want = S._shape(rule, _PROBE)
        if a.ndim != len(want):
            raise ValueError(f"array {key} must have {len(want)} dimensions, got shape {a.shape}")
        for w, got in zip(want, a.shape):
            size = _PROBED.get(w)
            if size is None and got != w:
                raise ValueError(f"array {key} has shape {a.shape}: a dimension must be {w}")
            if size is not None:
                size = f"ht.{group}" if size == "ht" else size
                if sizes.setdefault(size, got) != got:
                    raise ValueError(f"array {key} has shape {a.shape}, but the other arrays "
                                     f"say {size} is {sizes[size]}")
    return sizes


def _check_indexes(arrays: dict, sizes: dict) -> None:
    for key, bound in INDEXES.items():
        lo, hi = (-1, sizes[bound] - 1) if isinstance(bound, str) else bound
        a = arrays[key]
        if a.size and (a.min() < lo or a.max() > hi):
            bad = a[(a < lo) | (a > hi)][0]
            raise ValueError(f"array {key} holds {bad}, outside {lo}..{hi}")
    pte = arrays["pagetables.pte"]
    pte = pte[pte != S.PTE_NONE]  # most of the pool is unused: check only what is mapped
    kind, payload = pte & S.PTE_KIND, pte >> S.PTE_SHIFT
    for k, size in ((S.PTE_PRESENT, "frames"), (S.PTE_SWAP, "slots")):
        out = (kind == k) & ((payload < 0) | (payload >= sizes[size]))
        if out.any():
            raise ValueError(f"array pagetables.pte maps {payload[out][0]}, outside the "
                             f"{sizes[size]} {size}")
    keys, vals = arrays["pagetables.keys"], arrays["pagetables.vals"]
    level = np.where(keys == S.EMPTY, -1, (keys >> 26) & 3)  # kernels.pt_key's layout
    for lv, size in ((0, "rows"), (1, "frames"), (2, "frames")):  # PTE tables are pool rows
        out = (level == lv) & ((vals < 0) | (vals >= sizes[size]))
        if out.any():
            raise ValueError(f"array pagetables.vals holds {vals[out][0]}, outside the "
                             f"{sizes[size]} {size}")
    for group in ("pagetables", "pagecache"):
        keys, count = arrays[f"{group}.keys"], arrays[f"{group}.count"][0]
        if keys.size & (keys.size - 1) or count != (keys != S.EMPTY).sum() or count >= keys.size:
            raise ValueError(f"{group} hash table: {count} entries in {keys.size} slots do not "
                             "fit (a power of two, with free slots, is needed)")
    rows, nfree = sizes["rows"], arrays["pagetables.nfree"][0]
    if not 0 <= nfree <= rows or (arrays["pagetables.free_rows"][:nfree] < 0).any():
        raise ValueError(f"pagetables: {nfree} free rows out of {rows} do not add up")
    base, size = arrays["swap.base"], arrays["swap.size"]
    top, used = arrays["swap.top"], arrays["swap.used"]
    if ((base < 0) | (size < 0) | (base + size > sizes["slots"]) | (top < 0) | (top > size)
            | (used < 0) | (used > size)).any():
        raise ValueError("swap devices: slots outside the swap arrays")
    nwalk, memcgs = arrays["lru.scope"][S.SCOPE_NWALK], sizes["memcgs"]
    if not (0 <= nwalk <= memcgs and (arrays["lru.walk"][:nwalk] >= 0).all()):
        raise ValueError(f"lru.scope names memcgs beyond the {memcgs} there are")
    rs = arrays["reclaim.state"]
    if not (0 <= rs[S.RS_KSWAPD_HIGHEST] < S.NR_ZONES and 0 <= rs[S.RS_KSWAPD_ORDER] <= S.MAX_ORDER):
        raise ValueError("reclaim.state: kswapd's zone or order is out of range")
    frames = sizes["frames"]
    if not (0 <= rs[S.RS_DQ_HEAD] < max(frames, 1) and 0 <= rs[S.RS_DQ_COUNT] <= frames
            and 0 <= rs[S.RS_WB_COUNT] <= frames):
        raise ValueError("reclaim.state: the dirty or writeback queue is out of range")
    _check_shadows(arrays, sizes)
    _check_slab(arrays, frames)


def _check_slab(arrays: dict, frames: int) -> None:
    """Slab counts add up, and each cache's slab list holds exactly its slabs."""
    slab, nxt = arrays["reclaim.slab"], arrays["frames.next"]
    ftype, order = arrays["frames.type"], arrays["frames.index"]
    objs, unused, neg = slab[:, S.SL_OBJS], slab[:, S.SL_UNUSED], slab[:, S.SL_NEG]
    if ((objs < 0) | (unused < 0) | (unused > objs) | (neg < 0) | (neg > unused)
            | (slab[:, S.SL_SLABS] < 0) | (slab[:, S.SL_SLABS] > frames)).any() \
            or arrays["reclaim.state"][S.RS_SLAB_DEFERRED] < 0:
        raise ValueError("reclaim.slab: object or LRU counts do not add up")
    for c, name in enumerate(S.SLAB_CACHES):
        p, room = slab[c, S.SL_HEAD], 0
        for _ in range(slab[c, S.SL_SLABS]):
            if not (0 <= p < frames and ftype[p] == S.SLAB and arrays["frames.owner"][p] == c
                    and order[p] in (S.SLAB_ORDER[c], S.SLAB_MIN_ORDER[c])):
                raise ValueError(f"reclaim.slab: the {name} slab list is broken")
            room += (PAGE << order[p]) // S.SLAB_OBJSIZE[c]
            p = nxt[p]
        if p != -1 or room != slab[c, S.SL_ROOM] or objs[c] > room:
            raise ValueError(f"reclaim.slab: the {name} slab list disagrees with its counts")


def _check_shadows(arrays: dict, sizes: dict) -> None:
    """Page-cache values (state.PC_SWAP) are pages (< frames), shadows (-2 down to above
    PC_SWAP) naming real memcgs, or shmem swap entries naming swap slots in use."""
    keys, vals = arrays["pagecache.keys"], arrays["pagecache.vals"]
    used = vals[keys != S.EMPTY]
    if (used >= sizes["frames"]).any() or (used == -1).any():
        raise ValueError("array pagecache.vals holds a page outside the frames")
    slots = S.PC_SWAP - used[used <= S.PC_SWAP]
    if (slots >= sizes["slots"]).any() or (arrays["swap.map"][slots] < 1).any():
        raise ValueError(f"array pagecache.vals holds a swap entry outside the {sizes['slots']} "
                         "swap slots or on a slot not in use")
    shadow = (used <= -2) & (used > S.PC_SWAP)
    shadows = np.concatenate([-2 - used[shadow], arrays["swap.shadow"]])
    if (shadows < -1).any() or (shadows >> 47 >= sizes["memcgs"]).any():
        raise ValueError("a workingset shadow names a memcg that does not exist")
    if arrays["pagecache.shadows"][0] != shadow.sum():
        raise ValueError("pagecache.shadows disagrees with the shadow entries")


def _groups(arrays, config: MachineConfig) -> dict:
    """The arrays checked and grouped: {group: namedtuple of read-only views}."""
    expected = {f"{g}.{n}" for g, n, *_ in S.FIELDS}
    if type(arrays) is not dict:
        raise ValueError(f"arrays must be a map of name to array, got {_short(arrays)}")
    missing, unknown = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
    if missing or unknown:
        raise ValueError(f"arrays: missing {missing} and unknown {unknown}: the save is from "
                         "another version of oomtui")
    managed = config.zone_pages()
    sizes = _sizes(arrays, sum(managed))
    _check_indexes(arrays, sizes)
    start = np.concatenate(([0], np.cumsum(managed)))
    if not np.array_equal(arrays["zones.start"], start):
        raise ValueError(f"zones.start is {arrays['zones.start'].tolist()}, but the config's "
                         f"zones start at {start.tolist()}")
    return {g: S.GROUP_TYPES[g](**{n: arrays[f"{g}.{n}"] for gg, n, *_ in S.FIELDS if gg == g})
            for g in S.GROUPS}


# -- the whole machine ---------------------------------------------------------------------

def decode(state) -> SimpleNamespace:
    """Check a snapshot and turn it into engine objects: config, attrs {attribute: value},
    groups {group: arrays}. ValueError says what is wrong."""
    sc = _schema()
    if type(state) is not dict:
        raise ValueError(f"a machine state must be a map, got {_short(state)}")
    expected = {"config", "seed", "arrays", "procs", "files", "runners", "cgroups", "events",
                "inputs"} | {a.lstrip("_") for a, _ in sc.scalars}
    if set(state) != expected:
        raise ValueError(f"a machine state needs {sorted(expected - set(state))} and has no use "
                         f"for {sorted(set(state) - expected)}")
    try:
        config = MachineConfig.from_dict(state["config"])
    except (OSError, TypeError) as e:
        raise ValueError(f"config: {getattr(e, 'strerror', None) or e}") from None
    if state["seed"] != config.seed:
        raise ValueError(f"seed {_short(state['seed'])} is not the config's {config.seed}")
    attrs = {a: check(state[a.lstrip("_")], a.lstrip("_")) for a, check in sc.scalars}
    groups = _groups(state["arrays"], config)
    procs = list_of(sc.process)(state["procs"], "procs")
    files = list_of(sc.file)(state["files"], "files")
    runners = list_of(_runner)(state["runners"], "runners")
    attrs["events"] = list_of(sc.event)(state["events"], "events")
    attrs["inputs"] = InputLog(list_of(_input)(state["inputs"], "inputs"))
    attrs["procs"] = {p.pid: p for p in procs}
    attrs["file_by_id"] = {f.id: f for f in files}
    attrs["files"] = {f.path: f for f in files if not f.shmem}
    attrs["runners"] = {r.pid: r for r in runners}
    attrs["cgtree"], attrs["_cg_by_id"] = _cgroups(state["cgroups"], "cgroups")
    _cross_check(attrs, groups, len(procs), len(files), len(runners))
    return SimpleNamespace(config=config, attrs=attrs, groups=groups)


def _cross_check(a: dict, groups: dict, nprocs: int, nfiles: int, nrunners: int) -> None:
    """What one part of a snapshot says about another must agree."""
    frames, mm_rows = groups["frames"].type.size, groups["mms"].nr_pt.size
    nxt, procs, files = a["_next"], a["procs"], a["file_by_id"]
    if not a["_stalled"] | a["_victims"] <= procs.keys():
        raise ValueError("stalled or OOM-victim pids name no process")
    if len(procs) != nprocs or len(files) != nfiles or len(a["runners"]) != nrunners \
            or len(a["files"]) != sum(not f.shmem for f in files.values()):
        raise ValueError("two processes, files or runners have the same pid, id or path")
    if any(f.id >= nxt["file"] for f in files.values()):
        raise ValueError("a file id is not below the next file id")
    mm_ids = set()
    for p in procs.values():
        mm, where = p.mm, f"process {p.pid}"
        if p.pid >= nxt["pid"] or mm.id >= min(mm_rows, nxt["mm"]) or mm.id in mm_ids:
            raise ValueError(f"{where}: its pid or mm id is out of range or taken twice")
        if max(p.kstack, p.pgd) >= frames:
            raise ValueError(f"{where}: kernel stack or PGD beyond the {frames} frames")
        mm_ids.add(mm.id)
        end = 0
        for v in mm.vmas:
            if not end <= v.start < v.end <= S.TASK_SIZE or (v.start | v.end) % PAGE:
                raise ValueError(f"{where}: VMA [{v.start:#x}, {v.end:#x}) overlaps, is empty, "
                                 "unaligned or beyond the user address space")
            if (v.file >= 0 and v.file not in files) or v.anon >= nxt["anon"]:
                raise ValueError(f"{where}: VMA at {v.start:#x} names an unknown file or anon id")
            end = v.end
    cgroups, parents = a["_cg_by_id"], groups["lru"].parent
    paths = {cg.path for cg in cgroups}
    if len(cgroups) > parents.size or any(p.cgroup not in paths for p in procs.values()) \
            or [cg.parent.id if cg.parent else -1 for cg in cgroups] != parents[:len(cgroups)].tolist():
        raise ValueError("the cgroup tree disagrees with the processes or the memcg arrays")
    tick = a["tick"]
    if any(e.tick > tick for e in a["events"]):
        raise ValueError(f"an event is dated after the machine's tick {tick}")
    ticks = [e.tick for e in a["inputs"].entries]
    if ticks != sorted(ticks) or (ticks and ticks[-1] > tick):
        raise ValueError(f"input ticks go backwards or past the machine's tick {tick}")
    rs = groups["reclaim"].state
    sysctl = a["_sysctl"]
    if tuple(rs[[S.RS_SWAPPINESS, S.RS_PAGE_CLUSTER, S.RS_VFS_PRESSURE, S.RS_VFS_DENOM]]) != (
            sysctl["vm.swappiness"], sysctl["vm.page-cluster"], sysctl["vm.vfs_cache_pressure"],
            sysctl["vm.vfs_cache_pressure_denom"]):
        raise ValueError("reclaim.state disagrees with the sysctls the kernels read")


class SnapshotCalls:
    """Machine.snapshot()/restore() for checkpoints, save()/load() for files (oomtui/saves.py)."""

    def snapshot(self, *, copy: bool = True) -> dict:
        """The whole state as plain values and array copies; restore() takes it back.
        copy=False shares the live arrays: only for use before the machine changes again."""
        state = self._state_values()
        state["arrays"] = {f"{g}.{n}": getattr(getattr(self, _schema().group_attr[g]), n)
                           for g, n, *_ in S.FIELDS}
        if copy:
            state["arrays"] = {k: a.copy() for k, a in state["arrays"].items()}
        state["inputs"] = [list(e) for e in self.inputs.entries]
        return state

    def _state_values(self) -> dict:
        """The snapshot less its arrays and the input log (how the state was reached):
        state_digest() hashes this and the arrays."""
        self._sync_usage()  # the cgroups' copies of their counters: else a read changed this
        sc = _schema()
        state = {a.lstrip("_"): _dump(getattr(self, a)) for a, _ in sc.scalars}
        state.update(
            config=self.config.to_dict(), seed=self.config.seed,
            procs=[sc.process.dump(p) for _, p in sorted(self.procs.items())],
            files=[sc.file.dump(f) for _, f in sorted(self.file_by_id.items())],
            runners=[r.to_state() for _, r in sorted(self.runners.items())],
            cgroups=[sc.cgroup.dump(cg) for cg in self._cg_by_id],
            events=[sc.event.dump(e) for e in self.events])
        return state

    def restore(self, state: dict) -> None:
        """Become the machine a snapshot of this same config describes; ValueError (and no
        change) if it is not a valid one."""
        d = decode(state)
        if d.config != self.config:
            raise ValueError("the snapshot is of a machine with another config")
        self._assign(d)

    def _assign(self, d: SimpleNamespace) -> None:
        sc = _schema()
        for attr, value in d.attrs.items():
            setattr(self, attr, value)
        self._walks = {}  # a cache of the cgroup tree's walks
        self._setup_watermarks()  # the Python-side copies; the arrays come next
        for g, group in d.groups.items():
            setattr(self, sc.group_attr[g], type(group)(*(np.array(a) for a in group)))
        vmas_changed()  # the reverse map is rebuilt from the new VMAs

    def save(self, path, *, compress: bool = False, scenario: str | None = None) -> None:
        """Write the machine to `path` atomically (oomtui/saves.py)."""
        from oomtui import saves
        saves.write(path, self.snapshot(copy=False), saves.meta_of(self, scenario),
                    compress=compress)

    @classmethod
    def load(cls, path):
        """A machine read from a save file; OSError if unreadable, ValueError if not valid."""
        from oomtui import saves
        return saves.load(path)[1]

    @classmethod
    def from_snapshot(cls, state: dict):
        d = decode(state)  # before booting: the config of a bad file could ask for 128 GiB
        m = cls(d.config)
        m._assign(d)
        return m

