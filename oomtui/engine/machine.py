"""Machine: the simulated computer and its syscall-style API (DESIGN.md §3).

Every call validates its arguments and checks limits (overcommit, rlimits) before it changes
anything, so a call refused with OSError leaves the machine as it was. Physical memory is
different, as in Linux: an allocation that finds no free page reclaims, and at worst the OOM
killer ends a process, so a call can succeed while another process dies, or fail because
its own process was killed. Per-page work happens in kernels.py; this module keeps
processes, address spaces, files, commit accounting and the allocation slow path.
"""

from __future__ import annotations

import errno
import hashlib
from dataclasses import dataclass, field, replace
from numbers import Integral

import numpy as np

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine import zones as Z
from oomtui.engine.config import RLIM_INFINITY, MachineConfig, sysctl_defaults, validate_sysctl
from oomtui.engine.oom import Candidate, badness_terms, oom_badness, oom_score, out_of_memory
from oomtui.engine.inputs import InputLog, recorded
from oomtui.engine.snapshot import SnapshotCalls
from oomtui.engine.swap import SwapCalls
from oomtui.engine.cgroups import CgroupCalls
from oomtui.engine.slab import SlabCalls
from oomtui.engine.compaction import FAIL, RETRY, CompactionCalls, SlowPath
from oomtui.engine.views import ViewCalls
from oomtui.engine.state import (
    GROUPS, KERNEL, MM_ANONPAGES, PAGETABLE, Kern, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS, PAGE_SHIFT, TASK_SIZE,
    V_ACCOUNT, V_ANON, V_HUGEPAGE, V_LOCKED, V_NOHUGEPAGE, V_NORESERVE, V_PROT,
    V_READ, V_SHARED, V_WRITE, grow_rows, new_group,
)
from oomtui.engine.vma import (
    MMAP_MIN_ADDR, PAGE, Mm, Vma, err, is_data, new_stack_vma, page_align, parse_mmap_flags,
    parse_prot, vmas_changed, GENERATION,
)
from oomtui.engine.psi import Psi
from oomtui.engine.rmap import build_rmap
from oomtui.workloads import PRESETS, Program, Runner
from oomtui.engine.report import oom_report, panic_text

CAPS = frozenset({"CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_IPC_LOCK", "CAP_SYS_NICE",
                  "CAP_KILL"})
TASK_COMM_LEN = 16
KSTACK_ORDER = 2  # THREAD_SIZE 16 KiB on x86_64
RLIMITS = ("AS", "DATA", "MEMLOCK")
MLOCK_LIMIT_DEFAULT = 8 << 20  # MLOCK_LIMIT since 5.16
MAX_RW_COUNT = 0x7FFFF000  # INT_MAX & PAGE_MASK: the most one read() or write() moves
ADVICE = ("dontneed", "free", "willneed", "cold", "pageout", "hugepage", "nohugepage")
_UNSET = object()
# How long stalls last (model constants, not kernel formulas): a swap-in is a 4 KiB random read
# from an SSD; direct reclaim costs CPU per page it scans.
SWAPIN_US = 100
SCAN_US = 1
WRITE_MIB_S = 100  # what the flushers write to disk per second
MEMSTALL = frozenset({"reclaim", "throttled", "swapin"})  # stalls PSI counts as memory stall
MAX_PAUSE_MS = 200  # balance_dirty_pages: MAX_PAUSE = max(HZ/5, 1)
RATELIMIT_CALC_SHIFT = 10
OOM_REAPER_DELAY_US = 2_000_000  # OOM_REAPER_DELAY: 2 * HZ


@dataclass(frozen=True)
class Event:
    """Something the kernel would log or a user would want to see, at a tick."""
    tick: int
    kind: str
    pid: int
    message: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StepReport:
    """What step() did: the tick reached, ticks run, and the events they logged."""
    tick: int
    ticks: int
    events: list


@dataclass
class Process:
    pid: int
    comm: str
    ppid: int
    uid: int
    caps: frozenset
    mm: Mm
    oom_score_adj: int = 0
    oom_score_adj_min: int = 0
    cgroup: str = "/"
    rlimits: dict = field(default_factory=dict)  # name -> [soft, hard], bytes
    kstack: int = -1  # pfn of the kernel stack
    pgd: int = -1  # pfn of the PGD page
    stall_us: int = 0  # stall time still to serve: the process runs again once it is paid
    stall_kind: str = ""  # what it stalls in: "reclaim", "throttled", "swapin" or "dirty"
    oom_victim_tick: int | None = None  # killed by the OOM killer, not yet exited (pending)
    reaped: bool = False  # the OOM reaper freed its memory (MMF_OOM_SKIP)

    def capable(self, cap: str) -> bool:
        return cap in self.caps


@dataclass
class File:
    id: int
    path: str
    size: int  # bytes
    shmem: bool = False  # the object behind a MAP_SHARED|MAP_ANONYMOUS mapping
    charged: int = 0  # pages charged to Committed_AS (shmem_acct_size)

    @property
    def pages(self) -> int:
        return (self.size + PAGE - 1) >> PAGE_SHIFT


