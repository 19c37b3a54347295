"""Machine <-> a plain dict of msgpack-able values: checkpoints, and the body of a save file.

A snapshot holds everything that affects the future: every array of state.FIELDS under its
"group.field" name, as {"dtype", "shape", "data"} (an array added there is saved with no change
here), and every other value engine/schema.py declares, under its key there. What is derived
is rebuilt instead: managed pages and watermarks (from the config and sysctls), the reverse
map (from the VMAs), scratch buffers. oomtui/saves.py writes and reads it as bytes.

restore() decodes and checks a whole snapshot before it changes anything, so a bad one
raises ValueError and leaves the machine as it was. Beyond types and shapes, every index an
array holds (pfn, swap slot, page-table row, zone) is checked to be in bounds: the numba
kernels do not check, and a hostile file must not make them read or write out of bounds.
from_snapshot() (so load()) then recounts every book (invariants.check_invariants): values
each in bounds can still disagree with each other (an LRU list's length with its pages, a
zone's free count with its free blocks), and the engine would loop on them.
"""

from __future__ import annotations

import errno

import numpy as np

from oomtui import saves
from oomtui.engine import state as S
from oomtui.engine.config import MachineConfig
from oomtui.engine.inputs import step_ticks
from oomtui.engine.invariants import BrokenInvariant, check_invariants
from oomtui.engine.rmap import RmapIndex
from oomtui.engine.schema import GROUP_ATTR, INPUTS, MACHINE, OPTIONAL, SAVED, short
from oomtui.engine.vma import PAGE, vmas_changed

# -- arrays --------------------------------------------------------------------------------

_DTYPES = {np.dtype(t).str for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
                                     np.int64, np.uint64, np.float64)}


def saved_array(a: np.ndarray, *, copy: bool = True) -> dict:
    """An array as a snapshot holds it; copy=False shares a's memory."""
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "data": a.tobytes() if copy else memoryview(a).cast("B")}


def array(saved, name: str) -> np.ndarray:
    """saved_array() undone, as a read-only view; only sizes that match their data."""
    if type(saved) is not dict or set(saved) != {"dtype", "shape", "data"}:
        raise ValueError(f"array {name!r:.40} must be {{dtype, shape, data}}")
    dtype, shape, data = saved["dtype"], saved["shape"], saved["data"]
    if dtype not in _DTYPES or type(data) not in (bytes, memoryview) or type(shape) is not list \
            or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"array {name!r:.40}: bad dtype, shape or data")
    dt = np.dtype(dtype)
    if int(np.prod(shape, dtype=object)) * dt.itemsize != len(data):
        raise ValueError(f"array {name!r:.40}: shape {shape} does not match its "
                         f"{len(data)} bytes of {dtype}")
    return np.frombuffer(data, dtype=dt).reshape(shape)


def digested(m) -> list[np.ndarray]:
    """What state_digest() hashes of the arrays: each group's arrays, but of the two hash
    tables and the page-table pool only their content (entries in key order, a PTE table's
    pfn and entries in place of its pool row), not where it lies in them, so how big each
    has grown (a growth policy) is not state."""
    out = []
    for g in S.GROUPS:
        group = getattr(m, GROUP_ATTR[g])
        if g not in ("pagetables", "pagecache"):
            out.extend(group)
            continue
        used = group.keys != S.EMPTY
        order = np.argsort(group.keys[used], kind="stable")
        keys, vals = group.keys[used][order], group.vals[used][order]
        out += [keys, group.count]
        if g == "pagecache":
            out += [vals, group.shadows]
            continue
        level0 = (keys >> 26) & 3 == 0  # pt_key(mm, level, idx): PTE tables hold a pool row
        rows = vals[level0]
        out += [vals[~level0], group.row_pfn[rows], group.pte[rows]]
    return out


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


def _groups(saved, config: MachineConfig) -> dict:
    """The arrays checked and grouped: {group: namedtuple of read-only views}."""
    expected = {f"{g}.{n}" for g, n, *_ in S.FIELDS}
    if type(saved) is not dict:
        raise ValueError(f"arrays must be a map of name to array, got {short(saved)}")
    missing, unknown = sorted(expected - set(saved)), sorted(set(saved) - expected)
    if missing or unknown:
        raise ValueError(f"arrays: missing {missing} and unknown {unknown}: the save is from "
                         "another version of oomtui")
    arrays = {name: array(a, name) for name, a in saved.items()}
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

