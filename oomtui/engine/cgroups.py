"""memcg v2 in the engine: the cgroup calls, charge failures, memory.high throttling and
memcg reclaim (mm/memcontrol.c; KERNEL.md §7), mixed into Machine.

memcg.py holds the tree, the settings and the kernel's arithmetic; the page counters live in
the Lru group (kernels.py charges page by page), and the tree's usage numbers are refreshed
from them whenever the arithmetic needs them.
"""

from __future__ import annotations

import errno

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.inputs import recorded
from oomtui.engine.memcg import (
    HZ, MEMCG_MAX_HIGH_DELAY_JIFFIES, CgroupTree, MemCgroup, calculate_high_delay,
    calculate_overage, effective_min_low, mem_cgroup_get_max, throttle_sleeps,
)
from oomtui.engine.state import grow_rows
from oomtui.engine.vma import err

LRU_STAT = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")


class CgroupCalls:
    """cgroup_create/set/move/stat/cgroups, and the memcg side of charging and reclaim."""

    def _init_cgroups(self) -> None:
        self.cgtree = CgroupTree()
        self._cg_by_id: list[MemCgroup] = [self.cgtree.root]
        self._walks: dict[int, np.ndarray] = {}  # reclaim target id -> its subtree, pre-order
        self._protected = False  # any memory.min or memory.low set
        self.lru.scope[S.SCOPE_NWALK] = 1
        self.lru.walk[0] = 0

    # -- the calls ------------------------------------------------------------------------------

    @recorded
    def cgroup_create(self, path: str, *, memory_min=0, memory_low=0, memory_high=None,
                      memory_max=None, swap_max=None, oom_group=False) -> None:
        """mkdir /sys/fs/cgroup/PATH and write its memory files (sizes in bytes, None = max)."""
        self._check_alive()
        cg = self.cgtree.create(path, memory_min=memory_min, memory_low=memory_low,
                                 memory_high=memory_high, memory_max=memory_max,
                                 swap_max=swap_max, oom_group=oom_group)
        cg.id = len(self._cg_by_id)
        self._cg_by_id.append(cg)
        if cg.id >= self.lru.usage.size:
            cap = self.lru.usage.size
            self.lru = grow_rows(self.lru, cap * 2, cap)
        self.lru.parent[cg.id] = cg.parent.id
        self._walks.clear()
        self._limits_changed(cg)
        self._reclaim_scope(self.cgtree.root, protection=False)  # in-kernel reclaim walks it too
        self._event("cgroup", 0, f"cgroup {path} created", path=path)

    @recorded
    def cgroup_set(self, path: str, **changes) -> None:
        """Write memory files of an existing cgroup (create()'s keywords). A memory.high below
        usage reclaims at once (memory_high_write); a memory.max below usage reclaims, then
        OOM-kills inside the group until it fits (memory_max_write)."""
        self._check_alive()
        unknown = sorted(set(changes) - {"memory_min", "memory_low", "memory_high", "memory_max",
                                         "swap_max", "oom_group"})
        if unknown:
            raise err(errno.EINVAL, f"unknown cgroup setting(s) {', '.join(unknown)}: use memory_min, "
                                    "memory_low, memory_high, memory_max, swap_max, oom_group")
        cg = self.cgtree.set(path, **changes)
        self._limits_changed(cg)
        if "memory_high" in changes:
            self._memory_high_write(cg)
        if "memory_max" in changes:
            self._memory_max_write(cg)

    @recorded
    def cgroup_move(self, pid: int, path: str) -> None:
        """echo PID > PATH/cgroup.procs: new charges go to the new group; pages already
        charged stay where they are (cgroup v2 moves no charges)."""
        p = self._proc(pid)
        cg = self.cgtree.get(path)
        old, p.cgroup = p.cgroup, cg.path
        self._event("cgroup", pid, f"{p.comm}[{pid}] moved from {old} to {cg.path}", path=cg.path)

    def cgroups(self) -> list[str]:
        """Every cgroup path, parents before children, siblings in creation order."""
        return [cg.path for cg in self.cgtree.walk("/")]

    def cgroup_stat(self, path: str) -> dict:
        """The cgroup's memory.* files (sizes in bytes, "max" for no limit), memory.stat's
        LRU lines (bytes, this group and below) and memory.swap.events."""
        cg = self.cgtree.get(path)
        self._sync_usage()
        out = self.cgtree.stat(path)
        ids = self._walk(cg)
        sizes = self.lru.size[ids].sum(axis=0)
        out["memory.stat"] = {name: int(sizes[i]) * 4096 for i, name in enumerate(LRU_STAT)}
        fails = int(self.lru.swap_fail[ids].sum())
        out["memory.swap.events"] = {"max": fails, "fail": fails}
        out["cgroup.procs"] = [q.pid for q in self.procs.values() if q.cgroup == cg.path]
        return out

    # -- settings into the page counters ----------------------------------------------------------

    def _limits_changed(self, cg: MemCgroup) -> None:
        lru = self.lru
        lru.max[cg.id] = cg.pages("max")
        lru.high[cg.id] = cg.pages("high")
        lru.swap_max[cg.id] = cg.pages("swap_max")
        self._protected = any(c.min or c.low for c in self._cg_by_id)
        if not self._protected:
            lru.emin[:] = lru.elow[:] = 0

    def _sync_usage(self) -> None:
        """Copy the kernels' page counters into the tree (for its arithmetic and stat)."""
        lru = self.lru
        for cg in self._cg_by_id:
            cg.usage = int(lru.usage[cg.id])
            cg.swap_usage = int(lru.swap[cg.id])
            cg.peak = int(lru.peak[cg.id])

    def _memcg_of(self, p) -> MemCgroup:
        return self.cgtree.get(p.cgroup) if p is not None else self.cgtree.root

    def _walk(self, cg: MemCgroup) -> np.ndarray:
        ids = self._walks.get(cg.id)
        if ids is None:
            ids = np.array([c.id for c in self.cgtree.walk(cg.path)], dtype=np.int32)
            self._walks[cg.id] = ids
        return ids

    # -- reclaim ---------------------------------------------------------------------------------

    def _reclaim_scope(self, target: MemCgroup, protection: bool = True) -> None:
        """Point the reclaim kernels at target's subtree (the whole tree for the root), with
        every group's effective memory.min/low (computed once per reclaim call, unless the
        scope is only being reset: every reclaim that needs it computes it again)."""
        lru = self.lru
        ids = self._walk(target)
        lru.walk[:ids.size] = ids
        lru.scope[S.SCOPE_NWALK] = ids.size
        lru.scope[S.SCOPE_CGROUP_RECLAIM] = target.id != 0
        if self._protected and protection:
            self._sync_usage()
            for i in ids:
                cg = self._cg_by_id[i]
                lru.emin[i], lru.elow[i] = effective_min_low(self.cgtree, cg.path, target.path)

    def _reclaimed(self, freed) -> int:
        """Count the `low` events the reclaim raised (it reclaimed groups under memory.low)."""
        lru = self.lru
        for i in np.nonzero(lru.low_events)[0]:
            self.cgtree.count_event(self._cg_by_id[i].path, "low", int(lru.low_events[i]))
        lru.low_events[:] = 0
        return int(freed)

    def _global_reclaim(self, kernel) -> int:
        self._reclaim_scope(self.cgtree.root)
        return self._reclaimed(kernel(self.k))

    def _memcg_reclaim(self, cg: MemCgroup, nr_pages: int) -> int:
        """try_to_free_mem_cgroup_pages."""
        self._reclaim_scope(cg)
        freed = self._reclaimed(K.memcg_reclaim(self.k, nr_pages))
        self._reclaim_scope(self.cgtree.root, protection=False)
        return freed

    # -- charging ----------------------------------------------------------------------------------

    def _try_charge_failed(self, current, tries: int) -> int:
        """try_charge_memcg once page_counter_try_charge failed: a `max` event, reclaim inside
        the memcg at its limit, retry while reclaim progresses (16 fruitless tries at most),
        then mem_cgroup_oom. Returns the fruitless tries so far; raises ENOMEM when nothing
        in the memcg may be killed."""
        cg = self._cg_by_id[int(self.scratch.ctl[S.LC_OVER_LIMIT])]
        self.cgtree.count_event(cg.path, "max")
        if (self._memcg_reclaim(cg, 1) or self.lru.usage[cg.id] < self.lru.max[cg.id]
                or self._wait_for_writeback(current)):
            return 0
        if tries < K.MAX_RECLAIM_RETRIES:
            return tries + 1
        self.cgtree.count_event(cg.path, "oom")
        if self._memcg_out_of_memory(cg, current):
            return 0
        raise err(errno.ENOMEM, f"{cg.path} is at memory.max ({cg.pages('max') * 4} kB) and has "
                                "no process the OOM killer may kill: the charge fails")

    def _handle_over_high(self, current) -> None:
        """mem_cgroup_handle_over_high: reclaim the pages charged over memory.high, and when
        reclaim cannot keep up, make the task sleep the kernel's penalty (at most 2 s)."""
        lru = self.lru
        nr_pages = int(self.scratch.ctl[S.LC_OVER_HIGH])
        self.scratch.ctl[S.LC_OVER_HIGH] = 0
        if not nr_pages or current is None or current.pid not in self.procs:
            return
        start = self._memcg_of(current)
        chain = [c for c in self.cgtree.ancestors(start.path) if c.id != 0]
        retries, in_retry = K.MAX_RECLAIM_RETRIES, False
        while True:
            freed = 0
            for c in chain:  # reclaim_high
                if lru.usage[c.id] <= lru.high[c.id]:
                    continue
                self.cgtree.count_event(c.path, "high")
                freed += self._memcg_reclaim(c, K.SWAP_CLUSTER_MAX if in_retry else nr_pages)
            overage = max(calculate_overage(int(lru.usage[c.id]), int(lru.high[c.id]))
                          for c in chain) if chain else 0
            penalty = min(calculate_high_delay(overage, nr_pages), MEMCG_MAX_HIGH_DELAY_JIFFIES)
            if not throttle_sleeps(penalty):
                return
            if freed or retries:
                retries -= 0 if freed else 1
                in_retry = True
                continue
            self._stall(current, "throttled", penalty * (1_000_000 // HZ))
            self._event("throttle", current.pid,
                        f"{current.comm}[{current.pid}] throttled {penalty} ms: {start.path} is "
                        f"over memory.high", jiffies=penalty, pages=nr_pages)
            return

    # -- writes below usage ------------------------------------------------------------------------

    def _memory_high_write(self, cg: MemCgroup) -> None:
        """memory_high_write: reclaim down to the new high; never OOM."""
        retries = K.MAX_RECLAIM_RETRIES
        lru = self.lru
        while lru.usage[cg.id] > lru.high[cg.id]:
            if not (self._memcg_reclaim(cg, int(lru.usage[cg.id] - lru.high[cg.id]))
                    or self._wait_for_writeback(None)):
                retries -= 1
                if retries < 0:
                    break

    def _memory_max_write(self, cg: MemCgroup) -> None:
        """memory_max_write: reclaim (16 fruitless tries), then OOM-kill until usage fits."""
        retries = K.MAX_RECLAIM_RETRIES
        lru = self.lru
        while lru.usage[cg.id] > lru.max[cg.id]:
            if retries:
                if not (self._memcg_reclaim(cg, int(lru.usage[cg.id] - lru.max[cg.id]))
                        or self._wait_for_writeback(None)):
                    retries -= 1
                continue
            self.cgtree.count_event(cg.path, "oom")
            if not self._memcg_out_of_memory(cg, None):
                break

    # -- the memcg OOM killer ------------------------------------------------------------------------

    def _memcg_out_of_memory(self, cg: MemCgroup, current) -> bool:
        """mem_cgroup_out_of_memory: kill inside cg (totalpages = its max + swap.max).
        False when nothing there may be killed."""
        self._sync_usage()
        totalpages = mem_cgroup_get_max(self.cgtree, cg.path, self.total_swap_pages(),
                                        self._sysctl["vm.swappiness"])
        return self._oom_kill(current, memcg=cg, totalpages=totalpages)

    def _memcg_oom_info(self, cg: MemCgroup) -> dict:
        """mem_cgroup_print_oom_meminfo's numbers, kB."""
        stat = self.cgroup_stat(cg.path)
        return {"usage": int(self.lru.usage[cg.id]) * 4, "limit": None if cg.max is None else cg.max >> 10,
                "failcnt": cg.events["max"], "swap_usage": int(self.lru.swap[cg.id]) * 4,
                "swap_limit": None if cg.swap_max is None else cg.swap_max >> 10,
                "swap_failcnt": stat["memory.swap.events"]["fail"],
                "stat": stat["memory.stat"]}
