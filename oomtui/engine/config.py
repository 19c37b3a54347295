"""Machine configuration: RAM and zones, swap devices, sysctls (KERNEL.md §0), validation.

Every invalid value raises OSError(EINVAL) naming the field, the value and the allowed range;
an unknown sysctl name raises OSError(ENOENT), as a missing /proc/sys file would.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from numbers import Integral

from . import zones
from .constants import PAGE_SIZE, ZONE_NAMES

RLIM_INFINITY = 2**64 - 1
THP_MODES = ("always", "madvise", "never")

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # C int sysctls (proc_dointvec)
UINT_MAX = 2**32 - 1
ULONG_MAX = 2**64 - 1  # unsigned long sysctls (proc_doulongvec_minmax)
PAGES_PER_MIB = 2**20 // PAGE_SIZE
MIN_RAM_MIB, MAX_RAM_MIB = 16, 131072
# ZONE_DMA spans pfn 1..4095 (below 16 MiB); ZONE_DMA32 the rest of the first 4 GiB.
DMA_MAX_PAGES, DMA32_MAX_PAGES = 4095, 2**32 // PAGE_SIZE - 4096
DMA_MANAGED_PAGES = 3840  # what x86_64 reports as DMA managed: 16 MiB less the firmware's 1 MiB
MAX_SWAP_MIB = 1048576


def _einval(message: str) -> OSError:
    return OSError(errno.EINVAL, message)


def check_int(what: str, value, lo: int, hi: int, why: str = "") -> int:
    """`value` as an int if it is one (bool and float are not) within lo..hi, else EINVAL."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise _einval(f"{what} must be an int, got {type(value).__name__} {value!r}")
    if not lo <= value <= hi:
        raise _einval(f"{what}={value} is out of range {lo}..{hi}{why}")
    return int(value)


@dataclass(frozen=True)
class Sysctl:
    name: str
    default: int | tuple[int, ...] | None  # None: computed at boot (see sysctl_defaults)
    lo: int
    hi: int
    length: int = 1
    doc: str = ""


