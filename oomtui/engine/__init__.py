"""The oomtui engine: a page-level model of Linux memory management. Never imports textual.

`Machine` (machine.py) is the one public object: the syscall-named calls (spawn, mmap, touch,
cgroup_create, swapon, sysctl, step, ...), processes, address spaces, files, commit accounting
and the /proc views. The rest is in modules named after what they do:

State and per-page work
    state.py      every array of the state, declared once (FIELDS), in groups
    kernels       the numba kernels (K.name): faults, LRU and reclaim, page cache, swap slots,
                  compaction
    vma.py        address spaces: VMAs and their flags; rmap.py: page -> mappings
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
    swap.py       swap areas: swapon, swapoff (a slot is allocated by kernels.swap_alloc_slot)
    slab.py       dentries, inodes and task objects, drop_caches, slabinfo
    oom.py        the OOM killer's arithmetic and decision: pure functions over frozen data
                  (select_bad_process picks the victim); oom_kill.py acts on the decision
                  and reaps; report.py writes the kernel's OOM report
    psi.py        stalled tasks and /proc/pressure/memory; events.py: the event log
    views.py      what the TUI draws: frame grids, page states

Around the machine
    snapshot.py   snapshot/restore/save/load; inputs.py: the log of outside calls
    invariants.py check_invariants(machine): every book recounted, for the tests and for
                  every state loaded (snapshot.from_snapshot)
    warmup.py     compiles the kernels ahead of first use
"""

from oomtui.engine.config import MachineConfig, SwapDevice
from oomtui.engine.machine import Event, Machine

__all__ = ["Event", "Machine", "MachineConfig", "SwapDevice"]
