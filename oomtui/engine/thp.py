"""Transparent huge pages at fault time (mm/huge_memory.c; KERNEL.md §5).

**A transparent huge page** is an order-9 block (2 MiB, 512-aligned pfns) whose 512 frames
stay individual anon pages: each on the LRU, each mapped by its own PTE at the virtual offset
matching its pfn (the PTE table stands for the page table the kernel deposits with a huge PMD,
so VmPTE is the same), all charged to one memcg. The frames carry F_THP while the THP is
intact; meminfo AnonHugePages counts them (vmstat nr_anon_transparent_hugepages counts THPs).
The first time any subpage is handled on its own (unmapped, CoW-copied, reclaimed, made
lazy-free, moved by mremap to a misaligned or partial range) the whole THP is split: the
kernel's split_huge_pmd and split of the folio in one step (it would keep counting a THP still
PMD-mapped by another process after fork). Compaction steps over THPs (compound pages). LRU
ageing sees 512 pages with their own accessed bits rather than one folio.

**A THP fault** (do_huge_pmd_anonymous_page): a write fault on a private anonymous VMA with
THP enabled (thp="always" unless MADV_NOHUGEPAGE; thp="madvise" only with MADV_HUGEPAGE),
where the 2 MiB-aligned range lies wholly in the VMA and has no page table yet (pmd_none).
With the kernel's default defrag "madvise", a MADV_HUGEPAGE VMA allocates with GFP_TRANSHUGE
(direct reclaim and compaction, no kswapd wakeup), any other with GFP_TRANSHUGE_LIGHT (free
lists only). Failure, or a memcg charge refused, falls back to 4 KiB pages
(thp_fault_fallback, thp_fault_fallback_charge). A read fault maps the zero page as before
(the kernel maps the huge zero page).
"""

from __future__ import annotations

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.allocator import AllocResult
from oomtui.engine.state import (
    ANON, HPAGE_PMD_NR, HPAGE_PMD_ORDER, PAGE_SHIFT, V_ANON, V_HUGEPAGE, V_LOCKED, V_NOHUGEPAGE,
    V_SHARED, ZONE_MOVABLE,
)

HPAGE_SIZE = HPAGE_PMD_NR << PAGE_SHIFT


def thp_enabled(mode: str, v) -> bool:
    """thp_vma_allowable_order for a private anonymous VMA at PMD order (mode: the
    machine's transparent_hugepage/enabled)."""
    if mode == "never" or v.flags & V_NOHUGEPAGE or v.flags & V_SHARED or not v.flags & V_ANON:
        return False
    if mode == "madvise" and not v.flags & V_HUGEPAGE:
        return False
    # transhuge_vma_suitable: virtual address and page offset aligned alike
    return ((v.start >> PAGE_SHIFT) - v.pgoff) % HPAGE_PMD_NR == 0


class Thp:
    """THP faults for a Machine `m`."""

    def __init__(self, m):
        self.m = m

    def ranges(self, p, v, s: int, e: int, write: bool) -> list[int]:
        """The 2 MiB-aligned ranges of [s, e) a fault would try to back with a THP."""
        if not write or not thp_enabled(self.m.config.thp, v):
            return []
        first = max(-(-v.start // HPAGE_SIZE) * HPAGE_SIZE, s & ~(HPAGE_SIZE - 1))
        last = min(e - 1, (v.end & ~(HPAGE_SIZE - 1)) - HPAGE_SIZE)
        return [h for h in range(first, last + 1, HPAGE_SIZE)
                if K.pte_table(pt=self.m.pt, mm=p.mm.id, vpage=h >> PAGE_SHIFT) < 0]  # pmd_none

    def fault(self, p, v, haddr: int) -> tuple[bool, AllocResult]:
        """do_huge_pmd_anonymous_page at haddr: (mapped, how it ended). Not mapped but ok:
        fall back to 4 KiB pages (the allocation or the memcg charge failed)."""
        m = self.m
        # defrag "madvise": GFP_TRANSHUGE for MADV_HUGEPAGE VMAs, else GFP_TRANSHUGE_LIGHT
        pfn = m.allocator.alloc_pages(HPAGE_PMD_ORDER, ZONE_MOVABLE, ANON, v.anon, p,
                                      direct=bool(v.flags & V_HUGEPAGE), kswapd=False).pfn
        if pfn < 0:
            m.ctr.vm[S.THP_FAULT_FALLBACK] += 1
            return False, AllocResult()
        mm, vpage, index = p.mm.id, haddr >> PAGE_SHIFT, v.pgoff_at(haddr)
        res = m.allocator.run(
            lambda done, out: K.do_huge_pmd_anonymous_page(
                k=m.k,
                mm=mm,
                vpage=vpage,
                p=pfn,
                anon_id=v.anon,
                index=index,
                locked=bool(v.flags & V_LOCKED),
                out=out,
            ),
            p,
        )
        if not res.ok:  # no page table could be had: the block was never mapped
            K.free_pages(fr=m.fr, zn=m.zn, ctr=m.ctr, p=pfn, order=HPAGE_PMD_ORDER)
        return res.faults > 0, res