def _int(name: str, value, lo: int = 0, hi: int = 2**64 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise err(errno.EINVAL, f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not lo <= value <= hi:
        raise err(errno.EINVAL, f"{name}={value} is out of range {lo}..{hi}")
    return int(value)


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


class Machine(SwapCalls, CgroupCalls, CompactionCalls, SlabCalls, SnapshotCalls, ViewCalls):
    """A simulated Linux machine: zones of physical frames, processes, the page cache, swap."""

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
        self.procs: dict[int, Process] = {}
        self.files: dict[str, File] = {}
        self.file_by_id: dict[int, File] = {}
        self.rs = new_group("reclaim", sizes)
        self.rs.state[S.RS_EXPIRED] = -1  # no dirty page has expired yet
        self.rs.slab[:, S.SL_HEAD] = -1  # no slabs yet
        self._init_cgroups()
        self._sysctl_to_kernels()
        self.panicked: str | None = None
        self._embryo = 0  # a child fork is still copying: invisible to the OOM killer
        self.runners: dict[int, Runner] = {}  # pid -> the workload it runs
        self._kswapd_was_awake = False
        self.psi = Psi()
        self._stalled: set[int] = set()  # pids with stall time to serve
        self._victims: set[int] = set()  # OOM victims that have not exited yet
        self._rmap = (-1, None)  # (VMA generation it was built at, Rmap)
        self.pt.free_rows[:] = np.arange(sizes["rows"] - 1, -1, -1, dtype=np.int32)
        self.pt.nfree[0] = sizes["rows"]
        self.zn.start[1:] = np.cumsum(managed)
        K.buddy_init(self.k)
        for z in np.flatnonzero(managed):
            K.reset_cached_positions(self.zn, z)
        self._setup_watermarks()
        self.committed = 0  # vm_committed_as, pages
        self._next = {"pid": 1, "mm": 0, "anon": 0, "file": 1}
        self._out = np.zeros(K.NR_OUT, dtype=np.int64)
        init = self._new_process("init", parent=None, uid=0, caps=CAPS, adj=0, mm=None)
        self._event("spawn", init.pid, "init started")
        for dev in config.swap:
            self.swapon(dev.size_mib, priority=dev.priority)
        self.inputs = InputLog()  # from here on, outside calls are logged (engine/inputs.py)

    @property
    def k(self) -> Kern:
        """The state groups as one kernel argument (rebuilt: groups are replaced as they grow)."""
        gen, rmap = self._rmap
        if gen != GENERATION[0]:
            rmap = build_rmap(q.mm for q in self.procs.values())
            self._rmap = (GENERATION[0], rmap)
        return Kern(self.fr, self.zn, self.lru, self.ctr, self.mms, self.pt, self.pc, self.sw,
                    self.rs, rmap)

    # -- zones and watermarks ------------------------------------------------------------------

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
        """A kernel stopped for room: double the page-table pool and both hash tables."""
        pt = self.pt
        rows = pt.row_pfn.size
        pt = grow_rows(pt, rows * 2, rows)
        nfree = int(pt.nfree[0])
        pt.free_rows[nfree:nfree + rows] = np.arange(rows * 2 - 1, rows - 1, -1)
        pt.nfree[0] = nfree + rows
        self.pt = self._rehash(pt)
        self.pc = self._rehash(self.pc)

    def _drive(self, call, current: Process | None, *, origin: bool = False,
               oom: bool = True, slow: SlowPath | None = None) -> tuple[int, bool]:
        """Run a resumable kernel to the end: call(done, out) -> ok.

        A kernel stops when its tables must grow, or when an allocation failed at the min
        watermark: then this is __alloc_pages_slowpath (KERNEL.md §5): direct reclaim and
        retry while reclaim makes progress or should_reclaim_retry allows (16 fruitless
        tries at most), then the OOM killer, whose victim may be `current`. An allocation
        of order > 0 (`slow`) also compacts, and a costly one fails instead of OOM-killing
        (compaction.py). Returns (faults taken, finished); finished is False if `current`
        died, if a memcg charge failed with nobody to kill or the OOM killer waits for a
        victim to exit (then self.alloc_error says why) or, with oom=False or a failed
        order > 0 allocation, memory ran out.
        """
        done = faults = no_progress = memcg_tries = 0
        out = self._out
        ctl = self.lru.ctl
        ctl[S.LC_CHARGE_TO] = self._memcg_of(current).id
        ctl[S.LC_OVER_HIGH] = 0
        ctl[S.LC_INLINE_RECLAIM] = not self._protected  # protection is computed per reclaim
        while True:
            out[:] = 0
            scanned = self.ctr.vm[S.PGSCAN_DIRECT]
            ok = call(done, out)
            self._stall(current, "reclaim", int(self.ctr.vm[S.PGSCAN_DIRECT] - scanned) * SCAN_US)
            done += int(out[K.OUT_DONE])
            faults += int(out[K.OUT_MINFLT] + out[K.OUT_MAJFLT])
            self._stall(current, "swapin", int(out[K.OUT_SWPIN]) * SWAPIN_US)
            if out[K.OUT_NEW_ANON]:
                self._new_anon = True
            status = out[K.OUT_STATUS]
            if slow is not None and slow.compacted:
                self._compact_outcome(slow, ok)
            if ok or status == K.STATUS_HIGH:
                self._handle_over_high(current)  # on the way back to user space
                if ok:
                    return faults, True
                continue
            if status == K.STATUS_ROOM:
                self._grow()
                continue
            if status == K.STATUS_MEMCG:
                try:
                    memcg_tries = self._try_charge_failed(current, memcg_tries)
                except OSError as e:  # nobody to kill in the memcg, or a victim still exiting
                    self.alloc_error = e
                    return faults, False
                if current is not None and current.pid not in self.procs:
                    return faults, False
                continue
            if slow is not None:
                verdict = self._slowpath_step(slow, current)
                if verdict == RETRY:
                    continue
                if verdict == FAIL:
                    return faults, False
            else:
                fruitless = out[K.OUT_RECLAIMED]  # the kernel already ran direct reclaim
                if not fruitless and self._direct_reclaim(current) or self._wait_for_writeback(current):
                    no_progress = 0
                    continue
                no_progress += 1
                if no_progress <= K.MAX_RECLAIM_RETRIES and K.should_reclaim_retry(self.k, 0, 3):
                    continue
                if not oom:
                    return faults, False
                no_progress = 0
            try:
                self._out_of_memory(current, origin=origin, order=slow.order if slow else 0)
            except OSError as e:
                if e.errno == errno.ENOTRECOVERABLE:
                    raise
                self.alloc_error = e  # a victim is still exiting: the task would wait
                return faults, False
            if current is not None and current.pid not in self.procs:
                return faults, False

    def _direct_reclaim(self, current: Process | None) -> int:
        """try_to_free_pages for an allocation: pages freed; the task stalls meanwhile."""
        scanned = self.ctr.vm[S.PGSCAN_DIRECT]
        freed = self._global_reclaim(K.direct_reclaim)
        self._stall(current, "reclaim", int(self.ctr.vm[S.PGSCAN_DIRECT] - scanned) * SCAN_US)
        return freed

    def _out_of_memory(self, current: Process | None, *, origin: bool = False, order: int = 0) -> None:
        """__alloc_pages_may_oom → out_of_memory (KERNEL.md §1): kill a victim or panic."""
        for z in range(5):  # one last try at the high watermark
            if K.zone_watermark_ok(self.zn, z, order, 2, 3) and self.managed[z]:
                return
        self._oom_kill(current, origin=origin, totalpages=self.totalram + self.total_swap_pages())

    def _oom_kill(self, current: Process | None, *, totalpages: int, origin: bool = False,
                  memcg=None) -> bool:
        """out_of_memory for the whole machine or (memcg given) one cgroup: report, then kill
        or panic. False when nothing could be killed (only possible in a memcg)."""
        cands = [self._candidate(q, origin and q is current) for q in self.procs.values()
                 if q.pid != self._embryo]
        decision = out_of_memory(
            cands, totalpages=totalpages, current=current.pid if current is not None else None,
            memcg=None if memcg is None else memcg.path,
            panic_on_oom=self._sysctl["vm.panic_on_oom"],
            oom_kill_allocating_task=self._sysctl["vm.oom_kill_allocating_task"],
            oom_group=lambda path: self.cgtree.get(path).oom_group, cgroup_order=self.cgroups())
        me = next((c for c in cands if current is not None and c.pid == current.pid), None)
        if memcg is None:
            report = oom_report(decision, cands, current=me, meminfo=self.meminfo(),
                                slabinfo=self.slabinfo())
        else:
            report = oom_report(decision, cands, current=me, memcg_info=self._memcg_oom_info(memcg))
        pid = current.pid if current is not None else 0
        # the "why this victim" table as plain data (saves carry event data as msgpack)
        why = {"totalpages": totalpages,
               "candidates": [vars(t) for t in badness_terms(cands, decision, totalpages)]}
        where = why if memcg is None else why | {"memcg": memcg.path}
        if decision.action == "panic":
            self._event("oom", pid, decision.message, report=report, points=decision.points, **where)
            self._panic(decision.message)
        if decision.action == "fail":
            self._event("oom", pid, decision.message, report=report, points=decision.points, **where)
            return False
        if decision.action == "wait":  # an earlier victim has not exited yet
            pending = [self.procs[pid] for pid in sorted(self._victims)
                       if not self.procs[pid].reaped]
            raise err(errno.EAGAIN, f"out of memory: waiting for the OOM victim "
                                    f"{', '.join(f'{q.comm}[{q.pid}]' for q in pending)} to exit")
        if decision.action != "kill":
            raise RuntimeError(f"engine bug: OOM decision {decision.action!r} cannot happen here")
        self._event("oom", pid, decision.message, report=report, points=decision.points,
                    victim=decision.victim, killed=decision.killed, group=decision.group, **where)
        if decision.group is not None:
            self.cgtree.count_event(decision.group, "oom_group_kill")
        for victim in decision.killed:
            self.ctr.vm[S.OOM_KILL] += 1
            q = self.procs[victim]
            self.cgtree.count_event(q.cgroup, "oom_kill")
            what = "Out of memory" if memcg is None else "Memory cgroup out of memory"
            message = f"{what}: Killed process {victim} ({q.comm})"
            if q is not current and q.stall_us and q.stall_kind != "throttled":
                # In uninterruptible I/O or reclaim (D state): SIGKILL waits until that ends;
                # the OOM reaper steps in after OOM_REAPER_DELAY (a throttle sleep is killable).
                q.oom_victim_tick = self.tick
                self._victims.add(q.pid)
                self._event("oom_kill", victim, message + " (pending: in D state)", pending=True)
            else:
                self._release(q, "oom_kill", message)
        return True

    def _oom_victims(self, tick_us: int) -> None:
        """Pending OOM victims exit once their D-state stall is over; after 2 s still stuck,
        the OOM reaper frees their private memory (__oom_reap_task_mm) and sets MMF_OOM_SKIP,
        so the OOM killer may choose another victim."""
        for q in [self.procs[pid] for pid in sorted(self._victims)]:
            if not q.stall_us:
                self._release(q, "exit", f"{q.comm}[{q.pid}] exited (OOM victim)")
            elif not q.reaped and (self.tick - q.oom_victim_tick) * tick_us >= OOM_REAPER_DELAY_US:
                for v in q.mm.vmas:
                    if not v.flags & V_SHARED:
                        K.zap_range(self.k, q.mm.id, v.start >> PAGE_SHIFT, v.pages,
                                    bool(v.flags & V_LOCKED))
                q.reaped = True
                r = self.mms.rss[q.mm.id]
                self._event("oom_reaper", q.pid, f"oom_reaper: reaped process {q.pid} ({q.comm}), "
                            f"now anon-rss:{_kb(int(r[MM_ANONPAGES]))}kB, file-rss:"
                            f"{_kb(int(r[MM_FILEPAGES]))}kB, shmem-rss:{_kb(int(r[MM_SHMEMPAGES]))}kB")

    def _candidate(self, q: Process, origin: bool) -> Candidate:
        r = self.mms.rss[q.mm.id]
        return Candidate(pid=q.pid, comm=q.comm, uid=q.uid, mm_id=q.mm.id,
                         rss_anon=int(r[MM_ANONPAGES]), rss_file=int(r[MM_FILEPAGES]),
                         rss_shmem=int(r[MM_SHMEMPAGES]), swapents=int(r[MM_SWAPENTS]),
                         pgtables=int(self.mms.nr_pt[q.mm.id]), total_vm=q.mm.total_vm(),
                         adj=q.oom_score_adj, memcg=q.cgroup, is_init=q.pid == 1,
                         oom_origin=origin, oom_victim=q.oom_victim_tick is not None,
                         mm_oom_skip=q.reaped)

    def _panic(self, reason: str) -> None:
        self.panicked = reason
        self._event("panic", 0, f"Kernel panic - not syncing: {reason}", text=panic_text(reason))
        raise err(errno.ENOTRECOVERABLE, f"Kernel panic - not syncing: {reason}")

    @staticmethod
    def _rehash(group):
        cap = group.keys.size * 2
        keys = np.full(cap, -1, dtype=np.int64)
        vals = np.full(cap, -1, dtype=np.int64)
        count = np.zeros(1, dtype=np.int64)
        K.ht_rehash(group.keys, group.vals, keys, vals, count)
        return group._replace(keys=keys, vals=vals, count=count)

    # -- small helpers -------------------------------------------------------------------------

    def _event(self, kind: str, pid: int, message: str, **data) -> None:
        self.events.append(Event(self.tick, kind, pid, message, data))

    def _stall(self, p: Process | None, kind: str, us: int) -> None:
        """p stalls for `us` more microseconds (PSI counts it as memory stall time)."""
        if p is not None and us > 0:
            p.stall_us += us
            p.stall_kind = kind
            self._stalled.add(p.pid)

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

    # -- processes ---------------------------------------------------------------------------

    def _new_process(self, comm, *, parent: Process | None, uid, caps, adj, mm: Mm | None,
                     adj_min=None, rlimits=None) -> Process | None:
        """copy_process: kernel stack and PGD (OOM-killing if need be), then the task.
        None if the parent was OOM-killed on the way (nothing is left behind)."""
        pid = self._next["pid"]
        if parent is None:  # init, at boot
            kstack = K.kernel_alloc(self.fr, self.zn, self.ctr, self.rs, KSTACK_ORDER, pid)
            pgd = K.alloc_pages(self.fr, self.zn, self.ctr, self.rs, 0, 2, PAGETABLE, pid)
            self._task_objects(None)
        else:
            # GFP_KERNEL: highest zone Normal, unmovable; -1 if the parent was killed.
            kstack = self._alloc_pages(KSTACK_ORDER, 2, KERNEL, pid, parent, movable=False)
            # The PGD counts in meminfo PageTables but not in the mm's VmPTE.
            pgd = self._alloc_pages(0, 2, PAGETABLE, pid, parent, movable=False) if kstack >= 0 else -1
            if pgd < 0 or not self._task_objects(parent):
                if pgd >= 0:
                    K.free_pages(self.fr, self.zn, self.ctr, pgd, 0)
                if kstack >= 0:
                    K.free_pages(self.fr, self.zn, self.ctr, kstack, KSTACK_ORDER)
                return None
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
        self._update_hiwater(p)
        return p

    def _new_mm(self) -> Mm:
        mm = Mm(self._new_id("mm"))
        if mm.id >= self.mms.nr_pt.size:
            self.mms = grow_rows(self.mms, self.mms.nr_pt.size * 2, self.mms.nr_pt.size)
        self.mms.rss[mm.id] = 0
        self.mms.flt[mm.id] = 0
        self.mms.nr_pt[mm.id] = 0
        return mm

    @recorded
    def spawn(self, comm: str, *, oom_score_adj: int = 0, cgroup: str = "/", uid: int = 1000,
              caps=(), workload=None) -> int:
        """Start a process (fork + exec of a small binary): a stack VMA, no other memory."""
        self._check_alive()
        if not isinstance(comm, str) or not comm:
            raise err(errno.EINVAL, f"comm must be a non-empty string, got {comm!r}")
        adj = _int("oom_score_adj", oom_score_adj, -1000, 1000)
        uid = _int("uid", uid, 0, 2**32 - 2)
        caps = tuple(caps) if not isinstance(caps, str) else (caps,)
        unknown = [c for c in caps if c not in CAPS]
        if unknown:
            raise err(errno.EINVAL, f"unknown capability {unknown[0]!r}: use {', '.join(sorted(CAPS))}")
        cgroup = self.cgtree.get(cgroup).path
        program = self._program(workload)
        init = self.procs[1]
        stack_pages = new_stack_vma(-1).pages
        self._vm_enough_memory(init, stack_pages, "exec stack")
        # The spawner is a privileged service manager: it sets adj and, with CAP_SYS_RESOURCE,
        # oom_score_adj_min too (KERNEL.md §2, like systemd's OOMScoreAdjust=).
        p = self._new_process(comm, parent=init, uid=uid, caps=caps, adj=adj, mm=None)
        if p is None:  # no kernel stack, PGD or task objects: the OOM killer waits for a victim
            raise err(self.alloc_error.errno, f"spawn: {self.alloc_error.strerror}")
        p.cgroup = cgroup
        self._event("spawn", p.pid, f"{p.comm}[{p.pid}] started")
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

    # -- time ------------------------------------------------------------------------------------

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
            self._kswapd()
            self._flushers()
            self._account_stalls(tick_us)
            self._oom_victims(tick_us)
        return StepReport(self.tick, self.tick - first_tick, self.events[first_event:])

    def _kswapd(self) -> None:
        """kswapd0's share of a tick (balance_pgdat), with its wake and sleep as events."""
        state = self.rs.state
        if not state[S.RS_KSWAPD_AWAKE]:
            return
        if not self._kswapd_was_awake:
            self._kswapd_was_awake = True
            self._event("kswapd", 0, "kswapd0 woke: free pages below the low watermark")
        freed = self._global_reclaim(K.kswapd_run)
        if not state[S.RS_KSWAPD_AWAKE]:
            self._kswapd_was_awake = False
            hopeless = state[S.RS_KSWAPD_FAILURES] >= K.MAX_RECLAIM_RETRIES
            self._event("kswapd", 0, "kswapd0 gave up after 16 fruitless runs" if hopeless
                        else "kswapd0 went to sleep: a zone is above its high watermark",
                        freed=int(freed))

    def _account_stalls(self, tick_us: int) -> None:
        """Serve one tick of every stalled process's stall and feed PSI: `some` is the longest
        stall served (stalls overlap from the tick's start), `full` the shortest when every
        non-idle process (one with a running workload, or stalled) was stalled."""
        every = self._stalled.issuperset(pid for pid, r in self.runners.items() if not r.done)
        some, full = 0, tick_us
        for pid in sorted(self._stalled):
            p = self.procs[pid]
            served = min(p.stall_us, tick_us)
            memstall = served if p.stall_kind in MEMSTALL else 0  # writers wait for I/O instead
            some, full = max(some, memstall), min(full, memstall)
            p.stall_us -= served
            if not p.stall_us:
                self._stalled.discard(pid)
        if not every:
            full = 0
        self.psi.account(self.tick * tick_us, some, full if some else 0)

    def _flushers(self) -> None:
        """The flusher threads' tick: periodic writeback every dirty_writeback_centisecs of
        what is older than dirty_expire_centisecs, background writeback above the background
        threshold, and what reclaim asked for; at most WRITE_MIB_S."""
        st = self.rs.state
        if not st[S.RS_DQ_COUNT] and not st[S.RS_WB_COUNT]:
            return
        tick_ms = self.config.tick_ms
        interval = self._sysctl["vm.dirty_writeback_centisecs"] * 10 // tick_ms
        if interval and self.tick % interval == 0:  # wb_workfn → wb_check_old_data_flush
            st[S.RS_EXPIRED] = self.tick - self._sysctl["vm.dirty_expire_centisecs"] * 10 // tick_ms
        K.writeback_run(self.k, self._write_budget(), self.dirty_limits()[0])

    def _write_budget(self) -> int:
        return WRITE_MIB_S * 256 * self.config.tick_ms // 1000  # pages per tick

    def _wait_for_writeback(self, current: Process | None) -> bool:
        """reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK): reclaim found nothing it could free
        while file pages are dirty or under writeback, so the allocating task sleeps a tick
        while the flushers write what reclaim asked for. False if nothing is dirty."""
        vm, st = self.ctr.vm, self.rs.state
        if not vm[S.NR_DIRTY] + vm[S.NR_WRITEBACK]:
            return False
        st[S.RS_WB_WANTED] = max(st[S.RS_WB_WANTED], vm[S.NR_DIRTY])
        bg_thresh = self.dirty_limits()[0]
        K.writeback_run(self.k, self._write_budget(), bg_thresh)  # submit
        K.writeback_run(self.k, 0, bg_thresh)  # and see it complete
        self._stall(current, "reclaim", self.config.tick_ms * 1000)
        return True

    def dirty_limits(self) -> tuple[int, int]:
        """domain_dirty_limits over global_dirtyable_memory: (background, dirty) thresholds in
        pages, from free pages above the reserves plus the file LRU."""
        free = int(self.zn.free.sum())
        lru = self._lru_sizes()
        avail = free - min(free, self.totalreserve) + int(lru[2] + lru[3]) + 1
        thresh = self._sysctl["vm.dirty_ratio"] * PAGE // 100 * avail // PAGE
        bg_thresh = self._sysctl["vm.dirty_background_ratio"] * PAGE // 100 * avail // PAGE
        if bg_thresh >= thresh:
            bg_thresh = thresh // 2
        return bg_thresh, thresh

    def _balance_dirty_pages(self, p: Process, pages_dirtied: int) -> None:
        """balance_dirty_pages for one writer in the global domain: free to dirty up to the
        freerun ceiling (thresh + bg_thresh) / 2; above it paced at the write bandwidth times
        pos_ratio (1 at the setpoint, 0 at the limit), at most MAX_PAUSE per call. The
        kernel's dirty_ratelimit estimate is taken to be the write bandwidth (one writer)."""
        bg_thresh, thresh = self.dirty_limits()
        vm = self.ctr.vm
        dirty = int(vm[S.NR_DIRTY] + vm[S.NR_WRITEBACK])
        freerun = (thresh + bg_thresh) // 2  # dirty_freerun_ceiling
        if dirty <= freerun:
            return
        setpoint = (freerun + thresh) // 2
        x = ((setpoint - dirty) << RATELIMIT_CALC_SHIFT) // ((thresh - setpoint) | 1)
        pos = x  # pos_ratio_polynom: 1 + x³, clamped to [0, 2]
        pos = pos * x >> RATELIMIT_CALC_SHIFT
        pos = pos * x >> RATELIMIT_CALC_SHIFT
        pos = min(max(pos + (1 << RATELIMIT_CALC_SHIFT), 0), 2 << RATELIMIT_CALC_SHIFT)
        rate = WRITE_MIB_S * 256 * pos >> RATELIMIT_CALC_SHIFT  # pages/s
        pause_ms = MAX_PAUSE_MS if not rate else min(-(-pages_dirtied * 1000 // rate), MAX_PAUSE_MS)
        if p.stall_kind != "dirty" or not p.stall_us:
            self._event("dirty", p.pid, f"{p.comm}[{p.pid}] throttled writing: {_kb(dirty)} kB dirty "
                        f"or under writeback, above the freerun ceiling {_kb(freerun)} kB",
                        dirty=dirty, freerun=freerun, limit=thresh)
        self._stall(p, "dirty", pause_ms * 1000)

    def pressure(self) -> dict:
        """/proc/pressure/memory: some and full, avg10/avg60/avg300 (%) and total (µs)."""
        return self.psi.show(self.tick * self.config.tick_ms * 1000)

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
        child = self._new_process(parent.comm, parent=parent, uid=parent.uid, caps=parent.caps,
                                  adj=parent.oom_score_adj, adj_min=parent.oom_score_adj_min,
                                  mm=mm, rlimits={k: list(v) for k, v in parent.rlimits.items()})
        if child is None:
            raise err(errno.ENOMEM, f"fork: {parent.comm}[{pid}] was OOM-killed while forking")
        child.cgroup = parent.cgroup
        self.committed += charge
        self._embryo = child.pid  # not on the task list until copy_process is done
        for v in [v for v in pm.vmas if v.has_anon]:  # vma_needs_copy: only VMAs with anon pages
            start, n, private = v.start >> PAGE_SHIFT, v.pages, not v.flags & V_SHARED
            if not self._drive(lambda done, out: K.copy_range(self.k, pm.id, mm.id, start + done,
                                                              n - done, private, out), parent)[1]:
                self._embryo = 0
                self._release(child, "exit", f"{child.comm}[{child.pid}] fork failed")
                if parent.pid in self.procs:
                    raise err(errno.ENOMEM, f"fork: {self.alloc_error.strerror}")
                raise err(errno.ENOMEM, f"fork: {parent.comm}[{pid}] was OOM-killed while forking")
        self._embryo = 0
        self._update_hiwater(child)
        self._event("fork", child.pid, f"{parent.comm}[{parent.pid}] forked {child.pid}",
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

    def _release(self, p: Process, kind: str, message: str, **data) -> None:
        """exit_mm + release_task: unmap everything, free page tables, PGD and kernel stack."""
        mm = p.mm
        self._update_hiwater(p)
        for v in list(mm.vmas):
            self._unmap(p, v.start, v.end)
        K.free_pages(self.fr, self.zn, self.ctr, p.pgd, 0)
        self.ctr.vm[S.NR_PAGETABLE] -= 1
        K.free_pages(self.fr, self.zn, self.ctr, p.kstack, KSTACK_ORDER)
        self.ctr.vm[S.NR_KSTACK] -= 1 << KSTACK_ORDER
        self._free_task_objects()
        del self.procs[p.pid]
        self._victims.discard(p.pid)
        self._stalled.discard(p.pid)
        vmas_changed()
        for child in self.procs.values():
            if child.ppid == p.pid:
                child.ppid = 1  # reparented to init
        self._event(kind, p.pid, message, **data)

    # -- mapping -------------------------------------------------------------------------------

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
        self._unmap(p, addr, end)

    def _unmap(self, p: Process, start: int, end: int) -> None:
        """do_vmi_munmap: split, zap pages, uncharge, free page tables no VMA needs any more."""
        mm = p.mm
        self._update_hiwater(p)
        gone = mm.carve(start, end)
        for v in gone:
            K.zap_range(self.k, mm.id,
                        v.start >> PAGE_SHIFT, v.pages, bool(v.flags & V_LOCKED))
            if v.flags & V_ACCOUNT:
                self.committed -= v.pages
        for v in gone:
            self._free_pgtables(mm, v.start, v.end)
        for fid in {v.file for v in gone if v.file >= 0}:
            obj = self.file_by_id[fid]
            if obj.shmem and not any(v.file == fid for q in self.procs.values() for v in q.mm.vmas):
                K.pc_walk(self.k, fid, 0, obj.pages, K.WALK_TRUNCATE, K.NO_COUNTS, 0)
                self.committed -= obj.charged
                del self.file_by_id[fid]

    def _free_pgtables(self, mm: Mm, start: int, end: int) -> None:
        """free_pgtables: free the tables of [start, end) whose span no VMA touches any more."""
        for level, shift in ((0, 21), (1, 30), (2, 39)):
            lo, hi = start >> shift, (end - 1) >> shift
            if mm.overlapping(lo << shift, (lo + 1) << shift):
                lo += 1
            if hi >= lo and mm.overlapping(hi << shift, (hi + 1) << shift):
                hi -= 1
            if lo <= hi:
                K.pt_free_range(self.k, mm.id, level, lo, hi)

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
            vma.end = addr + new_len
            vmas_changed()
            new_addr = addr
        elif may_move:
            # move_vma: the new VMA exists while the page tables move, so a process killed
            # midway (by the OOM killer, for a page table) still owns every page it maps.
            new_addr = mm.unmapped_area(new_len, None)
            moved = replace(vma, start=new_addr, end=new_addr + old_len, pgoff=vma.pgoff_at(addr))
            mm.insert(moved)
            self.committed += moved.pages if moved.flags & V_ACCOUNT else 0
            first, n = addr >> PAGE_SHIFT, old_len >> PAGE_SHIFT
            _, alive = self._drive(lambda done, out: K.move_range(
                self.k, mm.id, first + done, (new_addr >> PAGE_SHIFT) + done, n - done, out), p)
            if not alive:
                raise err(errno.ENOMEM, f"mremap: {p.comm}[{pid}] was OOM-killed")
            self._unmap(p, addr, addr + old_len)
            moved.end = new_addr + new_len
            vmas_changed()
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
        parts = mm.overlapping(addr, end)
        charge = 0
        for v in parts:  # mprotect_fixup charges each VMA it makes writable
            if vprot & V_WRITE and not v.flags & (V_ACCOUNT | V_WRITE | V_SHARED | V_NORESERVE):
                n = (min(v.end, end) - max(v.start, addr)) >> PAGE_SHIFT
                self._vm_enough_memory(p, n, "mprotect +w", already=charge)
                charge += n
        for v in mm.carve(addr, end):
            if vprot & V_WRITE and not v.flags & (V_ACCOUNT | V_WRITE | V_SHARED | V_NORESERVE):
                v.flags |= V_ACCOUNT
            v.flags = (v.flags & ~V_PROT) | vprot
            mm.insert(v)
        self.committed += charge
        mm.merge_around(addr, end)

    @recorded
    def madvise(self, pid: int, addr: int, length: int, advice: str) -> None:
        """madvise(2) (KERNEL.md §9); holes give ENOMEM before anything is applied."""
        p = self._proc(pid)
        mm = p.mm
        if advice not in ADVICE:
            raise err(errno.EINVAL, f"unknown advice {advice!r}: use {', '.join(ADVICE)}")
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
            for v in mm.carve(addr, end):
                v.flags = (v.flags & ~off) | on
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
                K.zap_range(self.k, mm.id, vs, n, False)
            else:
                code = {"free": K.MADV_FREE, "cold": K.MADV_COLD, "pageout": K.MADV_PAGEOUT}[advice]
                K.madvise_range(self.k, mm.id, vs, n, code, False)

    def _readahead(self, spans) -> None:
        """MADV_WILLNEED: read file pages into the page cache."""
        for v, s, e in spans:
            f = self.file_by_id.get(v.file)
            if f is None or f.shmem:
                continue
            first = v.pgoff_at(s)
            n = max(0, min((e - s) >> PAGE_SHIFT, f.pages - first))
            # Readahead is __GFP_NORETRY: it may reclaim but never OOM-kills; it just stops.
            self._drive(lambda done, out: K.pc_fill(self.k, f.id, first + done, n - done, False,
                                                    False, out), None, oom=False)

    # -- locking -------------------------------------------------------------------------------

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
        for v in mm.carve(start, end):
            if bool(v.flags & V_LOCKED) != lock:
                K.mlock_range(self.k, mm.id, v.start >> PAGE_SHIFT, v.pages, 1 if lock else -1)
                v.flags ^= V_LOCKED
            mm.insert(v)
        mm.merge_around(start, end)
        if lock:
            self._populate(p, start, end)

    def _populate(self, p: Process, start: int, end: int) -> None:
        """populate_vma_page_range: accessible VMAs, write faults for private writable ones."""
        for v in p.mm.overlapping(start, end):
            if not v.flags & V_PROT:
                continue
            s, e = max(v.start, start), min(v.end, end)
            f = self.file_by_id.get(v.file)
            if f is not None:  # stop at EOF (a shmem object's too: past it is SIGBUS)
                e = min(e, v.start + ((f.pages - v.pgoff) << PAGE_SHIFT))
            if e > s and not self._fault(p, v, s, e, v.flags & (V_WRITE | V_SHARED) == V_WRITE)[1]:
                return  # the process was OOM-killed

    def _fault(self, p: Process, v: Vma, s: int, e: int, write: bool) -> tuple[int, bool]:
        """Fault [s, e) of one VMA in, with a THP for each untouched 2 MiB it may have
        (compaction.py); (faults, False) if the process was OOM-killed."""
        self._new_anon = False
        faults, alive, pos = 0, True, s
        for haddr in self._thp_ranges(p, v, s, e, write):
            if pos < haddr:
                n, alive = self._fault_ptes(p, v, pos, haddr, write)
                faults, pos = faults + n, haddr
            if alive:
                mapped, alive = self._thp_fault(p, v, haddr)
                if mapped:
                    faults, pos = faults + 1, haddr + (S.HPAGE_PMD_NR << PAGE_SHIFT)
            if not alive:
                return faults, False
        if pos < e:
            n, alive = self._fault_ptes(p, v, pos, e, write)
            faults += n
        if self._new_anon:
            v.has_anon = True
        return faults, alive

    def _fault_ptes(self, p: Process, v: Vma, s: int, e: int, write: bool) -> tuple[int, bool]:
        """Fault [s, e) of one VMA in page by page."""
        first, n, pgoff = s >> PAGE_SHIFT, (e - s) >> PAGE_SHIFT, v.pgoff_at(s)
        locked = bool(v.flags & V_LOCKED)
        return self._drive(lambda done, out: K.fault_range_reclaiming(
            self.k, p.mm.id, first + done, n - done, v.flags, v.file, pgoff + done, v.anon,
            locked, bool(write), out), p)

    # -- access --------------------------------------------------------------------------------

    @recorded
    def touch(self, pid: int, addr: int, length: int, *, write: bool = True) -> int:
        """The process reads or writes [addr, addr+length): first use faults pages in.

        Returns the page faults taken. An access the mappings do not allow delivers SIGSEGV
        (or SIGBUS past the end of a file) after the pages before it were touched, and the
        process dies as Linux would.
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
            n, alive = self._fault(p, v, s, e, write)
            faults += n
            if not alive:
                if p.pid in self.procs:  # the fault would retry for ever: say why instead
                    raise self.alloc_error
                return faults  # OOM-killed while faulting
        self._update_hiwater(p)
        if bad is not None:
            at, sig, code = bad
            if p.pid == 1:  # do_exit of the global init
                self._panic(f"Attempted to kill init! exitcode=0x{11 if sig == 'SIGSEGV' else 7:08x}")
            self._release(p, sig.lower(), f"{p.comm}[{p.pid}] {sig} at {at:#x} ({code})",
                          addr=at, code=code, write=write)
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
            if not self._file_objects(p):
                if p.pid in self.procs:
                    raise self.alloc_error
                return
            self._new_id("file")
            self.files[f.path] = f
            self.file_by_id[f.id] = f
        f.size = max(f.size, offset + n)
        self._drive(lambda done, out: K.pc_fill(self.k, f.id, first + done, count - done, False,
                                                dirty, out), p)
        if dirty and p.pid in self.procs:
            self._balance_dirty_pages(p, count)

    def mincore(self, pid: int, addr: int, length: int) -> np.ndarray:
        """mincore(2): one byte per page, 1 if resident."""
        p = self._proc(pid)
        addr = _aligned("addr", addr)
        length = page_align(_int("length", length))
        end = addr + length
        _require_mapped(p.mm, addr, end)
        out = np.zeros(length >> PAGE_SHIFT, dtype=np.uint8)
        for v in p.mm.overlapping(addr, end):
            s, e = max(v.start, addr), min(v.end, end)
            i = (s - addr) >> PAGE_SHIFT
            K.mincore_range(self.k, p.mm.id, s >> PAGE_SHIFT, (e - s) >> PAGE_SHIFT,
                            v.file, v.pgoff_at(s), out[i:i + ((e - s) >> PAGE_SHIFT)])
        return out

    # -- the heap ------------------------------------------------------------------------------

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
            if mm.overlapping(oldbrk, newbrk + PAGE):
                raise err(errno.ENOMEM, "brk: the heap would run into another mapping")
            pages = (newbrk - oldbrk) >> PAGE_SHIFT
            flags = V_READ | V_WRITE | V_ANON | V_ACCOUNT | (mm.def_flags & V_LOCKED)
            self._may_expand_vm(p, flags, pages, "brk")
            self._vm_enough_memory(p, pages, f"brk +{_size(pages * PAGE)}")
            self.committed += pages
            heap = mm.find(oldbrk - PAGE) if oldbrk > mm.start_brk else None
            if heap is not None and heap.name == "[heap]" and heap.end == oldbrk:
                heap.end = newbrk
                vmas_changed()
            else:
                mm.insert(Vma(oldbrk, newbrk, flags, -1, oldbrk >> PAGE_SHIFT,
                              self._new_id("anon"), name="[heap]"))
            if flags & V_LOCKED:
                self._populate(p, oldbrk, newbrk)
        mm.brk = new
        self._update_hiwater(p)

    # -- limits and knobs ----------------------------------------------------------------------

    @recorded
    def prlimit(self, pid: int, resource: str, soft: int | None = None) -> int:
        """prlimit(2) for AS, DATA, MEMLOCK (bytes; RLIM_INFINITY = unlimited); returns the soft limit."""
        p = self._proc(pid)
        if resource not in RLIMITS:
            raise err(errno.EINVAL, f"unknown resource {resource!r}: use {', '.join(RLIMITS)}")
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
        writer = p.caps if caps is None else frozenset((caps,) if isinstance(caps, str) else caps)
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
            if name not in self._sysctl:
                validate_sysctl(name, 0)  # raises ENOENT with the kernel's wording
            return self._sysctl[name]
        self._check_alive()
        value = validate_sysctl(name, value)
        self._sysctl[name] = value
        self._sysctl_to_kernels()
        # overcommit_ratio_handler / overcommit_kbytes_handler: setting one clears the other.
        if name == "vm.overcommit_ratio":
            self._sysctl["vm.overcommit_kbytes"] = 0
        elif name == "vm.overcommit_kbytes":
            self._sysctl["vm.overcommit_ratio"] = 0
        if name in ("vm.min_free_kbytes", "vm.watermark_scale_factor", "vm.lowmem_reserve_ratio"):
            self._setup_watermarks()
        if name == "vm.drop_caches":
            self._drop_caches(value)
        return value

    def _sysctl_to_kernels(self) -> None:
        """The sysctls the kernels read, copied into their state."""
        self.rs.state[S.RS_SWAPPINESS] = self._sysctl["vm.swappiness"]
        self.rs.state[S.RS_PAGE_CLUSTER] = self._sysctl["vm.page-cluster"]
        self.rs.state[S.RS_VFS_PRESSURE] = self._sysctl["vm.vfs_cache_pressure"]
        self.rs.state[S.RS_VFS_DENOM] = self._sysctl["vm.vfs_cache_pressure_denom"]

    # -- views ---------------------------------------------------------------------------------

    def _update_hiwater(self, p: Process) -> None:
        mm = p.mm
        mm.hiwater_rss = max(mm.hiwater_rss, self._rss(mm))
        mm.hiwater_vm = max(mm.hiwater_vm, mm.total_vm())

    def _rss(self, mm: Mm) -> int:
        r = self.mms.rss[mm.id]
        return int(r[MM_ANONPAGES] + r[MM_FILEPAGES] + r[MM_SHMEMPAGES])

    def meminfo(self) -> dict[str, int]:
        """/proc/meminfo (fs/proc/meminfo.c), kB, for the fields this model has."""
        vm = self.ctr.vm
        lru = self._lru_sizes()
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

    def _lru_sizes(self) -> np.ndarray:
        """The node's LRU list sizes: every memcg's lruvec added up."""
        return self.lru.size.sum(axis=0)

    def mem_available(self) -> int:
        """si_mem_available (mm/show_mem.c), pages."""
        wmark_low = int(self.zn.wmark[:, 1].sum())
        lru = self._lru_sizes()
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
            "State": "S (sleeping)",
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
            "VmExe": 0,
            "VmLib": 0,
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
        lru = self._lru_sizes()
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

    def state_digest(self) -> str:
        """A hash of the whole state: equal digests mean identical machines, with identical
        futures. It covers what a snapshot holds (engine/snapshot.py), less the input log."""
        h = hashlib.sha256()
        for group in GROUPS:
            for arr in getattr(self, _GROUP_ATTR[group]):
                h.update(np.ascontiguousarray(arr))
        h.update(repr(self._state_values()).encode())
        return h.hexdigest()


_GROUP_ATTR = {"frames": "fr", "zones": "zn", "lru": "lru", "counters": "ctr", "mms": "mms",
               "pagetables": "pt", "swap": "sw", "reclaim": "rs", "pagecache": "pc"}