def decode(state) -> dict:
    """Check a snapshot and turn it into engine values: {key: value} for every key of
    schema.SAVED, and "arrays": {group: arrays}. ValueError says what is wrong."""
    if type(state) is not dict:
        raise ValueError(f"a machine state must be a map, got {short(state)}")
    expected = {p.key for p in SAVED} | {"arrays"}
    allowed = expected | {p.key for p in OPTIONAL}
    if not expected <= set(state) <= allowed:
        raise ValueError(f"a machine state needs {sorted(expected - set(state))} and has no use "
                         f"for {sorted(set(state) - allowed)}")
    values = {p.key: p.check(state[p.key], p.key) for p in SAVED}
    values |= {p.key: p.check(state[p.key], p.key) if p.key in state else None for p in OPTIONAL}
    if values["seed"] != values["config"].seed:
        raise ValueError(f"seed {short(values['seed'])} is not the config's "
                         f"{values['config'].seed}")
    values["arrays"] = _groups(state["arrays"], values["config"])
    _cross_check(values)
    return values


def _cross_check(v: dict) -> None:
    """What one part of a snapshot says about another must agree."""
    groups, nxt, tick = v["arrays"], v["next"], v["tick"]
    frames, mm_rows = groups["frames"].type.size, groups["mms"].nr_pt.size
    procs = {p.pid: p for p in v["procs"]}
    files = {f.id: f for f in v["files"]}
    file_paths = [f.path for f in v["files"] if not f.shmem]
    if not v["stalled"] | v["victims"] <= procs.keys():
        raise ValueError("stalled or OOM-victim pids name no process")
    if len(procs) != len(v["procs"]) or len(files) != len(v["files"]) \
            or len(set(file_paths)) != len(file_paths) \
            or len({r.pid for r in v["runners"]}) != len(v["runners"]):
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
        for vma in mm.vmas:
            if not end <= vma.start < vma.end <= S.TASK_SIZE or (vma.start | vma.end) % PAGE:
                raise ValueError(f"{where}: VMA [{vma.start:#x}, {vma.end:#x}) overlaps, is "
                                 "empty, unaligned or beyond the user address space")
            if (vma.file >= 0 and vma.file not in files) or vma.anon >= nxt["anon"]:
                raise ValueError(f"{where}: VMA at {vma.start:#x} names an unknown file or anon id")
            end = vma.end
    cgroups, parents = v["cgroups"][1], groups["lru"].parent
    paths = {cg.path for cg in cgroups}
    if len(cgroups) > parents.size or any(p.cgroup not in paths for p in procs.values()) \
            or [cg.parent.id if cg.parent else -1 for cg in cgroups] != parents[:len(cgroups)].tolist():
        raise ValueError("the cgroup tree disagrees with the processes or the memcg arrays")
    if any(e.tick > tick for e in v["events"]):
        raise ValueError(f"an event is dated after the machine's tick {tick}")
    entries = v["inputs"].entries
    ticks = [e.tick for e in entries]
    if ticks != sorted(ticks) or (ticks and ticks[-1] > tick):
        raise ValueError(f"input ticks go backwards or past the machine's tick {tick}")
    _check_steps(entries, tick, v["panicked"])
    rs, sysctl = groups["reclaim"].state, v["sysctl"]
    if tuple(rs[[S.RS_SWAPPINESS, S.RS_PAGE_CLUSTER, S.RS_VFS_PRESSURE, S.RS_VFS_DENOM]]) != (
            sysctl["vm.swappiness"], sysctl["vm.page-cluster"], sysctl["vm.vfs_cache_pressure"],
            sysctl["vm.vfs_cache_pressure_denom"]):
        raise ValueError("reclaim.state disagrees with the sysctls the kernels read")


