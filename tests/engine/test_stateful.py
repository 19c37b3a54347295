"""Random call sequences, good and bad, through the public Machine API (hypothesis stateful).

A 64 MiB machine with 4 MiB of swap, booted in overcommit mode 0, 1 or 2 and THP "madvise"
or "always" (huge pages, fragmentation and compaction), gets random spawn,
fork, exit/kill, mmap (every prot and flag mix, anonymous or file, MAP_FIXED over live ranges;
shared anonymous memory paged out to swap and touched back),
munmap, mremap, mprotect, madvise, mlock/munlock/mlockall, mincore, brk/sbrk, prlimit, touch
(sometimes past the mapping: SIGSEGV/SIGBUS kill the process), read_file/write_file, sysctl,
oom_score_adj, swapon/swapoff, cgroup_create/set/move (limits that bite) and step calls,
many with bad arguments, on live, dead and never-existing pids. Memory runs out within a few steps (reclaim, swap, OOM kills, sometimes a
panic) and mode 2 refuses commitments.

Every call that raises must raise OSError with an errno the kernel uses for that call (ESRCH,
and only ESRCH, for a pid that is not alive) and leave state_digest() unchanged, unless the
caller was OOM-killed during the call or the machine panicked (ENOTRECOVERABLE from then on);
any other exception fails the test. After every step check_invariants() recounts frames, LRUs,
page tables, RSS, VmPTE and Committed_AS from scratch, and the views are checked for
consistency. When the example ends, every process but init exits and only the page cache may
be left.
"""

from __future__ import annotations

import errno
from errno import errorcode

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize, invariant, multiple,
                                 rule)

from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine.invariants import check_invariants
from oomtui.engine.machine import Killed

PAGE = 4096
KiB, MiB, GiB, TiB, EiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40, 1 << 60
TASK_SIZE = 0x7FFFFFFFF000
MMAP_MIN_ADDR = 65536
RLIM_INFINITY = 2**64 - 1
FAILED = object()
NOBODY = object()  # the caller of spawn, sysctl, swapon and step

E = errno
# The errnos the kernel's syscall (man page ERRORS) can return for each call, beyond ESRCH.
ERRNOS = {
    "spawn": {E.EAGAIN, E.EINVAL, E.ENOENT, E.ENOMEM},      # ENOENT: no such cgroup
    "fork": {E.EAGAIN, E.ENOMEM},
    "exit": {E.EPERM},                                      # init
    "kill": {E.EINVAL, E.EPERM},
    "mmap": {E.EACCES, E.EAGAIN, E.EBADF, E.EINVAL, E.ENOENT, E.ENOMEM, E.EPERM},
    "munmap": {E.EINVAL, E.ENOMEM},
    "mremap": {E.EAGAIN, E.EFAULT, E.EINVAL, E.ENOMEM},
    "mprotect": {E.EACCES, E.EINVAL, E.ENOMEM},
    "madvise": {E.EAGAIN, E.EINVAL, E.ENOMEM, E.EPERM},
    "mlock": {E.EAGAIN, E.EINVAL, E.ENOMEM, E.EPERM},
    "munlock": {E.EINVAL, E.ENOMEM, E.EPERM},
    "mlockall": {E.EINVAL, E.ENOMEM, E.EPERM},
    "mincore": {E.EAGAIN, E.EFAULT, E.EINVAL, E.ENOMEM},
    "brk": {E.EINVAL},              # the raw syscall never fails; EINVAL is for a non-address
    "sbrk": {E.EINVAL, E.ENOMEM},
    "prlimit": {E.EINVAL, E.EPERM},
    # ENOMEM: a memcg at memory.max with nobody to kill; EAGAIN: an OOM victim is still exiting
    "touch": {E.EAGAIN, E.EINVAL, E.ENOMEM},
    "read_file": {E.EINVAL, E.ENOENT, E.ENOMEM},
    "write_file": {E.EAGAIN, E.EFBIG, E.EINVAL, E.ENOMEM, E.ENOSPC},  # EAGAIN: a new file's inode
    "stat_files": {E.EAGAIN, E.EINVAL},
    "set_oom_score_adj": {E.EACCES, E.EINVAL},
    "sysctl": {E.EINVAL, E.ENOENT},
    "swapon": {E.EBUSY, E.EINVAL, E.ENOMEM, E.EPERM},
    "swapoff": {E.EINTR, E.EINVAL, E.ENOMEM, E.EPERM},   # EINTR: the caller was OOM-killed
    "step": {E.EINVAL},
    "cgroup_create": {E.EEXIST, E.EINVAL, E.ENOENT},
    "cgroup_set": {E.EINVAL, E.ENOENT},
    "cgroup_move": {E.EINVAL, E.ENOENT},  # EINVAL: a path with a "." or ".." component
}
NO_PID = {"spawn", "sysctl", "swapon", "swapoff", "step", "cgroup_create", "cgroup_set"}

