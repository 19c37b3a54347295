"""check_invariants(machine): the engine's conservation laws, recounted from scratch.

Every book is recounted in whole-array passes (numpy, and kernels.recount), cheap enough to
run on each state loaded from a file (engine/snapshot.py) as well as in the tests. The lists
the kernels walk are checked first: a free or LRU list that loops would make the recount, like
the engine, walk it forever.
"""

from __future__ import annotations

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine import zones as Z


class BrokenInvariant(ValueError):
    """A book that does not add up; the message names it."""


def require(ok, message: str) -> None:
    if not ok:
        raise BrokenInvariant(message)


def check_invariants(m) -> None:
    """Raise BrokenInvariant naming the first broken invariant."""
    fr, zn = m.fr, m.zn
    n = fr.type.size
    types = np.bincount(fr.type, minlength=len(S.FRAME_TYPE_NAMES))

    def same(name, counted, recounted):
        require(int(counted) == int(recounted), f"{name}: counter {counted} != recount {recounted}")

    same("reclaim clock (reclaim.state now)", m.rs.state[S.RS_NOW], m.tick)
    _check_zones(m, same, types[S.FREE])
    _check_lists(m, same)
    lru = np.zeros(S.NR_LRU_LISTS, np.int64)
    free_zone = np.zeros(S.NR_ZONES, np.int64)
    mlocked, dirty, lazy = (np.zeros(1, np.int64) for _ in range(3))
    K.recount(
        k=m.k,
        out_types=np.zeros(len(S.FRAME_TYPE_NAMES), np.int64),
        out_lru=lru,
        out_free_zone=free_zone,
        out_mlocked=mlocked,
        out_dirty=dirty,
        out_lazy=lazy,
    )
    vm = m.ctr.vm

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
    require(m.pc.shadows[0] <= n, "more shadow entries than frames")
    _check_shmem(m, entries, same)

    mapcount, swap_refs = _check_page_tables(m, same, types)
    same("mapcounts", int(np.abs(mapcount - fr.mapcount).sum()), 0)
    require((fr.mapcount >= 0).all() and (fr.mlock >= 0).all(), "negative mapcount or mlock count")
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
    pages = np.flatnonzero(cached)
    slots = fr.swap[pages]
    bad = pages[(slots < 0) | (sw.cache[slots] != pages)]
    require(not bad.size, f"swap-cache page {bad[:1]} and its slot disagree")
    busy = (sw.map > 0) | (sw.cache >= 0)
    same("shadows on free swap slots", int(((sw.shadow >= 0) & ~busy).sum()), 0)
    for d in range(S.MAX_SWAPFILES):
        lo, hi = int(sw.base[d]), int(sw.base[d] + sw.size[d])
        same(f"swap{d} used", sw.used[d], int(busy[lo:hi].sum()))
        same(f"swap{d} free slots", sw.top[d], (hi - lo) - int(sw.used[d]))
        require(sw.active[d] or not busy[lo:hi].any(), f"swap{d} is off but has slots in use")
    # Commit: Committed_AS equals the accountable VMAs plus charged shmem objects.
    same("Committed_AS", m.committed,
         sum(p.mm.committed() for p in m.procs.values())
         + sum(f.charged for f in m.file_by_id.values()))
    require((vm >= 0).all(), "a negative counter")


