"""Zone watermark math (KERNEL.md §4), as pure functions.

Every function takes `managed`: managed pages per zone, a 5-sequence in kernel zone order
(DMA, DMA32, Normal, Movable, Device). All values are pages unless the name says kB.
Integer division is C unsigned division (floor), exactly as the kernel does it.
"""

from dataclasses import dataclass
from math import isqrt

from oomtui.engine.constants import NR_ZONES, SWAP_CLUSTER_MAX, ZONE_MOVABLE, ZONE_NORMAL

PAGEBLOCK_NR_PAGES = 512  # x86_64: pageblock_order = HPAGE_PMD_ORDER = 9
MIGRATE_PCPTYPES = 3
KB_PER_PAGE = 4
THP_SMALL_SYSTEM_PAGES = 512 * 256  # hugepage_init: below 512 MiB THP boots disabled
DEFAULT_WATERMARK_SCALE_FACTOR = 10  # what the boot-time watermarks use (sysctls come later)


@dataclass(frozen=True)
class Watermarks:
    """zone->_watermark[] per zone (5 entries each), without watermark_boost."""

    min: tuple[int, ...]
    low: tuple[int, ...]
    high: tuple[int, ...]
    promo: tuple[int, ...]


def nr_free_buffer_pages(managed, high=(0,) * NR_ZONES) -> int:
    """Σ over zones ≤ Normal of managed − high, counting only zones above their high mark."""
    # nr_free_buffer_pages -> nr_free_zone_pages(gfp_zone(GFP_USER))
    return sum(max(m - h, 0) for m, h in zip(managed[: ZONE_NORMAL + 1], high))


def calculate_min_free_kbytes(managed, high=(0,) * NR_ZONES) -> int:
    """The sqrt rule; at boot the watermarks are still 0 (the default `high`)."""
    # page_alloc.c:calculate_min_free_kbytes
    lowmem_kbytes = nr_free_buffer_pages(managed, high) * KB_PER_PAGE
    return min(max(isqrt(lowmem_kbytes * 16), 128), 262144)


def recommended_min_free_kbytes(managed, high) -> int:
    """The THP rule: 11 pageblocks per populated zone ≤ Normal, at most 5% of lowmem."""
    # khugepaged.c:set_recommended_min_free_kbytes (populated_zone ≈ managed > 0 here)
    nr_zones = sum(1 for m in managed[: ZONE_NORMAL + 1] if m > 0)
    recommended = PAGEBLOCK_NR_PAGES * nr_zones * 2
    recommended += PAGEBLOCK_NR_PAGES * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
    return min(recommended, nr_free_buffer_pages(managed, high) // 20) * KB_PER_PAGE


def boot_min_free_kbytes(managed, thp: str) -> int:
    """min_free_kbytes after boot with THP `thp` ("always" | "madvise" | "never").

    On a machine under 512 MiB the kernel boots with THP off; a THP mode other than "never"
    there means it was switched on through sysfs afterwards, which runs the same
    start_stop_khugepaged -> set_recommended_min_free_kbytes step.
    """
    # init_per_zone_wmark_min (postcore_initcall): sqrt rule while the watermarks are 0
    min_free_kbytes = calculate_min_free_kbytes(managed)
    if thp == "never" and sum(managed) < THP_SMALL_SYSTEM_PAGES:
        return min_free_kbytes  # hugepage_init returns before start_stop_khugepaged
    high = setup_watermarks(managed, min_free_kbytes, DEFAULT_WATERMARK_SCALE_FACTOR).high
    if thp == "never":
        # set_recommended_min_free_kbytes, !hugepage_pmd_enabled() branch: the sqrt rule again,
        # now net of the high watermarks just set
        return calculate_min_free_kbytes(managed, high)
    return max(min_free_kbytes, recommended_min_free_kbytes(managed, high))


def watermark_terms(managed, min_free_kbytes: int, watermark_scale_factor: int) -> list[dict]:
    """Per zone, the terms of its watermarks: managed, lowmem, tmp, min, delta, low, high,
    promo (pages)."""
    # page_alloc.c:__setup_per_zone_wmarks
    pages_min = min_free_kbytes // KB_PER_PAGE
    # x86_64 has no HighMem; Device counts as lowmem (only Movable is excluded)
    lowmem_pages = sum(m for i, m in enumerate(managed) if i != ZONE_MOVABLE)
    terms = []
    for i, m in enumerate(managed):
        tmp = pages_min * m // lowmem_pages  # u64 floor
        zone_min = min(max(m // 1024, SWAP_CLUSTER_MAX), 128) if i == ZONE_MOVABLE else tmp
        # kswapd distance: the proportional share (tmp, also for Movable) or
        # mult_frac(managed, watermark_scale_factor, 10000), whichever is larger
        delta = max(tmp >> 2, m * watermark_scale_factor // 10000)
        terms.append({"managed": m, "lowmem": lowmem_pages, "tmp": tmp, "min": zone_min,
                      "delta": delta, "low": zone_min + delta, "high": zone_min + 2 * delta,
                      "promo": zone_min + 3 * delta})
    return terms


def setup_watermarks(managed, min_free_kbytes: int, watermark_scale_factor: int) -> Watermarks:
    """Per-zone min/low/high/promo from min_free_kbytes and watermark_scale_factor."""
    terms = watermark_terms(managed, min_free_kbytes, watermark_scale_factor)
    return Watermarks(*(tuple(t[k] for t in terms) for k in ("min", "low", "high", "promo")))


def lowmem_reserve(managed, ratios) -> tuple[tuple[int, ...], ...]:
    """reserve[i][j]: pages zone i keeps back from allocations whose highest zone is j.

    `ratios` is vm.lowmem_reserve_ratio as stored (values < 1 already turned into 0).
    """
    # page_alloc.c:setup_per_zone_lowmem_reserve (6.18: empty upper zones still add up)
    reserve = [[0] * NR_ZONES for _ in range(NR_ZONES)]
    for i in range(NR_ZONES - 1):
        clear = ratios[i] == 0 or managed[i] == 0
        upper = 0
        for j in range(i + 1, NR_ZONES):
            upper += managed[j]
            reserve[i][j] = 0 if clear else upper // ratios[i]
    return tuple(tuple(row) for row in reserve)


def totalreserve_pages(managed, wm: Watermarks, reserve) -> int:
    """Σ over zones of min(managed, high + largest lowmem_reserve)."""
    # page_alloc.c:calculate_totalreserve_pages (clamped to the zone's managed pages)
    return sum(min(managed[i], wm.high[i] + max(reserve[i][i:])) for i in range(NR_ZONES))


def boot_reserves(free_pages: int) -> tuple[int, int]:
    """(admin_reserve_kbytes, user_reserve_kbytes) from the free pages at boot."""
    # mmap.c:init_admin_reserve / init_user_reserve: min(free/32, 8 MiB) and min(free/32, 128 MiB)
    free_kbytes = free_pages * KB_PER_PAGE
    return min(free_kbytes // 32, 8192), min(free_kbytes // 32, 131072)
