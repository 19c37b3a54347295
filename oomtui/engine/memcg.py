"""memcg v2, as the engine runs it (mm/memcontrol.c; KERNEL.md §7): the cgroup tree and its
settings, the kernel's memcg arithmetic, and `Memcg`, the service behind Machine's cgroup calls.

The page counters are arrays of the Lru group, one row per memcg (row 0 is the root): the
kernels charge there in batches through the per-cpu stock (kernels.try_charge, refill_stock,
drain_all_stock; KERNEL.md §7), and uncharge page by page (try_charge_swap, uncharge). `Memcg`
copies them into the tree (`copy_counters`) whenever the arithmetic or a view needs them, and
handles what the kernels hand back: a charge refused at memory.max (`charge_failed`: reclaim,
retry, the memcg OOM killer) and pages charged over memory.high (`handle_over_high`: reclaim,
then the throttle penalty, computed by `high_penalty_jiffies` and served as a stall).

Units: settings are stored in bytes, already rounded down to whole pages as the kernel stores
them (page_counter_memparse), and None means "max"; usage, swap_usage and peak are in pages.
Every limit comparison is made in pages, as struct page_counter holds pages.

Not modelled: memory.swap.high (so the throttle penalty has no swap term),
memory.swap.peak, the memory_localevents mount option, resetting memory.peak per open file.
The memory_recursiveprot mount option is the `recursive_prot` argument of the protection
functions (the engine runs without it).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.constants import HZ, MEMCG_CHARGE_BATCH, PAGE_COUNTER_MAX, PAGE_SIZE
from oomtui.engine.state import grow_rows

MEMCG_MAX_HIGH_DELAY_JIFFIES = 2 * HZ
MEMCG_DELAY_PRECISION_SHIFT = 20
MEMCG_DELAY_SCALING_SHIFT = 14
EVENTS = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")  # memory.events keys in 6.18
U64 = 2**64 - 1  # the kernel does this arithmetic in unsigned long / u64, which wraps

# create()/set() keyword -> (MemCgroup attribute, cgroupfs file)
SETTINGS = {
    "memory_min": ("min", "memory.min"),
    "memory_low": ("low", "memory.low"),
    "memory_high": ("high", "memory.high"),
    "memory_max": ("max", "memory.max"),
    "swap_max": ("swap_max", "memory.swap.max"),
    "oom_group": ("oom_group", "memory.oom.group"),
}
NAME_MAX = 255


def _err(code: int, message: str) -> OSError:
    return OSError(code, message)


def _new_events() -> dict:
    return dict.fromkeys(EVENTS, 0)


@dataclass(eq=False)
class MemCgroup:
    """One cgroup of the v2 memory controller (struct mem_cgroup + its page_counters)."""

    path: str
    """The root is "/"; the others look like "/db" or "/db/replica"."""
    parent: MemCgroup | None = field(repr=False)
    children: list = field(default_factory=list, repr=False)
    """Child cgroups in creation order (the css sibling list)."""
    min: int | None = 0
    """memory.min in bytes (a page multiple); None = "max"."""
    low: int | None = 0
    high: int | None = None
    max: int | None = None
    swap_max: int | None = None
    oom_group: bool = False
    usage: int = 0
    """Pages charged here and below (memory.current / PAGE_SIZE); maintained by the engine."""
    swap_usage: int = 0
    """Swap entries charged here and below, in pages."""
    peak: int = 0
    """The highest usage seen, in pages (the page_counter watermark)."""
    events: dict = field(default_factory=_new_events)
    """memory.events: hierarchical counts."""
    events_local: dict = field(default_factory=_new_events)
    """memory.events.local: this cgroup's own counts."""
    id: int = field(default=0, init=False)
    """The engine's index for it (its lruvec row); the root is 0."""

    def pages(self, name: str) -> int:
        """A size setting ("min", "low", "high", "max", "swap_max") in pages; "max" is
        PAGE_COUNTER_MAX, as struct page_counter stores it."""
        value = getattr(self, name)
        return PAGE_COUNTER_MAX if value is None else value // PAGE_SIZE


