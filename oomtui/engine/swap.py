"""Swap areas (mm/swapfile.c; KERNEL.md §8): swapon, swapoff and /proc/swaps.

Each area is a range of slots in the Swap group, its free slots a stack. Reclaim swaps an
anon page out through folio_alloc_swap (kernels/swap.py), which charges the memcg's
memory.swap.max and takes a slot from get_swap_pages, beside it: the highest-priority active
area with a free slot; areas of equal priority take turns. swap_free_slot gives it back. swapoff brings every page of an area back into RAM (kernels.swap_unuse).
"""

from __future__ import annotations

import errno

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine.state import MAX_SWAPFILES, grow_rows
from oomtui.engine.vma import err

MAX_SWAP_PRIO = 32767
MAX_SWAP_SLOTS = 64 << 18  # 64 GiB of slots: the simulator keeps arrays per slot


class SwapAreas:
    """The swap areas of a Machine `m`, with priorities as the kernel assigns them."""

    def __init__(self, m):
        self.m = m
        self.least_priority = -1  # setup_swap_info: areas without a priority get --least_priority

    def total_pages(self) -> int:
        sw = self.m.sw
        return int((sw.size * sw.active).sum())

    def swapon(self, size_mib: int, priority: int | None) -> int:
        """swapon(2) on a fresh swap area of size_mib; returns its device number."""
        m = self.m
        if isinstance(size_mib, bool) or not isinstance(size_mib, int) or size_mib < 1:
            raise err(errno.EINVAL, f"swap size must be a positive number of MiB, got {size_mib!r}")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                     or not 0 <= priority <= MAX_SWAP_PRIO):
            raise err(errno.EINVAL, f"swap priority must be 0..{MAX_SWAP_PRIO}, got {priority!r}")
        sw = m.sw
        dev = int(np.argmin(sw.size > 0)) if (sw.size == 0).any() else MAX_SWAPFILES
        if dev >= MAX_SWAPFILES:
            raise err(errno.EPERM, f"at most {MAX_SWAPFILES} swap areas (MAX_SWAPFILES)")
        pages = size_mib * 256 - 1  # the first page holds the swap header
        base = int(sw.stack.size)
        if base + pages > MAX_SWAP_SLOTS:
            raise err(errno.EINVAL, f"swap areas may total at most {MAX_SWAP_SLOTS >> 18} GiB "
                                    "in the simulator (it keeps arrays per swap slot)")
        if priority is None:
            self.least_priority -= 1
            priority = self.least_priority
        sw = grow_rows(sw, base + pages, base)
        sw.stack[base:base + pages] = np.arange(base + pages - 1, base - 1, -1)
        sw.base[dev], sw.size[dev], sw.prio[dev] = base, pages, priority
        sw.clock[0] += 1  # plist_add: behind the areas already at this priority
        sw.top[dev], sw.used[dev], sw.seq[dev], sw.active[dev] = pages, 0, int(sw.clock[0]), 1
        m.sw = sw
        m.log("swapon", 0, f"Adding {pages * 4}k swap on swap{dev}. Priority:{priority}",
              dev=dev, pages=pages, priority=priority)
        return dev

    def swapoff_pages(self, caller, dev) -> int:
        """What swapoff of `dev` by `caller` must find room for (pages); EPERM or EINVAL if
        it may not."""
        if not caller.capable("CAP_SYS_ADMIN"):
            raise err(errno.EPERM, f"swapoff needs CAP_SYS_ADMIN, which "
                                   f"{caller.comm}[{caller.pid}] lacks")
        sw = self.m.sw
        if isinstance(dev, bool) or not isinstance(dev, int) or not 0 <= dev < MAX_SWAPFILES \
                or not sw.active[dev]:
            raise err(errno.EINVAL, f"no active swap area {dev!r}")
        return int(sw.size[dev])

    def swapoff(self, caller, dev: int) -> None:
        """swapoff(2) of an area swapoff_pages() allowed: every swapped page comes back."""
        m = self.m
        sw = m.sw
        pages = int(sw.size[dev])
        # del_from_avail_list: no new slots here, and the lower automatic priorities move up
        # one; then try_to_unuse with the caller marked oom_task_origin, the OOM killer's
        # first pick if RAM runs out.
        sw.active[dev] = 0
        prio = int(sw.prio[dev])
        if prio < 0:
            for d in range(MAX_SWAPFILES):
                if sw.active[d] and sw.prio[d] < prio:
                    sw.prio[d] += 1
            self.least_priority += 1
        res = m.allocator.run(
            lambda done, out: K.swap_unuse(k=m.k, d=dev, out=out), caller, origin=True
        )
        if not res.ok:
            sw.active[dev] = 1  # reinsert_swap_info → setup_swap_info: a new automatic priority
            if prio < 0:
                self.least_priority -= 1
                sw.prio[dev] = self.least_priority
            if caller.pid in m.procs:  # out of memory with nothing left to kill, or waiting
                raise err(errno.ENOMEM, f"swapoff swap{dev}: {res.error.strerror}")
            m.log("swapoff", caller.pid, f"swapoff swap{dev} interrupted: the caller was killed",
                  dev=dev)
            raise err(errno.EINTR, f"swapoff swap{dev}: the caller {caller.comm}[{caller.pid}] was "
                                   "OOM-killed")
        assert sw.used[dev] == 0, "swapoff left slots in use"
        sw.size[dev] = sw.top[dev] = 0
        m.log("swapoff", caller.pid, f"swapoff swap{dev}: {pages * 4}k", dev=dev)

    def swaps(self) -> list[dict]:
        """/proc/swaps: one row per active area (sizes in kB)."""
        sw = self.m.sw
        return [{"dev": d, "size": int(sw.size[d]) * 4, "used": int(sw.used[d]) * 4,
                 "priority": int(sw.prio[d])} for d in range(MAX_SWAPFILES) if sw.active[d]]