SYSCTLS: dict[str, Sysctl] = {
    s.name: s
    for s in (
        # mm/util.c (the kernel takes any int as overcommit_ratio; negatives are refused here)
        Sysctl("vm.overcommit_memory", 0, 0, 2,
               doc="0 heuristic, 1 always, 2 strict (CommitLimit)"),
        Sysctl("vm.overcommit_ratio", 50, 0, INT_MAX,
               doc="% of RAM in CommitLimit; writing it zeroes overcommit_kbytes"),
        Sysctl("vm.overcommit_kbytes", 0, 0, ULONG_MAX,
               doc="RAM part of CommitLimit in kB if non-zero; writing it zeroes overcommit_ratio"),
        Sysctl("vm.admin_reserve_kbytes", None, 0, ULONG_MAX,
               doc="mode 2: kB kept back from callers without CAP_SYS_ADMIN"),
        Sysctl("vm.user_reserve_kbytes", None, 0, ULONG_MAX,
               doc="mode 2: cap on the kB kept back per process (total_vm/32)"),
        # mm/vmscan.c, mm/page_alloc.c
        Sysctl("vm.swappiness", 60, 0, 200,
               doc="anon vs file reclaim balance (200: anon only)"),
        Sysctl("vm.min_free_kbytes", None, 0, INT_MAX,
               doc="kB the min watermarks add up to"),
        Sysctl("vm.watermark_scale_factor", 10, 1, 3000,
               doc="min->low->high->promo distance, in 1/10000 of the zone"),
        Sysctl("vm.lowmem_reserve_ratio", (256, 256, 32, 0, 0), INT_MIN, INT_MAX,
               length=len(ZONE_NAMES),
               doc="per zone: 1/ratio of the zones above it is kept from them (< 1: none)"),
        # mm/oom_kill.c
        Sysctl("vm.panic_on_oom", 0, 0, 2,
               doc="0 kill, 1 panic on system-wide OOM, 2 panic on every OOM"),
        Sysctl("vm.oom_kill_allocating_task", 0, INT_MIN, INT_MAX,
               doc="non-zero: kill the allocating task instead of scanning"),
        Sysctl("vm.oom_dump_tasks", 1, INT_MIN, INT_MAX,
               doc="non-zero: list every task in the OOM report"),
        # fs/drop_caches.c: write-only in effect (1 page cache, 2 dentries and inodes, 3 both,
        # 4 quietly); reads give the last value written
        Sysctl("vm.drop_caches", 0, 1, 4,
               doc="1 drop clean page cache, 2 unused dentries and inodes, 3 both"),
        # fs/dcache.c
        Sysctl("vm.vfs_cache_pressure", 100, 0, INT_MAX,
               doc="dentry/inode reclaim weight (0: never)"),
        Sysctl("vm.vfs_cache_pressure_denom", 100, 100, INT_MAX,
               doc="divisor of vfs_cache_pressure (new in 6.18)"),
        # mm/page-writeback.c
        Sysctl("vm.dirty_ratio", 20, 0, 100,
               doc="% of available memory dirty before writers block"),
        Sysctl("vm.dirty_background_ratio", 10, 0, 100,
               doc="% of available memory dirty before the flushers start"),
        # dirty_bytes_min = 2 * PAGE_SIZE; both read 0 until written (their ratio rules then)
        Sysctl("vm.dirty_bytes", 0, 2 * PAGE_SIZE, ULONG_MAX,
               doc="bytes dirty before writers block, if non-zero; writing it zeroes dirty_ratio"),
        Sysctl("vm.dirty_background_bytes", 0, 1, ULONG_MAX,
               doc="bytes dirty before the flushers start, if non-zero; writing it zeroes "
                   "dirty_background_ratio"),
        Sysctl("vm.dirty_expire_centisecs", 3000, 0, INT_MAX,
               doc="age at which dirty data is written by the periodic writeback"),
        Sysctl("vm.dirty_writeback_centisecs", 500, 0, INT_MAX,
               doc="interval of the periodic writeback (0: never)"),
        # mm/swap.c (swap_setup: 2 below 16 MiB of RAM, which the simulator never has)
        Sysctl("vm.page-cluster", 3, 0, 31,
               doc="log2 of the pages read per swap-in"),
        # mm/mmap.c: DEFAULT_MAX_MAP_COUNT = USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN
        Sysctl("vm.max_map_count", 65530, 0, INT_MAX,
               doc="max VMAs per process"),
    )
}


# Writing one of a pair zeroes the other (overcommit_ratio_handler, overcommit_kbytes_handler,
# dirty_*_handler); dirty_ratio and dirty_bytes do so only when their value changes.
ZEROES = {"vm.overcommit_ratio": "vm.overcommit_kbytes",
          "vm.overcommit_kbytes": "vm.overcommit_ratio",
          "vm.dirty_ratio": "vm.dirty_bytes", "vm.dirty_bytes": "vm.dirty_ratio",
          "vm.dirty_background_ratio": "vm.dirty_background_bytes",
          "vm.dirty_background_bytes": "vm.dirty_background_ratio"}
ZEROES_IF_CHANGED = frozenset({"vm.dirty_ratio", "vm.dirty_bytes"})
BYTES_SYSCTLS = ("vm.overcommit_kbytes", "vm.dirty_bytes", "vm.dirty_background_bytes")


