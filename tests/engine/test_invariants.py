"""Random call sequences (hypothesis stateful) keep the engine's books balanced.

After every step: KernelStack = 16 kB x processes, PageTables = sum(VmPTE + 4 kB PGD), VmRSS =
RssAnon + RssFile + RssShmem, MemFree = sum of zone free = nr_free_pages, used memory minus the
page owners is constant, LRU sums are consistent, and a call that failed changed nothing.
After tearing every process down, only the page cache is left.
"""

from __future__ import annotations

import errno

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule)

from oomtui.engine import Machine, MachineConfig
from oomtui.engine.machine import Killed

PAGE = 4096
FAILED = object()

KINDS = ["anon", "anon_r", "shmem", "file", "locked", "noreserve"]


class EngineBooks(RuleBasedStateMachine):
    @initialize(mode=st.sampled_from([0, 1]))
    def boot(self, mode):
        self.m = Machine(MachineConfig(ram_mib=256, sysctl={"vm.overcommit_memory": mode}))
        self.maps: dict[int, list[tuple[int, int, str]]] = {}   # pid -> [(addr, pages, kind)]
        mi = self.m.meminfo()
        self.baseline = self._unowned(mi)
        for _ in range(2):
            self.maps[self.m.spawn("w")] = []

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _unowned(mi):
        owned = (mi["AnonPages"] + mi["Cached"] + mi["Buffers"] + mi["SwapCached"]
                 + mi["KernelStack"] + mi["PageTables"] + mi["Slab"])
        return mi["MemTotal"] - mi["MemFree"] - owned

    def _call(self, fn, *args, **kw):
        """Run a call that may legitimately fail; a failure must change nothing."""
        before = self.m.state_digest()
        try:
            return fn(*args, **kw)
        except Killed:  # a SIGSEGV: the process is gone (_sync_dead forgets it)
            return FAILED
        except OSError as e:
            assert e.errno in (errno.ENOMEM, errno.EINVAL, errno.EAGAIN, errno.EPERM,
                               errno.EFAULT, errno.ENOENT), e
            assert self.m.state_digest() == before, f"failed call changed state: {e}"
            return FAILED

    def _sync_dead(self):
        alive = {x["pid"] for x in self.m.processes()}
        for pid in list(self.maps):
            if pid not in alive:
                del self.maps[pid]

    def _pick(self, data):
        pid = data.draw(st.sampled_from(sorted(self.maps)))
        return pid

    def _pick_map(self, data):
        pid = data.draw(st.sampled_from(sorted(p for p in self.maps if self.maps[p])))
        i = data.draw(st.integers(0, len(self.maps[pid]) - 1))
        return pid, i

    def has_procs(self):
        return bool(self.maps)

    def has_maps(self):
        return any(self.maps.values())

    # ------------------------------------------------------------ rules
    @precondition(lambda self: len(self.maps) < 6)
    @rule()
    def spawn(self):
        pid = self.m.spawn("w")
        self.maps[pid] = []

    @precondition(lambda self: self.has_procs() and len(self.maps) < 6)
    @rule(data=st.data())
    def fork(self, data):
        pid = self._pick(data)
        child = self._call(self.m.fork, pid)
        if child is not FAILED:
            self.maps[child] = list(self.maps[pid])

    @precondition(has_procs)
    @rule(data=st.data())
    def exit(self, data):
        pid = self._pick(data)
        self.m.exit(pid)
        del self.maps[pid]

    @precondition(has_procs)
    @rule(data=st.data(), pages=st.integers(1, 600), kind=st.sampled_from(KINDS))
    def mmap(self, data, pages, kind):
        pid = self._pick(data)
        kw = {"anon": {}, "anon_r": {"prot": "r"}, "shmem": {"flags": "shared|anonymous"},
              "locked": {"flags": "private|anonymous|locked"},
              "noreserve": {"flags": "private|anonymous|noreserve"}}.get(kind)
        if kind == "file":
            self.m.write_file(pid, "/data/inv", pages * PAGE)
            kw = {"prot": "rw", "flags": data.draw(st.sampled_from(["private", "shared"])),
                  "file": "/data/inv"}
        addr = self._call(self.m.mmap, pid, pages * PAGE, **kw)
        if addr is not FAILED:
            self.maps[pid].append((addr, pages, kind))

    @precondition(has_maps)
    @rule(data=st.data(), write=st.booleans())
    def touch(self, data, write):
        pid, i = self._pick_map(data)
        addr, pages, kind = self.maps[pid][i]
        first = data.draw(st.integers(0, pages - 1))
        n = data.draw(st.integers(1, pages - first))
        self._call(self.m.touch, pid, addr + first * PAGE, n * PAGE, write=write)
        self._sync_dead()     # writing to "anon_r" is a SIGSEGV

    @precondition(has_maps)
    @rule(data=st.data(), half=st.booleans())
    def munmap(self, data, half):
        pid, i = self._pick_map(data)
        addr, pages, kind = self.maps[pid][i]
        if half and pages > 1:
            keep = pages // 2
            self.m.munmap(pid, addr + keep * PAGE, (pages - keep) * PAGE)
            self.maps[pid][i] = (addr, keep, kind)
        else:
            self.m.munmap(pid, addr, pages * PAGE)
            del self.maps[pid][i]

    @precondition(has_maps)
    @rule(data=st.data(), advice=st.sampled_from(["dontneed", "free", "cold", "pageout",
                                                  "willneed"]))
    def madvise(self, data, advice):
        pid, i = self._pick_map(data)
        addr, pages, kind = self.maps[pid][i]
        self._call(self.m.madvise, pid, addr, pages * PAGE, advice)

    @precondition(has_maps)
    @rule(data=st.data(), lock=st.booleans())
    def mlock(self, data, lock):
        pid, i = self._pick_map(data)
        addr, pages, kind = self.maps[pid][i]
        self._call(self.m.mlock if lock else self.m.munlock, pid, addr, pages * PAGE)

    @precondition(has_maps)
    @rule(data=st.data(), prot=st.sampled_from(["r", "rw", "none"]))
    def mprotect(self, data, prot):
        pid, i = self._pick_map(data)
        addr, pages, kind = self.maps[pid][i]
        self._call(self.m.mprotect, pid, addr, pages * PAGE, prot)

    @precondition(has_procs)
    @rule(data=st.data(), pages=st.integers(-64, 256))
    def sbrk(self, data, pages):
        pid = self._pick(data)
        self._call(self.m.sbrk, pid, pages * PAGE)

    @precondition(has_procs)
    @rule(data=st.data(), pages=st.integers(1, 256), offset=st.integers(0, 256))
    def file_io(self, data, pages, offset):
        pid = self._pick(data)
        name = f"/data/io{data.draw(st.integers(0, 2))}"
        if data.draw(st.booleans()):
            self.m.write_file(pid, name, pages * PAGE, offset=offset * PAGE)
        else:
            self._call(self.m.read_file, pid, name, pages * PAGE, offset=offset * PAGE)

    # ------------------------------------------------------------ invariants
    @invariant()
    def books_balance(self):
        m = self.m
        mi, zi, vs, procs = m.meminfo(), m.zoneinfo(), m.vmstat(), m.processes()
        assert [p["pid"] for p in procs][0] == 1
        assert {p["pid"] for p in procs} == set(self.maps) | {1}
        assert mi["KernelStack"] == 16 * len(procs)
        sts = [m.proc_status(p["pid"]) for p in procs]
        assert mi["PageTables"] == sum(s["VmPTE"] + 4 for s in sts)
        for s in sts:
            assert s["VmRSS"] == s["RssAnon"] + s["RssFile"] + s["RssShmem"]
            assert s["VmHWM"] >= s["VmRSS"] and s["VmPeak"] >= s["VmSize"]
            assert s["VmLck"] <= s["VmSize"]
        assert sum(z["free"] for z in zi.values()) * 4 == mi["MemFree"] == vs["nr_free_pages"] * 4
        assert self._unowned(mi) == self.baseline
        assert mi["Active"] == mi["Active(anon)"] + mi["Active(file)"]
        assert mi["Inactive"] == mi["Inactive(anon)"] + mi["Inactive(file)"]
        assert mi["Unevictable"] >= mi["Mlocked"]
        assert mi["Cached"] >= mi["Shmem"]
        assert mi["AnonPages"] <= sum(s["RssAnon"] for s in sts)
        # every anon/shmem/file page is on exactly one LRU list
        lru = (mi["Active"] + mi["Inactive"] + mi["Unevictable"])
        assert lru == mi["AnonPages"] + mi["Cached"] + mi["Buffers"] + mi["SwapCached"]
        assert mi["Committed_AS"] >= 132 * len(procs)

    def teardown(self):
        if not hasattr(self, "m"):
            return
        m = self.m
        for pid in list(self.maps):
            m.exit(pid)
        mi = m.meminfo()
        assert (mi["AnonPages"], mi["Shmem"], mi["Mlocked"], mi["Mapped"]) == (0, 0, 0, 0)
        assert (mi["KernelStack"], mi["PageTables"], mi["Committed_AS"]) == (16, 4, 132)


EngineBooks.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestEngineBooks = EngineBooks.TestCase
