"""The engine's array state: constants, and every array listed once, declaratively.

Frames, zones, LRU lists, page tables and the page cache are numpy arrays grouped in
namedtuples, so numba kernels take them as single arguments and save/load/validation can
iterate over one list. The scratch words a call passes between Python and the kernels are listed
apart (SCRATCH_FIELDS): they are never saved. Python-level objects (processes, VMAs, files)
live in machine.py.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from oomtui.engine.constants import (  # noqa: F401 (the zones and PAGE_SHIFT, for state's users)
    NR_ZONES, PAGE_COUNTER_MAX, PAGE_SHIFT, ZONE_DEVICE, ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE,
    ZONE_NORMAL,
)

MAX_ORDER = 10  # NR_PAGE_ORDERS = 11: buddy orders 0..10
PTRS_PER_TABLE = 512
TASK_SIZE = 0x7FFFFFFFF000  # x86_64, 47-bit user space

# Frame types (what a physical page is used for).
FREE, ANON, FILE, SHMEM, SLAB, PAGETABLE, KERNEL = range(7)
FRAME_TYPE_NAMES = ("free", "anon", "file", "shmem", "slab", "pagetable", "kernel")

# Frame flags (the page flags oomtui models).
F_DIRTY = 1
F_REFERENCED = 2
F_ACTIVE = 4
F_LAZYFREE = 8  # MADV_FREE'd anon page: on the file LRU until re-dirtied or dropped
F_SWAPCACHE = 16  # anon page in the swap cache: Frames.swap holds its slot
F_WRITEBACK = 32  # file page being written to disk (clean again when the write completes)
F_RECLAIM = 64  # PG_reclaim: reclaim met it dirty or under writeback; rotate it when written
F_WORKINGSET = 128  # PG_workingset: it was active once (deactivated, or restored on refault)
F_THP = 256  # subpage of an intact transparent huge page (see compaction.py)
F_READAHEAD = 512  # PG_readahead: read ahead into the swap cache, not yet faulted on
# Every flag bit (frames.flags is a uint16). Kernels clear flags with `flags & (F_ALL ^ F_X)`,
# not `flags & ~F_X`: ~F_X is a negative int, which numpy refuses to combine with a uint16
# when the kernels run interpreted (kernels/jit.py).
F_ALL = (1 << 16) - 1
HPAGE_PMD_ORDER = 9  # a THP, and a pageblock, is 2^9 pages (x86_64)
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER

# LRU lists, in the kernel's enum lru_list order.
LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE, LRU_UNEVICTABLE = range(5)
NR_LRU_LISTS = 5

# Watermark indexes into Zones.wmark.
WMARK_MIN, WMARK_LOW, WMARK_HIGH, WMARK_PROMO = range(4)
NR_WMARKS = 4

# Page-table entries (int64): kind in the low 2 bits, flags above, payload from bit 8.
PTE_NONE = 0
PTE_PRESENT = 1  # payload: pfn
PTE_SWAP = 2  # payload: swap slot (the pressure engine)
PTE_ZERO = 3  # the shared zero page: mapped, read-only, owns no frame
PTE_KIND = 3
PTE_WRITE = 4  # hardware-writable; a write to a present page without it is a write-protect fault
PTE_YOUNG = 8  # the accessed bit
PTE_SHIFT = 8

# VMA flag bits (a subset of the kernel's vm_flags, own numbering).
V_READ, V_WRITE, V_EXEC, V_SHARED = 1, 2, 4, 8
V_ANON = 16
V_LOCKED = 32
V_ACCOUNT = 64
V_NORESERVE = 128
V_HUGEPAGE = 256
V_NOHUGEPAGE = 512
V_GROWSDOWN = 1024
V_PROT = V_READ | V_WRITE | V_EXEC

# Per-mm counters (mm->rss_stat order) and fault counters.
MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES = range(4)
MM_MINFLT, MM_MAJFLT = range(2)

# Global counters, named as in /proc/vmstat. Page counts unless the name says kB.
VMSTAT = (
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_shmem",
    "nr_mlock",
    "nr_page_table_pages",
    "nr_kernel_stack",  # pages here; vmstat() reports kB like the kernel
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_swapcached",
    "nr_lazyfree",
    "pgalloc",
    "pgfree",
    "pgfault",
    "pgmajfault",
    "pswpin",
    "pswpout",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgactivate",
    "pgdeactivate",
    "pgrotated",
    "allocstall",
    "pageoutrun",
    "oom_kill",
    "nr_written",
    "nr_dirtied",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "nr_anon_transparent_hugepages",  # pages here; vmstat() reports THPs like the kernel
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_fault_fallback_charge",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_stall",
    "compact_fail",
    "compact_success",
    "pgmigrate_success",
    "pgmigrate_fail",
    "slabs_scanned",
    "drop_pagecache",
    "drop_slab",
)
C = {name: i for i, name in enumerate(VMSTAT)}
NR_ANON, NR_MAPPED, NR_FILE, NR_DIRTY, NR_WRITEBACK, NR_SHMEM, NR_MLOCK, NR_PAGETABLE = range(8)
NR_KSTACK, NR_SLAB_R, NR_SLAB_U, NR_SWAPCACHED, NR_LAZYFREE = range(8, 13)  # noqa: E501
PGALLOC, PGFREE, PGFAULT, PGMAJFAULT, PSWPIN, PSWPOUT = range(13, 19)
PGSCAN_KSWAPD, PGSCAN_DIRECT, PGSTEAL_KSWAPD, PGSTEAL_DIRECT, PGACTIVATE, PGDEACTIVATE = range(19, 25)
PGROTATED, ALLOCSTALL, PAGEOUTRUN, OOM_KILL, NR_WRITTEN, NR_DIRTIED = range(25, 31)
# workingset_*: + 0 for anon, + 1 for file
WORKINGSET_REFAULT, WORKINGSET_ACTIVATE, WORKINGSET_RESTORE = 31, 33, 35
NR_ANON_THPS, THP_FAULT_ALLOC, THP_FAULT_FALLBACK, THP_FAULT_FALLBACK_CHARGE = range(37, 41)
COMPACTMIGRATE_SCANNED, COMPACTFREE_SCANNED, COMPACTISOLATED = range(41, 44)
COMPACTSTALL, COMPACTFAIL, COMPACTSUCCESS, PGMIGRATE_SUCCESS, PGMIGRATE_FAIL = range(44, 49)
SLABS_SCANNED, DROP_PAGECACHE, DROP_SLAB = range(49, 52)

# Reclaim state (the "reclaim" group's one array): kswapd's wakeup and failures, sysctls.
RS_KSWAPD_AWAKE, RS_KSWAPD_ORDER, RS_KSWAPD_HIGHEST, RS_KSWAPD_FAILURES = range(4)
RS_SWAPPINESS, RS_PAGE_CLUSTER = range(4, 6)
# Writeback: the tick (set_dirty stamps pages with it), the dirty queue (a ring over
# Frames.dirtyq), pages in flight (Frames.wbq), what reclaim asked the flushers to write, and
# the periodic writeback's cutoff (pages dirtied at or before it have expired).
RS_NOW, RS_DQ_HEAD, RS_DQ_COUNT, RS_WB_COUNT, RS_WB_WANTED, RS_EXPIRED = range(6, 12)
# The superblock shrinker: vm.vfs_cache_pressure over its denominator, and nr_deferred.
RS_VFS_PRESSURE, RS_VFS_DENOM, RS_SLAB_DEFERRED = range(12, 15)
NR_RS = 15

# Slab caches (mm/slub.c), with the geometry /proc/slabinfo shows on a 6.18 x86_64 machine:
# object size and slab order (a slab holds (PAGE << order) // size objects); when a slab of
# that order is not free at once, SLUB takes the smallest order one object fits in.
# Dentries and inodes are reclaimable (the superblock shrinker frees unused ones); the
# per-task objects are not.
SLAB_CACHES = ("dentry", "ext4_inode_cache", "task_struct", "mm_struct", "signal_cache",
               "sighand_cache", "files_cache", "pid")
SLAB_OBJSIZE = np.array((192, 1128, 5952, 1600, 1152, 2112, 704, 192), dtype=np.int64)
SLAB_ORDER = np.array((0, 2, 3, 3, 2, 3, 2, 0), dtype=np.int64)
SLAB_MIN_ORDER = np.array((0, 0, 1, 0, 0, 0, 0, 0), dtype=np.int64)
CACHE_DENTRY, CACHE_INODE = 0, 1
NR_RECLAIMABLE_CACHES = 2  # caches below this index count in SReclaimable
TASK_CACHES = range(2, len(SLAB_CACHES))  # one object each per process (copy_process)
# Per cache (Reclaim.slab): objects allocated, slabs, the objects they have room for, objects
# on the shrinker's LRU (unused dentries or inodes), negative dentries among those, and the
# newest slab's first pfn. Slabs are a stack linked through Frames.next; a slab's first
# frame holds its order in Frames.index.
SL_OBJS, SL_SLABS, SL_ROOM, SL_UNUSED, SL_NEG, SL_HEAD = range(6)
NR_SL = 6

# The reclaim's scope (Lru.scope), which outlives a call: reclaim inside a fault, and kswapd,
# walk what the last call left (the whole tree). The walk's length (Lru.walk), whether it is a
# cgroup reclaim, and scan_control's memcg_low_reclaim (each reclaim starts it at 0).
SCOPE_NWALK, SCOPE_CGROUP_RECLAIM, SCOPE_LOW_RECLAIM = range(3)
NR_SCOPE = 3

# The per-call control words (Scratch.ctl), never saved: each is set before it is read, in the
# same call. The memcg to charge (the task's, as current->mm's memcg), pages charged above
# memory.high in this call (current->memcg_nr_pages_over_high), the memcg whose limit a charge
# hit, scan_control's memcg_low_skipped, sc->nr.immediate (reclaim met a PG_reclaim page again:
# throttle on writeback), and whether faults may direct-reclaim without returning to Python
# (no memory.min or memory.low is set).
LC_CHARGE_TO, LC_OVER_HIGH, LC_OVER_LIMIT = range(3)
LC_LOW_SKIPPED, LC_IMMEDIATE, LC_INLINE_RECLAIM = range(3, 6)
NR_LC = 6

# Direct compaction's compact_control (Zones.cc): the two scanners, the pages isolated for
# migration (cc_migrate) and as targets (cc_free), the run's counts and settings.
CC_MIGRATE_PFN, CC_FREE_PFN, CC_NR_MIGRATE, CC_NR_FREE, CC_MIGRATE_SCANNED = range(5)
CC_FREE_SCANNED, CC_ORDER, CC_SYNC, CC_WHOLE_ZONE, CC_MOVED = range(5, 10)
NR_CC = 10
COMPACT_CLUSTER_MAX = 32  # pages isolated for migration at a time
COMPACT_TRACE = 4096  # migrations of the last compaction run kept for the UI

# The per-cpu charge stock: cached memcgs (MEMCG_CHARGE_BATCH pages each at most).
NR_MEMCG_STOCK = 7
# Mms.swap_ra: the VMA (its first page; 0: none), the last fault's page, its window, the
# readahead hits since. Swap.ra: the previous offset, the last window, the readahead hits.
RA_VMA, RA_ADDR, RA_WIN, RA_HITS = range(4)
CRA_OFFSET, CRA_PAGES, CRA_HITS = range(3)

# Hash tables (open addressing, linear probing): empty slots hold EMPTY.
EMPTY = -1
# Page-cache values (pagecache.vals): a page's pfn (>= 0); an evicted file page's workingset
# shadow s as -2 - s (s < 2^62: a memcg id below 2^15 over 47 bits of age and PG_workingset,
# so -2 down to -2^62 - 1); a swapped-out shmem page's swap slot as PC_SWAP - slot, below every
# shadow (shmem_writeout: the kernel puts the swap entry in the shmem mapping's xarray).
PC_SWAP = -(1 << 62) - 2

# ---------------------------------------------------------------------------------------------
# The declarative list: (group, field, dtype, shape rule, initial value).
# Shape rules: "frames" = one per physical page; "zones" / "zones+1" / "zone_orders" /
# "zone_zone" / "zone_wmarks" / "zone_sync" per zone; "cc" / "cc_migrate" / "cc_free" / "trace"
# for compaction; "lru" = per memcg × list; "memcgs" per memcg; "stock" per charge-stock slot;
# "counters" = VMSTAT; "mm" / "mm_rss" / "mm_flt" / "mm_ra" = per mm id; "cluster_ra" the
# cluster readahead's words; "ht" = hash capacity; "rows" / "rows_ptes" = page-table
# pool rows. Growing groups ("mm", "ht", "rows") are resized by machine.py, never per tick.
FIELDS = (
    ("frames", "type", np.uint8, "frames", FREE),
    ("frames", "flags", np.uint16, "frames", 0),
    ("frames", "lru", np.int8, "frames", -1),
    ("frames", "mlock", np.int16, "frames", 0),  # locked mappings (the kernel's mlock_count)
    ("frames", "mapcount", np.int32, "frames", 0),
    ("frames", "order", np.int8, "frames", -1),  # buddy order at the head of a free block
    ("frames", "next", np.int32, "frames", -1),  # free-list or LRU links
    ("frames", "prev", np.int32, "frames", -1),
    ("frames", "owner", np.int32, "frames", -1),  # anon: anon id; file/shmem: file id; else pid
    ("frames", "index", np.int64, "frames", -1),  # anon: linear page index; file: page offset
    ("frames", "swap", np.int64, "frames", -1),  # swap slot of a swap-cache page
    ("frames", "memcg", np.int16, "frames", -1),  # the memcg an LRU page is charged to
    # Dirty file pages in the order they were dirtied (the flushers write the oldest first),
    # each with its tick, and the pages whose write is in flight.
    ("frames", "dirtyq", np.int32, "frames", -1),
    ("frames", "dirtyq_tick", np.int64, "frames", 0),
    ("frames", "wbq", np.int32, "frames", -1),
    ("zones", "start", np.int64, "zones+1", 0),
    ("zones", "free", np.int64, "zones", 0),
    ("zones", "free_head", np.int32, "zone_orders", -1),
    ("zones", "free_tail", np.int32, "zone_orders", -1),
    ("zones", "free_count", np.int64, "zone_orders", 0),
    ("zones", "wmark", np.int64, "zone_wmarks", 0),
    ("zones", "reserve", np.int64, "zone_zone", 0),
    # Compaction (mm/compaction.c): where each zone's scanners restart (migrate: async, sync),
    # the deferral after failures, and the run under way (KERNEL.md §5).
    ("zones", "compact_cached_migrate_pfn", np.int64, "zone_sync", 0),
    ("zones", "compact_cached_free_pfn", np.int64, "zones", 0),
    ("zones", "compact_considered", np.int64, "zones", 0),
    ("zones", "compact_defer_shift", np.int64, "zones", 0),
    ("zones", "compact_order_failed", np.int64, "zones", 0),
    ("zones", "cc", np.int64, "cc", 0),
    ("zones", "cc_migrate", np.int64, "cc_migrate", -1),
    ("zones", "cc_free", np.int64, "cc_free", -1),
    ("zones", "moved_from", np.int64, "trace", -1),  # the last run's migrations, for the UI
    ("zones", "moved_to", np.int64, "trace", -1),
    ("lru", "head", np.int32, "lru", -1),
    ("lru", "tail", np.int32, "lru", -1),
    ("lru", "size", np.int64, "lru", 0),
    # One lruvec per memcg (row 0 is the root cgroup), with its page counters (KERNEL.md §7):
    # usage and swap are hierarchical (a charge counts at every level up to the root).
    ("lru", "parent", np.int32, "memcgs", -1),
    ("lru", "usage", np.int64, "memcgs", 0),
    ("lru", "peak", np.int64, "memcgs", 0),
    ("lru", "max", np.int64, "memcgs", PAGE_COUNTER_MAX),
    ("lru", "high", np.int64, "memcgs", PAGE_COUNTER_MAX),
    ("lru", "swap", np.int64, "memcgs", 0),
    ("lru", "swap_max", np.int64, "memcgs", PAGE_COUNTER_MAX),
    ("lru", "anon_cost", np.int64, "memcgs", 0),  # lru_note_cost, hierarchical
    ("lru", "file_cost", np.int64, "memcgs", 0),
    # workingset (mm/workingset.c): the non-resident age (evictions and activations), the
    # refault activations (hierarchical) and their value when reclaim last ended.
    ("lru", "nonresident_age", np.int64, "memcgs", 0),
    ("lru", "activate_anon", np.int64, "memcgs", 0),
    ("lru", "activate_file", np.int64, "memcgs", 0),
    ("lru", "snap_anon", np.int64, "memcgs", 0),
    ("lru", "snap_file", np.int64, "memcgs", 0),
    ("lru", "emin", np.int64, "memcgs", 0),  # effective min/low for the reclaim under way
    ("lru", "elow", np.int64, "memcgs", 0),
    ("lru", "low_events", np.int64, "memcgs", 0),  # reclaimed below low: memory.events low
    ("lru", "swap_fail", np.int64, "memcgs", 0),  # swap charge refused at swap.max
    ("lru", "walk", np.int32, "memcgs", -1),  # the reclaim's memcgs, pre-order from its target
    ("lru", "iter", np.int32, "memcgs", 0),  # where the next partial walk from this target starts
    ("lru", "scope", np.int64, "lru_scope", 0),  # SCOPE_* above
    # The per-cpu charge stock of the one CPU modelled (memcg_stock_pcp, KERNEL.md §7): pages
    # charged ahead to up to NR_MEMCG_STOCK memcgs, and the slot refill_stock drains next.
    ("lru", "stock_memcg", np.int64, "stock", -1),
    ("lru", "stock_pages", np.int64, "stock", 0),
    ("lru", "stock_drain", np.int64, "one", 0),
    ("counters", "vm", np.int64, "counters", 0),
    ("mms", "rss", np.int64, "mm_rss", 0),
    ("mms", "flt", np.int64, "mm_flt", 0),
    ("mms", "nr_pt", np.int64, "mm", 0),  # page tables below the PGD (VmPTE)
    # VMA swap readahead (vma->swap_readahead_info) of the VMA the mm swapped in last: RA_*
    ("mms", "swap_ra", np.int64, "mm_ra", 0),
    ("pagetables", "keys", np.int64, "ht", EMPTY),
    ("pagetables", "vals", np.int64, "ht", EMPTY),
    ("pagetables", "count", np.int64, "one", 0),
    ("pagetables", "pte", np.int64, "rows_ptes", 0),
    ("pagetables", "row_pfn", np.int32, "rows", -1),
    ("pagetables", "free_rows", np.int32, "rows", -1),  # stack of unused pool rows
    ("pagetables", "nfree", np.int64, "one", 0),
    ("swap", "map", np.int32, "slots", 0),  # swap_map count: swap PTEs + a shmem entry
    ("swap", "cache", np.int32, "slots", -1),  # pfn of the slot's swap-cache page
    ("swap", "stack", np.int64, "slots", -1),
    ("swap", "owner", np.int32, "slots", -1),  # the page's (anon id or shmem file id, index)
    ("swap", "index", np.int64, "slots", -1),  # free slots, a stack per device at [base, base+size)
    ("swap", "memcg", np.int16, "slots", -1),  # the memcg the swap entry is charged to
    ("swap", "shadow", np.int64, "slots", -1),  # workingset shadow of the page swapped out
    ("swap", "base", np.int64, "devs", 0),
    ("swap", "size", np.int64, "devs", 0),
    ("swap", "prio", np.int64, "devs", 0),
    ("swap", "used", np.int64, "devs", 0),
    ("swap", "top", np.int64, "devs", 0),  # free slots left on the device's stack
    ("swap", "seq", np.int64, "devs", 0),  # last allocation, for round-robin among equals
    ("swap", "active", np.int64, "devs", 0),  # swapon'd and accepting new slots
    ("swap", "clock", np.int64, "one", 0),
    # swap_cluster_readahead's window (swapin_nr_pages): CRA_* below
    ("swap", "ra", np.int64, "cluster_ra", 0),
    ("reclaim", "state", np.int64, "rs", 0),
    ("reclaim", "scan", np.int64, "lists", 0),  # get_scan_count's per-list targets
    ("reclaim", "target", np.int64, "lists", 0),  # the reclaim target's LRU sizes (its subtree)
    ("reclaim", "slab", np.int64, "slab", 0),  # SL_* per slab cache
    ("pagecache", "keys", np.int64, "ht", EMPTY),
    ("pagecache", "vals", np.int64, "ht", EMPTY),
    ("pagecache", "count", np.int64, "one", 0),  # pages, shadows and shmem swap entries
    # Evicted pages leave shadow entries (value -2 - shadow), at most one per frame of RAM.
    ("pagecache", "shadows", np.int64, "one", 0),
)

GROUPS = ("frames", "zones", "lru", "counters", "mms", "pagetables", "swap", "reclaim", "pagecache")
# Scratch: per-call words the kernels and Python pass each other, outside FIELDS (never saved,
# digested or validated), in the same (group, field, dtype, shape rule, initial value) form.
SCRATCH_FIELDS = (
    ("scratch", "ctl", np.int64, "ctl", 0),  # LC_* above
)
MAX_SWAPFILES = 24  # 32 less the swap types kept for migration, hwpoison, markers, device
_group_fields = {g: tuple(f[1] for f in FIELDS if f[0] == g) for g in GROUPS}
Frames = namedtuple("Frames", _group_fields["frames"])
Zones = namedtuple("Zones", _group_fields["zones"])
Lru = namedtuple("Lru", _group_fields["lru"])
Counters = namedtuple("Counters", _group_fields["counters"])
Mms = namedtuple("Mms", _group_fields["mms"])
PageTables = namedtuple("PageTables", _group_fields["pagetables"])
Swap = namedtuple("Swap", _group_fields["swap"])
Reclaim = namedtuple("Reclaim", _group_fields["reclaim"])
# The reverse map: every VMA of every live mm, indexed by anon id and by file id. Derived
# from the VMAs (rebuilt when they change), so it is not part of the saved state.
Rmap = namedtuple("Rmap", ("anon_keys", "anon_rows", "file_keys", "file_rows", "mm", "start",
                           "end", "pgoff", "flags", "out_mm", "out_row", "out_idx", "out_flags"))
PageCache = namedtuple("PageCache", _group_fields["pagecache"])
Scratch = namedtuple("Scratch", tuple(f[1] for f in SCRATCH_FIELDS))
# Everything a kernel may touch, in one argument (kernels unpack what they use).
Kern = namedtuple("Kern", ("fr", "zn", "lru", "ctr", "mms", "pt", "pc", "sw", "rs", "rm",
                           "scratch"))
GROUP_TYPES = {
    "frames": Frames, "zones": Zones, "lru": Lru, "counters": Counters, "mms": Mms,
    "pagetables": PageTables, "swap": Swap, "reclaim": Reclaim, "pagecache": PageCache,
    "scratch": Scratch,
}


def _shape(rule: str, sizes: dict) -> tuple[int, ...]:
    return {
        "frames": (sizes["frames"],),
        "zones": (NR_ZONES,),
        "zones+1": (NR_ZONES + 1,),
        "zone_orders": (NR_ZONES, MAX_ORDER + 1),
        "zone_wmarks": (NR_ZONES, NR_WMARKS),
        "zone_zone": (NR_ZONES, NR_ZONES),
        "zone_sync": (NR_ZONES, 2),
        "cc": (NR_CC,),
        "cc_migrate": (COMPACT_CLUSTER_MAX,),
        "cc_free": (HPAGE_PMD_NR,),  # < 32 pages plus one free block below pageblock order
        "trace": (COMPACT_TRACE,),
        "lru": (sizes["memcgs"], NR_LRU_LISTS),
        "memcgs": (sizes["memcgs"],),
        "lru_scope": (NR_SCOPE,),
        "ctl": (NR_LC,),
        "counters": (len(VMSTAT),),
        "mm": (sizes["mms"],),
        "mm_rss": (sizes["mms"], 4),
        "mm_flt": (sizes["mms"], 2),
        "mm_ra": (sizes["mms"], 4),
        "stock": (NR_MEMCG_STOCK,),
        "cluster_ra": (3,),
        "ht": (sizes["ht"],),
        "rows": (sizes["rows"],),
        "rows_ptes": (sizes["rows"], PTRS_PER_TABLE),
        "slots": (sizes["slots"],),
        "devs": (MAX_SWAPFILES,),
        "rs": (NR_RS,),
        "lists": (NR_LRU_LISTS,),
        "slab": (len(SLAB_CACHES), NR_SL),
        "one": (1,),
    }[rule]


def new_group(group: str, sizes: dict, ht_key: str | None = None):
    """Fresh arrays for one group; `sizes` gives frames, memcgs, mms, ht, rows and slots."""
    arrays = {}
    for g, name, dtype, rule, init in FIELDS + SCRATCH_FIELDS:
        if g != group:
            continue
        s = dict(sizes)
        if ht_key is not None:
            s["ht"] = sizes[ht_key]
        arrays[name] = np.full(_shape(rule, s), init, dtype=dtype)
    return GROUP_TYPES[group](**arrays)


def grow_rows(group, new_rows: int, old_rows: int):
    """Grow a group whose arrays are sized per mm id, page-table pool row, swap slot or memcg."""
    out = {}
    for g, name, dtype, rule, init in FIELDS:
        if type(group).__name__ != GROUP_TYPES[g].__name__:
            continue
        arr = getattr(group, name)
        if rule in ("mm", "mm_rss", "mm_flt", "mm_ra", "rows", "rows_ptes", "slots", "lru",
                    "memcgs"):
            bigger = np.full((new_rows,) + arr.shape[1:], init, dtype=dtype)
            bigger[:old_rows] = arr[:old_rows]
            arr = bigger
        out[name] = arr
    return type(group)(**out)