FILES = ("/data/a", "/data/b", "/tmp/c")
ADVICE = ("dontneed", "free", "willneed", "cold", "pageout", "hugepage", "nohugepage")

# --- strategies
# Mostly valid arguments, so that calls succeed and the state gets interesting; the always-bad
# ones are in BAD_CALLS. Duplicates in sampled_from/one_of make a choice more likely.
pages = st.integers(1, 1024).map(lambda n: n * PAGE)                # up to 4 MiB
lengths = st.one_of(pages, pages, st.integers(1, 4 * MiB),           # any byte count
                    st.sampled_from([16 * MiB, 48 * MiB, 96 * MiB, GiB]))  # near or over RAM + swap
cg_sizes = st.sampled_from([None, 0, 2 * MiB, 8 * MiB, 32 * MiB, -1, "8M"])
cg_limits = st.fixed_dictionaries({}, optional={
    "memory_min": cg_sizes, "memory_low": cg_sizes, "memory_high": cg_sizes,
    "memory_max": cg_sizes, "swap_max": cg_sizes, "oom_group": st.sampled_from([True, False, 2])})
new_lengths = st.one_of(pages, pages, st.sampled_from([0, 3, 48 * MiB, GiB, EiB, -PAGE]))
prots = st.sampled_from(["none", "r", "rw", "rw", "rw", "rwx", "rx", "w"])
shares = st.sampled_from(["private", "private", "shared"])
backings = st.sampled_from([None, None, None, *FILES])              # None: anonymous
extras = st.sets(st.sampled_from(["noreserve", "populate", "locked"]))
offsets = st.sampled_from([0, 0, 0, PAGE, 64 * PAGE])
hints = st.none() | st.builds(lambda i, skew: TiB + i * 16 * PAGE + skew,
                              st.integers(0, 63), st.sampled_from([0, 0, 0, 0, 0, 1]))
