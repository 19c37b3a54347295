"""The oomtui engine: a page-level model of Linux memory management. Never imports textual.

`Machine` (machine.py) is the one public object: the syscall-named calls (spawn, mmap, touch,
cgroup_create, swapon, sysctl, step, ...), processes, address spaces, files, commit accounting
and the /proc views. The rest is in modules named after what they do:

State and per-page work
    constants.py  page size, HZ, zones and the kernel's batch sizes, each defined once
    state.py      every array of the state, declared once (FIELDS), in groups; per-call
                  scratch that is never saved (SCRATCH_FIELDS)
    kernels/      the numba kernels (K.name), a module per part of mm: buddy (the page
                  allocator), lru, reclaim (shrink_*), swap (slots: get_swap_pages), swapin,
                  fault, memcg (try_charge), pagecache, writeback, compaction, slab, ...;
                  their cache is keyed by the sources of them all (oomtui/numba_cache.py)
    vma.py        address spaces: VMAs and their flags; gaps.py: the free gaps between
                  them, indexed for get_unmapped_area; rmap.py: page -> mappings
    zones.py      zone sizes, watermarks and reserves (KERNEL.md §4)
    config.py     MachineConfig and the sysctls

Services the machine is made of (each given the machine; none touches its private parts)
    allocator.py  the allocation slow path: drives a kernel, reclaims, compacts, calls the OOM
                  killer; an allocation that fails is an AllocResult saying why
    reclaim.py    kswapd0 and direct reclaim
    compaction.py direct compaction and its deferral; thp.py: transparent huge page faults
    memcg.py      memcg v2: the cgroup tree, its settings and arithmetic, charge failures,
                  memory.high (the throttle delay is computed and served there), protection
    writeback.py  dirty limits, the flushers, balance_dirty_pages
    swap.py       swap areas: swapon, swapoff (a slot is allocated by kernels/swap.py's
                  get_swap_pages)
    slab.py       dentries, inodes and task objects, drop_caches, slabinfo
    oom.py        the OOM killer's arithmetic and decision: pure functions over frozen data
                  (select_bad_process picks the victim); oom_kill.py acts on the decision
                  and reaps; report.py writes the kernel's OOM report
    psi.py        stalled tasks and /proc/pressure/memory; events.py: the event log
    daemons/      userspace OOM daemons beside the kernel's (earlyoom, systemd-oomd, nohang):
                  pure policies over what each reads, and the driver Machine.step runs
    views.py      what the TUI draws: frame grids, page states

Around the machine
    records.py    the Process and File records the machine keeps
    schema.py     the saved state, declared: every value's public key, check and attribute
    snapshot.py   snapshot/restore/save/load through the schema; inputs.py: the log of
                  outside calls
    invariants.py check_invariants(machine): every book recounted, for the tests and for
                  every state loaded (snapshot.from_snapshot)
    warmup.py     runs every kernel a run needs, in two parts, so they are compiled (or
                  loaded from the cache) ahead of first use; marks the cache complete
    compiler.py   a first run: worker processes compile the parts side by side while the
                  engine runs its kernels interpreted (kernels/jit.py: interpret)
"""

from oomtui.engine.config import MachineConfig, SwapDevice

__all__ = ["Event", "Machine", "MachineConfig", "SwapDevice"]


def __getattr__(name: str):
    """Machine and Event on first use: importing a light module of the engine (constants.py,
    config.py) must not load numba and the kernels."""
    if name in ("Machine", "Event"):
        from oomtui.engine import machine

        return getattr(machine, name)
    raise AttributeError(f"module 'oomtui.engine' has no attribute {name!r}")
