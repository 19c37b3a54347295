"""Slab: the kernel objects oomtui models, and the calls that allocate and drop them.

Two kinds of slab memory (KERNEL.md §6, §10):

- Reclaimable (SReclaimable): dentries and inodes. Every file the engine keeps has one of
  each, pinned (the engine's files are always cached). `stat_files` looks up names that are
  not cached, as `find` or a backup walking a tree does: a dentry each and, unless the name
  does not exist (a negative dentry), an inode read from disk. Those stay cached but unused,
  on the superblock's LRUs, until the superblock shrinker frees them under pressure
  (kernels.shrink_slab, weighted by vm.vfs_cache_pressure) or vm.drop_caches=2.
- Unreclaimable (SUnreclaim): one task_struct, mm_struct, signal_struct, sighand_struct,
  files_struct and struct pid per process (copy_process), freed when it is reaped.

Objects are packed perfectly (kernels.slab_alloc says why); slab memory is charged to the root
memcg only (memory.max does not count it, and memcg reclaim does not shrink it).
"""

from __future__ import annotations

import errno

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.allocator import AllocResult, SlowPath
from oomtui.engine.vma import PAGE, err

# The most names one stat_files call looks up: about a second of work; more is refused (the
# caller calls again), so no single call runs for minutes.
MAX_STAT_NAMES = 1 << 20


class Slab:
    """kmem_cache_alloc for the engine, stat_files, vm.drop_caches and /proc/slabinfo, for a
    Machine `m`."""

    def __init__(self, m):
        self.m = m

    def alloc(self, cache: int, current) -> AllocResult:
        """kmem_cache_alloc for `current` (GFP_KERNEL: reclaim, compaction and the OOM killer
        as for any allocation); not ok if it failed or `current` was killed."""
        m = self.m
        order = int(S.SLAB_MIN_ORDER[cache])  # what the slow path is for (kernels.slab_alloc)
        return m.allocator.run(
            lambda done, out: K.stop(
                out=out, done=1, failed=0 if K.slab_alloc(k=m.k, c=cache) else K.NO_MEMORY
            ),
            current,
            slow=SlowPath(order, 2, movable=False) if order else None,
        )

    def task_objects(self, current) -> AllocResult:
        """copy_process's objects (dup_task_struct, copy_signal, copy_sighand, copy_files,
        alloc_pid, mm_alloc); all or none."""
        for i, cache in enumerate(S.TASK_CACHES):
            res = self.alloc(cache, current)
            if not res.ok:
                for done in S.TASK_CACHES[:i]:
                    K.slab_free(k=self.m.k, c=done, n=1)
                return res
        return AllocResult()

    def free_task_objects(self) -> None:
        for cache in S.TASK_CACHES:
            K.slab_free(k=self.m.k, c=cache, n=1)

    def file_objects(self, current) -> AllocResult:
        """A new file's dentry and inode (pinned while the engine keeps the file)."""
        res = self.alloc(S.CACHE_DENTRY, current)
        if not res.ok:
            return res
        res = self.alloc(S.CACHE_INODE, current)
        if not res.ok:
            K.slab_free(k=self.m.k, c=S.CACHE_DENTRY, n=1)
        return res

    def stat_files(self, p, count: int, negative: bool) -> int:
        """stat(2) of `count` names that are not in the dcache (d_alloc, then the inode read
        by iget; none for a name that does not exist). Both stay cached, unused (dput), until
        the shrinker frees them. Returns the lookups done: fewer if the process was
        OOM-killed on the way."""
        m = self.m
        if isinstance(count, bool) or not isinstance(count, int) or \
                not 0 <= count <= MAX_STAT_NAMES:
            raise err(errno.EINVAL, f"count must be an integer from 0 to {MAX_STAT_NAMES} (one "
                                    f"call's lookups; call again for more), got {count!r}")
        if not isinstance(negative, bool):
            raise err(errno.EINVAL, f"negative must be True or False, got {negative!r}")
        looked_up = 0

        def call(done, out):
            nonlocal looked_up
            ok = K.stat_names(k=m.k, n=count, negative=negative, done=done, out=out)
            looked_up = done + int(out[K.OUT_DONE])
            return ok

        if count:
            res = m.allocator.run(call, p)  # order-0 slabs
            if not res.ok and p.pid in m.procs:
                raise res.error
        return looked_up

    def drop_caches(self, value: int) -> None:
        """drop_caches_sysctl_handler: 1 drops clean unmapped page cache, 2 unused dentries
        and inodes, 3 both; dmesg says who asked unless bit 4 is set."""
        m = self.m
        if value & 1:
            for f in m.files.values():
                K.pc_walk(
                    k=m.k,
                    file_id=f.id,
                    first=0,
                    npages=f.pages,
                    action=K.WALK_INVALIDATE,
                    counts=K.NO_COUNTS,
                    col=0,
                )
            m.ctr.vm[S.DROP_PAGECACHE] += 1
        if value & 2:
            K.drop_slab(k=m.k)
            m.ctr.vm[S.DROP_SLAB] += 1
        if not value & 4:
            m.log("drop_caches", 0, f"drop_caches: {value}")

    def slabinfo(self) -> list[dict]:
        """/proc/slabinfo for the caches oomtui models (objects packed perfectly, so every
        allocated object is active and only the newest slab has free room)."""
        slab = self.m.rs.slab
        return [{"name": name, "active_objs": int(slab[c, S.SL_OBJS]),
                 "num_objs": int(slab[c, S.SL_ROOM]), "objsize": int(S.SLAB_OBJSIZE[c]),
                 "objperslab": (PAGE << int(S.SLAB_ORDER[c])) // int(S.SLAB_OBJSIZE[c]),
                 "pagesperslab": 1 << int(S.SLAB_ORDER[c]),
                 "active_slabs": int(slab[c, S.SL_SLABS]), "num_slabs": int(slab[c, S.SL_SLABS]),
                 "unused": int(slab[c, S.SL_UNUSED]), "negative": int(slab[c, S.SL_NEG]),
                 "reclaimable": c < S.NR_RECLAIMABLE_CACHES}
                for c, name in enumerate(S.SLAB_CACHES)]