def _check_zones(m, same, free_frames: int) -> None:
    """Watermarks and reserves are what the sysctls make them (KERNEL.md §4); the free blocks
    are aligned, inside their zone, made of free frames, and hold each free frame once."""
    fr, zn, wm = m.fr, m.zn, m.watermarks
    require(np.array_equal(zn.wmark, np.array([wm.min, wm.low, wm.high, wm.promo]).T),
            f"zones.wmark is {zn.wmark.tolist()}, not what vm.min_free_kbytes makes it")
    reserve = Z.lowmem_reserve(m.managed, m._sysctl["vm.lowmem_reserve_ratio"])
    require(np.array_equal(zn.reserve, np.array(reserve)),
            f"zones.reserve is {zn.reserve.tolist()}, not what vm.lowmem_reserve_ratio makes it")
    heads = np.flatnonzero(fr.order >= 0)
    sizes = np.int64(1) << fr.order[heads].astype(np.int64)
    zone = np.searchsorted(zn.start, heads, side="right") - 1
    bad = heads[((heads & (sizes - 1)) != 0) | (heads + sizes > zn.start[zone + 1])]
    require(not bad.size, f"the free block at pfn {bad[:1]} is unaligned or crosses its zone's end")
    ends = heads + sizes
    same("overlapping free blocks", int((ends[:-1] > heads[1:]).sum()), 0)  # heads are sorted
    inside = np.zeros(fr.type.size + 1, np.int64)  # +1 at each block's start, -1 past its end
    inside[heads] += 1
    inside[ends] -= 1
    same("frames in free blocks and free frames differing",
         int(((np.cumsum(inside[:-1]) > 0) != (fr.type == S.FREE)).sum()), 0)
    lists = zone * (S.MAX_ORDER + 1) + fr.order[heads]
    counted = np.bincount(lists, minlength=zn.free_count.size).reshape(zn.free_count.shape)
    for z, o in zip(*np.nonzero(counted != zn.free_count)):
        same(f"zone {z} order {o} free blocks", zn.free_count[z, o], counted[z, o])
    counted = np.bincount(zone, weights=sizes, minlength=S.NR_ZONES)
    for z in range(S.NR_ZONES):
        same(f"zone {z} free pages", zn.free[z], counted[z])


def _check_lists(m, same) -> None:
    """The buddy free lists and the LRU lists (kernels.list_add_head) each run from their head
    to their tail through exactly the frames that say they are on them, and do not loop."""
    fr, zn, lru = m.fr, m.zn, m.lru
    n = fr.type.size
    free, on_lru = fr.order >= 0, fr.lru >= 0
    require(not (free & on_lru).any(), "a free block is on an LRU list")
    require((fr.memcg[on_lru] >= 0).all(), "a page on an LRU list is charged to no memcg")
    nfree = zn.free_head.size
    which = np.full(n + 1, -1, np.int64)  # the list each frame is on (index n: "no frame")
    pfn = np.flatnonzero(free)
    zone = np.searchsorted(zn.start, pfn, side="right") - 1
    which[pfn] = zone * (S.MAX_ORDER + 1) + fr.order[pfn]
    which[on_lru.nonzero()] = (nfree + fr.memcg[on_lru].astype(np.int64) * S.NR_LRU_LISTS
                               + fr.lru[on_lru])
    heads = np.concatenate([zn.free_head.ravel(), lru.head.ravel()]).astype(np.int64)
    tails = np.concatenate([zn.free_tail.ravel(), lru.tail.ravel()]).astype(np.int64)
    sizes = np.concatenate([zn.free_count.ravel(), lru.size.ravel()])
    counted = np.bincount(which[:n][which[:n] >= 0], minlength=sizes.size)
    for i in np.flatnonzero(counted != sizes)[:1]:
        same(_list_name(m, i, nfree) + " length", sizes[i], counted[i])
    empty = sizes == 0
    require(((heads < 0) == empty).all() and ((tails < 0) == empty).all(),
            "a list's head or tail disagrees with its length")
    members = np.flatnonzero(which[:n] >= 0)
    on = which[members]
    nxt = np.where(fr.next[members] < 0, n, fr.next[members])
    prv = np.where(fr.prev[members] < 0, n, fr.prev[members])
    ok = np.where(nxt < n, (which[nxt] == on) & (fr.prev[np.minimum(nxt, n - 1)] == members),
                  tails[on] == members)
    ok &= np.where(prv < n, (which[prv] == on) & (fr.next[np.minimum(prv, n - 1)] == members),
                   heads[on] == members)
    for i in np.flatnonzero(~ok)[:1]:
        require(False, f"{_list_name(m, on[i], nfree)}: the links at pfn {members[i]} are broken")
    # Pointer jumping over the members (numbered 0..k-1, k for "none"): after r rounds each
    # points 2^r links on, or to none; one still pointing at a member after 2^r > k links is
    # on a loop.
    k = members.size
    number = np.full(n + 1, k, np.int64)
    number[members] = np.arange(k)
    jump = np.append(number[nxt], k)
    for _ in range(k.bit_length()):
        jump = jump[jump]
    loops = np.flatnonzero(jump[:k] != k)
    for i in loops[:1]:
        require(False, f"{_list_name(m, on[i], nfree)} loops (through pfn {members[i]})")


