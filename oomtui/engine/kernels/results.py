"""What a resumable kernel reports back to Python: the out array's slots, why it stopped, and
the failure codes page allocations return (-status).
"""

from __future__ import annotations

from oomtui.engine.kernels.jit import kernel

# Results of resumable kernels (out array): fault counts, pages done, and why they stopped.
OUT_MINFLT, OUT_MAJFLT, OUT_NEW_ANON, OUT_DONE, OUT_STATUS, OUT_SWPIN = range(6)
OUT_RECLAIMED = 6  # 1: the kernel's own direct reclaim just freed nothing
NR_OUT = 7
# Why a resumable kernel stopped: done; no free page (reclaim or OOM-kill); tables must grow;
# a memcg is at memory.max (memcg reclaim or OOM); charged over memory.high (a fault at once, a
# read or write past a charge batch).
STATUS_OK, STATUS_NOMEM, STATUS_ROOM, STATUS_MEMCG, STATUS_HIGH = range(5)
# The same as failure codes of page allocations: -status.
NO_MEMORY, NEED_ROOM, MEMCG_FULL, OVER_HIGH = -1, -2, -3, -4


@kernel
def stop(out, done, failed):
    """Record where a resumable kernel stopped: failed is 0 or a failure code (-status)."""
    out[OUT_DONE] = done
    out[OUT_STATUS] = -failed
    return failed == 0
