"""check_invariants(machine): the engine's conservation laws, recounted from scratch.

A pass over every frame and page-table entry: for tests, never for the hot path.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S


def check_invariants(m) -> None:
    """Raise AssertionError naming the first broken invariant."""
    fr, zn = m.fr, m.zn
    n = fr.type.size
    types = np.bincount(fr.type, minlength=len(S.FRAME_TYPE_NAMES))
    lru = np.zeros(S.NR_LRU_LISTS, np.int64)
    free_zone = np.zeros(S.NR_ZONES, np.int64)
    mlocked, dirty, lazy = (np.zeros(1, np.int64) for _ in range(3))
    K.recount(m.k, np.zeros(len(S.FRAME_TYPE_NAMES), np.int64), lru, free_zone,
              mlocked, dirty, lazy)
    vm = m.ctr.vm

    def same(name, counted, recounted):
        assert int(counted) == int(recounted), f"{name}: counter {counted} != recount {recounted}"

    # Frames are conserved: every frame is free in exactly one buddy block or in use.
    same("frames", int(types.sum()), n)
    same("free frames", int(zn.free.sum()), types[S.FREE])
    for z in range(S.NR_ZONES):
        same(f"zone {z} free list", zn.free[z], free_zone[z])
    same("PageTables", vm[S.NR_PAGETABLE], types[S.PAGETABLE])
    same("page cache", vm[S.NR_FILE] - vm[S.NR_SWAPCACHED], types[S.FILE] + types[S.SHMEM])
    same("Shmem", vm[S.NR_SHMEM], types[S.SHMEM])
    same("KernelStack", vm[S.NR_KSTACK], types[S.KERNEL])
    same("Mlocked", vm[S.NR_MLOCK], mlocked[0])
    same("Dirty", vm[S.NR_DIRTY], dirty[0])
    same("lazyfree", vm[S.NR_LAZYFREE], lazy[0])
    same("LRU pages", lru.sum(), types[S.ANON] + types[S.FILE] + types[S.SHMEM])
    _check_memcgs(m, same)
    _check_writeback(m, same)
    _check_thps(m, same)
    same("kernel stacks", types[S.KERNEL], len(m.procs) << 2)
    _check_slab(m, same, types[S.SLAB])
    used = m.pc.keys != S.EMPTY
    entries = used & (m.pc.vals <= S.PC_SWAP)  # shmem swap entries (state.PC_SWAP)
    same("page cache index", m.pc.count[0],
         types[S.FILE] + types[S.SHMEM] + m.pc.shadows[0] + entries.sum())
    same("shadow entries", int((used & (m.pc.vals <= -2) & ~entries).sum()), m.pc.shadows[0])
    assert m.pc.shadows[0] <= n, "more shadow entries than frames"
    _check_shmem(m, entries, same)

    # Page tables: recount every mapping from the PTEs of live processes.
    mapcount = np.zeros(n, np.int64)
    swap_refs = np.zeros(m.sw.map.size, np.int64)
    tables = 0
    for p in m.procs.values():
        mm = p.mm
        rss = np.zeros(4, np.int64)
        nr_pt = 0
        for key, val in zip(m.pt.keys, m.pt.vals):
            if key == S.EMPTY or key >> 28 != mm.id:
                continue
            nr_pt += 1
            if (key >> 26) & 3:
                continue
            chunk = key & ((1 << 26) - 1)
            ptes = m.pt.pte[val]
            present = ptes[(ptes & S.PTE_KIND) == S.PTE_PRESENT] >> S.PTE_SHIFT
            mapcount += np.bincount(present, minlength=n)
            swapped = ptes[(ptes & S.PTE_KIND) == S.PTE_SWAP] >> S.PTE_SHIFT
            swap_refs += np.bincount(swapped, minlength=swap_refs.size)
            rss[S.MM_SWAPENTS] += swapped.size
            kinds = fr.type[present]
            rss[S.MM_ANONPAGES] += int((kinds == S.ANON).sum())
            rss[S.MM_FILEPAGES] += int((kinds == S.FILE).sum())
            rss[S.MM_SHMEMPAGES] += int((kinds == S.SHMEM).sum())
            mapped = np.nonzero(ptes & S.PTE_KIND)[0] + (chunk << 9)
            if mapped.size:
                vmas = [v for v in mm.vmas if v.start >> 12 <= mapped[-1] and v.end >> 12 > mapped[0]]
                for page in mapped:
                    assert any(v.start >> 12 <= page < v.end >> 12 for v in vmas), \
                        f"pid {p.pid}: PTE at {page << 12:#x} outside every VMA"
                _check_identity(p.pid, fr, ptes, chunk, vmas)
        tables += nr_pt
        same(f"pid {p.pid} VmPTE", m.mms.nr_pt[mm.id], nr_pt)
        for i in range(4):
            same(f"pid {p.pid} rss[{i}]", m.mms.rss[mm.id, i], rss[i])
        for a, b in zip(mm.vmas, mm.vmas[1:]):
            assert a.start < a.end <= b.start, f"pid {p.pid}: VMAs overlap or are empty"
    same("page tables + PGDs", types[S.PAGETABLE], tables + len(m.procs))
    same("mapcounts", int(np.abs(mapcount - fr.mapcount).sum()), 0)
    assert (fr.mapcount >= 0).all() and (fr.mlock >= 0).all(), "negative mapcount or mlock count"
    anon = fr.type == S.ANON
    same("AnonPages (mapped anon)", vm[S.NR_ANON], int((anon & (fr.mapcount > 0)).sum()))
    cached = (fr.flags & S.F_SWAPCACHE) != 0
    orphan = anon & (fr.mapcount == 0) & ~cached
    same("anon pages nobody maps or caches", int(orphan.sum()), 0)
    # Swap: slot references equal swap PTEs plus shmem swap entries; each device's used count
    # equals its busy slots.
    sw = m.sw
    swap_refs += np.bincount(S.PC_SWAP - m.pc.vals[entries], minlength=swap_refs.size)
    same("swap PTE and shmem references", int(np.abs(swap_refs - sw.map).sum()), 0)
    same("SwapCached", vm[S.NR_SWAPCACHED], int(cached.sum()))
    for p in np.nonzero(cached)[0]:
        assert sw.cache[fr.swap[p]] == p, f"swap-cache page {p} and its slot disagree"
    busy = (sw.map > 0) | (sw.cache >= 0)
    same("shadows on free swap slots", int(((sw.shadow >= 0) & ~busy).sum()), 0)
    for d in range(S.MAX_SWAPFILES):
        lo, hi = int(sw.base[d]), int(sw.base[d] + sw.size[d])
        same(f"swap{d} used", sw.used[d], int(busy[lo:hi].sum()))
        same(f"swap{d} free slots", sw.top[d], (hi - lo) - int(sw.used[d]))
    assert not busy[[s for d in range(S.MAX_SWAPFILES) if not sw.active[d]
                     for s in range(int(sw.base[d]), int(sw.base[d] + sw.size[d]))]].any()
    # Commit: Committed_AS equals the accountable VMAs plus charged shmem objects.
    same("Committed_AS", m.committed,
         sum(p.mm.committed() for p in m.procs.values())
         + sum(f.charged for f in m.file_by_id.values()))
    assert (vm >= 0).all(), "a negative counter"


def _check_slab(m, same, slab_frames) -> None:
    """Slab pages hold exactly the objects (packed), and the objects are accounted for."""
    slab, vm = m.rs.slab, m.ctr.vm
    pages = np.zeros(len(S.SLAB_CACHES), np.int64)
    for c, name in enumerate(S.SLAB_CACHES):
        n = room = 0
        p = slab[c, S.SL_HEAD]
        while p >= 0:
            order = m.fr.index[p]
            assert m.fr.type[p] == S.SLAB and m.fr.owner[p] == c, f"{name}: slab {p} is not its own"
            assert order in (S.SLAB_ORDER[c], S.SLAB_MIN_ORDER[c]), f"{name}: a slab of order {order}"
            n, room, pages[c] = n + 1, room + K.slab_objects(c, order), pages[c] + (1 << order)
            p = m.fr.next[p]
        same(f"{name} slabs", slab[c, S.SL_SLABS], n)
        same(f"{name} room", slab[c, S.SL_ROOM], room)
        objs, head = slab[c, S.SL_OBJS], slab[c, S.SL_HEAD]
        newest = K.slab_objects(c, m.fr.index[head]) if head >= 0 else 0
        assert room - newest < objs <= room or room == objs == 0, f"{name}: slabs not packed"
    same("slab frames", slab_frames, pages.sum())
    same("SReclaimable", vm[S.NR_SLAB_R], pages[:S.NR_RECLAIMABLE_CACHES].sum())
    same("SUnreclaim", vm[S.NR_SLAB_U], pages[S.NR_RECLAIMABLE_CACHES:].sum())
    for c in S.TASK_CACHES:
        same(f"{S.SLAB_CACHES[c]} objects", slab[c, S.SL_OBJS], len(m.procs))
    files = len(m.files)
    dentries, inodes = slab[S.CACHE_DENTRY], slab[S.CACHE_INODE]
    assert 0 <= dentries[S.SL_NEG] <= dentries[S.SL_UNUSED], "negative dentries out of range"
    positive = dentries[S.SL_UNUSED] - dentries[S.SL_NEG]
    same("dentries", dentries[S.SL_OBJS], files + dentries[S.SL_UNUSED])
    same("inodes", inodes[S.SL_OBJS], files + positive + inodes[S.SL_UNUSED])
    assert m.rs.state[S.RS_SLAB_DEFERRED] >= 0, "negative nr_deferred"


def _check_identity(pid, fr, ptes, chunk, vmas) -> None:
    """Each present PTE maps the frame holding that address's data: the VMA's anon page or
    file page at the right index (what migration must keep true); a THP subpage sits at the
    virtual offset of its pfn in the 2 MiB range (PMD-mappable)."""
    offs = np.flatnonzero((ptes & S.PTE_KIND) == S.PTE_PRESENT)
    pfns = ptes[offs] >> S.PTE_SHIFT
    pages = offs + (chunk << 9)
    for v in vmas:
        inside = (pages >= v.start >> 12) & (pages < v.end >> 12)
        owner = np.where(fr.type[pfns] == S.ANON, v.anon, v.file)
        bad = inside & ((fr.owner[pfns] != owner) | (fr.index[pfns] != v.pgoff + pages - (v.start >> 12)))
        assert not bad.any(), f"pid {pid}: PTE at {int(pages[bad][0]) << 12:#x} maps another page's frame"
    thp = (fr.flags[pfns] & S.F_THP) != 0
    assert ((offs[thp] ^ pfns[thp]) & (S.HPAGE_PMD_NR - 1) == 0).all(), \
        f"pid {pid}: a THP subpage mapped at an offset that is not its own"


def _check_shmem(m, entries, same) -> None:
    """Shmem pages and swap entries belong to live shmem objects (none outlives the last
    mapper); an entry's slot names the entry back."""
    keys = m.pc.keys[entries]
    slots = S.PC_SWAP - m.pc.vals[entries]
    other = ((m.sw.owner[slots] != keys >> K.PC_PGOFF_BITS)
             | (m.sw.index[slots] != keys & K.PC_PGOFF_MASK))
    same("shmem swap entries naming another page's slot", int(other.sum()), 0)
    objects = [f.id for f in m.file_by_id.values() if f.shmem]
    owners = np.concatenate([keys >> K.PC_PGOFF_BITS, m.fr.owner[m.fr.type == S.SHMEM]])
    same("shmem pages and swap entries of freed objects", int((~np.isin(owners, objects)).sum()), 0)