# A sub-range of a mapping: None = all of it, else (first page, pages); first may be before it.
parts = st.none() | st.tuples(st.integers(-2, 12), st.integers(0, 16))
skews = st.sampled_from([0] * 6 + [1, PAGE // 2])                   # misaligned starts
increments = st.one_of(st.integers(-64, 256).map(lambda n: n * PAGE),
                       st.sampled_from([1, -1, 48 * MiB, GiB, 2**63]))
# A write is capped at MAX_RW_COUNT (2 GiB, a short write): lengths stay small here so the
# machine does not spend the test churning 2 GiB through its page cache.
file_lengths = st.one_of(st.integers(0, 256).map(lambda n: n * PAGE), st.integers(0, 64 * KiB),
                         st.just(48 * MiB))
file_offsets = st.sampled_from([0, 0, PAGE, 100, MiB, 2**47])
bogus_pids = st.sampled_from([0, -1, 10**9, "2", 2.0, True, None])
caps = st.sets(st.sampled_from(["CAP_SYS_RESOURCE", "CAP_IPC_LOCK", "CAP_SYS_ADMIN"]))
adjs = st.integers(-1000, 1000) | st.sampled_from([-1000, 0, 1000])
SYSCTL_VALUES = {
    "vm.overcommit_memory": [0, 1, 2, 3, -1, "1", 1.0, True],
    "vm.overcommit_ratio": [0, 50, 100, 200, -1, 2**31],
    "vm.min_free_kbytes": [0, 128, 1024, 4096, 16384, -1, 2**31],
    "vm.watermark_scale_factor": [1, 10, 100, 1000, 3000, 0, 3001],
    "vm.lowmem_reserve_ratio": [(256, 256, 32, 0, 0), (1, 1, 1, 0, 0), (0, 0, 0, 0, 0),
                                (-5, 256, 32, 0, 0), (256, 256), "256 256 32 0 0",
                                (256, 256, 32, 0, 2**31)],
    "vm.vfs_cache_pressure": [0, 100, 1000, -1],
    "vm.drop_caches": [1, 2, 3, 4, 0, 5],
    "vm.no_such_knob": [1],
}
sysctls = st.sampled_from(sorted(SYSCTL_VALUES)).flatmap(
    lambda name: st.tuples(st.just(name), st.sampled_from(SYSCTL_VALUES[name])))

# Calls that must fail with this errno whatever the state (ESRCH instead for a dead pid).
BAD_CALLS = [
    ("mmap", E.EINVAL, lambda pid: ((pid, 0), {})),
    ("mmap", E.EINVAL, lambda pid: ((pid, -1), {})),
    ("mmap", E.ENOMEM, lambda pid: ((pid, EiB), {"flags": "private|anonymous|noreserve"})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"flags": "private|anonymous|huge"})),
    ("mmap", E.EINVAL, lambda pid: ((pid, 2**64), {})),
    ("mmap", E.ENOMEM, lambda pid: ((pid, 2**64 - 1), {})),
    ("mmap", E.ENOMEM, lambda pid: ((pid, TASK_SIZE + PAGE), {"flags": "shared|anonymous"})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"flags": 3})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"flags": "private|shared|anonymous"})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"flags": "anonymous|populate"})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"prot": "rq"})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"prot": None})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"offset": 1})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"offset": -PAGE})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"flags": "private|anonymous", "file": FILES[0]})),
    ("mmap", E.EBADF, lambda pid: ((pid, PAGE), {"flags": "shared"})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"flags": "private|anonymous|fixed"})),
    ("mmap", E.EPERM, lambda pid: ((pid, PAGE), {"flags": "private|anonymous|fixed",
                                                 "addr": PAGE})),
    ("mmap", E.EINVAL, lambda pid: ((pid, PAGE), {"flags": "private|anonymous|fixed",
                                                  "addr": TiB + 1})),
    ("mmap", E.ENOENT, lambda pid: ((pid, PAGE), {"flags": "private", "file": "/nope"})),
    ("munmap", E.EINVAL, lambda pid: ((pid, TiB + 1, PAGE), {})),
    ("munmap", E.EINVAL, lambda pid: ((pid, TiB, 0), {})),
    ("munmap", E.EINVAL, lambda pid: ((pid, TiB, EiB), {})),
    ("munmap", E.EINVAL, lambda pid: ((pid, -PAGE, PAGE), {})),
    ("mremap", E.EINVAL, lambda pid: ((pid, TiB + 1, PAGE, 2 * PAGE), {})),
    ("mremap", E.EINVAL, lambda pid: ((pid, TiB, PAGE, 0), {})),
    ("mprotect", E.EINVAL, lambda pid: ((pid, TiB + 1, PAGE, "r"), {})),
    ("mprotect", E.EINVAL, lambda pid: ((pid, TiB, -PAGE, "r"), {})),
    ("mprotect", E.EINVAL, lambda pid: ((pid, TiB, PAGE, "rwz"), {})),
    ("mprotect", E.ENOMEM, lambda pid: ((pid, TiB, EiB, "r"), {})),
    ("madvise", E.EINVAL, lambda pid: ((pid, TiB, PAGE, "forget"), {})),
    ("madvise", E.EINVAL, lambda pid: ((pid, TiB, PAGE, None), {})),
    ("madvise", E.EINVAL, lambda pid: ((pid, TiB + 1, PAGE, "dontneed"), {})),
    ("madvise", E.ENOMEM, lambda pid: ((pid, TiB, EiB, "cold"), {})),  # unmapped, no overflow
    ("mlock", E.EINVAL, lambda pid: ((pid, -1, PAGE), {})),
    ("munlock", E.EINVAL, lambda pid: ((pid, TiB, -1), {})),
    ("mlockall", E.EINVAL, lambda pid: ((pid, "never"), {})),
    ("mlockall", E.EINVAL, lambda pid: ((pid, ""), {})),
    ("mlockall", E.EINVAL, lambda pid: ((pid, None), {})),
    ("mincore", E.EINVAL, lambda pid: ((pid, TiB + 8, PAGE), {})),
    ("mincore", E.ENOMEM, lambda pid: ((pid, TiB, EiB), {})),
    ("sbrk", E.EINVAL, lambda pid: ((pid, 2**64), {})),
    ("sbrk", E.EINVAL, lambda pid: ((pid, "1"), {})),
    ("brk", E.EINVAL, lambda pid: ((pid, -1), {})),
    ("prlimit", E.EINVAL, lambda pid: ((pid, "NOFILE", 10), {})),
    ("prlimit", E.EINVAL, lambda pid: ((pid, "AS", -1), {})),
    ("prlimit", E.EINVAL, lambda pid: ((pid, "MEMLOCK", RLIM_INFINITY), {})),   # above hard
    ("touch", E.EINVAL, lambda pid: ((pid, TiB, -1), {})),
    ("touch", E.EINVAL, lambda pid: ((pid, TiB, PAGE), {"write": "yes"})),
    ("read_file", E.EINVAL, lambda pid: ((pid, "", PAGE), {})),
    ("read_file", E.EINVAL, lambda pid: ((pid, None, PAGE), {})),
    ("read_file", E.ENOENT, lambda pid: ((pid, "/nope", PAGE), {})),
    ("write_file", E.EINVAL, lambda pid: ((pid, FILES[0], -1), {})),
    ("write_file", E.EINVAL, lambda pid: ((pid, FILES[0], PAGE), {"offset": -1})),
    ("write_file", E.EINVAL, lambda pid: ((pid, FILES[0], PAGE), {"offset": 2**48})),
    ("write_file", E.EINVAL, lambda pid: ((pid, 7, PAGE), {})),
    ("read_file", E.EINVAL, lambda pid: ((pid, FILES[0], PAGE), {"offset": -1})),
    ("set_oom_score_adj", E.EINVAL, lambda pid: ((pid, 1001), {})),
    ("set_oom_score_adj", E.EINVAL, lambda pid: ((pid, "0"), {})),
    ("set_oom_score_adj", E.EINVAL, lambda pid: ((pid, 2**40), {})),
    ("set_oom_score_adj", E.EINVAL, lambda pid: ((pid, -1001), {"caps": ("CAP_SYS_RESOURCE",)})),
    ("kill", E.EINVAL, lambda pid: ((pid, 1), {})),
    ("kill", E.EINVAL, lambda pid: ((pid, -9), {})),
    ("kill", E.EINVAL, lambda pid: ((pid, 64), {})),
    ("spawn", E.EINVAL, lambda pid: (("",), {})),
    ("spawn", E.EINVAL, lambda pid: ((None,), {})),
    ("spawn", E.EINVAL, lambda pid: (("x",), {"oom_score_adj": 1001})),
    ("spawn", E.EINVAL, lambda pid: (("x",), {"oom_score_adj": -1001})),
    ("spawn", E.EINVAL, lambda pid: (("x",), {"caps": ("CAP_TELEPORT",)})),
    ("spawn", E.EINVAL, lambda pid: (("x",), {"uid": -1})),
    ("spawn", E.ENOENT, lambda pid: (("x",), {"cgroup": "/nope"})),
    ("sysctl", E.ENOENT, lambda pid: (("vm.no_such_knob",), {})),
    ("sysctl", E.ENOENT, lambda pid: ((None, 1), {})),
    ("swapon", E.EINVAL, lambda pid: ((0,), {})),
    ("swapon", E.EINVAL, lambda pid: (("4",), {})),
    ("swapon", E.EINVAL, lambda pid: ((4,), {"priority": -1})),
    ("swapon", E.EINVAL, lambda pid: ((2**40,), {})),
    ("swapoff", E.EINVAL, lambda pid: ((-1,), {})),
    ("swapoff", E.EINVAL, lambda pid: ((None,), {})),
    ("step", E.EINVAL, lambda pid: ((0,), {})),
    ("step", E.EINVAL, lambda pid: ((-1,), {})),
]


