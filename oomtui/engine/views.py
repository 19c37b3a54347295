"""Read-only views for the TUI, mixed into Machine: frames by type (one process's frames
highlighted), the states of a process's pages, kswapd, and MemAvailable's terms.

Nothing here changes the machine. Costs: frame_grid is one nogil pass over the frames (about
10 ms for 16 GiB); the per-process parts cost in proportion to the process's page tables, never
to RAM size. The numba kernels below take every constant as an argument and call no other
module's kernels, so their on-disk cache cannot go stale when kernels.py or state.py change.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.config import ZONE_NAMES

# What a cell of the physical-memory grid can show, in priority order for a frame:
# mlocked beats swap cache beats dirty beats the frame's type.
FRAME_KINDS = ("free", "anon", "file", "dirty", "shmem", "slab", "pagetable", "kernel",
               "mlocked", "swapcache")
_KIND = {name: i for i, name in enumerate(FRAME_KINDS)}
_KIND_OF_TYPE = np.array([_KIND[name] for name in S.FRAME_TYPE_NAMES], dtype=np.uint8)

# States of a virtual page, as the VMA pane shows them.
PAGE_STATES = ("untouched", "zero", "resident", "swapped", "locked", "read-only")
UNTOUCHED = 0
HIGHLIGHT = len(FRAME_KINDS)  # frame_grid: a pixel holding a page of the highlighted process


@njit(cache=True, nogil=True)
def _dominant_kinds(ftype, flags, mlock, lo, hi, npix, kind_of_type, dirty_bit, swapcache_bit,
                    k_file, k_dirty, k_mlocked, k_swapcache, nkinds, out):
    """out[i] = the most common kind among frames [lo + i*per, lo + (i+1)*per) of [lo, hi)."""
    per = (hi - lo + npix - 1) // npix
    counts = np.zeros(nkinds, dtype=np.int64)
    for i in range(npix):
        a = lo + i * per
        b = min(a + per, hi)
        if a >= b:
            out[i] = 255  # past the zone's end
            continue
        counts[:] = 0
        for p in range(a, b):
            k = kind_of_type[ftype[p]]
            if mlock[p] > 0:
                k = k_mlocked
            elif flags[p] & swapcache_bit:
                k = k_swapcache
            elif k == k_file and flags[p] & dirty_bit:
                k = k_dirty
            counts[k] += 1
        best = 0
        for k in range(1, nkinds):
            if counts[k] > counts[best]:
                best = k
        out[i] = best


@njit(cache=True, nogil=True)
def _mark_frames(starts, rows, pte, kind_mask, present, shift, zstart, zbase, zper, out, mark):
    """Set out[pixel of pfn] = mark for every present PTE in the given PTE-table rows."""
    for r in rows:
        for j in range(512):
            e = pte[r, j]
            if e & kind_mask != present:
                continue
            pfn = e >> shift
            z = 0
            while pfn >= zstart[z + 1]:
                z += 1
            out[zbase[z] + (pfn - zstart[z]) // zper[z]] = mark


@njit(cache=True, nogil=True)
def _count_states(starts, rows, pte, mlock, first, npages, kind_mask, k_zero, k_swap, k_present,
                  write_bit, shift, counts):
    """counts[bucket, state] for the PTEs of [first, first + npages) in the given rows; the
    states are PAGE_STATES' indexes (untouched 0, zero 1, resident 2, swapped 3, locked 4,
    read-only 5)."""
    buckets = counts.shape[0]
    for i in range(rows.size):
        for j in range(512):
            v = starts[i] + j
            if v < first or v >= first + npages:
                continue
            e = pte[rows[i], j]
            kind = e & kind_mask
            if kind == k_zero:
                st = 1
            elif kind == k_swap:
                st = 3
            elif kind == k_present:
                if mlock[e >> shift] > 0:
                    st = 4
                elif e & write_bit:
                    st = 2
                else:
                    st = 5
            else:
                continue
            counts[(v - first) * buckets // npages, st] += 1


class ViewCalls:
    """Views the TUI draws from (mixed into Machine)."""

    def frame_grid(self, pixels: dict[str, int], highlight: int | None = None) -> dict[str, np.ndarray]:
        """For each zone named in `pixels`, its frames split evenly into that many pixels, each
        the index in FRAME_KINDS of its most common kind; 255 for a pixel past the zone's end,
        HIGHLIGHT for a pixel holding any frame the process `highlight` maps."""
        fr, zn = self.fr, self.zn
        kinds = {k: _KIND[k] for k in ("file", "dirty", "mlocked", "swapcache")}
        names = list(pixels)
        zstart = np.append(zn.start[:-1], np.iinfo(np.int64).max).astype(np.int64)
        zbase = np.zeros(len(ZONE_NAMES), dtype=np.int64)
        zper = np.ones(len(ZONE_NAMES), dtype=np.int64)
        flat = np.full(sum(pixels.values()), 255, dtype=np.uint8)
        at = 0
        for name in names:
            z, npix = ZONE_NAMES.index(name), pixels[name]
            lo, hi = int(zn.start[z]), int(zn.start[z + 1])
            zbase[z] = at
            if npix and hi > lo:
                zper[z] = (hi - lo + npix - 1) // npix
                _dominant_kinds(fr.type, fr.flags, fr.mlock, lo, hi, npix, _KIND_OF_TYPE,
                                S.F_DIRTY, S.F_SWAPCACHE, kinds["file"], kinds["dirty"],
                                kinds["mlocked"], kinds["swapcache"], len(FRAME_KINDS),
                                flat[at:at + npix])
            at += npix
        if highlight is not None:
            starts, rows = self._tables(highlight)
            _mark_frames(starts, rows, self.pt.pte, S.PTE_KIND, S.PTE_PRESENT, S.PTE_SHIFT,
                         zstart, zbase, zper, flat, HIGHLIGHT)
        out, at = {}, 0
        for name in names:
            out[name] = flat[at:at + pixels[name]]
            at += pixels[name]
        return out

    def _tables(self, pid: int, first: int = 0, end: int = S.TASK_SIZE >> S.PAGE_SHIFT):
        """(first virtual page, pool row) of each PTE table of the process's mm that maps a
        page of [first, end) (virtual page numbers)."""
        mm = self._proc(pid).mm.id
        pt = self.pt
        # Keys of one mm's PTE tables run from pt_key(mm, 0, 0) up to its first PMD key.
        base = int(K.pt_key(mm, 0, 0))
        lo, hi = base + (first >> 9), min(base + ((end + 511) >> 9), int(K.pt_key(mm, 1, 0)))
        hit = (pt.keys >= lo) & (pt.keys < hi)
        return (pt.keys[hit] - base) << 9, pt.vals[hit]

    def page_states(self, pid: int, addr: int, length: int, buckets: int) -> np.ndarray:
        """Counts of PAGE_STATES in each of `buckets` equal slices of [addr, addr + length):
        shape (buckets, len(PAGE_STATES)). A page without a PTE table is untouched."""
        first = addr >> S.PAGE_SHIFT
        npages = length >> S.PAGE_SHIFT
        buckets = max(1, min(buckets, npages))
        starts, rows = self._tables(pid, first, first + npages)
        counts = np.zeros((buckets, len(PAGE_STATES)), dtype=np.int64)
        _count_states(starts, rows, self.pt.pte, self.fr.mlock, first, npages, S.PTE_KIND,
                      S.PTE_ZERO, S.PTE_SWAP, S.PTE_PRESENT, S.PTE_WRITE, S.PTE_SHIFT, counts)
        # Page i is in bucket i*buckets//npages, so bucket b starts at ceil(b*npages/buckets).
        edges = (np.arange(buckets + 1) * npages + buckets - 1) // buckets
        counts[:, UNTOUCHED] += np.diff(edges) - counts.sum(axis=1)
        return counts

    def kswapd_state(self) -> dict:
        """kswapd0: awake, its consecutive fruitless runs, and the order it was woken for."""
        st = self.rs.state
        return {"awake": bool(st[S.RS_KSWAPD_AWAKE]), "failures": int(st[S.RS_KSWAPD_FAILURES]),
                "order": int(st[S.RS_KSWAPD_ORDER])}

    def mem_available_terms(self) -> dict[str, int]:
        """The inputs of si_mem_available (KERNEL.md §10), pages: MemAvailable = free −
        totalreserve + pagecache − min(pagecache/2, low) + reclaimable − min(reclaimable/2, low)."""
        lru = self._lru_sizes()
        return {"free": int(self.zn.free.sum()), "totalreserve": int(self.totalreserve),
                "pagecache": int(lru[S.LRU_INACTIVE_FILE] + lru[S.LRU_ACTIVE_FILE]),
                "low": int(self.zn.wmark[:, S.WMARK_LOW].sum()),
                "reclaimable": int(self.ctr.vm[S.NR_SLAB_R])}
