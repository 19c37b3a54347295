"""Page faults (mm/memory.c: handle_mm_fault and friends, mm/huge_memory.c for a THP fault):
resumable over a range of pages, with inline direct reclaim when nothing is protected.
"""

from __future__ import annotations

from oomtui.engine.kernels.buddy import free_pages
from oomtui.engine.kernels.jit import kernel
from oomtui.engine.kernels.lru import lru_add
from oomtui.engine.kernels.mapping import free_anon_page, map_page, new_anon_page, unmap_page
from oomtui.engine.kernels.memcg import try_charge
from oomtui.engine.kernels.pagecache import pc_add, pc_lookup, set_dirty
from oomtui.engine.kernels.pagetables import pt_row
from oomtui.engine.kernels.reclaim import direct_reclaim
from oomtui.engine.kernels.results import (
    OUT_DONE, OUT_MAJFLT, OUT_MINFLT, OUT_NEW_ANON, OUT_RECLAIMED, OUT_STATUS, OUT_SWPIN, OVER_HIGH,
    STATUS_NOMEM, stop,
)
from oomtui.engine.kernels.swap import mem_cgroup_swap_full, swapcache_del
from oomtui.engine.kernels.swapin import shmem_swapin, swap_vma_readahead
from oomtui.engine.state import (
    ANON, F_DIRTY, F_LAZYFREE, F_SWAPCACHE, F_THP, HPAGE_PMD_NR, HPAGE_PMD_ORDER, LC_CHARGE_TO,
    LC_INLINE_RECLAIM, LC_OVER_HIGH, MM_MAJFLT, MM_MINFLT, MM_SWAPENTS, NR_ANON_THPS, PC_SWAP,
    PGFAULT, PGMAJFAULT, PTE_KIND, PTE_PRESENT, PTE_SHIFT, PTE_SWAP, PTE_WRITE, PTE_YOUNG, PTE_ZERO,
    THP_FAULT_ALLOC, THP_FAULT_FALLBACK, THP_FAULT_FALLBACK_CHARGE, V_ANON, V_SHARED, V_WRITE,
)

FAULT_DONE, FAULT_RETRY = range(2)  # else a failure code: NO_MEMORY, NEED_ROOM, MEMCG_FULL


@kernel
def fault_range(k, mm, vstart, npages, vflags, file_id, file_pgoff, anon_id, anon_pgoff, locked,
                write, out):
    """Access npages from vstart in one VMA (permissions already checked by the caller).

    Counts faults and new anon pages into out. Returns True when done; False when an
    allocation failed, a memcg charge failed or tables must grow: out[OUT_DONE] pages were
    done and the caller takes the slow path, then resumes.
    """
    v = vstart
    end = vstart + npages
    while v < end:
        chunk_end = min(end, ((v >> 9) + 1) << 9)
        row = pt_row(fr=k.fr, zn=k.zn, ctr=k.ctr, pt=k.pt, mms=k.mms, rs=k.rs, mm=mm, vpage=v)
        if row < 0:
            return stop(out=out, done=v - vstart, failed=row)
        u = v
        while u < chunk_end:
            i = u - vstart
            status = fault_page(k=k, mm=mm, row=row, u=u, vflags=vflags, file_id=file_id,
                                pgoff=file_pgoff + i, anon_id=anon_id, index=anon_pgoff + i,
                                locked=locked, write=write, out=out)
            if status == FAULT_DONE:
                u += 1
                if k.scratch.ctl[LC_OVER_HIGH]:
                    # each fault returns to user space, where mem_cgroup_handle_over_high
                    # runs (resume_user_mode_work)
                    return stop(out=out, done=i + 1, failed=OVER_HIGH)
            elif status != FAULT_RETRY:
                return stop(out=out, done=i, failed=status)
        v = chunk_end
    return stop(out=out, done=npages, failed=0)


@kernel
def fault_range_reclaiming(k, mm, vstart, npages, vflags, file_id, pgoff, anon_id, locked, write,
                           out):
    """fault_range with the slow path's first step, direct reclaim, taken here instead of in
    Python when LC_INLINE_RECLAIM allows it (no memcg protection to compute): one trip back to
    Python per 32 reclaimed pages cost more than the reclaim. A separate function, so that the fault
    loop itself stays as small as it was. After a fruitless reclaim the page is tried once
    more, then out[OUT_RECLAIMED] tells the caller reclaim has been done."""
    done = 0
    while True:
        ok = fault_range(k=k, mm=mm, vstart=vstart + done, npages=npages - done, vflags=vflags,
                         file_id=file_id, file_pgoff=pgoff + done, anon_id=anon_id,
                         anon_pgoff=pgoff + done, locked=locked, write=write, out=out)
        done += out[OUT_DONE]
        if (ok or out[OUT_STATUS] != STATUS_NOMEM or not k.scratch.ctl[LC_INLINE_RECLAIM]
                or out[OUT_RECLAIMED]):
            out[OUT_DONE] = done
            return ok
        if direct_reclaim(k=k) == 0:
            out[OUT_RECLAIMED] = 1