def _check_thps(m, same) -> None:
    """Intact THPs are whole aligned blocks of anon pages of one rmap identity and memcg,
    indexes in a row, each page mapped as often as the others; AnonHugePages counts them."""
    fr = m.fr
    thp = (fr.flags & S.F_THP) != 0
    same("AnonHugePages", m.ctr.vm[S.NR_ANON_THPS], int(thp.sum()))
    whole = thp.size // S.HPAGE_PMD_NR * S.HPAGE_PMD_NR
    assert not thp[whole:].any(), "a THP page past the last whole block"
    blocks = thp[:whole].reshape(-1, S.HPAGE_PMD_NR)
    heads = np.flatnonzero(blocks.any(axis=1)) * S.HPAGE_PMD_NR
    same("THPs split part way", int(blocks.any(axis=1).sum()), int(blocks.all(axis=1).sum()))
    for h in heads:
        blk = slice(h, h + S.HPAGE_PMD_NR)
        assert (fr.type[blk] == S.ANON).all() and (fr.owner[blk] == fr.owner[h]).all() and \
            (fr.memcg[blk] == fr.memcg[h]).all(), f"THP at pfn {h}: mixed pages"
        assert (fr.index[blk] == fr.index[h] + np.arange(S.HPAGE_PMD_NR)).all(), f"THP at pfn {h}: indexes"
        assert (fr.mapcount[blk] == fr.mapcount[h]).all() and fr.mapcount[h] > 0, f"THP at pfn {h}: mapcounts"


