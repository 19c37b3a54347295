"""Constants of the simulated kernel that several modules share, each defined once, here.

Plain ints and tuples (no numpy), so any module may import them. The indexes of the state
arrays (watermarks, LRU lists, counters, flags) are in state.py, next to the arrays.
"""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
HZ = 1000  # CONFIG_HZ_1000, as in x86_64_defconfig: one jiffy is 1 ms

# Zones, in the kernel's order on x86_64 (enum zone_type).
ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable", "Device")
ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE, ZONE_DEVICE = range(len(ZONE_NAMES))
NR_ZONES = len(ZONE_NAMES)

SWAP_CLUSTER_MAX = 32  # reclaim's batch: pages scanned per list at a time, a direct reclaim's goal
MAX_RECLAIM_RETRIES = 16  # fruitless reclaims before the OOM killer (kswapd: before it sleeps)
MEMCG_CHARGE_BATCH = 64  # pages over memory.high a task may charge before it must reclaim them
PAGE_COUNTER_MAX = (2**63 - 1) // PAGE_SIZE  # LONG_MAX / PAGE_SIZE: a memcg limit of "max"
