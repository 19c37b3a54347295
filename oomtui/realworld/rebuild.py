"""A snapshot of a real machine (RAM, swap, vm sysctls, tasks and their page counts) rebuilt as a
paused Machine whose processes hold exactly those pages, so that oom_badness and
/proc/PID/oom_score (KERNEL.md §1-§2) come out as the kernel's for them.

Only the public engine API is used: spawn, mmap, touch, write_file, madvise(pageout),
cgroup_create/cgroup_set, sysctl. What cannot be made exact is said in `Rebuilt.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from oomtui.engine import Machine, MachineConfig, SwapDevice
from oomtui.engine.config import DMA32_MAX_PAGES, DMA_MANAGED_PAGES, SYSCTLS, ZONE_NAMES
from oomtui.engine.oom import Candidate, OomDecision, out_of_memory

PAGE = 4096
PTRS = 512                      # entries per page table (x86_64)
CHUNK = PTRS * PAGE             # what one PTE table maps: 2 MiB
GIB = PTRS * CHUNK              # what one PMD table maps
SLOT = 1 << 40                  # a fresh 512 GiB PGD slot: its first page costs PUD + PMD + PTE
SHARED_FILE = "/imported/file-pages"   # every task's RssFile maps this one file, from offset 0


@dataclass(frozen=True)
class Task:
    """One process of the snapshot: sizes in pages, page tables in bytes (as the kernel keeps
    them)."""
    pid: int
    comm: str
    ppid: int = 0
    uid: int = 0
    oom_score_adj: int = 0
    rss_anon: int = 0
    rss_file: int = 0
    rss_shmem: int = 0
    swapents: int = 0
    pgtables_bytes: int = 0
    total_vm: int = 0
    cgroup: str = "/"

    @property
    def rss(self) -> int:
        return self.rss_anon + self.rss_file + self.rss_shmem


@dataclass(frozen=True)
class Cgroup:
    """A memory cgroup of the snapshot (limits in bytes, None = max)."""
    path: str
    memory_max: int | None = None
    memory_high: int | None = None
    swap_max: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """What the kernel knew: managed pages per zone, swap areas (pages, without the header page),
    vm sysctls by kernel name, tasks in fork order, memory cgroups."""
    zones: dict[str, int]
    swap: tuple[int, ...] = ()
    sysctl: dict = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()
    cgroups: tuple[Cgroup, ...] = ()

    @property
    def totalram(self) -> int:
        return sum(self.zones.values())

    @property
    def totalpages(self) -> int:
        """oom_score's T: totalram_pages + total_swap_pages."""
        return self.totalram + sum(self.swap)


@dataclass
class Rebuilt:
    """The rebuilt machine; pids maps each snapshot pid to its simulated pid."""
    machine: Machine
    pids: dict[int, int]
    notes: list[str]

    def candidates(self) -> list[Candidate]:
        """The processes as the engine's OOM killer sees them (fork order), with snapshot pids."""
        m = self.machine
        back = {sim: real for real, sim in self.pids.items()}
        return [replace(c, pid=back[c.pid]) for c in m.oom_candidates() if c.pid in back]

    def out_of_memory(self, *, totalpages: int, memcg: str | None = None, order: int = 0,
                      current: int | None = None) -> OomDecision:
        """The engine's own out_of_memory decision on this machine, without acting on it;
        current: the allocating task's snapshot pid."""
        m = self.machine
        return out_of_memory(self.candidates(), totalpages=totalpages, current=current,
                             memcg=memcg, panic_on_oom=m.sysctl("vm.panic_on_oom"),
                             oom_kill_allocating_task=m.sysctl("vm.oom_kill_allocating_task"),
                             order=order,
                             oom_group=lambda path: m.cgtree.get(path).oom_group,
                             cgroup_order=m.cgroups())


def zones_for(total_pages: int) -> dict[str, int]:
    """Managed pages per zone for a machine known only by its total (x86_64's zone split)."""
    dma = min(total_pages, DMA_MANAGED_PAGES)
    dma32 = min(total_pages - dma, DMA32_MAX_PAGES)
    return {"DMA": dma, "DMA32": dma32, "Normal": total_pages - dma - dma32}