PID_BAD_CALLS = [c for c in BAD_CALLS if c[0] not in NO_PID]


def names(codes):
    return sorted(errorcode.get(c, str(c)) for c in codes)


class EngineStateMachine(RuleBasedStateMachine):
    pids = Bundle("pids")
    maps = Bundle("maps")  # (pid, addr, length): possibly unmapped, moved or of a dead pid since
    devs = Bundle("devs")  # swap devices, possibly swapped off since
    cgroups = Bundle("cgroups")  # cgroup paths, possibly never created (a failed create)

    @initialize(target=pids, mode=st.sampled_from([0, 1, 2]), thp=st.sampled_from(["madvise", "always"]))
    def boot(self, mode, thp):
        """Two processes and two files; init stays out of the pids bundle (see init_survives)."""
        self.m = Machine(MachineConfig(ram_mib=64, swap=[SwapDevice(size_mib=4)], thp=thp,
                                       sysctl={"vm.overcommit_memory": mode}))
        self.live = {1}
        self.dead = set()
        self.panicked = False
        pids = [self.call("spawn", comm) for comm in ("a", "b")]
        self.call("write_file", pids[0], FILES[0], MiB)
        self.call("write_file", pids[0], FILES[1], 10 * KiB)     # mappings run past its EOF
        return multiple(*pids)

    @initialize(target=devs)
    def boot_swap(self):
        return 0  # the config's SwapDevice

    @initialize(target=cgroups)
    def boot_cgroups(self):
        return "/"

    # --- the checked call ---------------------------------------------------------------------

    def alive(self, pid) -> bool:
        return type(pid) is int and pid in self.live and not self.panicked

    def call(self, name, *args, expect=None, pure=False, **kw):
        """m.<name>(*args, **kw), or FAILED if it raised OSError.

        The caller is args[0] (kw pid for swapoff; none for spawn, sysctl, swapon, step). A
        failure must carry one of the kernel's errnos for the call (only `expect` if given:
        then the call must fail), only ESRCH if the caller is not alive, and must change
        nothing unless the caller was OOM-killed on the way. Once the machine has panicked,
        every call fails with ENOTRECOVERABLE. A `pure` call changes nothing.
        """
        caller = kw.get("pid", 1) if name == "swapoff" else NOBODY if name in NO_PID else args[0]
        alive = caller is NOBODY or self.alive(caller)
        allowed = {E.ESRCH} if not alive else {expect} if expect else ERRNOS[name]
        before, seen = self.m.state_digest(), len(self.m.events)
        what = f"{name}{args} {kw}"
        try:
            out = getattr(self.m, name)(*args, **kw)
        except Killed as e:  # the access killed the caller: it is gone and the log says why
            assert name == "touch" and alive and not self.m.panicked, f"{what}: {e}"
            ev = self.m.events[-1]
            assert (ev.kind, ev.pid, ev.data["addr"]) == (e.signal.lower(), caller, e.addr), ev
            self.sync(born=set())
            return FAILED
        except OSError as e:
            if self.m.panicked:
                assert e.errno == E.ENOTRECOVERABLE, f"{what} on a panicked machine: {e}"
                assert self.panicked or self.m.events[-1].kind == "panic"
                assert not self.panicked or self.m.state_digest() == before, f"{what} changed state"
                self.panicked = True
                return FAILED
            assert e.errno in allowed, (f"{what}: {errorcode.get(e.errno, e.errno)} ({e}), "
                                        f"expected one of {names(allowed)}")
            assert str(e).strip(), f"{name}: the error must say why"
            # memory ran out on the way: the caller was OOM-killed, or its memcg had nobody to kill
            exhausted = e.errno in (E.ENOMEM, E.EAGAIN) and name in (
                "touch", "fork", "spawn", "swapoff", "write_file", "stat_files") \
                or any(ev.kind == "oom_kill" and ev.pid == caller for ev in self.m.events[seen:])
            assert exhausted or self.m.state_digest() == before, f"failed {what} changed state: {e}"
            self.sync(born=set())
            return FAILED
        assert pure or not self.panicked, f"{what} succeeded on a panicked machine"
        assert alive and expect is None, f"{what} succeeded, returning {out!r}"
        if pure:
            assert self.m.state_digest() == before, f"{what} changed state"
        if not self.panicked:
            self.sync(born={out} if name in ("spawn", "fork") else set())
        return out

    def sync(self, born):
        """Learn which processes died (exit, kill, SIGSEGV, SIGBUS, OOM); `born` were just made."""
        now = {row["pid"] for row in self.m.processes()}
        assert not born & self.dead, f"pid {born} reused"
        assert now <= self.live | born, f"processes appeared from nowhere: {now - self.live - born}"
        assert born <= now
        self.dead |= self.live - now
        self.live = now

    @staticmethod
    def span(mapping, part):
        pid, addr, length = mapping
        if part is None:
            return pid, addr, length
        first, pages = part
        return pid, addr + first * PAGE, pages * PAGE

    # --- processes ----------------------------------------------------------------------------

    @rule(target=pids, comm=st.sampled_from(["app", "db", "x" * 40]), adj=adjs, caps=caps,
          uid=st.sampled_from([0, 1000]))
    def spawn(self, comm, adj, caps, uid):
        pid = self.call("spawn", comm, oom_score_adj=adj, caps=caps, uid=uid)
        return multiple() if pid is FAILED else pid

    @rule(target=pids, pid=pids)
    def fork(self, pid):
        child = self.call("fork", pid)
        if child is FAILED:
            return multiple()
        parent, copy = self.m.proc_status(pid), self.m.proc_status(child)
        assert copy["VmSize"] == parent["VmSize"] and copy["VmLck"] == 0   # locks not inherited
        assert copy["VmRSS"] <= parent["VmRSS"]
        return child

    @rule(pid=pids, how=st.sampled_from(["exit", "exit", 9, 15, 0]))
    def end(self, pid, how):
        if how == "exit":
            self.call("exit", pid)
        else:
            self.call("kill", pid, how, pure=how == 0)

    @rule(how=st.sampled_from(["exit", 9, 15]))
    def init_survives(self, how):
        """init cannot exit and ignores fatal signals."""
        if how == "exit":
            self.call("exit", 1, expect=E.EPERM)
        else:
            self.call("kill", 1, how, expect=E.EPERM)

    @rule(pid=pids, value=adjs, writer=st.sampled_from([None, (), ("CAP_SYS_RESOURCE",)]))
    def set_oom_score_adj(self, pid, value, writer):
        if self.call("set_oom_score_adj", pid, value, caps=writer) is not FAILED:
            row = next(r for r in self.m.processes() if r["pid"] == pid)
            assert row["oom_score_adj"] == value

    @rule(pid=pids, resource=st.sampled_from(["AS", "DATA", "MEMLOCK"]),
          soft=st.sampled_from([None, 0, PAGE, MiB, 8 * MiB, 32 * MiB, GiB, RLIM_INFINITY]))
    def prlimit(self, pid, resource, soft):
        out = self.call("prlimit", pid, resource, soft, pure=soft is None)
        assert out in (FAILED, soft) or soft is None

    # --- mappings -----------------------------------------------------------------------------

    def _mmap(self, pid, length, prot, share, backing, extra, offset, addr, fixed):
        fixed = fixed and addr is not None
        words = [share, *(["anonymous"] if backing is None else []), *sorted(extra)]
        flags = "|".join(words + (["fixed"] if fixed else []))
        vm_size = self.alive(pid) and self.m.proc_status(pid)["VmSize"]
        out = self.call("mmap", pid, length, prot=prot, flags=flags, file=backing, offset=offset,
                        addr=addr)
        if out is FAILED:
            return multiple()
        length = (length + PAGE - 1) & -PAGE
        assert out % PAGE == 0 and MMAP_MIN_ADDR <= out and out + length <= TASK_SIZE
        assert not fixed or out == addr
        if self.alive(pid):     # not OOM-killed while populating
            if not fixed:
                assert self.m.proc_status(pid)["VmSize"] == vm_size + length // KiB
            self.call("mincore", pid, out, length, pure=True)   # mapped: no ENOMEM
        return pid, out, length

    @rule(target=maps, pid=pids, length=lengths, prot=prots, share=shares, backing=backings,
          extra=extras, offset=offsets, addr=hints, fixed=st.booleans())
    def mmap(self, pid, length, prot, share, backing, extra, offset, addr, fixed):
        return self._mmap(pid, length, prot, share, backing, extra, offset, addr, fixed)

    @rule(target=maps, over=maps, shift=st.integers(-8, 8), length=lengths, prot=prots,
          share=shares, backing=backings, extra=extras, offset=offsets)
    def mmap_fixed_over(self, over, shift, length, prot, share, backing, extra, offset):
        pid, addr, _ = over
        return self._mmap(pid, length, prot, share, backing, extra, offset, addr + shift * PAGE,
                          fixed=True)

    @rule(target=maps, pid=pids, mib=st.sampled_from([8, 24, 48, 80]), flags=shares,
          write=st.booleans())
    def hog(self, pid, mib, flags, write):
        """Map and touch a large region: reclaim, swap-out and OOM kills (64 MiB of RAM)."""
        addr = self.call("mmap", pid, mib * MiB, flags=flags + "|anonymous|noreserve")
        if addr is FAILED:
            return multiple()
        self.call("touch", pid, addr, mib * MiB, write=write)
        return pid, addr, mib * MiB

    @rule(target=maps, pid=pids, pages=st.integers(1, 1024), back=st.integers(0, 1024),
          write=st.booleans())
    def shmem_pageout(self, pid, pages, back, write):
        """Shared anonymous memory written, paged out (the shmem object keeps swap entries,
        the PTEs go), then partly touched back in (swap-in, readahead into the swap cache)."""
        addr = self.call("mmap", pid, pages * PAGE, flags="shared|anonymous")
        if addr is FAILED:
            return multiple()
        self.call("touch", pid, addr, pages * PAGE)
        self.call("madvise", pid, addr, pages * PAGE, "pageout")
        self.call("touch", pid, addr, min(back, pages) * PAGE, write=write)
        return pid, addr, pages * PAGE

    @rule(target=maps, mapping=maps, pid=pids)
    def other_pid(self, mapping, pid):
        """The same range in another process: a forked child's copy, or a hole."""
        return pid, mapping[1], mapping[2]

    @rule(mapping=maps, part=parts, skew=skews)
    def munmap(self, mapping, part, skew):
        pid, addr, length = self.span(mapping, part)
        if self.call("munmap", pid, addr + skew, length) is not FAILED:
            self.call("mincore", pid, addr + skew, length, expect=E.ENOMEM)   # now a hole

    @rule(target=maps, mapping=maps, part=parts, skew=skews, new_len=new_lengths,
          may_move=st.booleans())
    def mremap(self, mapping, part, skew, new_len, may_move):
        pid, addr, length = self.span(mapping, part)
        out = self.call("mremap", pid, addr + skew, length, new_len, may_move=may_move)
        if out is FAILED:
            return multiple()
        assert may_move or out == addr + skew
        return pid, out, new_len

    @rule(mapping=maps, part=parts, skew=skews, prot=prots)
    def mprotect(self, mapping, part, skew, prot):
        pid, addr, length = self.span(mapping, part)
        self.call("mprotect", pid, addr + skew, length, prot)

    @rule(mapping=maps, part=parts, skew=skews, advice=st.sampled_from(ADVICE))
    def madvise(self, mapping, part, skew, advice):
        pid, addr, length = self.span(mapping, part)
        self.call("madvise", pid, addr + skew, length, advice)

    @rule(mapping=maps, part=parts, skew=skews, lock=st.booleans())
    def mlock(self, mapping, part, skew, lock):
        pid, addr, length = self.span(mapping, part)
        self.call("mlock" if lock else "munlock", pid, addr + skew, length)

    @rule(pid=pids, flags=st.sampled_from(["current", "future", "current|future"]))
    def mlockall(self, pid, flags):
        self.call("mlockall", pid, flags)

    @rule(mapping=maps, part=parts, skew=skews)
    def mincore(self, mapping, part, skew):
        pid, addr, length = self.span(mapping, part)
        out = self.call("mincore", pid, addr + skew, length, pure=True)
        if out is not FAILED:
            assert len(out) == (length + PAGE - 1) // PAGE and set(out.tolist()) <= {0, 1}

    @rule(target=maps, pid=pids, increment=increments)
    def sbrk(self, pid, increment):
        old = self.call("sbrk", pid, increment)
        if old is FAILED or not isinstance(increment, int) or increment <= 0:
            return multiple()
        return pid, old, increment

    @rule(pid=pids, delta=st.integers(-64, 256).map(lambda n: n * PAGE))
    def brk(self, pid, delta):
        cur = self.call("brk", pid, pure=True)
        if cur is not FAILED:
            new = self.call("brk", pid, cur + delta)
            assert new in (FAILED, cur, cur + delta)

    # --- access -------------------------------------------------------------------------------

    @rule(mapping=maps, part=parts, skew=skews, write=st.booleans(),
          overrun=st.sampled_from([0, 0, 0, PAGE]))
    def touch(self, mapping, part, skew, write, overrun):
        """overrun > 0 (or a stale mapping) may run off the end: SIGSEGV or SIGBUS kills."""
        pid, addr, length = self.span(mapping, part)
        stolen = self.m.vmstat()["pgsteal_direct"]
        faults = self.call("touch", pid, addr + skew, length + overrun, write=write)
        if faults is not FAILED and self.alive(pid) and length + overrun \
                and self.m.vmstat()["pgsteal_direct"] == stolen:
            # No signal and nothing reclaimed meanwhile: every page of the access is mapped
            # (the zero page for anon reads).
            start, end = (addr + skew) & -PAGE, addr + skew + length + overrun
            assert self.call("mincore", pid, start, end - start, pure=True).all()

    @rule(pid=pids, path=st.sampled_from(FILES), length=file_lengths,
          offset=file_offsets, write=st.booleans())
    def file_io(self, pid, path, length, offset, write):
        out = self.call("write_file" if write else "read_file", pid, path, length, offset=offset)
        assert out is FAILED or 0 <= out <= length

    @rule(pid=pids, count=st.sampled_from([1, 100, 5000, 50_000]), negative=st.booleans())
    def stat_files(self, pid, count, negative):
        out = self.call("stat_files", pid, count, negative=negative)
        assert out is FAILED or 0 <= out <= count

    # --- knobs and bad calls ------------------------------------------------------------------

    @rule(setting=sysctls)
    def sysctl(self, setting):
        name, value = setting
        stored = self.call("sysctl", name, value)
        if stored is not FAILED:
            assert self.call("sysctl", name, pure=True) == stored
            assert stored == value or name == "vm.lowmem_reserve_ratio"

    @rule(target=devs, size_mib=st.sampled_from([1, 4, 16]),
          priority=st.sampled_from([None, None, 0, 5, 32767]))
    def swapon(self, size_mib, priority):
        dev = self.call("swapon", size_mib, priority=priority)
        return multiple() if dev is FAILED else dev

    @rule(dev=devs, caller=st.none() | pids)
    def swapoff(self, dev, caller):
        """By init (CAP_SYS_ADMIN) or a random process (EPERM unless it has the cap)."""
        self.call("swapoff", dev, **({} if caller is None else {"pid": caller}))

    # --- cgroups ------------------------------------------------------------------------------

    @rule(target=cgroups, parent=cgroups, name=st.sampled_from(["a", "b", "", "..", "x\ny"]),
          limits=cg_limits)
    def cgroup_create(self, parent, name, limits):
        path = parent.rstrip("/") + "/" + name
        self.call("cgroup_create", path, **limits)
        return path

    @rule(path=cgroups, limits=cg_limits)
    def cgroup_set(self, path, limits):
        self.call("cgroup_set", path, **limits)

    @rule(pid=pids, path=cgroups)
    def cgroup_move(self, pid, path):
        self.call("cgroup_move", pid, path)

    @rule(target=pids, path=cgroups)
    def spawn_in(self, path):
        pid = self.call("spawn", "grp", cgroup=path)
        return multiple() if pid is FAILED else pid

    @rule(ticks=st.integers(1, 3))
    def step(self, ticks):
        self.call("step", ticks)

    @rule(pid=pids, bad=st.sampled_from(BAD_CALLS))
    def bad_call(self, pid, bad):
        name, code, make = bad
        args, kw = make(pid)
        self.call(name, *args, expect=code, **kw)

    @rule(pid=bogus_pids, bad=st.sampled_from(PID_BAD_CALLS))
    def unknown_pid(self, pid, bad):
        """Any call on a pid that never existed: ESRCH, whatever else is wrong with it."""
        name, _, make = bad
        args, kw = make(pid)
        self.call(name, *args, **kw)

    # --- invariants ---------------------------------------------------------------------------

    def teardown(self):
        """When every process but init has exited, only the page cache is left."""
        if not hasattr(self, "m") or self.panicked:
            return
        for pid in sorted(self.live - {1}):
            self.call("exit", pid)
        check_invariants(self.m)
        mi = self.m.meminfo()
        assert mi["SwapFree"] == mi["SwapTotal"] and mi["SwapCached"] == 0, mi
        init = self.m.proc_status(1)
        left = {k: mi[k] for k in ("AnonPages", "Shmem", "Mlocked", "KernelStack")}
        assert left == {"AnonPages": 0, "Shmem": 0, "Mlocked": 0, "KernelStack": 16}, left
        assert mi["PageTables"] == init["VmPTE"] + 4
        assert mi["Committed_AS"] == init["VmSize"]    # init's stack, all it maps

    @invariant()
    def books_balance(self):
        check_invariants(self.m)

    @invariant()
    def views_consistent(self):
        if self.panicked:
            return
        m = self.m
        mi = m.meminfo()
        assert all(v >= 0 for v in mi.values()), {k: v for k, v in mi.items() if v < 0}
        rows = m.processes()
        assert {r["pid"] for r in rows} == self.live and 1 in self.live
        for r in rows:
            status = m.proc_status(r["pid"])
            rss = status["RssAnon"] + status["RssFile"] + status["RssShmem"]
            assert status["VmRSS"] == rss, status
            assert all(v >= 0 for v in status.values() if isinstance(v, int)), status
            assert 0 <= m.oom_score(r["pid"]) <= 2000

    @invariant()
    def dead_pids_are_gone(self):
        if self.panicked:
            return
        for pid in self.dead:
            for view in (self.m.proc_status, self.m.oom_score, self.m.oom_badness, self.m.maps):
                try:
                    view(pid)
                except OSError as e:
                    assert e.errno == E.ESRCH, e
                else:
                    raise AssertionError(f"{view.__name__}({pid}) of a dead pid succeeded")


EngineStateMachine.TestCase.settings = settings(
    max_examples=80, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngineStateMachine = pytest.mark.slow(EngineStateMachine.TestCase)