def _list_name(m, i: int, nfree: int) -> str:
    if i < nfree:
        return f"the zone {i // (S.MAX_ORDER + 1)} order {i % (S.MAX_ORDER + 1)} free list"
    cg, lru = divmod(int(i) - nfree, S.NR_LRU_LISTS)
    return f"memcg {cg}'s LRU list {lru}"


def _check_page_tables(m, same, types) -> tuple:
    """Recount every mapping from the PTEs of live processes: per-process RSS and page-table
    counts, and (returned) each frame's mapcount and each swap slot's references. Every
    mapped page lies in a VMA, and a present PTE maps the frame holding that address's data:
    the VMA's anon page or file page at the right index (what migration must keep true); a
    THP subpage sits at the virtual offset of its pfn in the 2 MiB range (PMD-mappable)."""
    fr, pt = m.fr, m.pt
    procs = sorted(m.procs.values(), key=lambda p: p.mm.id)
    ids = np.array([p.mm.id for p in procs], np.int64)
    used = pt.keys != S.EMPTY
    owner = pt.keys[used] >> 28  # kernels.pt_key's layout
    live, nr_pt = np.unique(owner[np.isin(owner, ids)], return_counts=True)
    tables = dict(zip(live.tolist(), nr_pt.tolist()))
    level0 = used & (((pt.keys >> 26) & 3) == 0) & np.isin(pt.keys >> 28, ids)
    keys, rows = pt.keys[level0], pt.vals[level0]
    ptes = pt.pte[rows]
    row, off = np.nonzero(ptes & S.PTE_KIND)
    proc = np.searchsorted(ids, keys[row] >> 28)  # the index in procs
    page = ((keys[row] & ((1 << 26) - 1)) << 9) + off
    pte = ptes[row, off]
    kind, payload = pte & S.PTE_KIND, pte >> S.PTE_SHIFT
    present, swapped = kind == S.PTE_PRESENT, kind == S.PTE_SWAP
    pfn = payload[present]
    rss = np.zeros((len(procs), 4), np.int64)
    rss[:, S.MM_SWAPENTS] = np.bincount(proc[swapped], minlength=len(procs))
    for i, t in ((S.MM_ANONPAGES, S.ANON), (S.MM_FILEPAGES, S.FILE), (S.MM_SHMEMPAGES, S.SHMEM)):
        rss[:, i] = np.bincount(proc[present][fr.type[pfn] == t], minlength=len(procs))
    for i, p in enumerate(procs):
        same(f"pid {p.pid} VmPTE", m.mms.nr_pt[p.mm.id], tables.get(p.mm.id, 0))
        for j in range(4):
            same(f"pid {p.pid} rss[{j}]", m.mms.rss[p.mm.id, j], rss[i, j])
        for a, b in zip(p.mm.vmas, p.mm.vmas[1:]):
            require(a.start < a.end <= b.start, f"pid {p.pid}: VMAs overlap or are empty")
    same("page tables + PGDs", types[S.PAGETABLE], sum(tables.values()) + len(procs))
    # Each mapped page in the VMA starting at or below it, in the same process.
    vmas = [(i, v) for i, p in enumerate(procs) for v in p.mm.vmas]
    field = {name: np.array([getattr(v, name) for _, v in vmas], np.int64)
             for name in ("start", "end", "anon", "file", "pgoff")}
    span = np.int64(1) << 36  # user pages are below 2^35 (kernels.pt_key: 26 + 9 bits)
    base = np.array([i for i, _ in vmas], np.int64) * span
    at = proc * span + page
    vma = np.searchsorted(base + (field["start"] >> 12), at, side="right") - 1
    inside = at < np.append(base + (field["end"] >> 12), 0)[vma]  # vma -1: the 0 after the end
    for i in np.flatnonzero(~inside)[:1]:
        require(False, f"pid {procs[proc[i]].pid}: PTE at {int(page[i]) << 12:#x} outside "
                       "every VMA")
    vma, page = vma[present], page[present]
    want = np.where(fr.type[pfn] == S.ANON, field["anon"][vma], field["file"][vma])
    bad = (fr.owner[pfn] != want) | (
        fr.index[pfn] != field["pgoff"][vma] + page - (field["start"][vma] >> 12))
    for i in np.flatnonzero(bad)[:1]:
        require(False, f"pid {procs[proc[present][i]].pid}: PTE at {int(page[i]) << 12:#x} maps "
                       "another page's frame")
    thp = (fr.flags[pfn] & S.F_THP) != 0
    require(((page[thp] ^ pfn[thp]) & (S.HPAGE_PMD_NR - 1) == 0).all(),
            "a THP subpage mapped at an offset that is not its own")
    return (np.bincount(pfn, minlength=fr.type.size),
            np.bincount(payload[swapped], minlength=m.sw.map.size))