def table_layout(data_chunks: int, pgtables: int) -> tuple[int, int, int]:
    """(PTE tables, PMD tables, missing) for one PGD slot holding data_chunks 2 MiB chunks of
    pages, so that 1 PUD + PMDs + PTEs = pgtables. Extra PTE tables are chunks touched and then
    dropped (MADV_DONTNEED keeps page tables, as the kernel does). missing > 0: pgtables is below
    what the pages need (e.g. THP maps 2 MiB without a PTE table), the layout is the minimal one."""
    if data_chunks == 0 and pgtables == 0:
        return 0, 0, 0
    least = max(data_chunks, 1)
    minimal = 1 + -(-least // PTRS) + least
    if pgtables < minimal:
        return least, -(-least // PTRS), minimal - pgtables
    ptes = max(least, -(-(pgtables - 1) // 2))   # enough PTE tables that each PMD holds one
    return ptes, pgtables - 1 - ptes, 0


def _chunk_addrs(ptes: int, pmds: int) -> list[int]:
    """PTE-table addresses spread over `pmds` GiB regions of one slot, at least one in each."""
    addrs, placed = [], 0
    for g in range(pmds):
        n = min(PTRS, ptes - placed - (pmds - g - 1))
        addrs += [SLOT + g * GIB + i * CHUNK for i in range(n)]
        placed += n
    return addrs


def _split(pages: int) -> list[int]:
    return [min(PTRS, pages - i) for i in range(0, pages, PTRS)]


def swap_devices(swap: tuple[int, ...], notes: list[str]) -> list[SwapDevice]:
    """A SwapDevice per area; an area the engine cannot size exactly (whole MiB, less the header
    page) is rounded up, with a note."""
    devices = []
    for pages in swap:
        mib = -(-(pages + 1) // 256)
        if mib * 256 - 1 != pages:
            notes.append(f"a swap area of {pages} pages is simulated as {mib * 256 - 1} pages "
                         "(the simulator sizes swap in whole MiB)")
        devices.append(SwapDevice(size_mib=mib))
    return devices


def build(snap: Snapshot) -> Rebuilt:
    """A paused Machine holding the snapshot's pages (cost: the pages held, a call per 2 MiB)."""
    notes: list[str] = []
    zones = {k: v for k, v in snap.zones.items() if k in ZONE_NAMES and v}
    m = Machine(MachineConfig(zones=zones, swap=swap_devices(snap.swap, notes)))
    for cg in sorted(snap.cgroups, key=lambda c: c.path.count("/")):
        _cgroup(m, cg.path)
    for t in snap.tasks:
        _cgroup(m, t.cgroup)
    file_pages = max((t.rss_file for t in snap.tasks), default=0)
    if file_pages:
        for off in range(0, file_pages * PAGE, 1 << 30):
            m.write_file(1, SHARED_FILE, min(1 << 30, file_pages * PAGE - off), offset=off)
    pids = {}
    for t in snap.tasks:
        if t.pid == 1:
            notes.append("pid 1 (init) is never an OOM victim: left out")
            continue
        pid = m.spawn(t.comm, oom_score_adj=t.oom_score_adj, cgroup=t.cgroup, uid=t.uid)
        try:
            _hold(m, pid, t, notes)
            pids[t.pid] = pid
        except OSError as e:   # e.g. the simulated RAM ran out: the engine reclaimed or killed
            notes.append(f"pid {t.pid} ({t.comm}) could not be rebuilt: {e.strerror or e}")
            if pid in _alive(m):
                m.exit(pid)
    for cg in snap.cgroups:
        _limit(m, cg, notes)
    for name, value in snap.sysctl.items():
        if name in SYSCTLS and name != "vm.drop_caches" and m.sysctl(name) != value:
            try:
                m.sysctl(name, value)
            except OSError as e:
                notes.append(f"{name} = {value} not applied: {e.strerror}")
    rebuilt = Rebuilt(m, pids, notes)
    _check(rebuilt, snap)
    return rebuilt


def _cgroup(m: Machine, path: str) -> None:
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts)):
        sub = "/" + "/".join(parts[:i + 1])
        if sub not in m.cgroups():
            m.cgroup_create(sub)


def _limit(m: Machine, cg: Cgroup, notes: list[str]) -> None:
    usage = m.cgroup_stat(cg.path)["memory.current"]
    if cg.memory_max is not None and usage > cg.memory_max:
        notes.append(f"{cg.path}: memory.max {cg.memory_max} left at max: the rebuilt cgroup "
                     f"holds {usage} bytes, and a lower limit would make the engine reclaim")
        cg = Cgroup(cg.path, None, cg.memory_high, cg.swap_max)
    if cg.memory_high is not None and usage > cg.memory_high:
        cg = Cgroup(cg.path, cg.memory_max, None, cg.swap_max)
        notes.append(f"{cg.path}: memory.high left at max (below the usage)")
    m.cgroup_set(cg.path, memory_max=cg.memory_max, memory_high=cg.memory_high,
                 swap_max=cg.swap_max)


def _alive(m: Machine) -> set[int]:
    return {p["pid"] for p in m.processes()}


def _hold(m: Machine, pid: int, t: Task, notes: list[str]) -> None:
    """Map and touch the task's pages in simulated process `pid`, laid out for its page tables."""
    kinds = [("swap", n) for n in _split(t.swapents)] + [("anon", n) for n in _split(t.rss_anon)]
    kinds += [("shmem", n) for n in _split(t.rss_shmem)] + [("file", n) for n in _split(t.rss_file)]
    if t.pgtables_bytes % PAGE:
        notes.append(f"pid {t.pid}: pgtables {t.pgtables_bytes} bytes is not whole pages")
    ptes, pmds, missing = table_layout(len(kinds), t.pgtables_bytes // PAGE)
    if missing:
        notes.append(f"pid {t.pid} ({t.comm}): its {t.pgtables_bytes // PAGE} page-table pages "
                     f"cannot map its pages with 4 kB pages (huge pages?): simulated with "
                     f"{missing} more, its points are {missing} higher")
    file_off = 0
    for addr, (kind, n) in zip(_chunk_addrs(ptes, pmds), kinds + [("table", 1)] * ptes):
        length = n * PAGE
        if kind == "file":
            m.mmap(pid, length, prot="r", flags="private|fixed", file=SHARED_FILE,
                   offset=file_off, addr=addr)
            m.touch(pid, addr, length, write=False)
            file_off += length
        else:
            flags = "shared|anonymous|fixed" if kind == "shmem" else "private|anonymous|fixed"
            m.mmap(pid, length, flags=flags, addr=addr)
            m.touch(pid, addr, length)
            if kind in ("swap", "table"):
                m.madvise(pid, addr, length, "pageout" if kind == "swap" else "dontneed")
    rest = t.total_vm - m.proc_status(pid)["VmSize"] // 4
    if rest > 0:   # the address space it has but never touched
        m.mmap(pid, rest * PAGE, prot="none", flags="private|anonymous|noreserve")


def _check(r: Rebuilt, snap: Snapshot) -> None:
    """Say where a process does not hold what the snapshot says (the engine reclaimed, say)."""
    m = r.machine
    ram = m.meminfo()["MemTotal"] // 4
    if ram != snap.totalram:
        r.notes.append(f"RAM is {ram} pages, the snapshot {snap.totalram}")
    alive = _alive(m)
    for t in snap.tasks:
        if t.pid not in r.pids:
            continue
        if r.pids[t.pid] not in alive:
            r.notes.append(f"pid {t.pid} ({t.comm}) was killed by the simulated OOM killer "
                           "while the machine was rebuilt (its RAM ran out)")
            del r.pids[t.pid]
            continue
        s = m.proc_status(r.pids[t.pid])
        got = {"rss_anon": s["RssAnon"] // 4, "rss_file": s["RssFile"] // 4,
               "rss_shmem": s["RssShmem"] // 4, "swapents": s["VmSwap"] // 4}
        off = [f"{k} {v} (not {getattr(t, k)})" for k, v in got.items() if v != getattr(t, k)]
        if off:
            r.notes.append(f"pid {t.pid} ({t.comm}) holds " + ", ".join(off))