@kernel(inline="always")  # one call per page: inlined so k's arrays are not passed each time
def fault_page(k, mm, row, u, vflags, file_id, pgoff, anon_id, index, locked, write, out):
    """handle_mm_fault for one page. An allocation may reclaim and so change this PTE:
    then the new page is dropped and the fault retried (FAULT_RETRY)."""
    fr, pt, sw, mms = k.fr, k.pt, k.sw, k.mms
    cg = k.scratch.ctl[LC_CHARGE_TO]
    shared = (vflags & V_SHARED) != 0
    shmem = shared and (vflags & V_ANON) != 0  # MAP_SHARED|MAP_ANONYMOUS is shmem
    e = pt.pte[row, u & 511]
    kind = e & PTE_KIND
    major = False
    faulted = False
    if kind == PTE_SWAP:
        # do_swap_page: map the page read-only unless this write makes it exclusive.
        slot = e >> PTE_SHIFT
        p, major = swap_vma_readahead(k=k, mm=mm, row=row, u=u, anon_id=anon_id, slot=slot)
        if p < 0:
            return p
        if major:
            out[OUT_SWPIN] += 1
        fr.owner[p] = anon_id
        fr.index[p] = index
        sw.map[slot] -= 1
        mms.rss[mm, MM_SWAPENTS] -= 1
        map_page(fr=k.fr, lru=k.lru, ctr=k.ctr, mms=k.mms, mm=mm, p=p, locked=locked)
        e = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
        exclusive = sw.map[slot] == 0 and fr.mapcount[p] == 1
        if exclusive and (write or locked or mem_cgroup_swap_full(lru=k.lru, sw=k.sw,
                                                                  cg=fr.memcg[p])):
            swapcache_del(fr=k.fr, lru=k.lru, ctr=k.ctr, sw=k.sw, p=p)  # should_try_to_free_swap
        if exclusive and vflags & V_WRITE:
            e |= PTE_WRITE  # exclusive: mapped writable at once, even on a read fault (6.11+)
        pt.pte[row, u & 511] = e
        kind = PTE_PRESENT
        faulted = True
    if kind == PTE_PRESENT and (not write or e & PTE_WRITE):
        pt.pte[row, u & 511] = e | PTE_YOUNG  # the accessed bit is set
        if write:
            p = e >> PTE_SHIFT
            set_dirty(fr=k.fr, ctr=k.ctr, rs=k.rs, p=p)
            if fr.flags[p] & (F_LAZYFREE | F_SWAPCACHE):
                fr.flags[p] |= F_DIRTY  # re-dirtied: not dropped without (re)writing it
        if faulted:
            count_fault(ctr=k.ctr, mms=k.mms, mm=mm, major=major, out=out)
        return FAULT_DONE
    if kind == PTE_ZERO and not write:
        pt.pte[row, u & 511] = e | PTE_YOUNG
        return FAULT_DONE
    new_anon = False
    if shared:
        # do_shared_fault / wp_page_shared: the page cache page itself is mapped.
        if kind == PTE_PRESENT:
            p = e >> PTE_SHIFT
        else:
            p = pc_lookup(pc=k.pc, file_id=file_id, pgoff=pgoff)
            if p <= PC_SWAP:
                p, major = shmem_swapin(k=k, file_id=file_id, pgoff=pgoff, slot=PC_SWAP - p)
                if p < 0:
                    return p
                if major:
                    out[OUT_SWPIN] += 1
            elif p < 0:
                p = pc_add(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, pc=k.pc,
                           rs=k.rs, sw=k.sw, file_id=file_id, pgoff=pgoff, shmem=shmem)
                if p < 0:
                    return p
                major = not shmem  # a shmem page is zero-filled, a file page is read
            map_page(fr=k.fr, lru=k.lru, ctr=k.ctr, mms=k.mms, mm=mm, p=p, locked=locked)
        pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
        if write:
            pte |= PTE_WRITE
            set_dirty(fr=k.fr, ctr=k.ctr, rs=k.rs, p=p)
    elif kind == PTE_PRESENT:
        # do_wp_page: reuse an exclusive anon page, else copy it (CoW).
        old = e >> PTE_SHIFT
        if fr.type[old] == ANON and fr.mapcount[old] == 1 and not (
                fr.flags[old] & F_SWAPCACHE and sw.map[fr.swap[old]] > 0):
            p = old
            if fr.flags[p] & F_LAZYFREE:
                fr.flags[p] |= F_DIRTY
            if fr.flags[p] & F_SWAPCACHE:
                # wp reuse frees the stale swap copy
                swapcache_del(fr=k.fr, lru=k.lru, ctr=k.ctr, sw=k.sw, p=p)
        else:
            p = new_anon_page(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, rs=k.rs,
                              anon_id=anon_id, index=index, cg=cg)
            if p < 0:
                return p
            if pt.pte[row, u & 511] != e:  # reclaim took the old page meanwhile
                free_anon_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, p=p)
                return FAULT_RETRY
            new_anon = True
            unmap_page(fr=k.fr, zn=k.zn, lru=k.lru, ctr=k.ctr, sw=k.sw, mms=k.mms, mm=mm, p=old,
                       locked=locked)
            map_page(fr=k.fr, lru=k.lru, ctr=k.ctr, mms=k.mms, mm=mm, p=p, locked=locked)
        pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
    elif kind == PTE_ZERO or (file_id < 0 and write):
        # do_anonymous_page on a write, or the CoW of the zero page.
        p = new_anon_page(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, rs=k.rs,
                          anon_id=anon_id, index=index, cg=cg)
        if p < 0:
            return p
        new_anon = True
        map_page(fr=k.fr, lru=k.lru, ctr=k.ctr, mms=k.mms, mm=mm, p=p, locked=locked)
        pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
    elif file_id < 0:
        pte = PTE_ZERO | PTE_YOUNG  # read of untouched private anon: the zero page
    else:
        # do_read_fault / do_cow_fault on a private file mapping.
        c = pc_lookup(pc=k.pc, file_id=file_id, pgoff=pgoff)
        if c < 0:
            c = pc_add(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, pc=k.pc, rs=k.rs,
                       sw=k.sw, file_id=file_id, pgoff=pgoff, shmem=False)
            if c < 0:
                return c
            major = True
        if write:
            # may reclaim c: it is not needed again
            p = new_anon_page(fr=k.fr, zn=k.zn, lru=k.lru, ctl=k.scratch.ctl, ctr=k.ctr, rs=k.rs,
                              anon_id=anon_id, index=index, cg=cg)
            if p < 0:
                return p
            new_anon = True
            pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
        else:
            p = c
            pte = (p << PTE_SHIFT) | PTE_PRESENT | PTE_YOUNG
        map_page(fr=k.fr, lru=k.lru, ctr=k.ctr, mms=k.mms, mm=mm, p=p, locked=locked)
    pt.pte[row, u & 511] = pte
    if new_anon:
        out[OUT_NEW_ANON] += 1
    count_fault(ctr=k.ctr, mms=k.mms, mm=mm, major=major, out=out)
    return FAULT_DONE


