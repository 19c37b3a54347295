"""swapon/swapoff and /proc/swaps (mm/swapfile.c; KERNEL.md §8), mixed into Machine."""

from __future__ import annotations

import errno

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine.inputs import recorded
from oomtui.engine.state import MAX_SWAPFILES, grow_rows
from oomtui.engine.vma import err

MAX_SWAP_PRIO = 32767
MAX_SWAP_SLOTS = 64 << 18  # 64 GiB of slots: the simulator keeps arrays per slot


class SwapCalls:
    """Swap devices: priorities as the kernel assigns them, slots handed out by kernels.py."""

    least_priority = -1  # setup_swap_info: devices without a priority get --least_priority

    def total_swap_pages(self) -> int:
        sw = self.sw
        return int((sw.size * sw.active).sum())

    @recorded
    def swapon(self, size_mib: int, *, priority: int | None = None) -> int:
        """swapon(2) on a fresh swap area of size_mib; returns its device number."""
        self._check_alive()
        if isinstance(size_mib, bool) or not isinstance(size_mib, int) or size_mib < 1:
            raise err(errno.EINVAL, f"swap size must be a positive number of MiB, got {size_mib!r}")
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                     or not 0 <= priority <= MAX_SWAP_PRIO):
            raise err(errno.EINVAL, f"swap priority must be 0..{MAX_SWAP_PRIO}, got {priority!r}")
        sw = self.sw
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
        self.sw = sw
        self._event("swapon", 0, f"Adding {pages * 4}k swap on swap{dev}. Priority:{priority}",
                    dev=dev, pages=pages, priority=priority)
        return dev

    @recorded
    def swapoff(self, dev: int, *, pid: int = 1) -> None:
        """swapoff(2), called by process `pid`: every swapped page comes back into RAM."""
        caller = self._proc(pid)
        if not caller.capable("CAP_SYS_ADMIN"):
            raise err(errno.EPERM, f"swapoff needs CAP_SYS_ADMIN, which {caller.comm}[{pid}] lacks")
        sw = self.sw
        if isinstance(dev, bool) or not isinstance(dev, int) or not 0 <= dev < MAX_SWAPFILES \
                or not sw.active[dev]:
            raise err(errno.EINVAL, f"no active swap area {dev!r}")
        pages = int(sw.size[dev])
        self._vm_enough_memory(caller, pages, f"swapoff swap{dev}")  # then un-charged at once
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
        _, alive = self._drive(lambda done, out: K.swap_unuse(self.k, dev, out), caller, origin=True)
        if not alive:
            sw.active[dev] = 1  # reinsert_swap_info → setup_swap_info: a new automatic priority
            if prio < 0:
                self.least_priority -= 1
                sw.prio[dev] = self.least_priority
            if pid in self.procs:  # out of memory with nothing left to kill, or waiting
                raise err(errno.ENOMEM, f"swapoff swap{dev}: {self.alloc_error.strerror}")
            self._event("swapoff", pid, f"swapoff swap{dev} interrupted: the caller was killed", dev=dev)
            raise err(errno.EINTR, f"swapoff swap{dev}: the caller {caller.comm}[{pid}] was OOM-killed")
        assert sw.used[dev] == 0, "swapoff left slots in use"
        sw.size[dev] = sw.top[dev] = 0
        self._event("swapoff", pid, f"swapoff swap{dev}: {pages * 4}k", dev=dev)

    def swaps(self) -> list[dict]:
        """/proc/swaps: one row per active area (sizes in kB)."""
        sw = self.sw
        return [{"dev": d, "size": int(sw.size[d]) * 4, "used": int(sw.used[d]) * 4,
                 "priority": int(sw.prio[d])} for d in range(MAX_SWAPFILES) if sw.active[d]]
