"""Zone watermark math (KERNEL.md §4) against a live 6.18 kernel and hand-computed cases."""

from oomtui.engine import zones as z
from oomtui.engine.config import MachineConfig

RATIOS = (256, 256, 32, 0, 0)

# A 24 GiB Linux 6.18 VM, THP madvise, min_free_kbytes 67584, watermark_scale_factor 10:
# /proc/zoneinfo managed, min/low/high/promo and protection, read in one go.
LIVE_MANAGED = (3840, 772917, 163840, 0, 0)


def test_live_vm_watermarks():
    wm = z.setup_watermarks(LIVE_MANAGED, 67584, 10)
    assert wm.min == (68, 13883, 2943, 32, 0)
    assert wm.low == (85, 17353, 3678, 32, 0)
    assert wm.high == (102, 20823, 4413, 32, 0)
    assert wm.promo == (119, 24293, 5148, 32, 0)


def test_live_vm_protection():
    assert z.lowmem_reserve(LIVE_MANAGED, RATIOS) == (
        (0, 3019, 3659, 3659, 3659),
        (0, 0, 640, 640, 640),
        (0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0),
    )


def test_live_vm_min_free_kbytes_is_the_thp_rule():
    # sqrt rule: isqrt(940597 pages * 4 kB * 16) = isqrt(60198208) = 7758 kB
    assert z.calculate_min_free_kbytes(LIVE_MANAGED) == 7758
    # THP rule: 3 zones * (2 + 3*3) pageblocks * 512 = 16896 pages = 67584 kB
    # (cap: (940597 - 102 - 20823 - 4413) / 20 = 45762 pages, not reached)
    high = z.setup_watermarks(LIVE_MANAGED, 7758, 10).high
    assert z.recommended_min_free_kbytes(LIVE_MANAGED, high) == 67584
    assert z.boot_min_free_kbytes(LIVE_MANAGED, "madvise") == 67584


def test_live_vm_totalreserve_clamps_to_managed():
    wm = z.setup_watermarks(LIVE_MANAGED, 67584, 10)
    reserve = z.lowmem_reserve(LIVE_MANAGED, RATIOS)
    # DMA 102 + 3659, DMA32 20823 + 640, Normal 4413 + 0; Movable's high of 32 is
    # clamped to its 0 managed pages (calculate_totalreserve_pages)
    assert z.totalreserve_pages(LIVE_MANAGED, wm, reserve) == 3761 + 21463 + 4413


def test_1gib_boot_sqrt_rule_vs_thp_rule():
    managed = MachineConfig(ram_mib=1024).zone_pages()
    assert managed == (3840, 258304, 0, 0, 0)
    # init_per_zone_wmark_min: 262144 pages = 1048576 kB; isqrt(1048576 * 16) = 4096
    assert z.calculate_min_free_kbytes(managed) == 4096
    # watermarks from it: pages_min 1024, lowmem 262144
    #   DMA   tmp = 1024*3840/262144 = 15,    delta = max(15>>2, 3840*10/10000) = 3     -> high 21
    #   DMA32 tmp = 1024*258304/262144 = 1009, delta = max(252, 258304*10/10000 = 258) -> high 1525
    wm = z.setup_watermarks(managed, 4096, 10)
    assert wm.min == (15, 1009, 0, 32, 0)
    assert wm.high == (21, 1525, 0, 32, 0)
    # THP never: set_recommended_min_free_kbytes recomputes the sqrt rule net of high:
    #   (3840-21) + (258304-1525) = 260598 pages = 1042392 kB; isqrt(16678272) = 4083
    assert z.nr_free_buffer_pages(managed, wm.high) == 260598
    assert z.boot_min_free_kbytes(managed, "never") == 4083
    # THP madvise: 2 zones * 11 * 512 = 11264 pages (cap 260598/20 = 13029) = 45056 kB
    assert z.boot_min_free_kbytes(managed, "madvise") == 45056
    assert z.boot_min_free_kbytes(managed, "always") == 45056
    # and the watermarks the kernel then runs with: pages_min 11264
    #   DMA   tmp = 11264*3840/262144 = 165,     delta = max(41, 3)     = 41
    #   DMA32 tmp = 11264*258304/262144 = 11099, delta = max(2774, 258) = 2774
    wm = z.setup_watermarks(managed, 45056, 10)
    assert wm.min == (165, 11099, 0, 32, 0)
    assert wm.low == (206, 13873, 0, 32, 0)
    assert wm.high == (247, 16647, 0, 32, 0)
    assert wm.promo == (288, 19421, 0, 32, 0)


def test_16gib_boot_sqrt_rule_vs_thp_rule():
    managed = MachineConfig(ram_mib=16384).zone_pages()
    assert managed == (3840, 1044480, 3145984, 0, 0)
    # 4194304 pages = 16777216 kB; isqrt(16777216 * 16) = 16384
    assert z.calculate_min_free_kbytes(managed) == 16384
    # pages_min 4096: DMA tmp 3 (delta 3), DMA32 tmp 1020 (delta 1044), Normal tmp 3072 (delta 3145)
    wm = z.setup_watermarks(managed, 16384, 10)
    assert wm.high == (9, 3108, 9362, 32, 0)
    # THP never: 4194304 - 9 - 3108 - 9362 = 4181825 pages; isqrt(4181825 * 4 * 16) = 16359
    assert z.boot_min_free_kbytes(managed, "never") == 16359
    # THP madvise: 3 zones * 11 * 512 = 16896 pages = 67584 kB
    assert z.boot_min_free_kbytes(managed, "madvise") == 67584


