"""Machine: the simulated computer and its syscall-style API (DESIGN.md §3).

Every call validates its arguments and checks limits (overcommit, rlimits) before it changes
anything, so a call refused with OSError leaves the machine as it was. Physical memory is
different, as in Linux: an allocation that finds no free page reclaims, and at worst the OOM
killer ends a process, so a call can succeed while another process dies, or fail because
its own process was killed.

Machine is the facade: the syscall-style calls, processes, address spaces, files, commit
accounting and the /proc views live here; per-page work happens in the kernels (kernels/), and
the rest in services the machine composes (engine/__init__.py maps them), each given the machine and
using only its state groups, its public objects and the other services.
"""

from __future__ import annotations

import errno
import hashlib
from dataclasses import dataclass, replace
from numbers import Integral

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine import zones as Z
from oomtui.engine.allocator import AllocResult, Allocator
from oomtui.engine.compaction import Compaction
from oomtui.engine.config import (RLIM_INFINITY, ZEROES, ZEROES_IF_CHANGED, MachineConfig,
                                  sysctl_defaults, validate_sysctl)
from oomtui.engine.daemons.calls import PolicyCalls
from oomtui.engine.events import Event, EventLog
from oomtui.engine.inputs import InputLog, recorded
from oomtui.engine.memcg import Memcg
from oomtui.engine.oom import Candidate, OomDecision, oom_badness, oom_score, out_of_memory
from oomtui.engine.oom_kill import OomKiller
from oomtui.engine.psi import Psi, Stalls
from oomtui.engine.reclaim import Reclaim
from oomtui.engine.slab import Slab
from oomtui.engine.snapshot import SnapshotCalls, digested
from oomtui.engine.swap import SwapAreas
from oomtui.engine.thp import Thp
from oomtui.engine.views import Views
from oomtui.engine.writeback import Writeback
from oomtui.engine.state import (
    KERNEL, MM_ANONPAGES, PAGETABLE, Kern, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS, PAGE_SHIFT, TASK_SIZE,
    V_ACCOUNT, V_ANON, V_HUGEPAGE, V_LOCKED, V_NOHUGEPAGE, V_NORESERVE, V_PROT,
    V_READ, V_SHARED, V_WRITE, grow_rows, new_group,
)
from oomtui.engine.vma import (
    MMAP_MIN_ADDR, PAGE, Mm, Vma, err, is_data, new_stack_vma, page_align, parse_mmap_flags,
    parse_prot, vmas_changed,
)
from oomtui.engine.records import CAPS, RLIMITS, File, Process
from oomtui.engine.report import panic_text
from oomtui.engine.rmap import RmapIndex
from oomtui.workloads import PRESETS, Program, Runner

TASK_COMM_LEN = 16
KSTACK_ORDER = 2  # THREAD_SIZE 16 KiB on x86_64
MLOCK_LIMIT_DEFAULT = 8 << 20  # MLOCK_LIMIT since 5.16
MAX_RW_COUNT = 0x7FFFF000  # INT_MAX & PAGE_MASK: the most one read() or write() moves
# The most pages one mincore call reports (64 GiB of address space, a 16 MiB vector): its cost
# and its answer grow with the range asked, not with what is mapped, so more is refused.
MINCORE_MAX_PAGES = 1 << 24
ADVICE = ("dontneed", "free", "willneed", "cold", "pageout", "hugepage", "nohugepage")
_UNSET = object()


class Killed(OSError):
    """The call did not return: the process it ran in was killed by a signal (SIGSEGV or
    SIGBUS) on an access its mappings do not allow. Unlike any other OSError of the engine the
    machine changed: the pages before the bad one were faulted in, and the process is gone.
    errno is EFAULT (what a system call given the same address returns)."""

    def __init__(self, pid: int, comm: str, signal: str, code: str, addr: int, faults: int):
        super().__init__(errno.EFAULT, f"{comm}[{pid}] killed by {signal} ({code}) at {addr:#x}, "
                                       f"after {faults} page faults")
        self.pid, self.signal, self.code, self.addr, self.faults = pid, signal, code, addr, faults


@dataclass(frozen=True)
class StepReport:
    """What step() did: the tick reached, ticks run, and the events they logged."""
    tick: int
    ticks: int
    events: list