# ---- parsing and validation ----------------------------------------------------------------

_SHIFTS = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
_DIGITS = "0123456789abcdef"


def _memparse(text: str) -> tuple[int, str]:
    """memparse(): simple_strtoull(base 0) and a K/M/G/T/P/E suffix; returns (u64, rest)."""
    s, base = text, 10
    if s[:1] == "0":  # _parse_integer_fixup_radix: "0x" + a hex digit is hex, other "0..." octal
        base = 16 if s[1:2] in ("x", "X") and s[2:3] != "" and s[2:3].lower() in _DIGITS else 8
        s = s[2:] if base == 16 else s
    n = 0
    while n < len(s) and s[n].lower() in _DIGITS[:base]:
        n += 1
    value, rest = (int(s[:n], base) if n else 0), s[n:]
    if rest[:1].lower() in _SHIFTS:
        value, rest = value << _SHIFTS[rest[0].lower()], rest[1:]
    return value & U64, rest  # simple_strtoull and the shifts wrap silently


def _to_pages(nbytes: int) -> int:
    # page_counter_memparse: bytes / PAGE_SIZE rounded down, capped at PAGE_COUNTER_MAX
    return min((nbytes & U64) // PAGE_SIZE, PAGE_COUNTER_MAX)


def _stored(pages: int) -> int | None:
    """Pages as a stored setting: bytes, or None when it reached PAGE_COUNTER_MAX ("max")."""
    return None if pages >= PAGE_COUNTER_MAX else pages * PAGE_SIZE


def parse_size(text: str) -> int | None:
    """A memory.min/low/high/max or memory.swap.max write as the kernel reads it.

    page_counter_memparse: surrounding whitespace stripped, exactly "max" -> None, else
    memparse (decimal, 0x hex or 0 octal, one optional K/M/G/T/P/E suffix in either case,
    nothing after it), rounded DOWN to whole pages. The kernel's quirks are kept: "" and "k"
    mean 0, "1.5G" and "512MB" are EINVAL, "0x1e" is 30 (e is a hex digit), 16E wraps to 0,
    and anything from 8E up is capped to PAGE_COUNTER_MAX, which is "max".
    Returns bytes (a multiple of PAGE_SIZE) or None.
    """
    if not isinstance(text, str):
        raise _err(errno.EINVAL, f"a size must be a string like '512M' or 'max', got {text!r}")
    buf = text.strip(" \t\n\v\f\r")  # strstrip
    if buf == "max":
        return None
    value, rest = _memparse(buf)
    if rest:
        raise _err(errno.EINVAL, f"invalid size {text!r}: unexpected {rest!r} (use e.g. 512M, 2G, "
                                 "100K, plain bytes or max)")
    return _stored(_to_pages(value))


def _check_count(what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _err(errno.EINVAL, f"{what} must be an int >= 0, got {value!r}")
    return value


def _setting(key: str, value) -> tuple[str, object]:
    """A create()/set() keyword validated and converted to (attribute, stored value)."""
    attr, file = SETTINGS[key]
    if key == "oom_group":
        # memory_oom_group_write: only 0 or 1
        if not isinstance(value, int) or value not in (0, 1):
            raise _err(errno.EINVAL, f"{file} must be True/False (1/0), got {value!r}")
        return attr, bool(value)
    if value is None:
        return attr, None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _err(errno.EINVAL, f"{file} must be bytes as an int >= 0 or None for max, got "
                                 f"{value!r} (parse_size() reads '512M' or 'max')")
    return attr, _stored(_to_pages(value))  # written as a decimal byte count


def _check_path(path) -> None:
    if not isinstance(path, str) or not path.startswith("/"):
        raise _err(errno.EINVAL, f"a cgroup path is absolute, like '/' or '/db', got {path!r}")
    if path == "/":
        return
    for part in path[1:].split("/"):
        if part in ("", ".", ".."):
            raise _err(errno.EINVAL, f"bad cgroup path {path!r}: empty, '.' or '..' component")
        if "\n" in part:  # cgroup_mkdir
            raise _err(errno.EINVAL, f"bad cgroup path {path!r}: a name cannot contain a newline")
        if len(part.encode()) > NAME_MAX:
            raise _err(errno.ENAMETOOLONG, f"cgroup name longer than {NAME_MAX} bytes in {path!r}")


# ---- the tree ------------------------------------------------------------------------------

class CgroupTree:
    """The memory controller's hierarchy. The root "/" always exists and takes no limits
    (cgroup v2 has no memory.min/low/high/max/swap.max/oom.group files on the root)."""

    def __init__(self) -> None:
        self.root = MemCgroup("/", None)
        self._by_path: dict[str, MemCgroup] = {"/": self.root}

    def get(self, path: str) -> MemCgroup:
        _check_path(path)
        cg = self._by_path.get(path)
        if cg is None:
            raise _err(errno.ENOENT, f"no such cgroup: {path}")
        return cg

    def create(self, path: str, *, memory_min=0, memory_low=0, memory_high=None, memory_max=None,
               swap_max=None, oom_group=False) -> MemCgroup:
        """mkdir + writing the given files, all or nothing."""
        _check_path(path)
        if path in self._by_path:
            raise _err(errno.EEXIST, f"cgroup {path} already exists")
        parent_path = path.rsplit("/", 1)[0] or "/"
        parent = self._by_path.get(parent_path)
        if parent is None:
            raise _err(errno.ENOENT, f"cannot create {path}: no parent cgroup {parent_path}")
        given = dict(memory_min=memory_min, memory_low=memory_low, memory_high=memory_high,
                     memory_max=memory_max, swap_max=swap_max, oom_group=oom_group)
        values = dict(_setting(k, v) for k, v in given.items())
        cg = MemCgroup(path, parent, **values)
        parent.children.append(cg)
        self._by_path[path] = cg
        return cg

    def set(self, path: str, **changes) -> MemCgroup:
        """Write the given settings (create()'s keywords); the others stay as they are.

        As in the kernel, a memory.max or memory.high below the current usage is accepted:
        the writer then reclaims (memory_high_write) or reclaims and OOM-kills
        (memory_max_write, one `oom` event per attempt). That is the engine's part.
        """
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise TypeError(f"set() got unknown keyword(s) {unknown}; known: {sorted(SETTINGS)}")
        cg = self.get(path)
        if changes and cg is self.root:
            files = ", ".join(SETTINGS[k][1] for k in changes)
            raise _err(errno.EINVAL, f"the root cgroup has no {files} (cgroup v2 sets no limits "
                                     "on the root)")
        values = dict(_setting(k, v) for k, v in changes.items())
        for attr, value in values.items():
            setattr(cg, attr, value)
        return cg

    def remove(self, path: str) -> None:
        """rmdir. The engine checks for member processes itself.

        The kernel lets an empty cgroup go while pages are still charged to it (it lingers as
        a dying memcg); oomtui refuses with EBUSY instead, so every charge has a live owner.
        """
        cg = self.get(path)
        if cg is self.root:
            raise _err(errno.EBUSY, "the root cgroup cannot be removed")
        if cg.children:
            raise _err(errno.EBUSY, f"cgroup {path} has child cgroups: "
                                    f"{', '.join(c.path for c in cg.children)}")
        if cg.usage or cg.swap_usage:
            raise _err(errno.EBUSY, f"cgroup {path} still has {cg.usage} pages and "
                                    f"{cg.swap_usage} swap pages charged")
        cg.parent.children.remove(cg)
        del self._by_path[path]

    def walk(self, path: str = "/") -> Iterator[MemCgroup]:
        """The cgroup and its descendants, pre-order (css_for_each_descendant_pre)."""
        stack = [self.get(path)]
        while stack:
            cg = stack.pop()
            yield cg
            stack.extend(reversed(cg.children))

    def ancestors(self, path: str) -> list[MemCgroup]:
        """The cgroup, its parent, ... up to and including the root."""
        cg, chain = self.get(path), []
        while cg is not None:
            chain.append(cg)
            cg = cg.parent
        return chain

    def _below_root(self, path: str) -> list[MemCgroup]:
        # the kernel's `do { ... } while ((memcg = parent_mem_cgroup(memcg)) &&
        # !mem_cgroup_is_root(memcg))`: the cgroup and its ancestors short of the root
        return self.ancestors(path)[:-1] or [self.root]

    def count_event(self, path: str, name: str, n: int = 1) -> None:
        """memcg_memory_event: events_local on the cgroup; events on it and its ancestors,
        stopping below the root (the root only counts events raised on itself)."""
        cg = self.get(path)
        if name not in EVENTS:
            raise _err(errno.EINVAL, f"unknown memory event {name!r}; known: {', '.join(EVENTS)}")
        _check_count("n", n)
        cg.events_local[name] += n
        for c in self._below_root(path):
            c.events[name] += n

    def stat(self, path: str) -> dict:
        """The cgroup's memory files, keyed by file name; sizes in bytes, "max" for no limit."""
        cg = self.get(path)

        def show(value):  # seq_puts_memcg_tunable
            return "max" if value is None else value

        return {
            "memory.current": cg.usage * PAGE_SIZE,
            "memory.min": show(cg.min),
            "memory.low": show(cg.low),
            "memory.high": show(cg.high),
            "memory.max": show(cg.max),
            "memory.swap.current": cg.swap_usage * PAGE_SIZE,
            "memory.swap.max": show(cg.swap_max),
            "memory.peak": cg.peak * PAGE_SIZE,
            "memory.oom.group": int(cg.oom_group),
            "memory.events": dict(cg.events),
            "memory.events.local": dict(cg.events_local),
        }


# ---- memory.high throttling ----------------------------------------------------------------

def calculate_overage(usage_pages: int, high_pages: int) -> int:
    """How far usage is over high, in 1/2^20 units of high; 0 when usage <= high."""
    # calculate_overage: ((usage - high) << 20) / max(high, 1)
    if usage_pages <= high_pages:
        return 0
    high = max(high_pages, 1)
    return ((usage_pages - high) << MEMCG_DELAY_PRECISION_SHIFT & U64) // high


def calculate_high_delay(overage: int, nr_pages: int, *, cap: bool = True) -> int:
    """Penalty jiffies for nr_pages charged over high: overage² · HZ / 2^34 per 64 pages,
    in wrapping u64 arithmetic as in C; capped at MEMCG_MAX_HIGH_DELAY_JIFFIES unless
    cap=False. The "no sleep at <= HZ/100" rule is throttle_sleeps()."""
    # calculate_high_delay
    if not overage:
        return 0
    penalty = overage * overage * HZ & U64
    penalty >>= MEMCG_DELAY_PRECISION_SHIFT + MEMCG_DELAY_SCALING_SHIFT
    penalty = (penalty * nr_pages & U64) // MEMCG_CHARGE_BATCH
    return min(penalty, MEMCG_MAX_HIGH_DELAY_JIFFIES) if cap else penalty


def throttle_sleeps(penalty_jiffies: int) -> bool:
    """Whether a penalty is worth sleeping for."""
    # mem_cgroup_handle_over_high: "if (penalty_jiffies <= HZ / 100) goto out"
    return penalty_jiffies > HZ // 100


# ---- memory.min / memory.low ---------------------------------------------------------------

def effective_protection(usage: int, setting: int, parent_effective: int, parent_usage: int,
                         siblings_protected_usage: int, recursive_prot: bool = False) -> int:
    """A cgroup's effective min or low in pages, from its usage and setting, the parent's
    effective value and usage, and Σ min(usage, setting) over the parent's children
    (children_min_usage / children_low_usage, this cgroup included). The kernel's argument
    order differs (usage, parent_usage, setting, ...); the arithmetic is its, u64 wrap included."""
    # effective_protection (mm/page_counter.c)
    protected = min(usage, setting)
    if siblings_protected_usage > parent_effective:  # siblings over-claim: share by usage
        return (protected * parent_effective & U64) // siblings_protected_usage
    ep = protected
    if (recursive_prot and parent_effective > siblings_protected_usage
            and parent_usage > siblings_protected_usage and usage > protected):
        unclaimed = (parent_effective - siblings_protected_usage) * (usage - protected) & U64
        ep += unclaimed // (parent_usage - siblings_protected_usage)
    return ep & U64


def effective_min_low(tree: CgroupTree, path: str, root_of_reclaim: str = "/", *,
                      recursive_prot: bool = False) -> tuple[int, int]:
    """(emin, elow) in pages for `path` in a reclaim of the subtree at root_of_reclaim
    ("/" for global reclaim, the limited cgroup for a memcg reclaim).

    Computed top-down as the reclaim walk does: the reclaim root's children get their own
    settings (not capped by usage), deeper levels effective_protection(). The reclaim root
    itself and the root cgroup get (0, 0) (mem_cgroup_protection). A cgroup without usage
    also gets (0, 0); the kernel keeps stale values then, but a group with no pages counts as
    protected whatever they are (the reclaim kernels skip it: usage <= emin)."""
    # mem_cgroup_calculate_protection -> page_counter_calculate_protection
    chain, root = tree.ancestors(path), tree.get(root_of_reclaim)
    if root not in chain:
        raise _err(errno.EINVAL, f"cgroup {path} is not inside the reclaim root {root_of_reclaim}")
    if chain[0] is root or chain[0] is tree.root:
        return 0, 0
    emin = elow = 0
    parent = root
    for cg in reversed(chain[:chain.index(root)]):  # from the root's child down to `path`
        if not cg.usage:
            return 0, 0
        if parent is root:
            emin, elow = cg.pages("min"), cg.pages("low")
        else:
            # propagate_protected_usage keeps these sums: Σ min(usage, setting) of the children
            kids_min = sum(min(c.usage, c.pages("min")) for c in parent.children)
            kids_low = sum(min(c.usage, c.pages("low")) for c in parent.children)
            emin = effective_protection(cg.usage, cg.pages("min"), emin, parent.usage, kids_min,
                                        recursive_prot)
            elow = effective_protection(cg.usage, cg.pages("low"), elow, parent.usage, kids_low,
                                        recursive_prot)
        parent = cg
    return emin, elow


# ---- memcg OOM -----------------------------------------------------------------------------

def mem_cgroup_get_max(tree: CgroupTree, path: str, total_swap_pages: int, swappiness: int) -> int:
    """totalpages for a memcg OOM in `path` (the cgroup whose limit was hit): its own
    memory.max plus min(memory.swap.max, total swap) when vm.swappiness != 0 (cgroup v2 has
    no per-cgroup swappiness); ancestors' limits play no part. 0 becomes 1, as
    constrained_alloc does with `mem_cgroup_get_max(oc->memcg) ?: 1`."""
    # mem_cgroup_get_max
    cg = tree.get(path)
    total = cg.pages("max")
    if swappiness:
        total += min(cg.pages("swap_max"), total_swap_pages)
    return total or 1


# ---- the engine's memcg ---------------------------------------------------------------------

LRU_STAT = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")


def copy_limits(lru, cg: MemCgroup) -> None:
    """A cgroup's limits into its page counters, where the kernels compare them."""
    lru.max[cg.id] = cg.pages("max")
    lru.high[cg.id] = cg.pages("high")
    lru.swap_max[cg.id] = cg.pages("swap_max")


def copy_counters(lru, cgroups) -> None:
    """The kernels' page counters into the tree (for its arithmetic and memory.* files)."""
    for cg in cgroups:
        cg.usage = int(lru.usage[cg.id])
        cg.swap_usage = int(lru.swap[cg.id])
        cg.peak = int(lru.peak[cg.id])


class Memcg:
    """The memory controller of a Machine `m`: its cgroups by id (the lruvec rows of m.lru),
    memcg reclaim, charge failures, memory.high throttling and the memcg OOM. It works on
    m's state groups and through m's other services (m.oom, m.writeback, m.stalls)."""

    def __init__(self, m):
        self.m = m
        self.tree = CgroupTree()
        self.by_id: list[MemCgroup] = [self.tree.root]
        self.walks: dict[int, np.ndarray] = {}  # reclaim target id -> its subtree's ids, pre-order
        self.protected = False  # any memory.min or memory.low set
        m.lru.scope[S.SCOPE_NWALK] = 1
        m.lru.walk[0] = 0

    # -- the cgroup files ---------------------------------------------------------------------

    def create(self, path: str, **settings) -> None:
        """mkdir PATH and write its memory files (CgroupTree.create's keywords)."""
        m = self.m
        cg = self.tree.create(path, **settings)
        cg.id = len(self.by_id)
        self.by_id.append(cg)
        if cg.id >= m.lru.usage.size:
            cap = m.lru.usage.size
            m.lru = grow_rows(m.lru, cap * 2, cap)
        m.lru.parent[cg.id] = cg.parent.id
        self.walks.clear()
        self._limits_changed(cg)
        self.reclaim_scope(self.tree.root, protection=False)  # in-kernel reclaim walks it too
        m.log("cgroup", 0, f"cgroup {path} created", path=path)

    def set(self, path: str, **changes) -> None:
        """Write memory files of an existing cgroup. A memory.high below usage reclaims at
        once (memory_high_write); a memory.max below usage reclaims, then OOM-kills inside
        the group until it fits (memory_max_write)."""
        unknown = sorted(set(changes) - set(SETTINGS))
        if unknown:
            raise _err(errno.EINVAL, f"unknown cgroup setting(s) {', '.join(unknown)}: use "
                                     "memory_min, memory_low, memory_high, memory_max, swap_max, "
                                     "oom_group")
        cg = self.tree.set(path, **changes)
        self._limits_changed(cg)
        if "memory_high" in changes:
            self._memory_high_write(cg)
        if "memory_max" in changes:
            self._memory_max_write(cg)

    def stat(self, path: str) -> dict:
        """The cgroup's memory.* files (sizes in bytes, "max" for no limit), memory.stat's
        LRU lines (bytes, this group and below) and memory.swap.events; and "stock": the
        bytes of memory.current that the per-cpu charge stock holds for this group and below
        (charged, not yet used by any page; no kernel file shows it). The root's own pages
        and swap entries are never charged (try_charge returns at once for the root): its
        memory.current, memory.peak and memory.swap.current are its children's charges (the
        kernel shows none of the three on the root), its memory.stat counts every page."""
        m = self.m
        cg = self.tree.get(path)
        self.sync_usage()
        out = self.tree.stat(path)
        ids = self.walk(cg)
        sizes = m.lru.size[ids].sum(axis=0)
        out["memory.stat"] = {name: int(sizes[i]) * PAGE_SIZE for i, name in enumerate(LRU_STAT)}
        out["stock"] = int(m.lru.stock_pages[np.isin(m.lru.stock_memcg, ids)].sum()) * PAGE_SIZE
        fails = int(m.lru.swap_fail[ids].sum())
        out["memory.swap.events"] = {"max": fails, "fail": fails}
        out["cgroup.procs"] = [q.pid for q in m.procs.values() if q.cgroup == cg.path]
        return out

    def _limits_changed(self, cg: MemCgroup) -> None:
        lru = self.m.lru
        copy_limits(lru, cg)
        self.protected = any(c.min or c.low for c in self.by_id)
        if not self.protected:
            lru.emin[:] = lru.elow[:] = 0

    def sync_usage(self) -> None:
        copy_counters(self.m.lru, self.by_id)

    def of(self, p) -> MemCgroup:
        """The memcg a task charges to (the root for the kernel's own allocations)."""
        return self.tree.get(p.cgroup) if p is not None else self.tree.root

    def walk(self, cg: MemCgroup) -> np.ndarray:
        ids = self.walks.get(cg.id)
        if ids is None:
            ids = np.array([c.id for c in self.tree.walk(cg.path)], dtype=np.int32)
            self.walks[cg.id] = ids
        return ids

    # -- reclaim ------------------------------------------------------------------------------

    def reclaim_scope(self, target: MemCgroup, protection: bool = True) -> None:
        """Point the reclaim kernels at target's subtree (the whole tree for the root), with
        every group's effective memory.min/low (computed once per reclaim call, unless the
        scope is only being reset: every reclaim that needs it computes it again)."""
        lru = self.m.lru
        ids = self.walk(target)
        lru.walk[:ids.size] = ids
        lru.scope[S.SCOPE_NWALK] = ids.size
        lru.scope[S.SCOPE_CGROUP_RECLAIM] = target.id != 0
        if self.protected and protection:
            self.sync_usage()
            for i in ids:
                cg = self.by_id[i]
                lru.emin[i], lru.elow[i] = effective_min_low(self.tree, cg.path, target.path)

    def _reclaimed(self, freed) -> int:
        """Count the `low` events the reclaim raised (it reclaimed groups under memory.low)."""
        lru = self.m.lru
        for i in np.nonzero(lru.low_events)[0]:
            self.tree.count_event(self.by_id[i].path, "low", int(lru.low_events[i]))
        lru.low_events[:] = 0
        return int(freed)

    def global_reclaim(self, kernel) -> int:
        """Run a reclaim kernel (kswapd's, direct reclaim's) over every memcg: pages freed."""
        self.reclaim_scope(self.tree.root)
        return self._reclaimed(kernel(self.m.k))

    def reclaim(self, cg: MemCgroup, nr_pages: int) -> int:
        """try_to_free_mem_cgroup_pages: pages freed."""
        self.reclaim_scope(cg)
        freed = self._reclaimed(K.memcg_reclaim(k=self.m.k, nr_pages=nr_pages))
        self.reclaim_scope(self.tree.root, protection=False)
        return freed

    # -- what a charge hands back ---------------------------------------------------------------

    def charge_failed(self, current, tries: int) -> int:
        """try_charge_memcg once page_counter_try_charge failed: a `max` event, reclaim inside
        the memcg at its limit, retry while reclaim progresses (16 fruitless tries at most),
        then mem_cgroup_oom. Returns the fruitless tries so far; raises ENOMEM when nothing
        in the memcg may be killed."""
        m = self.m
        cg = self.by_id[int(m.scratch.ctl[S.LC_OVER_LIMIT])]
        self.tree.count_event(cg.path, "max")
        if (self.reclaim(cg, 1) or m.lru.usage[cg.id] < m.lru.max[cg.id]
                or m.writeback.wait(current)):
            return 0
        if K.drain_all_stock(lru=m.lru, cg=cg.id):  # once the stock is empty, retry
            return tries
        if tries < K.MAX_RECLAIM_RETRIES:
            return tries + 1
        self.tree.count_event(cg.path, "oom")
        if self._out_of_memory(cg, current):
            return 0
        raise _err(errno.ENOMEM, f"{cg.path} is at memory.max ({cg.pages('max') * 4} kB) and "
                                 "has no process the OOM killer may kill: the charge fails")

    def handle_over_high(self, current) -> None:
        """mem_cgroup_handle_over_high: reclaim the pages charged over memory.high, and when
        reclaim cannot keep up, make the task sleep the kernel's penalty (at most 2 s)."""
        m = self.m
        lru = m.lru
        nr_pages = int(m.scratch.ctl[S.LC_OVER_HIGH])
        m.scratch.ctl[S.LC_OVER_HIGH] = 0
        if not nr_pages or current is None or current.pid not in m.procs:
            return
        start = self.of(current)
        chain = [c for c in self.tree.ancestors(start.path) if c.id != 0]
        retries, in_retry = K.MAX_RECLAIM_RETRIES, False
        while True:
            freed = 0
            for c in chain:  # reclaim_high
                if lru.usage[c.id] <= lru.high[c.id]:
                    continue
                self.tree.count_event(c.path, "high")
                freed += self.reclaim(c, K.SWAP_CLUSTER_MAX if in_retry else nr_pages)
            penalty = self.high_penalty_jiffies(start, nr_pages)
            if not penalty:
                return
            if freed or retries:
                retries -= 0 if freed else 1
                in_retry = True
                continue
            m.stalls.stall(current, "throttled", penalty * (1_000_000 // HZ))
            m.log("throttle", current.pid,
                  f"{current.comm}[{current.pid}] throttled {penalty} ms: {start.path} is "
                  f"over memory.high", jiffies=penalty, pages=nr_pages)
            return

    def high_penalty_jiffies(self, cg: MemCgroup, nr_pages: int) -> int:
        """The sleep mem_cgroup_handle_over_high owes a task of cg that charged nr_pages over
        memory.high (current->memcg_nr_pages_over_high): the worst overage in the page
        counters of cg and its ancestors short of the root, capped at 2 s; 0 when that is not
        worth a sleep. Without swap.high there is no swap term."""
        # mem_find_max_overage + calculate_high_delay + the clamp in mem_cgroup_handle_over_high
        lru = self.m.lru
        overage = max((calculate_overage(int(lru.usage[c.id]), int(lru.high[c.id]))
                       for c in self.tree.ancestors(cg.path) if c.id != 0), default=0)
        penalty = calculate_high_delay(overage, nr_pages)
        return penalty if throttle_sleeps(penalty) else 0

    # -- writes below usage -------------------------------------------------------------------

    def _memory_high_write(self, cg: MemCgroup) -> None:
        """memory_high_write: reclaim down to the new high; never OOM."""
        retries = K.MAX_RECLAIM_RETRIES
        m = self.m
        if m.lru.usage[cg.id] > m.lru.high[cg.id]:
            K.drain_all_stock(lru=m.lru, cg=cg.id)  # the stock's charges first
        while m.lru.usage[cg.id] > m.lru.high[cg.id]:
            if not (self.reclaim(cg, int(m.lru.usage[cg.id] - m.lru.high[cg.id]))
                    or m.writeback.wait(None)):
                retries -= 1
                if retries < 0:
                    break

    def _memory_max_write(self, cg: MemCgroup) -> None:
        """memory_max_write: reclaim (16 fruitless tries), then OOM-kill until usage fits."""
        retries = K.MAX_RECLAIM_RETRIES
        m = self.m
        if m.lru.usage[cg.id] > m.lru.max[cg.id]:
            K.drain_all_stock(lru=m.lru, cg=cg.id)  # the stock's charges first
        while m.lru.usage[cg.id] > m.lru.max[cg.id]:
            if retries:
                if not (self.reclaim(cg, int(m.lru.usage[cg.id] - m.lru.max[cg.id]))
                        or m.writeback.wait(None)):
                    retries -= 1
                continue
            self.tree.count_event(cg.path, "oom")
            if not self._out_of_memory(cg, None):
                break

    # -- the memcg OOM --------------------------------------------------------------------------

    def _out_of_memory(self, cg: MemCgroup, current) -> bool:
        """mem_cgroup_out_of_memory: kill inside cg (totalpages = its max + swap.max).
        False when nothing there may be killed."""
        m = self.m
        self.sync_usage()
        totalpages = mem_cgroup_get_max(self.tree, cg.path, m.swap_areas.total_pages(),
                                        m.sysctl("vm.swappiness"))
        return m.oom.kill(current, memcg=cg, totalpages=totalpages)

    def oom_info(self, cg: MemCgroup) -> dict:
        """mem_cgroup_print_oom_meminfo's numbers, kB."""
        lru = self.m.lru
        stat = self.stat(cg.path)
        return {"usage": int(lru.usage[cg.id]) * 4,
                "limit": None if cg.max is None else cg.max >> 10,
                "failcnt": cg.events["max"], "swap_usage": int(lru.swap[cg.id]) * 4,
                "swap_limit": None if cg.swap_max is None else cg.swap_max >> 10,
                "swap_failcnt": stat["memory.swap.events"]["fail"],
                "stat": stat["memory.stat"]}