def test_small_machine_thp_never_keeps_the_first_sqrt_rule():
    # hugepage_init leaves THP off below 512 MiB and never calls start_stop_khugepaged:
    # 256 MiB = 65536 pages = 262144 kB; isqrt(262144 * 16) = 2048
    managed = MachineConfig(ram_mib=256).zone_pages()
    assert z.boot_min_free_kbytes(managed, "never") == 2048


def test_thp_rule_capped_at_5_percent_of_lowmem_on_a_tiny_machine():
    managed = MachineConfig(ram_mib=16).zone_pages()
    assert managed == (3840, 256, 0, 0, 0)
    # sqrt rule: 4096 pages = 16384 kB; isqrt(262144) = 512 kB -> pages_min 128
    #   DMA tmp = 128*3840/4096 = 120, delta 30 -> high 180; DMA32 tmp = 8, delta 2 -> high 12
    assert z.calculate_min_free_kbytes(managed) == 512
    high = z.setup_watermarks(managed, 512, 10).high
    assert high[:2] == (180, 12)
    # 2 zones * 11 * 512 = 11264 pages, capped at ((3840-180) + (256-12)) / 20 = 195 pages = 780 kB
    assert z.recommended_min_free_kbytes(managed, high) == 780
    assert z.boot_min_free_kbytes(managed, "madvise") == 780


def test_sqrt_rule_clamps():
    # floor 128 kB; ceiling 256 MiB (isqrt(kB*16) > 262144 from 4 TiB of lowmem up)
    assert z.calculate_min_free_kbytes((100, 0, 0, 0, 0)) == 128
    assert z.calculate_min_free_kbytes((0, 0, 2**31, 0, 0)) == 262144


def test_scale_factor_delta_wins():
    managed = (3840, 1044480, 3145984, 0, 0)
    wm = z.setup_watermarks(managed, 16384, 100)
    # delta = max(tmp/4, managed*100/10000): DMA max(0, 38), DMA32 max(255, 10444),
    # Normal max(768, 31459)
    assert wm.min == (3, 1020, 3072, 32, 0)
    assert wm.low == (41, 11464, 34531, 32, 0)
    assert wm.high == (79, 21908, 65990, 32, 0)
    assert wm.promo == (117, 32352, 97449, 32, 0)
    wm = z.setup_watermarks(managed, 16384, 3000)
    assert wm.low[2] - wm.min[2] == 3145984 * 3000 // 10000


def test_min_free_kbytes_zero():
    managed = (3840, 258304, 0, 0, 0)
    wm = z.setup_watermarks(managed, 0, 10)
    assert wm.min == (0, 0, 0, 32, 0)  # Movable keeps its clamp even at 0
    assert wm.low == (3, 258, 0, 32, 0)
    assert wm.high == (6, 516, 0, 32, 0)
    assert wm.promo == (9, 774, 0, 32, 0)


def test_movable_zone_clamps_and_is_not_lowmem():
    # Movable min = clamp(managed/1024, 32, 128); its delta still uses the proportional tmp
    for movable, expected_min in ((10_000, 32), (100_000, 97), (1_000_000, 128)):
        managed = (3840, 258304, 0, movable, 0)
        wm = z.setup_watermarks(managed, 4096, 10)
        tmp = 1024 * movable // 262144  # lowmem excludes Movable: 262144 pages
        delta = max(tmp >> 2, movable * 10 // 10000)
        assert wm.min[3] == expected_min
        assert wm.low[3] == expected_min + delta
        assert wm.promo[3] == expected_min + 3 * delta
        assert wm.min[:2] == (15, 1009)  # lowmem zones unaffected by Movable


def test_lowmem_reserve_ratio_zero_and_empty_zones():
    managed = (3840, 772917, 163840, 8192, 0)
    assert z.lowmem_reserve(managed, (256, 0, 32, 0, 0)) == (
        (0, 3019, 3659, 3691, 3691),  # (772917+163840+8192)/256
        (0, 0, 0, 0, 0),  # ratio 0: no reserve
        (0, 0, 0, 256, 256),  # 8192/32; the empty Device zone still "adds" 0
        (0, 0, 0, 0, 0),
        (0, 0, 0, 0, 0),
    )
    # a zone with no managed pages reserves nothing, whatever its ratio
    assert z.lowmem_reserve((0, 772917, 163840, 0, 0), RATIOS)[0] == (0, 0, 0, 0, 0)


def test_totalreserve():
    managed = (3840, 258304, 0, 0, 0)
    wm = z.setup_watermarks(managed, 45056, 10)
    reserve = z.lowmem_reserve(managed, RATIOS)
    assert reserve[0] == (0, 1009, 1009, 1009, 1009)  # 258304/256
    # DMA min(3840, 247 + 1009), DMA32 16647 + 0, Normal/Movable/Device clamped to 0
    assert z.totalreserve_pages(managed, wm, reserve) == 1256 + 16647
    # a reserve bigger than the zone: clamped to managed
    tiny = (100, 262044, 0, 0, 0)
    wm = z.setup_watermarks(tiny, 4096, 10)
    reserve = z.lowmem_reserve(tiny, RATIOS)
    assert reserve[0][1] == 1023 and wm.high[0] == 0
    assert z.totalreserve_pages(tiny, wm, reserve) == 100 + wm.high[1]


def test_boot_reserves():
    # min(free kB/32, 8 MiB) and min(free kB/32, 128 MiB)
    assert z.boot_reserves(4096) == (512, 512)  # 16 MiB free: 16384/32
    assert z.boot_reserves(262144) == (8192, 32768)  # 1 GiB free: admin capped
    assert z.boot_reserves(16 * 262144) == (8192, 131072)  # 16 GiB: both capped
    assert z.boot_reserves(803568) == (8192, 100446)  # the live VM's 100446 kB