def _check_slab(m, same, slab_frames) -> None:
    """Slab pages hold exactly the objects (packed), and the objects are accounted for."""
    slab, vm = m.rs.slab, m.ctr.vm
    pages = np.zeros(len(S.SLAB_CACHES), np.int64)
    for c, name in enumerate(S.SLAB_CACHES):
        n = room = 0
        p = slab[c, S.SL_HEAD]
        while p >= 0:
            order = m.fr.index[p]
            require(m.fr.type[p] == S.SLAB and m.fr.owner[p] == c,
                    f"{name}: slab {p} is not its own")
            require(order in (S.SLAB_ORDER[c], S.SLAB_MIN_ORDER[c]),
                    f"{name}: a slab of order {order}")
            n, room, pages[c] = (
                n + 1,
                room + K.slab_objects(c=c, order=order),
                pages[c] + (1 << order),
            )
            p = m.fr.next[p]
        same(f"{name} slabs", slab[c, S.SL_SLABS], n)
        same(f"{name} room", slab[c, S.SL_ROOM], room)
        objs, head = slab[c, S.SL_OBJS], slab[c, S.SL_HEAD]
        newest = K.slab_objects(c=c, order=m.fr.index[head]) if head >= 0 else 0
        require(room - newest < objs <= room or room == objs == 0, f"{name}: slabs not packed")
    same("slab frames", slab_frames, pages.sum())
    same("SReclaimable", vm[S.NR_SLAB_R], pages[:S.NR_RECLAIMABLE_CACHES].sum())
    same("SUnreclaim", vm[S.NR_SLAB_U], pages[S.NR_RECLAIMABLE_CACHES:].sum())
    for c in S.TASK_CACHES:
        same(f"{S.SLAB_CACHES[c]} objects", slab[c, S.SL_OBJS], len(m.procs))
    files = len(m.files)
    dentries, inodes = slab[S.CACHE_DENTRY], slab[S.CACHE_INODE]
    require(0 <= dentries[S.SL_NEG] <= dentries[S.SL_UNUSED], "negative dentries out of range")
    positive = dentries[S.SL_UNUSED] - dentries[S.SL_NEG]
    same("dentries", dentries[S.SL_OBJS], files + dentries[S.SL_UNUSED])
    same("inodes", inodes[S.SL_OBJS], files + positive + inodes[S.SL_UNUSED])
    require(m.rs.state[S.RS_SLAB_DEFERRED] >= 0, "negative nr_deferred")


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
    require(not thp[whole:].any(), "a THP page past the last whole block")
    blocks = thp[:whole].reshape(-1, S.HPAGE_PMD_NR)
    rows = np.flatnonzero(blocks.any(axis=1))
    same("THPs split part way", rows.size, int(blocks.all(axis=1).sum()))

    def block(a):
        return a[:whole].reshape(-1, S.HPAGE_PMD_NR)[rows]

    def each(ok, what):
        for h in rows[~ok][:1] * S.HPAGE_PMD_NR:
            require(False, f"THP at pfn {h}: {what}")

    owner, memcg, index, mapcount = (block(a) for a in (fr.owner, fr.memcg, fr.index, fr.mapcount))
    each((block(fr.type) == S.ANON).all(axis=1) & (owner == owner[:, :1]).all(axis=1)
         & (memcg == memcg[:, :1]).all(axis=1), "mixed pages")
    each((index == index[:, :1] + np.arange(S.HPAGE_PMD_NR)).all(axis=1), "indexes")
    each((mapcount == mapcount[:, :1]).all(axis=1) & (mapcount[:, 0] > 0), "mapcounts")