def validate_sysctl(name: str, value) -> int | tuple[int, ...]:
    """Check a sysctl write and return the value as the kernel stores it."""
    sysctl = SYSCTLS.get(name) if isinstance(name, str) else None
    if sysctl is None:
        raise OSError(errno.ENOENT, f"no such sysctl: {name}")
    if sysctl.length == 1:
        value = check_int(name, value, sysctl.lo, sysctl.hi)
        # dirty_bytes_handler, dirty_background_bytes_handler: the threshold is a 32-bit count
        if name in ("vm.dirty_bytes", "vm.dirty_background_bytes") and \
                -(-value // PAGE_SIZE) > UINT_MAX:
            raise OSError(errno.ERANGE, f"{name}={value} is more than {UINT_MAX} pages")
        return value
    if not isinstance(value, (tuple, list)) or len(value) != sysctl.length:
        raise _einval(f"{name} takes {sysctl.length} ints (one per zone: {', '.join(ZONE_NAMES)}), "
                      f"got {value!r}")
    checked = (check_int(f"{name}[{i}]", v, sysctl.lo, sysctl.hi) for i, v in enumerate(value))
    # lowmem_reserve_ratio_sysctl_handler stores values < 1 as 0
    return tuple(v if v >= 1 else 0 for v in checked)


def sysctl_defaults(zone_pages, thp: str, *, free_pages: int | None = None) -> dict:
    """Every sysctl's value right after boot: {name: int | tuple}.

    `free_pages` (free at boot, for the reserves) defaults to all managed pages.
    """
    admin, user = zones.boot_reserves(sum(zone_pages) if free_pages is None else free_pages)
    computed = {
        "vm.min_free_kbytes": zones.boot_min_free_kbytes(zone_pages, thp),
        "vm.admin_reserve_kbytes": admin,
        "vm.user_reserve_kbytes": user,
    }
    return {name: computed.get(name, s.default) for name, s in SYSCTLS.items()}


@dataclass(frozen=True)
class SwapDevice:
    size_mib: int
    priority: int | None = None  # None: the kernel assigns -2, -3, ...; explicit: 0..32767

    def __post_init__(self):
        size_mib = check_int("swap size_mib", self.size_mib, 1, MAX_SWAP_MIB)
        object.__setattr__(self, "size_mib", size_mib)
        if self.priority is not None:
            priority = check_int("swap priority", self.priority, 0, 32767)  # SWAP_FLAG_PRIO_MASK
            object.__setattr__(self, "priority", priority)


@dataclass(frozen=True)
class MachineConfig:
    ram_mib: int | None = None  # exactly one of ram_mib / zones
    zones: Mapping[str, int] | None = None  # managed pages per zone name (subset of ZONE_NAMES)
    swap: tuple[SwapDevice, ...] = ()  # a list is accepted and stored as tuple
    sysctl: Mapping[str, int | tuple[int, ...]] = field(default_factory=dict)  # normalized
    thp: str = "madvise"  # "always" | "madvise" | "never"
    tick_ms: int = 10
    seed: int = 0

    def __post_init__(self):
        if (self.ram_mib is None) == (self.zones is None):
            raise _einval(f"give exactly one of ram_mib and zones (got ram_mib={self.ram_mib!r}, "
                          f"zones={self.zones!r})")
        if self.ram_mib is not None:
            ram_mib = check_int("ram_mib", self.ram_mib, MIN_RAM_MIB, MAX_RAM_MIB, " MiB (the "
                                 "simulator keeps per-frame arrays, so RAM is capped at 128 GiB)")
            object.__setattr__(self, "ram_mib", ram_mib)
        else:
            object.__setattr__(self, "zones", _check_zones(self.zones))
        if not isinstance(self.swap, (tuple, list)):
            raise _einval(f"swap must be a list of SwapDevice, got {type(self.swap).__name__}")
        for dev in self.swap:
            if not isinstance(dev, SwapDevice):
                raise _einval(f"swap entries must be SwapDevice, got {dev!r}")
        object.__setattr__(self, "swap", tuple(self.swap))
        object.__setattr__(self, "sysctl", _check_sysctls(self.sysctl))
        if not isinstance(self.thp, str) or self.thp not in THP_MODES:
            raise _einval(f"thp={self.thp!r} must be one of {', '.join(THP_MODES)}")
        object.__setattr__(self, "tick_ms", check_int("tick_ms", self.tick_ms, 1, 1000))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0, 2**63 - 1))

    def zone_pages(self) -> tuple[int, int, int, int, int]:
        """Managed pages per ZONE_NAMES entry."""
        if self.zones is not None:
            return tuple(self.zones.get(name, 0) for name in ZONE_NAMES)
        total = self.ram_mib * PAGES_PER_MIB  # MemTotal = ram_mib * 1024 kB exactly
        dma = min(total, DMA_MANAGED_PAGES)
        dma32 = min(total - dma, DMA32_MAX_PAGES)
        return dma, dma32, total - dma - dma32, 0, 0

    def to_dict(self) -> dict:
        """Plain (msgpack-able) types only."""
        return {
            "ram_mib": self.ram_mib,
            "zones": None if self.zones is None else dict(self.zones),
            "swap": [{"size_mib": d.size_mib, "priority": d.priority} for d in self.swap],
            "sysctl": {k: list(v) if isinstance(v, tuple) else v for k, v in self.sysctl.items()},
            "thp": self.thp,
            "tick_ms": self.tick_ms,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d) -> MachineConfig:
        if not isinstance(d, Mapping):
            raise _einval(f"a MachineConfig dict is needed, got {type(d).__name__}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise _einval(f"unknown MachineConfig field(s): {', '.join(sorted(map(str, unknown)))}")
        kwargs = dict(d)
        swap = kwargs.get("swap", ())
        if not isinstance(swap, (tuple, list)):
            raise _einval(f"swap must be a list, got {type(swap).__name__}")
        kwargs["swap"] = tuple(_swap_from_dict(s) for s in swap)
        return cls(**kwargs)


def _swap_from_dict(d) -> SwapDevice:
    if not isinstance(d, Mapping) or not {"size_mib"} <= set(d) <= {"size_mib", "priority"}:
        raise _einval(f"a swap entry needs size_mib (and optionally priority), got {d!r}")
    return SwapDevice(**d)


def _check_zones(zone_map) -> dict[str, int]:
    if not isinstance(zone_map, Mapping):
        raise _einval(f"zones must map zone names to managed pages, got {type(zone_map).__name__}")
    for name in zone_map:
        if name not in ZONE_NAMES:
            raise _einval(f"zones: unknown zone {name!r} (zones are {', '.join(ZONE_NAMES)})")
    max_pages = MAX_RAM_MIB * PAGES_PER_MIB
    caps = {"DMA": DMA_MAX_PAGES, "DMA32": DMA32_MAX_PAGES}
    checked = {
        name: check_int(f"zones[{name!r}]", zone_map[name], 0, caps.get(name, max_pages), " pages")
        for name in ZONE_NAMES
        if name in zone_map
    }
    check_int("total of zones", sum(checked.values()), MIN_RAM_MIB * PAGES_PER_MIB, max_pages,
               " pages (16 MiB to 128 GiB: the simulator keeps per-frame arrays)")
    if not any(checked.get(name) for name in ("DMA", "DMA32", "Normal")):
        raise _einval(f"zones={checked}: DMA, DMA32 and Normal are all empty, but the kernel needs "
                      "lowmem (__setup_per_zone_wmarks divides by it)")
    return checked


def _check_sysctls(sysctl) -> dict[str, int | tuple[int, ...]]:
    if not isinstance(sysctl, Mapping):
        raise _einval("sysctl must map names like 'vm.swappiness' to values, "
                      f"got {type(sysctl).__name__}")
    checked = {name: validate_sysctl(name, value) for name, value in sysctl.items()}
    for name in BYTES_SYSCTLS:
        ratio, nbytes = checked.get(ZEROES[name]), checked.get(name)
        if ratio and nbytes:
            raise _einval(f"{ZEROES[name]}={ratio} and {name}={nbytes}: only one can be non-zero "
                          "(writing either zeroes the other)")
        if nbytes:
            checked[ZEROES[name]] = 0  # as the write of the bytes would have
    return checked
