"""Read-only views for the TUI: frames by type, where one process's frames
are, the states of a process's pages, kswapd, and MemAvailable's terms.

Nothing here changes the machine. Costs: frame_grid is one nogil pass over the frames (about
10 ms for 16 GiB); the per-process parts cost in proportion to the process's page tables, never
to RAM size. The numba kernels below take every constant as an argument and call no other
module's kernels, so their on-disk cache cannot go stale when kernels/ or state.py change.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping

import numpy as np
from numba import njit

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.config import ZONE_NAMES, check_int
from oomtui.engine.vma import err

# What a cell of the physical-memory grid can show, in priority order for a frame:
# mlocked beats swap cache beats dirty beats the frame's type.
FRAME_KINDS = ("free", "anon", "file", "dirty", "shmem", "slab", "pagetable", "kernel",
               "mlocked", "swapcache")
_KIND = {name: i for i, name in enumerate(FRAME_KINDS)}  # "free" is 0 (_dominant_kinds relies on it)
_KIND_OF_TYPE = np.array([_KIND[name] for name in S.FRAME_TYPE_NAMES], dtype=np.uint8)

# States of a virtual page, as the VMA pane shows them.
PAGE_STATES = ("untouched", "zero", "resident", "swapped", "locked", "read-only")
UNTOUCHED = 0
# Grid values past the kinds: the selected process's frames (apportioned like a kind), and the
# pixels the last compaction run moved pages out of and into (drawn over the kinds by the TUI).
HIGHLIGHT, MOVED_FROM, MOVED_TO = range(len(FRAME_KINDS), len(FRAME_KINDS) + 3)
MAX_PIXELS = 1 << 20  # per zone or VMA: more than any screen has cells


@njit(cache=True, nogil=True)
def _take_owed(owed, counts, n):
    """Add a cell's counts to what each kind is owed and draw the cell as the kind owed the
    most (the cell's own commonest wins a tie), which is then paid the cell's n units."""
    best = 0
    for k in range(owed.size):
        owed[k] += counts[k]
        if owed[k] > owed[best] or (owed[k] == owed[best] and counts[k] > counts[best]):
            best = k
    owed[best] -= n
    return best


@njit(cache=True, nogil=True)
def apportion(counts):
    """For cells' counts by kind (cells × kinds): the kind each cell is drawn as (-1 for an
    empty cell). Over every run of cells, each kind's cells hold its share of the counts to
    within a few cells, and a cell holding one kind only is drawn as it (_take_owed)."""
    out = np.full(counts.shape[0], -1, dtype=np.int64)
    owed = np.zeros(counts.shape[1], dtype=np.int64)
    for i in range(counts.shape[0]):
        n = counts[i].sum()
        if n:
            out[i] = _take_owed(owed, counts[i], n)
    return out


@njit(cache=True, nogil=True)
def _apportioned_kinds(ftype, flags, mlock, selected, lo, hi, npix, kind_of_type, dirty_bit,
                       swapcache_bit, k_file, k_dirty, k_mlocked, k_swapcache, k_selected,
                       nkinds, out):
    """out[i] = the kind drawn for the frames [lo + i*per, lo + (i+1)*per) of [lo, hi),
    apportioned as apportion() does (255 past the zone's end). Frames with selected[pfn] set
    are kind k_selected (selected is empty when no process is selected)."""
    per = (hi - lo + npix - 1) // npix
    counts = np.zeros(nkinds, dtype=np.int64)
    owed = np.zeros(nkinds, dtype=np.int64)
    for i in range(npix):
        a = lo + i * per
        b = min(a + per, hi)
        if a >= b:
            out[i] = 255
            continue
        counts[:] = 0
        for p in range(a, b):
            k = kind_of_type[ftype[p]]
            if selected.size and selected[p]:
                k = k_selected
            elif k == 0:  # free: no flags to look at (most of an idle machine)
                pass
            elif mlock[p] > 0:
                k = k_mlocked
            elif flags[p] & swapcache_bit:
                k = k_swapcache
            elif k == k_file and flags[p] & dirty_bit:
                k = k_dirty
            counts[k] += 1
        out[i] = _take_owed(owed, counts, b - a)


@njit(cache=True, nogil=True)
def _mark_mapped(rows, pte, kind_mask, present, shift, selected):
    """selected[pfn] = 1 for every present PTE in the given PTE-table rows."""
    for r in rows:
        for j in range(512):
            e = pte[r, j]
            if e & kind_mask == present:
                selected[e >> shift] = 1


@njit(cache=True, nogil=True)
def _count_states(starts, rows, pte, first, npages, locked, kind_mask, k_zero, k_swap,
                  k_present, write_bit, counts):
    """counts[bucket, state] for the PTEs of [first, first + npages) in the given rows; the
    states are PAGE_STATES' indexes (untouched 0, zero 1, resident 2, swapped 3, locked 4,
    read-only 5). Present pages of a locked VMA are locked (mlock is per VMA)."""
    buckets = counts.shape[0]
    for i in range(rows.size):
        lo = max(starts[i], first)
        hi = min(starts[i] + 512, first + npages)
        for v in range(lo, hi):
            e = pte[rows[i], v - starts[i]]
            kind = e & kind_mask
            if kind == k_zero:
                st = 1
            elif kind == k_swap:
                st = 3
            elif kind == k_present:
                st = 4 if locked else 2 if e & write_bit else 5
            else:
                continue
            counts[(v - first) * buckets // npages, st] += 1


def check_pixels(pixels) -> dict[str, int]:
    """A split of the grid: zone names (any of ZONE_NAMES) to pixel counts 0..MAX_PIXELS."""
    if not isinstance(pixels, Mapping):
        raise err(errno.EINVAL, f"pixels must map zone names to pixel counts, got {pixels!r}")
    for name in pixels:
        if not isinstance(name, str) or name not in ZONE_NAMES:
            raise err(errno.EINVAL, f"unknown zone {name!r}: use {', '.join(ZONE_NAMES)}")
    return {name: check_int(f"pixels[{name!r}]", npix, 0, MAX_PIXELS)
            for name, npix in pixels.items()}


def check_pfns(pfns) -> np.ndarray:
    """Frame numbers: a flat integer array (as compaction_moves gives)."""
    if not isinstance(pfns, np.ndarray) or pfns.ndim != 1 or \
            (pfns.size and pfns.dtype.kind not in "iu"):
        raise err(errno.EINVAL, f"pfns must be a flat integer array of frame numbers, got {pfns!r}")
    return pfns


class Views:
    """Views the TUI draws from, of a Machine `m` (Machine's methods of the same names)."""

    def __init__(self, m):
        self.m = m

    def frame_grid(self, pixels: dict[str, int], p=None) -> dict[str, np.ndarray]:
        """For each zone named in `pixels`, its frames split evenly into that many pixels, each
        the index in FRAME_KINDS of the kind drawn there (255 for a pixel past the zone's end),
        or HIGHLIGHT for frames process `p` maps. Kinds are apportioned (_apportioned_kinds):
        each kind's share of a zone's pixels is its share of the zone's frames."""
        pixels = check_pixels(pixels)
        fr, zn, out = self.m.fr, self.m.zn, {}
        selected = np.zeros(0, dtype=np.uint8)
        if p is not None:
            selected = np.zeros(fr.type.size, dtype=np.uint8)
            _mark_mapped(self._tables(p)[1], self.m.pt.pte, S.PTE_KIND, S.PTE_PRESENT,
                         S.PTE_SHIFT, selected)
        kinds = {k: _KIND[k] for k in ("file", "dirty", "mlocked", "swapcache")}
        for name, npix in pixels.items():
            z = ZONE_NAMES.index(name)
            lo, hi = int(zn.start[z]), int(zn.start[z + 1])
            levels = np.full(npix, 255, dtype=np.uint8)
            if npix and hi > lo:
                _apportioned_kinds(fr.type, fr.flags, fr.mlock, selected, lo, hi, npix,
                                   _KIND_OF_TYPE, S.F_DIRTY, S.F_SWAPCACHE, kinds["file"],
                                   kinds["dirty"], kinds["mlocked"], kinds["swapcache"],
                                   HIGHLIGHT, HIGHLIGHT + 1, levels)
            out[name] = levels
        return out

    def frames_per_pixel(self, pixels: dict[str, int]) -> dict[str, int]:
        """For the same split as frame_grid(pixels): per zone, the frames one pixel stands for."""
        out = {}
        for name, npix in check_pixels(pixels).items():
            z = ZONE_NAMES.index(name)
            frames = int(self.m.zn.start[z + 1] - self.m.zn.start[z])
            out[name] = -(-frames // npix) if npix else 0
        return out

    def frame_pixels_at(self, pfns: np.ndarray, pixels: dict[str, int]) -> dict[str, np.ndarray]:
        """For the same split as frame_grid(pixels): per zone, which pixels hold one of these
        frames (bool arrays)."""
        pfns, pixels = check_pfns(pfns), check_pixels(pixels)
        zn, out = self.m.zn, {}
        for name, npix in pixels.items():
            z = ZONE_NAMES.index(name)
            lo, hi = int(zn.start[z]), int(zn.start[z + 1])
            mark = np.zeros(npix, dtype=bool)
            inside = pfns[(pfns >= lo) & (pfns < hi)]
            if npix and inside.size:
                mark[(inside - lo) // ((hi - lo + npix - 1) // npix)] = True
            out[name] = mark
        return out

    def _tables(self, p, first: int = 0, end: int = S.TASK_SIZE >> S.PAGE_SHIFT):
        """(first virtual page, pool row) of each PTE table of the process's mm that maps a
        page of [first, end) (virtual page numbers)."""
        mm = p.mm.id
        pt = self.m.pt
        # Keys of one mm's PTE tables run from pt_key(mm, 0, 0) up to its first PMD key.
        base = int(K.pt_key(mm=mm, level=0, idx=0))
        lo, hi = base + (first >> 9), min(
            base + ((end + 511) >> 9), int(K.pt_key(mm=mm, level=1, idx=0))
        )
        hit = (pt.keys >= lo) & (pt.keys < hi)
        return (pt.keys[hit] - base) << 9, pt.vals[hit]

    def page_states(self, p, addr: int, length: int, buckets: int) -> np.ndarray:
        """Counts of PAGE_STATES in each of `buckets` equal slices of [addr, addr + length)
        (inside one VMA): shape (buckets, len(PAGE_STATES)). A page without a PTE table is
        untouched; a present page of a VM_LOCKED VMA is locked."""
        addr = check_int("addr", addr, 0, S.TASK_SIZE)
        length = check_int("length", length, 0, S.TASK_SIZE - addr)
        buckets = check_int("buckets", buckets, 1, MAX_PIXELS)
        first = addr >> S.PAGE_SHIFT
        npages = length >> S.PAGE_SHIFT
        buckets = max(1, min(buckets, npages))
        m = self.m
        starts, rows = self._tables(p, first, first + npages)
        vma = p.mm.find(addr)
        locked = vma is not None and bool(vma.flags & S.V_LOCKED)
        counts = np.zeros((buckets, len(PAGE_STATES)), dtype=np.int64)
        _count_states(starts, rows, m.pt.pte, first, npages, locked, S.PTE_KIND, S.PTE_ZERO,
                      S.PTE_SWAP, S.PTE_PRESENT, S.PTE_WRITE, counts)
        obj = m.file_by_id.get(vma.file) if vma is not None else None
        if obj is not None and obj.shmem and m.sw.used.any():  # swapped shmem has no PTE
            K.pc_walk(
                k=m.k,
                file_id=obj.id,
                first=vma.pgoff_at(addr),
                npages=npages,
                action=K.WALK_COUNT_SWAPPED,
                counts=counts,
                col=PAGE_STATES.index("swapped"),
            )
        # Page i is in bucket i*buckets//npages, so bucket b starts at ceil(b*npages/buckets).
        edges = (np.arange(buckets + 1) * npages + buckets - 1) // buckets
        counts[:, UNTOUCHED] += np.diff(edges) - counts.sum(axis=1)
        return counts

    def kswapd_state(self) -> dict:
        """kswapd0: awake, its consecutive fruitless runs, and the order it was woken for."""
        st = self.m.rs.state
        return {"awake": bool(st[S.RS_KSWAPD_AWAKE]), "failures": int(st[S.RS_KSWAPD_FAILURES]),
                "order": int(st[S.RS_KSWAPD_ORDER])}

    def mem_available_terms(self) -> dict[str, int]:
        """The inputs of si_mem_available (KERNEL.md §10), pages: MemAvailable = free −
        totalreserve + pagecache − min(pagecache/2, low) + reclaimable − min(reclaimable/2, low)."""
        m = self.m
        lru = m.lru.size.sum(axis=0)  # the node's LRU lists: every memcg's added up
        return {"free": int(m.zn.free.sum()), "totalreserve": int(m.totalreserve),
                "pagecache": int(lru[S.LRU_INACTIVE_FILE] + lru[S.LRU_ACTIVE_FILE]),
                "low": int(m.zn.wmark[:, S.WMARK_LOW].sum()),
                "reclaimable": int(m.ctr.vm[S.NR_SLAB_R])}

    # -- the terms behind the gauges (the TUI formats them and never recomputes a formula) ----

    KSWAPD_MAX_FAILURES = K.MAX_RECLAIM_RETRIES
    """kswapd_failures at which kswapd stops waking: the node is hopeless (balance_pgdat)."""

    def watermark_terms(self) -> dict[str, dict[str, int]]:
        """Per zone, the terms of __setup_per_zone_wmarks (KERNEL.md §4), pages: managed,
        lowmem, tmp, min, delta, low, high, promo; from the code that sets the watermarks."""
        from oomtui.engine import zones

        m = self.m
        terms = zones.watermark_terms(m.managed, m.sysctl("vm.min_free_kbytes"),
                                      m.sysctl("vm.watermark_scale_factor"))
        return dict(zip(ZONE_NAMES, terms))

    def commit_limit_terms(self) -> dict[str, int]:
        """The terms of vm_commit_limit (KERNEL.md §3), pages (kbytes in kB): limit =
        (kbytes/4 if kbytes else (totalram − hugetlb) × ratio/100) + swap, as commit_limit()."""
        m = self.m
        return {"mode": m.sysctl("vm.overcommit_memory"), "ratio": m.sysctl("vm.overcommit_ratio"),
                "kbytes": m.sysctl("vm.overcommit_kbytes"), "totalram": m.totalram,
                "hugetlb": 0,  # no hugetlb pages are modelled
                "swap": m.total_swap_pages(), "limit": m.commit_limit()}