def _int(name: str, value, lo: int = 0, hi: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise err(errno.EINVAL, f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not lo <= value <= hi:
        raise err(errno.EINVAL, f"{name}={value} is out of range {lo}..{hi}")
    return int(value)


def _word(name: str, value, words) -> str:
    """One of `words` (a str; anything else is EINVAL, never a TypeError)."""
    if not isinstance(value, str) or value not in words:
        raise err(errno.EINVAL, f"unknown {name} {value!r}: use {', '.join(words)}")
    return value


def _caps(value) -> frozenset:
    """Capabilities: one name, or a list, tuple or set of names, each one of CAPS."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (tuple, list, set, frozenset)):
        raise err(errno.EINVAL, f"caps must be a capability name or a list of them, got {value!r}")
    for c in names:
        if not isinstance(c, str) or c not in CAPS:
            raise err(errno.EINVAL, f"unknown capability {c!r}: use {', '.join(sorted(CAPS))}")
    return frozenset(names)


def _aligned(name: str, value) -> int:
    value = _int(name, value)
    if value % PAGE:
        raise err(errno.EINVAL, f"{name}={value:#x} is not page-aligned")
    return value


def _require_mapped(mm: Mm, start: int, end: int) -> None:
    if end > TASK_SIZE or not mm.covered(start, end):
        raise err(errno.ENOMEM, f"[{start:#x}, +{_size(end - start)}) is not fully mapped")


def _kb(pages: int) -> int:
    return pages * (PAGE >> 10)


def _size(nbytes: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return f"{nbytes / (1 << shift):.4g} {unit}"
    return f"{nbytes} B"


def _kept_by(service: str, name: str) -> property:
    """A Machine attribute that a service keeps (snapshot.py saves and restores it by the
    Machine's name)."""
    return property(lambda m: getattr(getattr(m, service), name),
                    lambda m, value: setattr(getattr(m, service), name, value))


class Machine(SnapshotCalls, PolicyCalls):
    """A simulated Linux machine: zones of physical frames, processes, the page cache, swap."""

    cgtree = _kept_by("memcg", "tree")
    _cg_by_id = _kept_by("memcg", "by_id")
    _walks = _kept_by("memcg", "walks")
    _protected = _kept_by("memcg", "protected")
    _stalled = _kept_by("stalls", "stalled")
    _victims = _kept_by("oom", "victims")
    _embryo = _kept_by("oom", "embryo")
    _kswapd_was_awake = _kept_by("reclaim", "kswapd_was_awake")
    least_priority = _kept_by("swap_areas", "least_priority")

    def __init__(self, config: MachineConfig):
        if not isinstance(config, MachineConfig):
            raise err(errno.EINVAL, f"Machine needs a MachineConfig, got {type(config).__name__}")
        self.config = config
        self.tick = 0
        self.events: list[Event] = []
        managed = config.zone_pages()
        self.managed = managed
        self.totalram = sum(managed)
        self._sysctl = sysctl_defaults(managed, config.thp)
        self._sysctl.update(config.sysctl)
        sizes = {"frames": self.totalram, "memcgs": 1, "mms": 64, "ht": 1024, "rows": 64,
                 "slots": 0}
        self.fr = new_group("frames", sizes)
        self.zn = new_group("zones", sizes)
        self.lru = new_group("lru", sizes)
        self.ctr = new_group("counters", sizes)
        self.mms = new_group("mms", sizes)
        self.pt = new_group("pagetables", sizes)
        self.pc = new_group("pagecache", sizes)
        self.sw = new_group("swap", sizes)
        self.scratch = new_group("scratch", sizes)  # per-call words, never saved
        self.procs: dict[int, Process] = {}
        self.files: dict[str, File] = {}
        self.file_by_id: dict[int, File] = {}
        self.rs = new_group("reclaim", sizes)
        self.rs.state[S.RS_EXPIRED] = -1  # no dirty page has expired yet
        self.rs.slab[:, S.SL_HEAD] = -1  # no slabs yet
        # The services (engine/__init__.py says which does what).
        self.log = EventLog(self)
        self.stalls = Stalls()
        self.memcg = Memcg(self)
        self.allocator = Allocator(self, grow=self._grow)
        self.reclaim = Reclaim(self)
        self.writeback = Writeback(self)
        self.compaction = Compaction(self)
        self.thp = Thp(self)
        self.oom = OomKiller(self, release=self._release, panic=self._panic)
        self.swap_areas = SwapAreas(self)
        self.slab = Slab(self)
        self.views = Views(self)
        self._sysctl_to_kernels()
        self.panicked: str | None = None
        self.runners: dict[int, Runner] = {}  # pid -> the workload it runs
        self.psi = Psi()
        self._rmap = RmapIndex()
        self.pt.free_rows[:] = np.arange(sizes["rows"] - 1, -1, -1, dtype=np.int32)
        self.pt.nfree[0] = sizes["rows"]
        self.zn.start[1:] = np.cumsum(managed)
        K.buddy_init(k=self.k)
        for z in np.flatnonzero(managed):
            K.reset_cached_positions(zn=self.zn, z=z)
        self._setup_watermarks()
        self.committed = 0  # vm_committed_as, pages
        self._next = {"pid": 1, "mm": 0, "anon": 0, "file": 1}
        init, _ = self._new_process("init", parent=None, uid=0, caps=CAPS, adj=0, mm=None)
        self.log("spawn", init.pid, "init started")
        for dev in config.swap:
            self.swapon(dev.size_mib, priority=dev.priority)
        self.inputs = InputLog()  # from here on, outside calls are logged (engine/inputs.py)

    @property
    def k(self) -> Kern:
        """The state groups as one kernel argument (rebuilt: groups are replaced as they grow)."""
        return Kern(self.fr, self.zn, self.lru, self.ctr, self.mms, self.pt, self.pc, self.sw,
                    self.rs, self._rmap.current(q.mm for q in self.procs.values()),
                    self.scratch)

    # -- zones, watermarks and tables ------------------------------------------------------

    def _setup_watermarks(self) -> None:
        """setup_per_zone_wmarks + setup_per_zone_lowmem_reserve (KERNEL.md §4)."""
        wm = Z.setup_watermarks(self.managed, self._sysctl["vm.min_free_kbytes"],
                                self._sysctl["vm.watermark_scale_factor"])
        reserve = Z.lowmem_reserve(self.managed, self._sysctl["vm.lowmem_reserve_ratio"])
        self.zn.wmark[:] = np.array([wm.min, wm.low, wm.high, wm.promo], dtype=np.int64).T
        self.zn.reserve[:] = np.array(reserve, dtype=np.int64)
        self.watermarks = wm
        self.totalreserve = Z.totalreserve_pages(self.managed, wm, reserve)

    def _grow(self) -> None:
        """A kernel stopped for room: double what is full (the page-table pool, its hash, the
        page cache's hash, as pt_row and pc_add judge them), each by its own use."""
        pt = self.pt
        rows = pt.row_pfn.size
        if pt.nfree[0] == 0:
            pt = grow_rows(pt, rows * 2, rows)
            pt.free_rows[:rows] = np.arange(rows * 2 - 1, rows - 1, -1)
            pt.nfree[0] = rows
        if (pt.count[0] + 3) * 2 > pt.keys.size:
            pt = self._rehash(pt)
        self.pt = pt
        if (self.pc.count[0] + 1) * 2 > self.pc.keys.size:
            self.pc = self._rehash(self.pc)

    @staticmethod
    def _rehash(group):
        cap = group.keys.size * 2
        keys = np.full(cap, -1, dtype=np.int64)
        vals = np.full(cap, -1, dtype=np.int64)
        count = np.zeros(1, dtype=np.int64)
        K.ht_rehash(old_keys=group.keys, old_vals=group.vals, keys=keys, vals=vals, count=count)
        return group._replace(keys=keys, vals=vals, count=count)

    # -- checks, limits and commit accounting ----------------------------------------------

    def _proc(self, pid) -> Process:
        self._check_alive()
        p = self.procs.get(pid) if isinstance(pid, Integral) and not isinstance(pid, bool) else None
        if p is None:
            raise err(errno.ESRCH, f"no such process: {pid!r}")
        return p

    def _check_alive(self) -> None:
        if self.panicked:
            raise err(errno.ENOTRECOVERABLE, f"the machine has panicked ({self.panicked}): "
                                             "rewind or start a new one")

    def _panic(self, reason: str) -> None:
        self.panicked = reason
        self.log("panic", 0, f"Kernel panic - not syncing: {reason}", text=panic_text(reason))
        raise err(errno.ENOTRECOVERABLE, f"Kernel panic - not syncing: {reason}")

    def _new_id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind] - 1

    def _rlimit(self, p: Process, name: str) -> int:
        return p.rlimits[name][0]

    def commit_limit(self) -> int:
        """vm_commit_limit (KERNEL.md §3), pages."""
        kbytes = self._sysctl["vm.overcommit_kbytes"]
        if kbytes:
            allowed = kbytes >> (PAGE_SHIFT - 10)
        else:
            allowed = self.totalram * self._sysctl["vm.overcommit_ratio"] // 100
        return allowed + self.total_swap_pages()

    def _vm_enough_memory(self, p: Process, pages: int, what: str, already: int = 0) -> None:
        """__vm_enough_memory (KERNEL.md §3): raise ENOMEM if charging `pages` is refused.

        `already` is what this same call charged before (fork and mprotect charge per VMA).
        """
        if pages <= 0:
            return
        mode = self._sysctl["vm.overcommit_memory"]
        if mode == 1:
            return
        if mode == 0:
            limit = self.totalram + self.total_swap_pages()
            if pages > limit:
                raise err(errno.ENOMEM, f"{what}: {_size(pages * PAGE)} is more than RAM + swap "
                                        f"({_size(limit * PAGE)}), refused by overcommit mode 0")
            return
        allowed = self.commit_limit()
        if not p.capable("CAP_SYS_ADMIN"):
            allowed -= self._sysctl["vm.admin_reserve_kbytes"] >> (PAGE_SHIFT - 10)
        allowed -= min(p.mm.total_vm() // 32, self._sysctl["vm.user_reserve_kbytes"] >> (PAGE_SHIFT - 10))
        committed = self.committed + already + pages
        if committed >= allowed:
            raise err(errno.ENOMEM, f"{what}: Committed_AS would reach {_kb(committed)} kB, "
                                    f"not below {_kb(allowed)} kB (CommitLimit {_kb(self.commit_limit())} kB "
                                    f"less the admin and user reserves) in overcommit mode 2")

    def _may_expand_vm(self, p: Process, flags: int, pages: int, what: str) -> None:
        """may_expand_vm: RLIMIT_AS, then RLIMIT_DATA for private writable mappings."""
        mm = p.mm
        limit = self._rlimit(p, "AS")
        if (mm.total_vm() + pages) << PAGE_SHIFT > limit:
            raise err(errno.ENOMEM, f"{what}: VmSize would be {_kb(mm.total_vm() + pages)} kB, over "
                                    f"RLIMIT_AS {limit >> 10} kB")
        limit = self._rlimit(p, "DATA")
        if is_data(flags) and (mm.data_vm() + pages) << PAGE_SHIFT > limit:
            raise err(errno.ENOMEM, f"{what}: VmData would be {_kb(mm.data_vm() + pages)} kB, over "
                                    f"RLIMIT_DATA {limit >> 10} kB")

    def _can_do_mlock(self, p: Process) -> bool:
        return self._rlimit(p, "MEMLOCK") != 0 or p.capable("CAP_IPC_LOCK")

    def _mlock_ok(self, p: Process, pages: int) -> bool:
        """mlock_future_ok: locked_vm + pages within RLIMIT_MEMLOCK, or CAP_IPC_LOCK."""
        if p.capable("CAP_IPC_LOCK"):
            return True
        return (p.mm.locked_vm() + pages) << PAGE_SHIFT <= self._rlimit(p, "MEMLOCK")

    # -- processes -------------------------------------------------------------------------

    @recorded
    def spawn(self, comm: str, *, oom_score_adj: int = 0, cgroup: str = "/", uid: int = 1000,
              caps=(), workload=None) -> int:
        """Start a process (fork + exec of a small binary): a stack VMA, no other memory."""
        self._check_alive()
        if not isinstance(comm, str) or not comm:
            raise err(errno.EINVAL, f"comm must be a non-empty string, got {comm!r}")
        adj = _int("oom_score_adj", oom_score_adj, -1000, 1000)
        uid = _int("uid", uid, 0, 2**32 - 2)
        caps = _caps(caps)
        cgroup = self.cgtree.get(cgroup).path
        program = self._program(workload)
        init = self.procs[1]
        stack_pages = new_stack_vma(-1).pages
        self._vm_enough_memory(init, stack_pages, "exec stack")
        # The spawner is a privileged service manager: it sets adj and, with CAP_SYS_RESOURCE,
        # oom_score_adj_min too (KERNEL.md §2, like systemd's OOMScoreAdjust=).
        p, res = self._new_process(comm, parent=init, uid=uid, caps=caps, adj=adj, mm=None)
        if p is None:  # no kernel stack, PGD or task objects: the OOM killer waits for a victim
            raise err(res.error.errno, f"spawn: {res.error.strerror}")
        p.cgroup = cgroup
        self.log("spawn", p.pid, f"{p.comm}[{p.pid}] started")
        if program is not None:
            self.runners[p.pid] = Runner(program, p.pid, self.config.seed)
        return p.pid

    @staticmethod
    def _program(workload) -> Program | None:
        """A workload: None, a Program, or the name of a preset."""
        if workload is None or isinstance(workload, Program):
            if workload is not None:
                workload.validate()
            return workload
        if isinstance(workload, str) and workload in PRESETS:
            return PRESETS[workload]
        raise err(errno.EINVAL, f"unknown workload {workload!r}: use a Program or one of "
                                f"{', '.join(sorted(PRESETS))}")

    @recorded
    def fork(self, pid: int) -> int:
        """fork(): copy the address space copy-on-write (dup_mmap, copy_page_range)."""
        parent = self._proc(pid)
        pm = parent.mm
        charge = 0
        for v in pm.vmas:  # dup_mmap charges every VM_ACCOUNT VMA on its own
            if v.flags & V_ACCOUNT:
                self._vm_enough_memory(parent, v.pages, "fork", already=charge)
                charge += v.pages
        mm = self._new_mm()
        for v in pm.vmas:
            mm.insert(Vma(v.start, v.end, v.flags & ~V_LOCKED, v.file, v.pgoff, v.anon, v.has_anon,
                          v.name))
        mm.start_brk, mm.brk = pm.start_brk, pm.brk
        child, _ = self._new_process(parent.comm, parent=parent, uid=parent.uid,
                                     caps=parent.caps, adj=parent.oom_score_adj,
                                     adj_min=parent.oom_score_adj_min, mm=mm,
                                     rlimits={k: list(v) for k, v in parent.rlimits.items()})
        if child is None:
            raise err(errno.ENOMEM, f"fork: {parent.comm}[{pid}] was OOM-killed while forking")
        child.cgroup = parent.cgroup
        self.committed += charge
        self.oom.embryo = child.pid  # not on the task list until copy_process is done
        for v in [v for v in pm.vmas if v.has_anon]:  # vma_needs_copy: only VMAs with anon pages
            start, n, private = v.start >> PAGE_SHIFT, v.pages, not v.flags & V_SHARED
            res = self.allocator.run(
                lambda done, out: K.copy_range(
                    k=self.k,
                    src=pm.id,
                    dst=mm.id,
                    vstart=start + done,
                    npages=n - done,
                    private=private,
                    out=out,
                ),
                parent,
            )
            if not res.ok:
                self.oom.embryo = 0
                self._release(child, "exit", f"{child.comm}[{child.pid}] fork failed")
                if parent.pid in self.procs:
                    raise err(errno.ENOMEM, f"fork: {res.error.strerror}")
                raise err(errno.ENOMEM, f"fork: {parent.comm}[{pid}] was OOM-killed while forking")
        self.oom.embryo = 0
        self._update_hiwater(child)
        self.log("fork", child.pid, f"{parent.comm}[{parent.pid}] forked {child.pid}",
                 parent=parent.pid)
        return child.pid

    @recorded
    def exit(self, pid: int) -> None:
        """The process exits: its memory, page tables and kernel stack are freed."""
        p = self._proc(pid)
        if pid == 1:
            raise err(errno.EPERM, "init cannot exit: the kernel would panic (Attempted to kill init!)")
        self._release(p, "exit", f"{p.comm}[{pid}] exited")

    @recorded
    def kill(self, pid: int, sig: int = 9) -> None:
        """kill(2) for signal 0 (existence check), 9 (SIGKILL) and 15 (SIGTERM)."""
        p = self._proc(pid)
        sig = _int("sig", sig, 0, 64)
        if sig not in (0, 9, 15):
            raise err(errno.EINVAL, f"signal {sig} is not modelled: use 0, 9 (SIGKILL) or 15 (SIGTERM)")
        if sig == 0:
            return
        if pid == 1:
            raise err(errno.EPERM, "init ignores fatal signals it has no handler for")
        self._release(p, "kill", f"{p.comm}[{pid}] killed by signal {sig}", signal=sig)

    @recorded
    def kill_matching(self, *, comm: str | None = None, cgroup: str | None = None,
                      sig: int = 9) -> list[int]:
        """End many processes at once: every process named `comm` (pkill -x), or in cgroup
        `cgroup` and below (echo 1 > cgroup.kill), or both; init is spared, as it ignores
        fatal signals. Returns the pids killed, in pid order ([] when none matched)."""
        self._check_alive()
        sig = _int("sig", sig, 0, 64)
        if sig not in (9, 15):
            raise err(errno.EINVAL, f"signal {sig} is not modelled here: use 9 (SIGKILL) or 15")
        if comm is None and cgroup is None:
            raise err(errno.EINVAL, "kill_matching needs comm, cgroup or both")
        if comm is not None and (not isinstance(comm, str) or not comm):
            raise err(errno.EINVAL, f"comm must be a non-empty string, got {comm!r}")
        paths = None
        if cgroup is not None:
            if cgroup == "/":  # the root cgroup has no cgroup.kill
                raise err(errno.EINVAL, "the root cgroup cannot be killed: name a child cgroup")
            paths = {cg.path for cg in self.cgtree.walk(cgroup)}
        pids = [pid for pid, p in sorted(self.procs.items())
                if pid != 1 and (comm is None or p.comm == comm[:TASK_COMM_LEN - 1])
                and (paths is None or p.cgroup in paths)]
        for pid in pids:
            p = self.procs[pid]
            self._release(p, "kill", f"{p.comm}[{pid}] killed by signal {sig}", signal=sig)
        return pids

    def _new_process(self, comm, *, parent: Process | None, uid, caps, adj, mm: Mm | None,
                     adj_min=None, rlimits=None) -> tuple[Process | None, AllocResult]:
        """copy_process: kernel stack and PGD (OOM-killing if need be), then the task.
        (None, how the allocation failed) if it did or the parent was OOM-killed on the way;
        nothing is left behind."""
        pid = self._next["pid"]
        if parent is None:  # init, at boot
            kstack = K.kernel_alloc(
                fr=self.fr, zn=self.zn, ctr=self.ctr, rs=self.rs, order=KSTACK_ORDER, owner=pid
            )
            pgd = K.alloc_pages(
                fr=self.fr,
                zn=self.zn,
                ctr=self.ctr,
                rs=self.rs,
                order=0,
                highest=S.ZONE_NORMAL,
                ftype=PAGETABLE,
                owner=pid,
            )
            self.slab.task_objects(None)
        else:
            # GFP_KERNEL: highest zone Normal, unmovable.
            stack = self.allocator.alloc_pages(KSTACK_ORDER, 2, KERNEL, pid, parent, movable=False)
            # The PGD counts in meminfo PageTables but not in the mm's VmPTE.
            table = self.allocator.alloc_pages(0, 2, PAGETABLE, pid, parent,
                                               movable=False) if stack.ok else stack
            objects = self.slab.task_objects(parent) if table.ok else table
            if not objects.ok:
                if table.pfn >= 0:
                    K.free_pages(fr=self.fr, zn=self.zn, ctr=self.ctr, p=table.pfn, order=0)
                if stack.pfn >= 0:
                    K.free_pages(
                        fr=self.fr, zn=self.zn, ctr=self.ctr, p=stack.pfn, order=KSTACK_ORDER
                    )
                return None, objects
            kstack, pgd = stack.pfn, table.pfn
        self.ctr.vm[S.NR_PAGETABLE] += 1
        self._new_id("pid")
        self.ctr.vm[S.NR_KSTACK] += 1 << KSTACK_ORDER
        if mm is None:
            mm = self._new_mm()
            mm.insert(new_stack_vma(self._new_id("anon")))
            self.committed += mm.committed()
        p = Process(pid, comm[:TASK_COMM_LEN - 1], parent.pid if parent else 0, uid,
                    frozenset(caps), mm, adj, adj if adj_min is None else adj_min, kstack=kstack,
                    pgd=pgd, rlimits=rlimits or {"AS": [RLIM_INFINITY, RLIM_INFINITY],
                                                 "DATA": [RLIM_INFINITY, RLIM_INFINITY],
                                                 "MEMLOCK": [MLOCK_LIMIT_DEFAULT, MLOCK_LIMIT_DEFAULT]})
        self.procs[pid] = p
        self._rmap.join(mm)
        vmas_changed()  # a new mm's VMAs join the reverse map
        self._update_hiwater(p)
        return p, AllocResult()

    def _new_mm(self) -> Mm:
        mm = Mm(self._new_id("mm"))
        if mm.id >= self.mms.nr_pt.size:
            self.mms = grow_rows(self.mms, self.mms.nr_pt.size * 2, self.mms.nr_pt.size)
        self.mms.rss[mm.id] = 0
        self.mms.flt[mm.id] = 0
        self.mms.nr_pt[mm.id] = 0
        self.mms.swap_ra[mm.id] = 0
        return mm

    def _release(self, p: Process, kind: str, message: str, **data) -> None:
        """exit_mm + release_task: unmap everything, free page tables, PGD and kernel stack."""
        mm = p.mm
        self._update_hiwater(p)
        for v in list(mm.vmas):
            self._unmap(p, v.start, v.end)
        K.free_pages(fr=self.fr, zn=self.zn, ctr=self.ctr, p=p.pgd, order=0)
        self.ctr.vm[S.NR_PAGETABLE] -= 1
        K.free_pages(fr=self.fr, zn=self.zn, ctr=self.ctr, p=p.kstack, order=KSTACK_ORDER)
        self.ctr.vm[S.NR_KSTACK] -= 1 << KSTACK_ORDER
        self.slab.free_task_objects()
        del self.procs[p.pid]
        self._rmap.leave(mm)
        self.oom.victims.discard(p.pid)
        self.stalls.stalled.discard(p.pid)
        for child in self.procs.values():
            if child.ppid == p.pid:
                child.ppid = 1  # reparented to init
        self.log(kind, p.pid, message, **data)

    def _update_hiwater(self, p: Process) -> None:
        mm = p.mm
        mm.hiwater_rss = max(mm.hiwater_rss, self._rss(mm))
        mm.hiwater_vm = max(mm.hiwater_vm, mm.total_vm())

    def _rss(self, mm: Mm) -> int:
        r = self.mms.rss[mm.id]
        return int(r[MM_ANONPAGES] + r[MM_FILEPAGES] + r[MM_SHMEMPAGES])

    # -- time ------------------------------------------------------------------------------

    @recorded
    def step(self, n: int = 1) -> StepReport:
        """Advance n ticks: every process that is not stalled runs its workload, then kswapd
        acts, then the tick's stall time is accounted (PSI)."""
        self._check_alive()
        n = _int("n", n, 1, 1_000_000)
        first_event, first_tick = len(self.events), self.tick
        tick_us = self.config.tick_ms * 1000
        for _ in range(n):
            self.tick += 1
            self.rs.state[S.RS_NOW] = self.tick
            for pid in sorted(self.runners):
                runner = self.runners[pid]
                if pid not in self.procs or runner.done:
                    del self.runners[pid]
                    continue
                p = self.procs[pid]
                if p.stall_us >= tick_us or p.oom_victim_tick is not None:
                    continue  # stalled through this whole tick, or dying
                runner.tick(self, self.tick, self.config.tick_ms)
                for child in runner.take_spawned():
                    self.runners[child.pid] = child
                if self.panicked:
                    break
            if self.panicked:
                break
            self.reclaim.kswapd()
            self.writeback.flush()
            if self.daemon is not None:  # a userspace OOM daemon's turn (engine/daemons/)
                self.daemon.tick(self, self.tick * tick_us, tick_us)
            self.stalls.account(self.procs, self.runners, self.psi, self.tick * tick_us, tick_us)
            self.oom.reap(tick_us)
        return StepReport(self.tick, self.tick - first_tick, self.events[first_event:])

    # -- mapping ---------------------------------------------------------------------------

    @recorded
    def mmap(self, pid: int, length: int, *, prot: str = "rw", flags: str = "private|anonymous",
             file: str | None = None, offset: int = 0, addr: int | None = None) -> int:
        """mmap(2): do_mmap + mmap_region (KERNEL.md §3, §9)."""
        p = self._proc(pid)
        mm = p.mm
        vprot = parse_prot(prot)
        fl = parse_mmap_flags(flags)
        length = _int("length", length)
        offset = _aligned("offset", offset)
        if addr is not None:
            addr = _int("addr", addr)
        anonymous = "anonymous" in fl
        shared = "shared" in fl
        if anonymous and file is not None:
            raise err(errno.EINVAL, "an anonymous mapping takes no file")
        if not anonymous and file is None:
            raise err(errno.EBADF, "a file mapping needs file=PATH (or add 'anonymous' to flags)")
        if length == 0:
            raise err(errno.EINVAL, "mmap of length 0")
        length = page_align(length)
        if length > TASK_SIZE:
            raise err(errno.ENOMEM, f"mmap of {_size(length)}: larger than the 128 TiB user address space")
        f = None
        if file is not None:
            f = self.files.get(file) if isinstance(file, str) else None
            if f is None:
                raise err(errno.ENOENT, f"no such file: {file!r} (create it with write_file)")
        if len(mm.vmas) > self._sysctl["vm.max_map_count"]:
            raise err(errno.ENOMEM, f"the process has {len(mm.vmas)} mappings, over vm.max_map_count")
        if "fixed" in fl:
            if addr is None:
                raise err(errno.EINVAL, "MAP_FIXED needs addr")
            if addr % PAGE:
                raise err(errno.EINVAL, f"MAP_FIXED addr {addr:#x} is not page-aligned")
            if addr < MMAP_MIN_ADDR:
                raise err(errno.EPERM, f"addr {addr:#x} is below vm.mmap_min_addr ({MMAP_MIN_ADDR:#x})")
            if addr + length > TASK_SIZE:
                raise err(errno.ENOMEM, f"[{addr:#x}, +{_size(length)}) ends beyond the user address space")
            start = addr
        else:
            start = mm.unmapped_area(length, addr)
        end = start + length
        pages = length >> PAGE_SHIFT
        vflags = vprot | (V_SHARED if shared else 0) | (V_ANON if anonymous else 0)
        if "noreserve" in fl and self._sysctl["vm.overcommit_memory"] != 2:
            vflags |= V_NORESERVE  # MAP_NORESERVE is honoured only in modes 0 and 1
        if "locked" in fl or mm.def_flags & V_LOCKED:
            vflags |= V_LOCKED
            if not self._can_do_mlock(p):
                raise err(errno.EPERM, "MAP_LOCKED with RLIMIT_MEMLOCK 0 and no CAP_IPC_LOCK")
            if not self._mlock_ok(p, pages):
                raise err(errno.EAGAIN, f"locking {_size(length)} would exceed RLIMIT_MEMLOCK "
                                        f"({self._rlimit(p, 'MEMLOCK') >> 10} kB)")
        if not shared and vprot & V_WRITE and not vflags & V_NORESERVE:
            vflags |= V_ACCOUNT  # accountable_mapping
        old = mm.overlapping(start, end) if "fixed" in fl else []
        old_pages = sum((min(v.end, end) - max(v.start, start)) >> PAGE_SHIFT for v in old)
        old_acct = sum((min(v.end, end) - max(v.start, start)) >> PAGE_SHIFT
                       for v in old if v.flags & V_ACCOUNT)
        self._may_expand_vm(p, vflags, pages - old_pages, "mmap")
        # __mmap_region: only the growth over replaced accounted pages is checked; their
        # charge moves to the new VMA (vms.nr_accounted = 0), so the total charge is `pages`.
        charge = pages - old_acct if vflags & V_ACCOUNT else 0
        shmem_charge = pages if shared and anonymous and not vflags & V_NORESERVE else 0
        self._vm_enough_memory(p, charge + shmem_charge, f"mmap {_size(length)}")
        populate = ("populate" in fl or vflags & V_LOCKED) and vprot
        if old:
            self._may_unmap(mm, start, end)
        # Every check passed: change the machine.
        if old:
            self._unmap(p, start, end)
        self.committed += pages if vflags & V_ACCOUNT else 0
        if shared and anonymous:
            obj = File(self._new_id("file"), "/dev/zero (deleted)", length, shmem=True,
                       charged=shmem_charge)
            self.file_by_id[obj.id] = obj
            self.committed += shmem_charge
            vma = Vma(start, end, vflags, obj.id, 0, name=obj.path)
        elif f is not None:
            vma = Vma(start, end, vflags, f.id, offset >> PAGE_SHIFT, self._new_id("anon"), name=f.path)
        else:
            vma = Vma(start, end, vflags, -1, start >> PAGE_SHIFT, self._new_id("anon"))
        mm.insert(vma)
        mm.merge_around(start, end)
        if populate:
            self._populate(p, start, end)
        self._update_hiwater(p)
        return start

    @recorded
    def munmap(self, pid: int, addr: int, length: int) -> None:
        p = self._proc(pid)
        addr = _aligned("addr", addr)
        length = _int("length", length)
        if length == 0:
            raise err(errno.EINVAL, "munmap of length 0")
        end = addr + page_align(length)
        if end > TASK_SIZE:
            raise err(errno.EINVAL, f"[{addr:#x}, +{_size(length)}) is outside the user address space")
        self._may_unmap(p.mm, addr, end)
        self._unmap(p, addr, end)

    def _may_unmap(self, mm: Mm, start: int, end: int) -> None:
        """vms_gather_munmap_vmas: unmapping the middle of a VMA (a split into three) is refused
        at vm.max_map_count VMAs; other splits may pass the limit for a moment, as the VMAs
        they cut off are unmapped."""
        limit = self._sysctl["vm.max_map_count"]
        if mm.cuts_inside(start, end) and len(mm.vmas) >= limit:
            raise err(errno.ENOMEM, f"unmapping the middle of a mapping would split it, and the "
                                    f"process has {len(mm.vmas)} mappings (vm.max_map_count {limit})")

    def _may_split(self, mm: Mm, start: int, end: int, change) -> None:
        """split_vma refuses to split a VMA once the mm has vm.max_map_count of them: each
        split the change of [start, end) takes (Mm.splits) is checked at the count it meets."""
        n, limit = mm.splits(start, end, change), self._sysctl["vm.max_map_count"]
        if n and len(mm.vmas) + n - 1 >= limit:
            raise err(errno.ENOMEM, f"changing part of a mapping would split it, and the process "
                                    f"has {len(mm.vmas)} mappings (vm.max_map_count {limit})")

    def _unmap(self, p: Process, start: int, end: int) -> None:
        """do_vmi_munmap: split, zap pages, uncharge, free page tables no VMA needs any more."""
        mm = p.mm
        self._update_hiwater(p)
        gone = mm.carve(start, end)
        for v in gone:
            K.zap_range(
                k=self.k,
                mm=mm.id,
                vstart=v.start >> PAGE_SHIFT,
                npages=v.pages,
                locked=bool(v.flags & V_LOCKED),
            )
            if v.flags & V_ACCOUNT:
                self.committed -= v.pages
        for v in gone:
            self._free_pgtables(mm, v.start, v.end)
        for fid in {v.file for v in gone if v.file >= 0}:
            obj = self.file_by_id[fid]
            if obj.shmem and not any(v.file == fid for q in self.procs.values() for v in q.mm.vmas):
                K.pc_walk(
                    k=self.k,
                    file_id=fid,
                    first=0,
                    npages=obj.pages,
                    action=K.WALK_TRUNCATE,
                    counts=K.NO_COUNTS,
                    col=0,
                )
                self.committed -= obj.charged
                del self.file_by_id[fid]

    def _free_pgtables(self, mm: Mm, start: int, end: int) -> None:
        """free_pgtables: free the tables of [start, end) whose span no VMA touches any more."""
        for level, shift in ((0, 21), (1, 30), (2, 39)):
            lo, hi = start >> shift, (end - 1) >> shift
            if mm.overlaps(lo << shift, (lo + 1) << shift):
                lo += 1
            if hi >= lo and mm.overlaps(hi << shift, (hi + 1) << shift):
                hi -= 1
            if lo <= hi:
                K.pt_free_range(k=self.k, mm=mm.id, level=level, lo=lo, hi=hi)

    @recorded
    def mremap(self, pid: int, addr: int, old_len: int, new_len: int, *, may_move: bool = True) -> int:
        """mremap(2): shrink, grow in place, or move (MREMAP_MAYMOVE)."""
        p = self._proc(pid)
        mm = p.mm
        addr = _aligned("addr", addr)
        old_len = page_align(_int("old_len", old_len))
        new_len = page_align(_int("new_len", new_len))
        if new_len == 0:
            raise err(errno.EINVAL, "mremap to length 0")
        if old_len == 0:
            raise err(errno.EINVAL, "mremap with old_len 0 (duplicating a shared mapping) is not modelled")
        if new_len > TASK_SIZE:
            raise err(errno.ENOMEM, f"mremap to {_size(new_len)}: larger than the user address space")
        vma = mm.find(addr)
        if vma is None or addr + old_len > vma.end:
            raise err(errno.EFAULT, f"[{addr:#x}, +{_size(old_len)}) is not inside one mapping")
        if new_len <= old_len:
            if new_len < old_len:
                self._may_unmap(mm, addr + new_len, addr + old_len)
                self._unmap(p, addr + new_len, addr + old_len)
            return addr
        delta = (new_len - old_len) >> PAGE_SHIFT
        if vma.flags & V_LOCKED and not self._mlock_ok(p, delta):
            raise err(errno.EAGAIN, "growing a locked mapping would exceed RLIMIT_MEMLOCK")
        self._may_expand_vm(p, vma.flags, delta, "mremap")
        charge = delta if vma.flags & V_ACCOUNT else 0
        self._vm_enough_memory(p, charge, f"mremap +{_size(delta * PAGE)}")
        locked = vma.flags & V_LOCKED
        if addr + old_len == vma.end and mm.is_free(vma.end, addr + new_len):
            mm.resize(vma, addr + new_len)
            new_addr = addr
        elif may_move:
            # move_vma: the new VMA exists while the page tables move, so a process killed
            # midway (by the OOM killer, for a page table) still owns every page it maps.
            new_addr = mm.unmapped_area(new_len, None)
            moved = replace(vma, start=new_addr, end=new_addr + old_len, pgoff=vma.pgoff_at(addr))
            mm.insert(moved)
            self.committed += moved.pages if moved.flags & V_ACCOUNT else 0
            first, n = addr >> PAGE_SHIFT, old_len >> PAGE_SHIFT
            res = self.allocator.run(
                lambda done, out: K.move_range(
                    k=self.k,
                    mm=mm.id,
                    old=first + done,
                    new=(new_addr >> PAGE_SHIFT) + done,
                    npages=n - done,
                    out=out,
                ),
                p,
            )
            if not res.ok:
                raise err(errno.ENOMEM, f"mremap: {p.comm}[{pid}] was OOM-killed")
            self._unmap(p, addr, addr + old_len)
            mm.resize(moved, new_addr + new_len)
        else:
            raise err(errno.ENOMEM, "cannot grow in place and may_move is False")
        self.committed += charge
        mm.merge_around(new_addr, new_addr + new_len)
        if locked:
            self._populate(p, new_addr + old_len, new_addr + new_len)
        self._update_hiwater(p)
        return new_addr

    @recorded
    def mprotect(self, pid: int, addr: int, length: int, prot: str) -> None:
        """mprotect(2); adding PROT_WRITE to a private mapping charges commit (mprotect_fixup)."""
        p = self._proc(pid)
        mm = p.mm
        addr = _aligned("addr", addr)
        length = page_align(_int("length", length))
        vprot = parse_prot(prot)
        if length == 0:
            return
        end = addr + length
        _require_mapped(mm, addr, end)
        def charged(flags: int) -> bool:  # mprotect_fixup charges each VMA it makes writable
            return bool(vprot & V_WRITE and not flags & (V_ACCOUNT | V_WRITE | V_SHARED | V_NORESERVE))

        def change(flags: int) -> int:
            return (flags & ~V_PROT) | vprot | (V_ACCOUNT if charged(flags) else 0)

        charge = 0
        for v in mm.overlapping(addr, end):
            if charged(v.flags):
                n = (min(v.end, end) - max(v.start, addr)) >> PAGE_SHIFT
                self._vm_enough_memory(p, n, "mprotect +w", already=charge)
                charge += n
        self._may_split(mm, addr, end, change)
        for v in mm.carve(addr, end):
            v.flags = change(v.flags)
            mm.insert(v)
        self.committed += charge
        mm.merge_around(addr, end)

    @recorded
    def madvise(self, pid: int, addr: int, length: int, advice: str) -> None:
        """madvise(2) (KERNEL.md §9); holes give ENOMEM before anything is applied."""
        p = self._proc(pid)
        mm = p.mm
        _word("advice", advice, ADVICE)
        addr = _aligned("addr", addr)
        length = page_align(_int("length", length))
        if length == 0:
            return
        end = addr + length
        if end >= 1 << 64:  # start + len overflows: EINVAL; merely unmapped is ENOMEM below
            raise err(errno.EINVAL, f"[{addr:#x}, +{_size(length)}) wraps around the address space")
        _require_mapped(mm, addr, end)
        parts = mm.overlapping(addr, end)
        for v in parts:
            if advice in ("dontneed", "free", "cold", "pageout") and v.flags & V_LOCKED:
                raise err(errno.EINVAL, f"MADV_{advice.upper()} on a locked mapping")
            if advice == "free" and (v.flags & V_SHARED or v.file >= 0):
                raise err(errno.EINVAL, "MADV_FREE works only on private anonymous memory")
        if advice in ("hugepage", "nohugepage"):
            on, off = (V_HUGEPAGE, V_NOHUGEPAGE) if advice == "hugepage" else (V_NOHUGEPAGE, V_HUGEPAGE)
            def change(flags: int) -> int:
                return (flags & ~off) | on

            self._may_split(mm, addr, end, change)
            for v in mm.carve(addr, end):
                v.flags = change(v.flags)
                mm.insert(v)
            mm.merge_around(addr, end)
            return
        spans = [(v, max(v.start, addr), min(v.end, end)) for v in parts]
        if advice == "willneed":
            self._readahead(spans)
            return
        for v, s, e in spans:
            vs, n = s >> PAGE_SHIFT, (e - s) >> PAGE_SHIFT
            if advice == "dontneed":
                self._update_hiwater(p)
                K.zap_range(k=self.k, mm=mm.id, vstart=vs, npages=n, locked=False)
            else:
                code = {"free": K.MADV_FREE, "cold": K.MADV_COLD, "pageout": K.MADV_PAGEOUT}[advice]
                K.madvise_range(k=self.k, mm=mm.id, vstart=vs, npages=n, advice=code, locked=False)

    def _readahead(self, spans) -> None:
        """MADV_WILLNEED: read file pages into the page cache."""
        for v, s, e in spans:
            f = self.file_by_id.get(v.file)
            if f is None or f.shmem:
                continue
            first = v.pgoff_at(s)
            n = max(0, min((e - s) >> PAGE_SHIFT, f.pages - first))
            # Readahead is __GFP_NORETRY: it may reclaim but never OOM-kills; it just stops.
            self.allocator.run(
                lambda done, out: K.pc_fill(
                    k=self.k,
                    file_id=f.id,
                    pgoff=first + done,
                    npages=n - done,
                    shmem=False,
                    dirty=False,
                    out=out,
                ),
                None,
                oom=False,
            )

    # -- locking ---------------------------------------------------------------------------

    def _lock_args(self, pid, addr, length) -> tuple[Process, int, int]:
        """mlock/munlock take any address: the range is widened to whole pages."""
        p = self._proc(pid)
        addr = _int("addr", addr)
        length = _int("length", length)
        start = addr & ~(PAGE - 1)
        return p, start, start + page_align(length + (addr - start))

    @recorded
    def mlock(self, pid: int, addr: int, length: int) -> None:
        """mlock(2): lock and fault in [addr, addr+length) (do_mlock)."""
        p, start, end = self._lock_args(pid, addr, length)
        if not self._can_do_mlock(p):
            raise err(errno.EPERM, "RLIMIT_MEMLOCK is 0 and the process lacks CAP_IPC_LOCK")
        if start == end:
            return
        pages = (end - start) >> PAGE_SHIFT
        locked = p.mm.locked_vm() + pages
        limit = self._rlimit(p, "MEMLOCK") >> PAGE_SHIFT
        if locked > limit and not p.capable("CAP_IPC_LOCK"):
            locked -= sum((min(v.end, end) - max(v.start, start)) >> PAGE_SHIFT
                          for v in p.mm.overlapping(start, end) if v.flags & V_LOCKED)
            if locked > limit:
                raise err(errno.ENOMEM, f"locking {_size(end - start)} would exceed RLIMIT_MEMLOCK "
                                        f"({limit * 4} kB)")
        _require_mapped(p.mm, start, end)
        self._lock(p, start, end, True)

    @recorded
    def munlock(self, pid: int, addr: int, length: int) -> None:
        p, start, end = self._lock_args(pid, addr, length)
        if start == end:
            return
        _require_mapped(p.mm, start, end)
        self._lock(p, start, end, False)

    @recorded
    def mlockall(self, pid: int, flags: str = "current|future") -> None:
        """mlockall(2) with MCL_CURRENT and/or MCL_FUTURE."""
        p = self._proc(pid)
        words = set(flags.split("|")) if isinstance(flags, str) else {None}
        if not words or not words <= {"current", "future"}:
            raise err(errno.EINVAL, f"bad mlockall flags {flags!r}: use 'current', 'future' or both")
        if not self._can_do_mlock(p):
            raise err(errno.EPERM, "RLIMIT_MEMLOCK is 0 and the process lacks CAP_IPC_LOCK")
        if "current" in words and not p.capable("CAP_IPC_LOCK") and \
                p.mm.total_vm() << PAGE_SHIFT > self._rlimit(p, "MEMLOCK"):
            raise err(errno.ENOMEM, f"VmSize {_kb(p.mm.total_vm())} kB exceeds RLIMIT_MEMLOCK")
        if "current" in words and p.mm.vmas:
            self._lock(p, p.mm.vmas[0].start, p.mm.vmas[-1].end, True)
        if "future" in words:
            p.mm.def_flags |= V_LOCKED

    def _lock(self, p: Process, start: int, end: int, lock: bool) -> None:
        mm = p.mm
        self._may_split(mm, start, end, lambda flags: flags | V_LOCKED if lock else flags & ~V_LOCKED)
        for v in mm.carve(start, end):
            if bool(v.flags & V_LOCKED) != lock:
                K.mlock_range(
                    k=self.k,
                    mm=mm.id,
                    vstart=v.start >> PAGE_SHIFT,
                    npages=v.pages,
                    delta=1 if lock else -1,
                )
                v.flags ^= V_LOCKED
            mm.insert(v)
        mm.merge_around(start, end)
        if lock:
            self._populate(p, start, end)

    # -- faults ----------------------------------------------------------------------------

    def _populate(self, p: Process, start: int, end: int) -> None:
        """populate_vma_page_range: accessible VMAs, write faults for private writable ones."""
        for v in p.mm.overlapping(start, end):
            if not v.flags & V_PROT:
                continue
            s, e = max(v.start, start), min(v.end, end)
            f = self.file_by_id.get(v.file)
            if f is not None:  # stop at EOF (a shmem object's too: past it is SIGBUS)
                e = min(e, v.start + ((f.pages - v.pgoff) << PAGE_SHIFT))
            if e > s and not self._fault(p, v, s, e, v.flags & (V_WRITE | V_SHARED) == V_WRITE).ok:
                return  # the process was OOM-killed

    def _fault(self, p: Process, v: Vma, s: int, e: int, write: bool) -> AllocResult:
        """Fault [s, e) of one VMA in, with a THP for each untouched 2 MiB it may have
        (thp.py); not ok if the process was OOM-killed or an allocation failed."""
        faults, new_anon, pos = 0, False, s
        res = AllocResult()
        for haddr in self.thp.ranges(p, v, s, e, write):
            if pos < haddr:
                res = self._fault_ptes(p, v, pos, haddr, write)
                faults, pos, new_anon = faults + res.faults, haddr, new_anon or res.new_anon
            if res.ok:
                mapped, res = self.thp.fault(p, v, haddr)
                new_anon = new_anon or res.new_anon
                if mapped:
                    faults, pos = faults + 1, haddr + (S.HPAGE_PMD_NR << PAGE_SHIFT)
            if not res.ok:
                return replace(res, faults=faults, new_anon=new_anon)
        if pos < e:
            res = self._fault_ptes(p, v, pos, e, write)
            faults, new_anon = faults + res.faults, new_anon or res.new_anon
        if new_anon:
            v.has_anon = True
        return replace(res, faults=faults, new_anon=new_anon)

    def _fault_ptes(self, p: Process, v: Vma, s: int, e: int, write: bool) -> AllocResult:
        """Fault [s, e) of one VMA in page by page."""
        first, n, pgoff = s >> PAGE_SHIFT, (e - s) >> PAGE_SHIFT, v.pgoff_at(s)
        locked = bool(v.flags & V_LOCKED)
        return self.allocator.run(
            lambda done, out: K.fault_range_reclaiming(
                k=self.k,
                mm=p.mm.id,
                vstart=first + done,
                npages=n - done,
                vflags=v.flags,
                file_id=v.file,
                pgoff=pgoff + done,
                anon_id=v.anon,
                locked=locked,
                write=bool(write),
                out=out,
            ),
            p,
        )

    # -- access ----------------------------------------------------------------------------

    @recorded
    def touch(self, pid: int, addr: int, length: int, *, write: bool = True) -> int:
        """The process reads or writes [addr, addr+length): first use faults pages in.

        Returns the page faults taken. An access the mappings do not allow delivers SIGSEGV
        (or SIGBUS past the end of a file) after the pages before it were touched: the process
        dies as Linux would, and the call raises Killed saying so.
        """
        p = self._proc(pid)
        addr = _int("addr", addr)
        length = _int("length", length)
        if not isinstance(write, bool):
            raise err(errno.EINVAL, f"write must be True or False, got {write!r}")
        if length == 0:
            return 0
        start = addr & ~(PAGE - 1)
        end = page_align(addr + length)
        spans, bad = self._access_spans(p, start, end, write)
        faults = 0
        for v, s, e in spans:
            res = self._fault(p, v, s, e, write)
            faults += res.faults
            if not res.ok:
                if p.pid in self.procs:  # the fault would retry for ever: say why instead
                    raise res.error
                return faults  # OOM-killed while faulting
        self._update_hiwater(p)
        if bad is not None:
            at, sig, code = bad
            if p.pid == 1:  # do_exit of the global init
                self._panic(f"Attempted to kill init! exitcode=0x{11 if sig == 'SIGSEGV' else 7:08x}")
            self._release(p, sig.lower(), f"{p.comm}[{p.pid}] {sig} at {at:#x} ({code})",
                          addr=at, code=code, write=write)
            raise Killed(p.pid, p.comm, sig, code, at, faults)
        return faults

    def _access_spans(self, p: Process, start: int, end: int, write: bool):
        """Split an access into per-VMA spans up to the first page it may not touch."""
        spans = []
        pos = start
        for v in p.mm.overlapping(start, end):
            if v.start > pos:
                return spans, (pos, "SIGSEGV", "SEGV_MAPERR")
            allowed = v.flags & V_WRITE if write else v.flags & V_PROT
            if not allowed:
                return spans, (pos, "SIGSEGV", "SEGV_ACCERR")
            e = min(v.end, end)
            f = self.file_by_id.get(v.file)
            if f is not None and not f.shmem:
                eof = v.start + ((f.pages - v.pgoff) << PAGE_SHIFT)
                if eof < e:
                    if eof > pos:
                        spans.append((v, pos, eof))
                    return spans, (max(pos, eof), "SIGBUS", "BUS_ADRERR")
            if f is not None and f.shmem and v.pgoff_at(e) > f.pages:
                eof = v.start + ((f.pages - v.pgoff) << PAGE_SHIFT)
                if eof > pos:
                    spans.append((v, pos, eof))
                return spans, (max(pos, eof), "SIGBUS", "BUS_ADRERR")
            spans.append((v, pos, e))
            pos = e
        if pos < end:
            return spans, (pos, "SIGSEGV", "SEGV_MAPERR")
        return spans, None

    def mincore(self, pid: int, addr: int, length: int) -> np.ndarray:
        """mincore(2): one byte per page, 1 if resident."""
        p = self._proc(pid)
        addr = _aligned("addr", addr)
        length = page_align(_int("length", length))
        end = addr + length
        _require_mapped(p.mm, addr, end)  # ENOMEM first, as the kernel answers an unmapped range
        if length >> PAGE_SHIFT > MINCORE_MAX_PAGES:
            raise err(errno.EINVAL, f"mincore of {_size(length)}: at most {MINCORE_MAX_PAGES} pages "
                                    f"({_size(MINCORE_MAX_PAGES * PAGE)}) per call")
        out = np.zeros(length >> PAGE_SHIFT, dtype=np.uint8)
        for v in p.mm.overlapping(addr, end):
            s, e = max(v.start, addr), min(v.end, end)
            i = (s - addr) >> PAGE_SHIFT
            K.mincore_range(
                k=self.k,
                mm=p.mm.id,
                vstart=s >> PAGE_SHIFT,
                npages=(e - s) >> PAGE_SHIFT,
                file_id=v.file,
                file_pgoff=v.pgoff_at(s),
                out=out[i : i + ((e - s) >> PAGE_SHIFT)],
            )
        return out

    # -- files and the dcache --------------------------------------------------------------

    @recorded
    def read_file(self, pid: int, path: str, length: int, *, offset: int = 0) -> int:
        """read(2) through the page cache; returns the bytes read (short at end of file)."""
        p = self._proc(pid)
        f = self._file(path, create=False)
        length = _int("length", length)
        offset = _int("offset", offset)
        n = max(0, min(length, MAX_RW_COUNT, f.size - offset))
        if n:
            self._cache_io(p, f, offset, n, dirty=False)
        return n

    @recorded
    def write_file(self, pid: int, path: str, length: int, *, offset: int = 0) -> int:
        """write(2) through the page cache: dirties pages, creates or extends the file."""
        p = self._proc(pid)
        length = min(_int("length", length), MAX_RW_COUNT)  # rw_verify_area: a short write
        offset = _int("offset", offset, 0, 2**47)
        f = self._file(path, create=True)
        self._cache_io(p, f, offset, length, dirty=True)
        return length

    def _file(self, path, create: bool) -> File:
        if not isinstance(path, str) or not path:
            raise err(errno.EINVAL, f"path must be a non-empty string, got {path!r}")
        f = self.files.get(path)
        if f is None:
            if not create:
                raise err(errno.ENOENT, f"no such file: {path!r}")
            f = File(self._next["file"], path, 0)
        return f

    def _cache_io(self, p: Process, f: File, offset: int, n: int, dirty: bool) -> None:
        first = offset >> PAGE_SHIFT
        count = max(0, ((offset + n + PAGE - 1) >> PAGE_SHIFT) - first)
        if f.path not in self.files:
            res = self.slab.file_objects(p)
            if not res.ok:
                if p.pid in self.procs:
                    raise res.error
                return
            self._new_id("file")
            self.files[f.path] = f
            self.file_by_id[f.id] = f
        f.size = max(f.size, offset + n)
        self.allocator.run(
            lambda done, out: K.pc_fill(
                k=self.k,
                file_id=f.id,
                pgoff=first + done,
                npages=count - done,
                shmem=False,
                dirty=dirty,
                out=out,
            ),
            p,
        )
        if dirty and p.pid in self.procs:
            self.writeback.balance_dirty_pages(p, count)

    @recorded
    def stat_files(self, pid: int, count: int, *, negative: bool = False) -> int:
        """stat(2) of `count` names that are not in the dcache: a dentry each and, unless the
        name does not exist, an inode, both left cached (engine/slab.py). Returns the lookups
        done: fewer if the process was OOM-killed on the way."""
        return self.slab.stat_files(self._proc(pid), count, negative)

    # -- the heap --------------------------------------------------------------------------

    @recorded
    def brk(self, pid: int, new_break: int | None = None) -> int:
        """The raw brk syscall: returns the new break, or the unchanged one on failure."""
        p = self._proc(pid)
        mm = p.mm
        if new_break is None:
            return mm.brk
        new_break = _int("new_break", new_break)
        if new_break < mm.start_brk or new_break > TASK_SIZE:
            return mm.brk
        try:
            self._set_brk(p, new_break)
        except OSError:
            pass  # the syscall reports failure by returning the old break
        return mm.brk

    @recorded
    def sbrk(self, pid: int, increment: int) -> int:
        """glibc sbrk: returns the old break; ENOMEM when brk refused to move."""
        p = self._proc(pid)
        increment = _int("increment", increment, -(2**63), 2**63)
        old = p.mm.brk
        if increment:
            new = old + increment
            if new < p.mm.start_brk or new > TASK_SIZE:
                raise err(errno.ENOMEM, f"sbrk({increment}) would move the break to {new:#x}")
            self._set_brk(p, new)
        return old

    def _set_brk(self, p: Process, new: int) -> None:
        """SYSCALL brk: shrink by unmapping, grow with do_brk_flags' checks."""
        mm = p.mm
        oldbrk, newbrk = page_align(mm.brk), page_align(new)
        if newbrk < oldbrk:
            self._unmap(p, newbrk, oldbrk)
        elif newbrk > oldbrk:
            limit = self._rlimit(p, "DATA")
            if new - mm.start_brk > limit:  # check_data_rlimit
                raise err(errno.ENOMEM, f"brk: heap would exceed RLIMIT_DATA {limit >> 10} kB")
            if mm.overlaps(oldbrk, newbrk + PAGE):
                raise err(errno.ENOMEM, "brk: the heap would run into another mapping")
            pages = (newbrk - oldbrk) >> PAGE_SHIFT
            flags = V_READ | V_WRITE | V_ANON | V_ACCOUNT | (mm.def_flags & V_LOCKED)
            self._may_expand_vm(p, flags, pages, "brk")
            self._vm_enough_memory(p, pages, f"brk +{_size(pages * PAGE)}")
            self.committed += pages
            heap = mm.find(oldbrk - PAGE) if oldbrk > mm.start_brk else None
            if heap is not None and heap.name == "[heap]" and heap.end == oldbrk:
                mm.resize(heap, newbrk)
            else:
                mm.insert(Vma(oldbrk, newbrk, flags, -1, oldbrk >> PAGE_SHIFT,
                              self._new_id("anon"), name="[heap]"))
            if flags & V_LOCKED:
                self._populate(p, oldbrk, newbrk)
        mm.brk = new
        self._update_hiwater(p)

    # -- limits and knobs ------------------------------------------------------------------

    @recorded
    def prlimit(self, pid: int, resource: str, soft: int | None = None) -> int:
        """prlimit(2) for AS, DATA, MEMLOCK (bytes; RLIM_INFINITY = unlimited); returns the soft limit."""
        p = self._proc(pid)
        _word("resource", resource, RLIMITS)
        if soft is not None:
            soft = _int("soft", soft, 0, RLIM_INFINITY)
            hard = p.rlimits[resource][1]
            if soft > hard:
                raise err(errno.EINVAL, f"soft limit {soft} above the hard limit {hard}")
            p.rlimits[resource][0] = soft
        return p.rlimits[resource][0]

    @recorded
    def set_oom_score_adj(self, pid: int, value: int, *, caps=None) -> None:
        """Write /proc/PID/oom_score_adj (__set_oom_adj); caps are the writer's (default: its own)."""
        p = self._proc(pid)
        value = _int("oom_score_adj", value, -1000, 1000)
        writer = p.caps if caps is None else _caps(caps)
        privileged = "CAP_SYS_RESOURCE" in writer
        if value < p.oom_score_adj_min and not privileged:
            raise err(errno.EACCES, f"lowering oom_score_adj to {value}, below its minimum "
                                    f"{p.oom_score_adj_min}, needs CAP_SYS_RESOURCE")
        p.oom_score_adj = value
        if privileged:
            p.oom_score_adj_min = value

    @recorded(read=lambda *args, **kwargs: len(args) + len(kwargs) == 1)  # a read
    def sysctl(self, name: str, value=_UNSET):
        """Read (one argument) or write a sysctl by its kernel name, e.g. vm.swappiness."""
        if value is _UNSET:
            if not isinstance(name, str) or name not in self._sysctl:
                validate_sysctl(name, 0)  # raises ENOENT with the kernel's wording
            return self._sysctl[name]
        self._check_alive()
        value = validate_sysctl(name, value)
        old, self._sysctl[name] = self._sysctl[name], value
        self._sysctl_to_kernels()
        if name in ZEROES and (name not in ZEROES_IF_CHANGED or value != old):
            self._sysctl[ZEROES[name]] = 0
        if name in ("vm.min_free_kbytes", "vm.watermark_scale_factor", "vm.lowmem_reserve_ratio"):
            self._setup_watermarks()
        if name == "vm.drop_caches":
            self.slab.drop_caches(value)
        return value

    def _sysctl_to_kernels(self) -> None:
        """The sysctls the kernels read, copied into their state."""
        self.rs.state[S.RS_SWAPPINESS] = self._sysctl["vm.swappiness"]
        self.rs.state[S.RS_PAGE_CLUSTER] = self._sysctl["vm.page-cluster"]
        self.rs.state[S.RS_VFS_PRESSURE] = self._sysctl["vm.vfs_cache_pressure"]
        self.rs.state[S.RS_VFS_DENOM] = self._sysctl["vm.vfs_cache_pressure_denom"]

    # -- swap (engine/swap.py) -------------------------------------------------------------

    def total_swap_pages(self) -> int:
        return self.swap_areas.total_pages()

    @recorded
    def swapon(self, size_mib: int, *, priority: int | None = None) -> int:
        """swapon(2) on a fresh swap area of size_mib; returns its device number."""
        self._check_alive()
        return self.swap_areas.swapon(size_mib, priority)

    @recorded
    def swapoff(self, dev: int, *, pid: int = 1) -> None:
        """swapoff(2), called by process `pid`: every swapped page comes back into RAM."""
        caller = self._proc(pid)
        pages = self.swap_areas.swapoff_pages(caller, dev)
        self._vm_enough_memory(caller, pages, f"swapoff swap{dev}")  # then un-charged at once
        self.swap_areas.swapoff(caller, dev)

    def swaps(self) -> list[dict]:
        """/proc/swaps: one row per active area (sizes in kB)."""
        return self.swap_areas.swaps()

    # -- cgroups (engine/memcg.py) ---------------------------------------------------------

    @recorded
    def cgroup_create(self, path: str, *, memory_min=0, memory_low=0, memory_high=None,
                      memory_max=None, swap_max=None, oom_group=False) -> None:
        """mkdir /sys/fs/cgroup/PATH and write its memory files (sizes in bytes, None = max)."""
        self._check_alive()
        self.memcg.create(path, memory_min=memory_min, memory_low=memory_low,
                          memory_high=memory_high, memory_max=memory_max, swap_max=swap_max,
                          oom_group=oom_group)

    @recorded
    def cgroup_set(self, path: str, **changes) -> None:
        """Write memory files of an existing cgroup (create()'s keywords). A memory.high below
        usage reclaims at once (memory_high_write); a memory.max below usage reclaims, then
        OOM-kills inside the group until it fits (memory_max_write)."""
        self._check_alive()
        self.memcg.set(path, **changes)

    @recorded
    def cgroup_move(self, pid: int, path: str) -> None:
        """echo PID > PATH/cgroup.procs: new charges go to the new group; pages already
        charged stay where they are (cgroup v2 moves no charges)."""
        p = self._proc(pid)
        cg = self.cgtree.get(path)
        old, p.cgroup = p.cgroup, cg.path
        self.log("cgroup", pid, f"{p.comm}[{pid}] moved from {old} to {cg.path}", path=cg.path)

    def cgroups(self) -> list[str]:
        """Every cgroup path, parents before children, siblings in creation order."""
        return [cg.path for cg in self.cgtree.walk("/")]

    def cgroup_stat(self, path: str) -> dict:
        """The cgroup's memory.* files (sizes in bytes, "max" for no limit), memory.stat's
        LRU lines (bytes, this group and below) and memory.swap.events."""
        return self.memcg.stat(path)

    def _sync_usage(self) -> None:
        """The cgroups' copies of the page counters, brought up to date (for a snapshot)."""
        self.memcg.sync_usage()

    # -- /proc views -----------------------------------------------------------------------

    def meminfo(self) -> dict[str, int]:
        """/proc/meminfo (fs/proc/meminfo.c), kB, for the fields this model has."""
        vm = self.ctr.vm
        lru = self.lru.size.sum(axis=0)
        free = int(self.zn.free.sum())
        swap_total = self.total_swap_pages()
        swapcached = int(vm[S.NR_SWAPCACHED])
        file_pages = int(vm[S.NR_FILE])
        pages = {
            "MemTotal": self.totalram,
            "MemFree": free,
            "MemAvailable": self.mem_available(),
            "Buffers": 0,
            "Cached": file_pages - swapcached,
            "SwapCached": swapcached,
            "Active": int(lru[1] + lru[3]),
            "Inactive": int(lru[0] + lru[2]),
            "Active(anon)": int(lru[1]),
            "Inactive(anon)": int(lru[0]),
            "Active(file)": int(lru[3]),
            "Inactive(file)": int(lru[2]),
            "Unevictable": int(lru[4]),
            "Mlocked": int(vm[S.NR_MLOCK]),
            "SwapTotal": swap_total,
            "SwapFree": swap_total - int((self.sw.used * self.sw.active).sum()),
            "Dirty": int(vm[S.NR_DIRTY]),
            "Writeback": int(vm[S.NR_WRITEBACK]),
            "AnonPages": int(vm[S.NR_ANON]),
            "AnonHugePages": int(vm[S.NR_ANON_THPS]),
            "Mapped": int(vm[S.NR_MAPPED]),
            "Shmem": int(vm[S.NR_SHMEM]),
            "KReclaimable": int(vm[S.NR_SLAB_R]),
            "Slab": int(vm[S.NR_SLAB_R] + vm[S.NR_SLAB_U]),
            "SReclaimable": int(vm[S.NR_SLAB_R]),
            "SUnreclaim": int(vm[S.NR_SLAB_U]),
            "KernelStack": int(vm[S.NR_KSTACK]),
            "PageTables": int(vm[S.NR_PAGETABLE]),
            "CommitLimit": self.commit_limit(),
            "Committed_AS": self.committed,
        }
        return {k: _kb(v) for k, v in pages.items()}

    def mem_available(self) -> int:
        """si_mem_available (mm/show_mem.c), pages."""
        wmark_low = int(self.zn.wmark[:, 1].sum())
        lru = self.lru.size.sum(axis=0)
        available = int(self.zn.free.sum()) - self.totalreserve
        pagecache = int(lru[2] + lru[3])
        available += pagecache - min(pagecache // 2, wmark_low)
        reclaimable = int(self.ctr.vm[S.NR_SLAB_R])
        available += reclaimable - min(reclaimable // 2, wmark_low)
        return max(available, 0)

    def proc_status(self, pid: int) -> dict:
        """/proc/PID/status memory fields (fs/proc/task_mmu.c:task_mem), kB."""
        p = self._proc(pid)
        mm = p.mm
        rss = self.mms.rss[mm.id]
        total_rss = self._rss(mm)
        return {
            "Name": p.comm,
            "State": self._proc_state(p),
            "Pid": p.pid,
            "PPid": p.ppid,
            "Uid": p.uid,
            "VmPeak": _kb(max(mm.hiwater_vm, mm.total_vm())),
            "VmSize": _kb(mm.total_vm()),
            "VmLck": _kb(mm.locked_vm()),
            "VmHWM": _kb(max(mm.hiwater_rss, total_rss)),
            "VmRSS": _kb(total_rss),
            "RssAnon": _kb(int(rss[MM_ANONPAGES])),
            "RssFile": _kb(int(rss[MM_FILEPAGES])),
            "RssShmem": _kb(int(rss[MM_SHMEMPAGES])),
            "VmData": _kb(mm.data_vm()),
            "VmStk": _kb(mm.stack_vm()),
            # task_mem: VmExe is the code segment (end_code - start_code) capped at exec_vm, and
            # VmLib the rest of exec_vm; a spawned binary maps no code segment (only its stack),
            # so every executable mapping is VmLib.
            "VmExe": 0,
            "VmLib": _kb(mm.exec_vm()),
            "VmPTE": _kb(int(self.mms.nr_pt[mm.id])),
            "VmSwap": _kb(int(rss[MM_SWAPENTS])),
        }

    def _badness_terms(self, p: Process) -> dict:
        r = self.mms.rss[p.mm.id]
        return {"rss": self._rss(p.mm), "swap": int(r[MM_SWAPENTS]),
                "pgtables": int(self.mms.nr_pt[p.mm.id]), "adj": p.oom_score_adj,
                "unkillable": p.pid == 1}

    def oom_badness(self, pid: int) -> int | None:
        """oom_badness (KERNEL.md §1) with totalpages = RAM + swap; None when unkillable."""
        p = self._proc(pid)
        return oom_badness(**self._badness_terms(p), totalpages=self.totalram + self.total_swap_pages())

    def oom_score(self, pid: int) -> int:
        """/proc/PID/oom_score (KERNEL.md §2)."""
        p = self._proc(pid)
        return oom_score(**self._badness_terms(p), totalpages=self.totalram + self.total_swap_pages())

    def oom_candidates(self) -> list[Candidate]:
        """Every process as select_bad_process sees it now, in fork order."""
        return [self.oom.candidate(p, False) for p in self.procs.values()
                if p.pid != self.oom.embryo]

    def next_oom(self) -> OomDecision:
        """What out_of_memory (KERNEL.md §1) would decide if a global OOM struck now, with no
        allocating task (as sysrq-f's would, but panic_on_oom counts); nothing is killed."""
        return out_of_memory(
            self.oom_candidates(), totalpages=self.totalram + self.total_swap_pages(),
            current=None, panic_on_oom=self.sysctl("vm.panic_on_oom"),
            oom_group=lambda path: self.cgtree.get(path).oom_group, cgroup_order=self.cgroups())

    def zoneinfo(self) -> dict[str, dict]:
        """/proc/zoneinfo's per-zone numbers (pages)."""
        from oomtui.engine.config import ZONE_NAMES
        out = {}
        for z, name in enumerate(ZONE_NAMES):
            out[name] = {
                "managed": self.managed[z],
                "free": int(self.zn.free[z]),
                "min": int(self.zn.wmark[z, 0]),
                "low": int(self.zn.wmark[z, 1]),
                "high": int(self.zn.wmark[z, 2]),
                "promo": int(self.zn.wmark[z, 3]),
                "protection": tuple(int(x) for x in self.zn.reserve[z]),
                "start_pfn": int(self.zn.start[z]),
            }
        return out

    def vmstat(self) -> dict[str, int]:
        """/proc/vmstat counters this model keeps."""
        from oomtui.engine.state import VMSTAT
        out = {"nr_free_pages": int(self.zn.free.sum())}
        lru = self.lru.size.sum(axis=0)
        for i, name in enumerate(("nr_inactive_anon", "nr_active_anon", "nr_inactive_file",
                                  "nr_active_file", "nr_unevictable")):
            out[name] = int(lru[i])
        for i, name in enumerate(VMSTAT):
            out[name] = int(self.ctr.vm[i])
        out["nr_kernel_stack"] = _kb(out["nr_kernel_stack"])  # the kernel counts kB here
        out["nr_anon_transparent_hugepages"] //= S.HPAGE_PMD_NR  # and THPs here
        return out

    def processes(self) -> list[dict]:
        """One row per live process, in pid order (what a top-like table shows)."""
        rows = []
        for pid in sorted(self.procs):
            p = self.procs[pid]
            st = self.proc_status(pid)
            rows.append({"pid": pid, "comm": p.comm, "ppid": p.ppid, "uid": p.uid,
                         "cgroup": p.cgroup, "oom_score_adj": p.oom_score_adj,
                         "oom_score": self.oom_score(pid), "VmSize": st["VmSize"],
                         "VmRSS": st["VmRSS"], "RssAnon": st["RssAnon"], "RssFile": st["RssFile"],
                         "RssShmem": st["RssShmem"], "VmSwap": st["VmSwap"], "VmPTE": st["VmPTE"],
                         "VmLck": st["VmLck"], "state": self._task_state(p),
                         "minflt": int(self.mms.flt[p.mm.id, 0]),
                         "majflt": int(self.mms.flt[p.mm.id, 1])})
        return rows

    def _proc_state(self, p: Process) -> str:
        """/proc/PID/status State (fs/proc/array.c:task_state). Every stall sleeps
        uninterruptibly (reclaim_throttle, balance_dirty_pages' and memory.high's
        TASK_KILLABLE waits, a swap-in's folio lock): D; an OOM victim runs to its exit."""
        if p.stall_us:
            return "D (disk sleep)"
        return "S (sleeping)" if self._task_state(p) == "sleeping" else "R (running)"

    def _task_state(self, p: Process) -> str:
        if p.oom_victim_tick is not None:
            return "oom-victim"
        if p.stall_us:
            return p.stall_kind
        runner = self.runners.get(p.pid)
        return "running" if runner is not None and not runner.done else "sleeping"

    def maps(self, pid: int) -> list[dict]:
        """/proc/PID/maps: one entry per VMA."""
        from oomtui.engine.vma import prot_str
        p = self._proc(pid)
        return [{"start": v.start, "end": v.end, "perms": prot_str(v.flags) + ("s" if v.flags & V_SHARED else "p"),
                 "offset": v.pgoff << PAGE_SHIFT if v.file >= 0 else 0, "name": v.name,
                 "locked": bool(v.flags & V_LOCKED)} for v in p.mm.vmas]

    def pressure(self) -> dict:
        """/proc/pressure/memory: some and full, avg10/avg60/avg300 (%) and total (µs)."""
        return self.psi.show(self.tick * self.config.tick_ms * 1000)

    def dirty_limits(self) -> tuple[int, int]:
        """(background, dirty) writeback thresholds in pages (engine/writeback.py)."""
        return self.writeback.dirty_limits()

    def slabinfo(self) -> list[dict]:
        """/proc/slabinfo for the caches oomtui models (engine/slab.py)."""
        return self.slab.slabinfo()

    def buddyinfo(self) -> dict[str, list[int]]:
        """/proc/buddyinfo: free blocks of each order (0..10), per populated zone."""
        return self.compaction.buddyinfo()

    def compaction_moves(self) -> tuple[np.ndarray, np.ndarray]:
        """The last compaction run's migrations as (from_pfns, to_pfns), in order."""
        return self.compaction.compaction_moves()

    # -- views for the TUI (engine/views.py) -----------------------------------------------

    def frame_grid(self, pixels: dict[str, int], pid: int | None = None) -> dict[str, np.ndarray]:
        """Per zone named in `pixels`, its frames in that many pixels, each the index in
        views.FRAME_KINDS of the kind drawn there, or views.HIGHLIGHT for the frames process
        `pid` maps (255 past the zone's end). Each kind's share of a zone's pixels is its
        share of the zone's frames, to within a few pixels."""
        return self.views.frame_grid(pixels, None if pid is None else self._proc(pid))

    def frames_per_pixel(self, pixels: dict[str, int]) -> dict[str, int]:
        """For the split of frame_grid(pixels): per zone, the frames one pixel stands for."""
        return self.views.frames_per_pixel(pixels)

    def frame_pixels_at(self, pfns: np.ndarray, pixels: dict[str, int]) -> dict[str, np.ndarray]:
        """For the split of frame_grid(pixels): which pixels hold one of these frames."""
        return self.views.frame_pixels_at(pfns, pixels)

    def page_states(self, pid: int, addr: int, length: int, buckets: int) -> np.ndarray:
        """Counts of views.PAGE_STATES in each of `buckets` equal slices of [addr, addr +
        length) (inside one VMA): shape (buckets, len(PAGE_STATES))."""
        return self.views.page_states(self._proc(pid), addr, length, buckets)

    def kswapd_state(self) -> dict:
        """kswapd0: awake, its consecutive fruitless runs, and the order it was woken for."""
        return self.views.kswapd_state()

    def mem_available_terms(self) -> dict[str, int]:
        """The inputs of si_mem_available (KERNEL.md §10), pages."""
        return self.views.mem_available_terms()

    KSWAPD_MAX_FAILURES = Views.KSWAPD_MAX_FAILURES

    def watermark_terms(self) -> dict[str, dict[str, int]]:
        """Per zone, the terms of its watermarks (KERNEL.md §4), pages."""
        return self.views.watermark_terms()

    def commit_limit_terms(self) -> dict[str, int]:
        """The terms of vm_commit_limit (KERNEL.md §3), pages."""
        return self.views.commit_limit_terms()

    # -- state -----------------------------------------------------------------------------

    def state_digest(self) -> str:
        """A hash of the whole state: equal digests mean identical machines, with identical
        futures. It covers what a snapshot holds (engine/snapshot.py), less the input log."""
        h = hashlib.sha256()
        for arr in digested(self):
            h.update(np.ascontiguousarray(arr))
        h.update(repr(self._state_values()).encode())
        return h.hexdigest()