@kernel
def count_fault(ctr, mms, mm, major, out):
    """mm_account_fault: pgfault always, then the task's major or minor count."""
    ctr.vm[PGFAULT] += 1
    if major:
        ctr.vm[PGMAJFAULT] += 1
        mms.flt[mm, MM_MAJFLT] += 1
        out[OUT_MAJFLT] += 1
    else:
        mms.flt[mm, MM_MINFLT] += 1
        out[OUT_MINFLT] += 1


@kernel
def do_huge_pmd_anonymous_page(k, mm, vpage, p, anon_id, index, locked, out):
    """Map the order-9 block p at the 2 MiB-aligned vpage: charged to the memcg, one fault,
    every subpage a new inactive anon page behind a writable PTE of the deposited table.
    A charge the memcg refuses frees the block (thp_fault_fallback_charge): out[OUT_DONE]
    is 0 then, HPAGE_PMD_NR when mapped."""
    fr, ctr, pt = k.fr, k.ctr, k.pt
    row = pt_row(fr=k.fr, zn=k.zn, ctr=k.ctr, pt=k.pt, mms=k.mms, rs=k.rs, mm=mm, vpage=vpage)
    if row < 0:
        return stop(out=out, done=0, failed=row)
    cg = k.scratch.ctl[LC_CHARGE_TO]
    # mem_cgroup_charge: no memcg OOM for a THP
    if not try_charge(lru=k.lru, ctl=k.scratch.ctl, cg=cg, n=HPAGE_PMD_NR):
        free_pages(fr=k.fr, zn=k.zn, ctr=k.ctr, p=p, order=HPAGE_PMD_ORDER)
        ctr.vm[THP_FAULT_FALLBACK] += 1
        ctr.vm[THP_FAULT_FALLBACK_CHARGE] += 1
        return stop(out=out, done=0, failed=0)
    for i in range(HPAGE_PMD_NR):
        q = p + i
        fr.index[q] = index + i
        fr.memcg[q] = cg
        fr.flags[q] = F_THP
        lru_add(fr=k.fr, lru=k.lru, p=q)
        map_page(fr=k.fr, lru=k.lru, ctr=k.ctr, mms=k.mms, mm=mm, p=q, locked=locked)
        pt.pte[row, i] = (q << PTE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_YOUNG
    ctr.vm[NR_ANON_THPS] += HPAGE_PMD_NR
    ctr.vm[THP_FAULT_ALLOC] += 1
    out[OUT_NEW_ANON] += 1
    count_fault(ctr=k.ctr, mms=k.mms, mm=mm, major=False, out=out)
    return stop(out=out, done=HPAGE_PMD_NR, failed=0)