def _check_memcgs(m, same) -> None:
    """Every LRU page is charged to one memcg and sits on that memcg's list; each memcg's
    usage (and swap) counter equals the pages (and swap entries) charged to it and below."""
    fr, lru, sw = m.fr, m.lru, m.sw
    n = lru.usage.size
    user = np.isin(fr.type, (S.ANON, S.FILE, S.SHMEM))
    same("uncharged user pages", int((user & (fr.memcg < 0)).sum()), 0)
    same("charged non-user pages", int((~user & (fr.memcg >= 0)).sum()), 0)
    on = fr.lru >= 0
    same("pages off their LRU", int((user & ~on).sum()), 0)
    lists = np.bincount(fr.memcg[on].astype(np.int64) * S.NR_LRU_LISTS + fr.lru[on],
                        minlength=n * S.NR_LRU_LISTS).reshape(n, S.NR_LRU_LISTS)
    same("memcg LRU lists", int(np.abs(lists - lru.size).sum()), 0)
    pages = np.bincount(fr.memcg[user].astype(np.int64), minlength=n)
    swapped = np.bincount(sw.memcg[sw.memcg >= 0].astype(np.int64), minlength=n)
    busy = (sw.map > 0) | (sw.cache >= 0)
    same("uncharged swap entries", int((busy & (sw.memcg < 0)).sum()), 0)
    for cg in reversed(m.memcg.by_id):  # children after parents: add each into its parent
        if cg.parent is not None:
            pages[cg.parent.id] += pages[cg.id]
            swapped[cg.parent.id] += swapped[cg.id]
    for cg in m.memcg.by_id:
        same(f"{cg.path} memory.current", lru.usage[cg.id], pages[cg.id])
        same(f"{cg.path} memory.swap.current", lru.swap[cg.id], swapped[cg.id])
        assert lru.peak[cg.id] >= lru.usage[cg.id], f"{cg.path}: memory.peak below usage"
    procs_in = {p.cgroup for p in m.procs.values()}
    assert procs_in <= set(m.cgroups()), f"processes in unknown cgroups {procs_in - set(m.cgroups())}"
    assert (lru.size >= 0).all() and (lru.usage >= 0).all() and (lru.swap >= 0).all(), \
        "a negative memcg counter"


def _check_writeback(m, same) -> None:
    """Every dirty file page is queued once for the flushers; pages in flight are flagged."""
    fr, st = m.fr, m.rs.state
    count, head, cap = int(st[S.RS_DQ_COUNT]), int(st[S.RS_DQ_HEAD]), fr.dirtyq.size
    queued = fr.dirtyq[(head + np.arange(count)) % cap] if cap else fr.dirtyq[:0]
    dirty = np.nonzero((fr.type == S.FILE) & ((fr.flags & S.F_DIRTY) != 0))[0]
    same("dirty queue", count, m.ctr.vm[S.NR_DIRTY])
    same("dirty pages queued", np.setdiff1d(dirty, queued).size, 0)
    same("dirty queue duplicates", np.unique(queued).size, count)
    writeback = np.nonzero((fr.flags & S.F_WRITEBACK) != 0)[0]
    same("Writeback", m.ctr.vm[S.NR_WRITEBACK], writeback.size)
    in_flight = np.sort(fr.wbq[:int(st[S.RS_WB_COUNT])])
    assert np.array_equal(in_flight, writeback), "pages in flight and PG_writeback pages differ"
