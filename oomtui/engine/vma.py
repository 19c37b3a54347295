"""Address spaces: VMAs, their flags, and the search for free ranges (mm/mmap.c, mm/vma.c)."""

from __future__ import annotations

import bisect
import errno
from dataclasses import dataclass, field, replace

from oomtui.engine.constants import PAGE_SIZE
from oomtui.engine.gaps import Gaps
from oomtui.engine.state import (
    PAGE_SHIFT, TASK_SIZE, V_ACCOUNT, V_ANON, V_EXEC, V_GROWSDOWN, V_LOCKED, V_READ, V_SHARED,
    V_WRITE,
)

PAGE = PAGE_SIZE
MMAP_MIN_ADDR = 65536  # vm.mmap_min_addr
MMAP_BASE = 0x7FFFF7FFF000  # top-down mmap base of an x86_64 process without ASLR
STACK_TOP = 0x7FFFFFFFF000
STACK_SIZE = 132 << 10  # the initial [stack] VMA exec sets up
BRK_BASE = 0x555555559000  # start_brk right after a PIE binary, without ASLR


def err(code: int, message: str) -> OSError:
    return OSError(code, message)


def page_align(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


def parse_prot(prot: str) -> int:
    if not isinstance(prot, str):
        raise err(errno.EINVAL, f"prot must be a string like 'rw', not {prot!r}")
    if prot in ("none", ""):
        return 0
    bits = {"r": V_READ, "w": V_WRITE, "x": V_EXEC}
    if any(c not in bits for c in prot) or len(set(prot)) != len(prot):
        raise err(errno.EINVAL, f"bad prot {prot!r}: use letters from 'rwx', or 'none'")
    out = 0
    for c in prot:
        out |= bits[c]
    return out


def prot_str(vflags: int) -> str:
    return "".join(c if vflags & b else "-" for c, b in (("r", V_READ), ("w", V_WRITE), ("x", V_EXEC)))


MMAP_FLAGS = ("private", "shared", "anonymous", "noreserve", "populate", "locked", "fixed")


def parse_mmap_flags(flags: str) -> frozenset[str]:
    if not isinstance(flags, str):
        raise err(errno.EINVAL, f"flags must be a string like 'private|anonymous', not {flags!r}")
    words = [w.strip() for w in flags.split("|") if w.strip()]
    words = ["anonymous" if w == "anon" else w for w in words]
    bad = [w for w in words if w not in MMAP_FLAGS]
    if bad:
        raise err(errno.EINVAL, f"unknown mmap flag {bad[0]!r}: use {', '.join(MMAP_FLAGS)}")
    out = frozenset(words)
    if ("private" in out) == ("shared" in out):
        raise err(errno.EINVAL, "mmap flags need exactly one of 'private' or 'shared'")
    return out


@dataclass
class Vma:
    """One mapping [start, end) of an mm; flags are the V_* bits of state.py."""
    start: int
    end: int
    flags: int
    file: int = -1  # file id (shmem object for shared anon), -1 for private anon
    pgoff: int = 0  # file page offset of start; for anon: linear index, kept across mremap
    anon: int = -1  # anon id: rmap identity of this VMA's anon pages, kept across fork/split
    has_anon: bool = False  # anon pages were ever faulted in (the kernel's vma->anon_vma)
    name: str = ""

    @property
    def pages(self) -> int:
        return (self.end - self.start) >> PAGE_SHIFT

    def pgoff_at(self, addr: int) -> int:
        return self.pgoff + ((addr - self.start) >> PAGE_SHIFT)

    def split(self, addr: int) -> tuple[Vma, Vma]:
        lo = replace(self, end=addr)
        hi = replace(self, start=addr, pgoff=self.pgoff_at(addr))
        return lo, hi

    def mergeable(self, nxt: Vma) -> bool:
        """is_mergeable_vma + anon_vma compatibility: same flags, contiguous offsets."""
        return (self.end == nxt.start and self.flags == nxt.flags and self.file == nxt.file
                and self.pgoff_at(self.end) == nxt.pgoff and self.name == nxt.name
                and (self.anon == nxt.anon or not self.has_anon or not nxt.has_anon))


def is_data(flags: int) -> bool:
    """is_data_mapping: private writable, not stack."""
    return flags & (V_WRITE | V_SHARED | V_GROWSDOWN) == V_WRITE


def accountable(flags: int) -> bool:
    """accountable_mapping: charged to commit iff private and writable (and not NORESERVE)."""
    return bool(flags & V_ACCOUNT)


# Bumped when VMAs are added, grow or merge (not when removed: see Mm.carve), so the
# reverse-map index knows when to catch up.
GENERATION = [0]


def vmas_changed() -> None:
    """An mm joined or left with its VMAs: the reverse map catches up."""
    GENERATION[0] += 1


def _count(vmas) -> tuple[int, int, int, int, int, int]:
    """Pages of `vmas` (total, locked, data, stack, exec, accounted)."""
    total = locked = data = stack = exe = account = 0
    for v in vmas:
        n, f = v.pages, v.flags
        total += n
        locked += n if f & V_LOCKED else 0
        data += n if is_data(f) else 0
        stack += n if f & V_GROWSDOWN else 0
        exe += n if f & (V_EXEC | V_WRITE | V_GROWSDOWN) == V_EXEC else 0  # is_exec_mapping
        account += n if f & V_ACCOUNT else 0
    return total, locked, data, stack, exe, account


@dataclass
class Mm:
    """An address space (struct mm_struct)."""
    id: int
    vmas: list[Vma] = field(default_factory=list)  # sorted by start, never overlapping
    start_brk: int = BRK_BASE
    brk: int = BRK_BASE
    def_flags: int = 0  # V_LOCKED after mlockall(MCL_FUTURE)
    hiwater_rss: int = 0  # VmHWM, pages
    hiwater_vm: int = 0  # VmPeak, pages
    # Derived, not fields (a save holds none of them): the reverse map's log of the VMAs
    # added, changed or dropped (RmapIndex.log, None while the mm is not live); _counts'
    # answer and the free gaps between the VMAs, which every change below keeps up to date
    # once made (None: not made yet).
    log = None
    _counted = None
    _gaps = None

    def find(self, addr: int) -> Vma | None:
        """The VMA containing addr (vma_lookup)."""
        i = bisect.bisect_right(self.vmas, addr, key=_start) - 1
        if i >= 0 and self.vmas[i].end > addr:
            return self.vmas[i]
        return None

    def _span(self, start: int, end: int) -> tuple[int, int]:
        """Indexes [lo, hi) of the VMAs overlapping [start, end), by bisection (the VMAs are
        sorted and disjoint, so their ends are sorted too)."""
        lo = bisect.bisect_right(self.vmas, start, key=_end)
        hi = bisect.bisect_left(self.vmas, end, lo=lo, key=_start)
        return lo, hi

    def overlapping(self, start: int, end: int) -> list[Vma]:
        lo, hi = self._span(start, end)
        return self.vmas[lo:hi]

    def overlaps(self, start: int, end: int) -> bool:
        """Some VMA overlaps [start, end) (without listing them all: a span may hold many)."""
        lo, hi = self._span(start, end)
        return lo < hi

    def covered(self, start: int, end: int) -> bool:
        """True if [start, end) has no hole."""
        pos = start
        for v in self.overlapping(start, end):
            if v.start > pos:
                return False
            pos = v.end
        return pos >= end

    def cuts_inside(self, start: int, end: int) -> bool:
        """[start, end) lies strictly inside one VMA: unmapping it splits that VMA in three."""
        v = self.find(start)
        return v is not None and v.start < start and end < v.end

    def splits(self, start: int, end: int, change) -> int:
        """The splits giving [start, end) new flags (change: old flags -> new) takes: vma_modify
        splits a VMA the range cuts, at each cut, unless the piece cut off merges with the
        neighbour on its far side instead (vma_merge_existing_range). VMAs whose flags do not
        change are left alone (mprotect_fixup, mlock_fixup)."""
        inside = self.overlapping(start, end)
        if not inside:
            return 0
        first, last = inside[0], inside[-1]
        n = 0
        if first.start < start and change(first.flags) != first.flags:
            if end < first.end:
                return 2  # the middle of one VMA: a split at each end
            piece = replace(first, start=start, flags=change(first.flags), pgoff=first.pgoff_at(start))
            nxt = self.find(first.end)
            n += nxt is None or not piece.mergeable(nxt)
        if end < last.end and change(last.flags) != last.flags:
            piece = replace(last, end=end, flags=change(last.flags))
            prev = self.find(last.start - 1)  # already changed if inside the range
            if prev is not None and prev.end > start:
                prev = replace(prev, flags=change(prev.flags))
            n += prev is None or not prev.mergeable(piece)
        return n

    def _counts(self) -> tuple[int, int, int, int, int, int]:
        """Pages (total, locked, data, stack, exec, accounted) of all the VMAs: counted once,
        then kept up to date by what insert adds and carve removes."""
        if self._counted is None:
            self._counted = _count(self.vmas)
        return self._counted

    def _tally(self, vmas, sign: int) -> None:
        if self._counted is not None:
            self._counted = tuple(c + sign * d for c, d in zip(self._counted, _count(vmas)))

    def total_vm(self) -> int:
        return self._counts()[0]

    def locked_vm(self) -> int:
        return self._counts()[1]

    def data_vm(self) -> int:
        return self._counts()[2]

    def stack_vm(self) -> int:
        return self._counts()[3]

    def exec_vm(self) -> int:
        return self._counts()[4]

    def committed(self) -> int:
        return self._counts()[5]

    def is_free(self, start: int, end: int) -> bool:
        return MMAP_MIN_ADDR <= start < end <= TASK_SIZE and not self.overlaps(start, end)

    def unmapped_area(self, length: int, hint: int | None) -> int:
        """get_unmapped_area: the hint if free, else the highest gap below MMAP_BASE
        (top-down), else the lowest above TASK_UNMAPPED_BASE (bottom-up); each found in the
        gap index in steps of the address bits (vm_unmapped_area's gap search)."""
        if hint is not None:
            hint = page_align(hint)
            if self.is_free(hint, hint + length):
                return hint
        gaps, n = self._gap_index(), length >> PAGE_SHIFT
        i = bisect.bisect_left(self.vmas, MMAP_BASE, key=_start)  # the gap MMAP_BASE cuts
        if MMAP_BASE - self._floor(i) >= length:
            return MMAP_BASE - length
        top = gaps.highest((MMAP_BASE >> PAGE_SHIFT) - 1, n)
        if top is not None:
            return (top << PAGE_SHIFT) - length
        base = TASK_SIZE // 3 & ~(PAGE - 1)  # TASK_UNMAPPED_BASE fallback
        i = bisect.bisect_right(self.vmas, base, key=_start)  # the gap above base's VMA
        if self._floor(i) <= base:  # base itself is free: the gap is cut there
            if self._ceiling(i) - base >= length:
                return base
            i += 1
        if i <= len(self.vmas):
            up = gaps.lowest(self._ceiling(i) >> PAGE_SHIFT, n)
            if up is not None:
                return (up - gaps.size(up)) << PAGE_SHIFT
        raise err(errno.ENOMEM, f"no free range of {length >> 10} kB in the address space")

    # The free gaps: gap i lies below VMA i (the last one below TASK_SIZE), from the end of
    # VMA i - 1 (or MMAP_MIN_ADDR).

    def _floor(self, i: int) -> int:
        return self.vmas[i - 1].end if i else MMAP_MIN_ADDR

    def _ceiling(self, i: int) -> int:
        return self.vmas[i].start if i < len(self.vmas) else TASK_SIZE

    def _gap_index(self) -> Gaps:
        if self._gaps is None:
            self._gaps = Gaps()
            self._regap(0, len(self.vmas) + 1)
        return self._gaps

    def _ungap(self, lo: int, hi: int) -> None:
        """Forget gaps lo..hi-1 (the VMAs above them are about to change)."""
        if self._gaps is not None:
            for i in range(lo, hi):
                self._gaps.set(self._ceiling(i) >> PAGE_SHIFT, 0)

    def _regap(self, lo: int, hi: int) -> None:
        """Index gaps lo..hi-1 as they are now."""
        if self._gaps is not None:
            for i in range(lo, min(hi, len(self.vmas) + 1)):
                self._gaps.set(self._ceiling(i) >> PAGE_SHIFT,
                               (self._ceiling(i) - self._floor(i)) >> PAGE_SHIFT)

    def _changed(self, vma: Vma) -> None:
        """vma was added or grew (the page counts are kept up to date by the caller)."""
        GENERATION[0] += 1
        self._logged([vma], self.id)

    def _logged(self, vmas, mm: int) -> None:
        """Tell the reverse map: vmas were added or changed in place (mm: this mm's id) or
        dropped (mm: -1)."""
        if self.log is not None:
            self.log.extend((v, mm) for v in vmas)

    def insert(self, vma: Vma) -> None:
        i = bisect.bisect_right(self.vmas, vma.start, key=_start)
        self.vmas.insert(i, vma)
        self._changed(vma)
        self._tally([vma], 1)
        self._regap(i, i + 2)  # the gap it split: below it and above it

    def resize(self, vma: Vma, end: int) -> None:
        """vma now ends at `end` (a heap or a remapped VMA grown in place)."""
        i = bisect.bisect_right(self.vmas, vma.start, key=_start)
        self._tally([vma], -1)
        vma.end = end
        self._tally([vma], 1)
        self._changed(vma)
        self._regap(i, i + 1)  # the gap above it

    def carve(self, start: int, end: int) -> list[Vma]:
        """Split VMAs at start and end; return (and remove) the pieces inside [start, end).

        The GENERATION is not bumped: a removal leaves the reverse map's rows harmless (a row
        whose PTEs are gone matches no page), so the map catches up at the next addition."""
        lo, hi = self._span(start, end)
        self._ungap(lo, hi)
        self._logged(self.vmas[lo:hi], -1)
        inside, keep = [], []
        for v in self.vmas[lo:hi]:
            if v.start < start:
                before, v = v.split(start)
                keep.append(before)
            if v.end > end:
                v, after = v.split(end)
                keep.append(after)
            inside.append(v)
        self.vmas[lo:hi] = keep
        self._logged(keep, self.id)
        self._tally(inside, -1)
        self._regap(lo, lo + len(keep) + 1)
        return inside

    def merge_around(self, start: int, end: int) -> None:
        """vma_merge for the VMAs touching [start, end] after a change (no page changes hands
        between counts: merged VMAs have the same flags)."""
        GENERATION[0] += 1
        lo, hi = self._span(start, end)
        lo, hi = max(lo - 1, 0), min(hi + 1, len(self.vmas))  # and the neighbours
        out: list[Vma] = []
        for v in self.vmas[lo:hi]:
            prev = out[-1] if out else None
            if prev is not None and prev.end >= start and v.start <= end and prev.mergeable(v):
                prev.end = v.end
                if not prev.has_anon:
                    prev.anon = v.anon
                prev.has_anon = prev.has_anon or v.has_anon
                self._logged([prev], self.id)
                self._logged([v], -1)
                continue
            out.append(v)
        self._ungap(lo, hi)
        self.vmas[lo:hi] = out
        self._regap(lo, lo + len(out) + 1)


def _start(v: Vma) -> int:
    return v.start


def _end(v: Vma) -> int:
    return v.end


def new_stack_vma(anon_id: int) -> Vma:
    start = STACK_TOP - STACK_SIZE
    return Vma(start, STACK_TOP, V_READ | V_WRITE | V_ANON | V_GROWSDOWN | V_ACCOUNT,
               pgoff=start >> PAGE_SHIFT, anon=anon_id, name="[stack]")