def _check_steps(entries, tick: int, panicked) -> None:
    """A logged step ends where the next call is made (or the machine is now), so a replay
    runs no further than the saved tick; only a panic can have stopped it earlier."""
    for i, e in enumerate(entries):
        if e.name != "step" or e.error is not None:
            continue
        n = step_ticks(e)
        if type(n) is not int or n < 1:
            raise ValueError(f"input #{i}: a step of {short(n)} ticks")
        following = entries[i + 1].tick if i + 1 < len(entries) else tick
        if following > e.tick + n or (following < e.tick + n and not panicked):
            raise ValueError(f"input #{i}: step({n}) at tick {e.tick} ends at tick {e.tick + n}, "
                             f"but the next call is at tick {following}")


class SnapshotCalls:
    """Machine.snapshot()/restore() for checkpoints, save()/load() for files (oomtui/saves.py)."""

    def snapshot(self, *, copy: bool = True) -> dict:
        """The whole state as plain values; restore() takes it back. copy=False shares the
        live arrays' memory: only for use before the machine changes again."""
        state = self._state_values()
        state["arrays"] = {f"{g}.{n}": saved_array(getattr(getattr(self, GROUP_ATTR[g]), n),
                                                    copy=copy)
                           for g, n, *_ in S.FIELDS}
        state[INPUTS.key] = INPUTS.get(self)
        return state

    def _state_values(self) -> dict:
        """The snapshot less its arrays and the input log (how the state was reached):
        state_digest() hashes this and the arrays."""
        self._sync_usage()  # the cgroups' copies of their counters: else a read changed this
        values = {p.key: p.get(self) for p in MACHINE}
        return values | {p.key: v for p in OPTIONAL if (v := p.get(self)) is not None}

    def restore(self, state: dict) -> None:
        """Become the machine a snapshot of this same config describes; ValueError (and no
        change) if it is not a valid one."""
        values = decode(state)
        if values["config"] != self.config:
            raise ValueError("the snapshot is of a machine with another config")
        self._assign(values)

    def _assign(self, values: dict) -> None:
        for p in (*SAVED, *OPTIONAL):
            if p.put is not None:
                p.put(self, values[p.key])
        self._walks = {}  # a cache of the cgroup tree's walks
        self._setup_watermarks()  # the Python-side copies; the arrays come next
        for g, group in values["arrays"].items():
            setattr(self, GROUP_ATTR[g], type(group)(*(np.array(a) for a in group)))
        self._rmap = RmapIndex()  # built from the new VMAs at the next look
        vmas_changed()

    def save(self, path, *, compress: bool = False, scenario: str | None = None) -> None:
        """Write the machine to `path` atomically."""
        if scenario is not None and type(scenario) is not str:
            raise OSError(errno.EINVAL, f"scenario must be a name, got {type(scenario).__name__}")
        saves.write(path, self.snapshot(copy=False), saves.meta_of(self, scenario),
                    compress=compress)

    @classmethod
    def load(cls, path):
        """A machine read from a save file; OSError if unreadable, SaveError (a ValueError)
        naming the file if it is not a valid save."""
        return cls.read_save(path)[1]

    @classmethod
    def read_save(cls, path) -> tuple:
        """(the header's meta, the machine) of a save file, as load() checks them."""
        meta, state = saves.read(path)
        try:
            m = cls.from_snapshot(state)
            if (meta["tick"], meta["ram_mib"]) != (m.tick, m.totalram >> 8):
                raise ValueError(f"the header says tick {meta['tick']} and {meta['ram_mib']} MiB, "
                                 f"the machine is at tick {m.tick} with {m.totalram >> 8} MiB")
        except ValueError as e:
            raise saves.SaveError(f"{path}: {e}") from None
        return meta, m

    @classmethod
    def from_snapshot(cls, state: dict):
        """A machine from a snapshot, checked whole: its fields (decode()), then every book
        recounted (check_invariants), so that a state whose parts disagree is refused before
        the engine runs on it."""
        values = decode(state)  # before booting: the config of a bad file could ask for 128 GiB
        m = cls(values["config"])
        m._assign(values)
        try:
            check_invariants(m)
        except BrokenInvariant as e:
            raise ValueError(f"the state does not add up: {e}") from None
        return m