def _check_memcgs(m, same) -> None:
    """Every LRU page is charged to one memcg and sits on that memcg's list; each memcg's
    usage (and swap) counter equals the pages (and swap entries) charged to it and below, plus
    what the per-cpu stock holds for it and below (the root's: its children's)."""
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
    pages[0] = swapped[0] = 0  # the root's own pages and entries are not charged
    _check_stock(m, pages)
    busy = (sw.map > 0) | (sw.cache >= 0)
    same("uncharged swap entries", int((busy & (sw.memcg < 0)).sum()), 0)
    for cg in reversed(m.memcg.by_id):  # children after parents: add each into its parent
        if cg.parent is not None:
            pages[cg.parent.id] += pages[cg.id]
            swapped[cg.parent.id] += swapped[cg.id]
    for cg in m.memcg.by_id:
        same(f"{cg.path} memory.current", lru.usage[cg.id], pages[cg.id])
        same(f"{cg.path} memory.swap.current", lru.swap[cg.id], swapped[cg.id])
        require(lru.peak[cg.id] >= lru.usage[cg.id], f"{cg.path}: memory.peak below usage")
    procs_in = {p.cgroup for p in m.procs.values()}
    require(procs_in <= set(m.cgroups()),
            f"processes in unknown cgroups {procs_in - set(m.cgroups())}")
    require((lru.size >= 0).all() and (lru.usage >= 0).all() and (lru.swap >= 0).all(),
            "a negative memcg counter")


def _check_stock(m, pages) -> None:
    """The per-cpu stock caches each memcg at most once, never the root, at most a batch of
    pages per memcg; its pages are charged (added to `pages`, per memcg)."""
    lru = m.lru
    cached = lru.stock_memcg[lru.stock_memcg >= 0]
    require(np.unique(cached).size == cached.size, "a memcg cached twice in the stock")
    require(((cached > 0) & (cached < len(m.memcg.by_id))).all(), "a stock of no memcg")
    require(((lru.stock_pages >= 0) & (lru.stock_pages <= K.MEMCG_CHARGE_BATCH)).all()
            and not lru.stock_pages[lru.stock_memcg < 0].any(), "a bad stock slot")
    require(0 <= lru.stock_drain[0] < S.NR_MEMCG_STOCK, "the stock's drain_idx out of range")
    np.add.at(pages, lru.stock_memcg[lru.stock_memcg >= 0],
              lru.stock_pages[lru.stock_memcg >= 0])


def _check_writeback(m, same) -> None:
    """Every dirty file page is queued once for the flushers; pages in flight are flagged."""
    fr, st = m.fr, m.rs.state
    count, head, cap = int(st[S.RS_DQ_COUNT]), int(st[S.RS_DQ_HEAD]), fr.dirtyq.size
    queued = fr.dirtyq[(head + np.arange(count)) % cap] if cap else fr.dirtyq[:0]
    dirty = (fr.type == S.FILE) & ((fr.flags & S.F_DIRTY) != 0)
    same("dirty queue", count, m.ctr.vm[S.NR_DIRTY])
    require((queued >= 0).all(), "an empty slot in the dirty queue")
    times = np.bincount(queued, minlength=fr.type.size)
    same("dirty pages queued", int((dirty & (times == 0)).sum()), 0)
    same("dirty queue duplicates", int((times > 1).sum()), 0)
    writeback = np.nonzero((fr.flags & S.F_WRITEBACK) != 0)[0]
    same("Writeback", m.ctr.vm[S.NR_WRITEBACK], writeback.size)
    in_flight = np.sort(fr.wbq[:int(st[S.RS_WB_COUNT])])
    require(np.array_equal(in_flight, writeback), "pages in flight and PG_writeback pages differ")
