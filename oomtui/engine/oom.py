"""The OOM killer: arithmetic and decision (mm/oom_kill.c, fs/proc/base.c; KERNEL.md §1-§2, §7)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from oomtui.engine.constants import PAGE_COUNTER_MAX, PAGE_SIZE

OOM_SCORE_ADJ_MIN = -1000


def c_div(a: int, b: int) -> int:
    """C integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def oom_badness(*, rss: int, swap: int, pgtables: int, adj: int, unkillable: bool,
                totalpages: int) -> int | None:
    """oom_badness: pages charged to the task plus adj per mille of totalpages; None = LONG_MIN."""
    if unkillable or adj == OOM_SCORE_ADJ_MIN:
        return None
    points = rss + swap + pgtables
    return points + adj_points(adj, totalpages)


def adj_points(adj: int, totalpages: int) -> int:
    """What oom_score_adj adds to oom_badness: adj per mille of totalpages."""
    return adj * (totalpages // 1000)  # the division happens first


def oom_score(*, totalpages: int, **terms) -> int:
    """proc_oom_score: badness scaled into 0..2000 (0 for unkillable tasks)."""
    badness = oom_badness(totalpages=totalpages, **terms)
    if badness is None:
        return 0
    return c_div((1000 + c_div(badness * 1000, totalpages)) * 2, 3)


# ---------------------------------------------------------------- the OOM killer's decision
#
# Pure Python: the engine builds one Candidate per live process and calls out_of_memory();
# report.oom_report() turns the decision into the dmesg text.

LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
PAGE_COUNTER_MAX_KB = PAGE_COUNTER_MAX * (PAGE_SIZE >> 10)  # what a memcg limit of "max" prints as, in kB
DEADLOCK = "System is deadlocked on memory"
NO_KILLABLE = "Out of memory and no killable processes..."


@dataclass(frozen=True)
class Candidate:
    """One process as select_bad_process sees it (sizes in pages)."""
    pid: int
    comm: str
    uid: int
    mm_id: int                 # equal mm_id = one shared mm (CLONE_VM)
    rss_anon: int
    rss_file: int
    rss_shmem: int
    swapents: int
    pgtables: int              # mm_pgtables_bytes / PAGE_SIZE
    total_vm: int
    adj: int                   # oom_score_adj
    memcg: str                 # cgroup path, "/" = root
    is_init: bool = False      # global init: never chosen, never killed
    oom_victim: bool = False   # tsk_is_oom_victim: killed earlier, memory not yet freed
    mm_oom_skip: bool = False  # MMF_OOM_SKIP: reaped or exiting; invisible to selection
    oom_origin: bool = False   # oom_task_origin (swapoff caller)
    dying: bool = False        # fatal signal pending / exiting

    @property
    def rss(self) -> int:
        return self.rss_anon + self.rss_file + self.rss_shmem


@dataclass(frozen=True)
class OomDecision:
    """What out_of_memory did.

    action: "kill"; "panic" (message = the panic reason); "fail" (nothing killable and no panic:
    a memcg charge fails, or sysrq found nobody); "wait" = nothing new is killed. "wait" with
    victim=None: the scan met a pending OOM victim and aborted. "wait" with a victim: that task
    is already exiting (task_will_free_mem), so it is only marked (mark_oom_victim: TIF_MEMDIE,
    memory reserves, reaper queued); no signal, no report. That is `current` itself when it is
    the one dying (out_of_memory step 3), else the chosen victim (oom_kill_process).
    killed: every pid that gets SIGKILL, deduplicated, in order.
    points: pid -> what oom_evaluate_task compared (oom_badness, LONG_MAX for oom_origin,
    None = unkillable) for every process in the OOM domain, in scan order (for_each_process /
    mem_cgroup_scan_tasks), also when the scan aborted or never ran: the "why this victim" table.
    message: the kernel's own line (the victim's "Killed process" line, the panic reason,
    "Out of memory and no killable processes..."); "" when the kernel prints nothing.
    memcg: the OOMing cgroup (None = global OOM).
    kills: the __oom_kill_process calls in order, one "Killed process" line each; the victim
    repeats when memory.oom.group kills its group, as it does in the kernel's log.
    marked: pids given mark_oom_victim (they become oom_victim; their mm gets the reaper unless
    global init shares it: then __oom_kill_process sets MMF_OOM_SKIP at once and skips the reaper).
    """
    action: str
    victim: int | None
    killed: tuple[int, ...]
    points: dict[int, int | None]
    constraint: str
    group: str | None
    message: str
    memcg: str | None = None
    kills: tuple[int, ...] = ()
    marked: tuple[int, ...] = ()


def in_cgroup(path: str, root: str) -> bool:
    """path is root or below it (mem_cgroup_is_descendant); "/" holds everyone."""
    return root == "/" or path == root or path.startswith(root + "/")


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def scan_order(candidates: Sequence[Candidate], root: str,
               cgroup_order: Sequence[str] = ()) -> list[Candidate]:
    """mem_cgroup_scan_tasks: the root's subtree, cgroups in pre-order, fork order inside one.

    Siblings go in creation order: their index in cgroup_order when given there, else by the
    first process (in fork order) found in their subtree.
    """
    inside = [c for c in candidates if in_cgroup(c.memcg, root)]
    first: dict[str, int] = {}
    for i, c in enumerate(inside):
        path = c.memcg
        while path not in first:
            first[path] = i
            if path == "/":
                break
            path = _parent(path)
    rank = {p: i for i, p in enumerate(cgroup_order)}

    def key(c: Candidate) -> list:
        chain, path = [], c.memcg
        while path != root and path != "/":
            chain.append((rank.get(path, len(rank)), first[path]))
            path = _parent(path)
        return chain[::-1]

    return sorted(inside, key=key)   # stable: fork order inside a cgroup


def badness(c: Candidate, totalpages: int) -> int | None:
    # oom_badness: init and MMF_OOM_SKIP mms are unkillable, like adj -1000
    return oom_badness(rss=c.rss, swap=c.swapents, pgtables=c.pgtables, adj=c.adj,
                       unkillable=c.is_init or c.mm_oom_skip, totalpages=totalpages)


def _evaluated_points(c: Candidate, totalpages: int) -> int | None:
    # oom_evaluate_task: oom_unkillable_task (init) first, then oom_task_origin, then oom_badness
    if c.is_init:
        return None
    if c.oom_origin:
        return LONG_MAX
    return badness(c, totalpages)


def _exiting(c: Candidate) -> bool:
    # __task_will_free_mem: group exit under way (an OOM victim has SIGKILL); no core dumps here
    return c.dying or c.oom_victim


def task_will_free_mem(c: Candidate, candidates: Sequence[Candidate]) -> bool:
    """task_will_free_mem: c exits, its mm is not MMF_OOM_SKIP, every sharer of the mm exits."""
    if not _exiting(c) or c.mm_oom_skip:
        return False
    return all(_exiting(q) for q in candidates if q.mm_id == c.mm_id and q.pid != c.pid)


def get_oom_group(victim: Candidate, domain: str, oom_group: Callable[[str], bool]) -> str | None:
    """mem_cgroup_get_oom_group: the top-most memory.oom.group cgroup from the victim's cgroup up
    to the OOM domain (root for a global OOM); none for a task in the root cgroup."""
    path = victim.memcg
    if path == "/" or not in_cgroup(path, domain):
        return None
    group = None
    while True:
        if path != "/" and oom_group(path):   # the root cgroup has no memory.oom.group file
            group = path
        if path == domain or path == "/":
            return group
        path = _parent(path)


_ABORT = object()


def select_bad_process(domain: Sequence[Candidate], totalpages: int,
                       sysrq: bool = False) -> Candidate | None | object:
    """select_bad_process / oom_evaluate_task: highest points, ties to the later task;
    _ABORT when an earlier OOM victim is still releasing its memory."""
    chosen, chosen_points = None, LONG_MIN
    for c in domain:
        if c.is_init:                                # oom_unkillable_task
            continue
        if not sysrq and c.oom_victim:               # tsk_is_oom_victim
            if c.mm_oom_skip:
                continue
            return _ABORT
        points = _evaluated_points(c, totalpages)
        if not c.oom_origin and (points is None or points < chosen_points):
            continue
        chosen, chosen_points = c, points
    return chosen


def killed_line(prefix: str, c: Candidate) -> str:
    """__oom_kill_process's report of one kill (K() = pages * 4 kB)."""
    return (f"{prefix}: Killed process {c.pid} ({c.comm[:15]}) total-vm:{c.total_vm * 4}kB, "
            f"anon-rss:{c.rss_anon * 4}kB, file-rss:{c.rss_file * 4}kB, "
            f"shmem-rss:{c.rss_shmem * 4}kB, UID:{c.uid} pgtables:{c.pgtables * 4}kB "
            f"oom_score_adj:{c.adj}")


def _dedup(pids) -> tuple[int, ...]:
    return tuple(dict.fromkeys(pids))


def out_of_memory(candidates: Sequence[Candidate], *, totalpages: int, current: int | None,
                  memcg: str | None = None, panic_on_oom: int = 0,
                  oom_kill_allocating_task: int = 0,
                  oom_group: Callable[[str], bool] = lambda path: False, order: int = 0,
                  cgroup_order: Sequence[str] = ()) -> OomDecision:
    """out_of_memory (mm/oom_kill.c), for one global (memcg=None) or memcg OOM.

    candidates: every live process in fork order; a memcg OOM looks only at memcg's subtree.
    order -1 is a sysrq-f OOM. cgroup_order: cgroup paths in creation order (see scan_order).
    Not modelled: the notifier chain, GFP_NOFS, cpuset/mempolicy constraints, kthreads.
    """
    sysrq = order == -1                                            # is_sysrq_oom
    constraint = "CONSTRAINT_NONE" if memcg is None else "CONSTRAINT_MEMCG"
    domain = list(candidates) if memcg is None else scan_order(candidates, memcg, cgroup_order)
    points = {c.pid: _evaluated_points(c, totalpages) for c in domain}
    by_pid = {c.pid: c for c in candidates}
    cur = by_pid.get(current) if current is not None else None

    def decide(action, victim=None, message="", **kw) -> OomDecision:
        return OomDecision(action=action, victim=victim, killed=kw.pop("killed", ()),
                           points=points, constraint=constraint, group=kw.pop("group", None),
                           message=message, memcg=memcg, **kw)

    def oom_kill_process(victim: Candidate, prefix: str) -> OomDecision:
        if task_will_free_mem(victim, candidates):      # already exiting: mark it, say nothing
            return decide("wait", victim.pid, marked=(victim.pid,))
        group = get_oom_group(victim, memcg or "/", oom_group)
        kills = [victim.pid]
        if group is not None:                           # oom_kill_memcg_member
            kills += [c.pid for c in scan_order(candidates, group, cgroup_order)
                      if c.adj != OOM_SCORE_ADJ_MIN and not c.is_init]
        killed = []
        for pid in kills:                               # __oom_kill_process
            killed.append(pid)
            mm = by_pid[pid].mm_id                      # + other processes sharing the mm
            killed += [q.pid for q in candidates
                       if q.mm_id == mm and q.pid != pid and not q.is_init]
        return decide("kill", victim.pid, killed_line(prefix, victim), killed=_dedup(killed),
                      group=group, kills=tuple(kills), marked=_dedup(kills))

    if cur is not None and task_will_free_mem(cur, candidates):    # step 3: current is dying
        return decide("wait", cur.pid, marked=(cur.pid,))

    # check_panic_on_oom: 1 panics only for CONSTRAINT_NONE, 2 for every OOM; never for sysrq
    if panic_on_oom and not sysrq and (panic_on_oom == 2 or memcg is None):
        how = "compulsory" if panic_on_oom == 2 else "system-wide"
        return decide("panic", message=f"Out of memory: {how} panic_on_oom is enabled")

    # oom_kill_allocating_task (global only): current if it has an mm, is not init, adj != -1000
    if (memcg is None and oom_kill_allocating_task and cur is not None and not cur.is_init
            and cur.adj != OOM_SCORE_ADJ_MIN):
        return oom_kill_process(cur, "Out of memory (oom_kill_allocating_task)")

    chosen = select_bad_process(domain, totalpages, sysrq)
    if chosen is _ABORT:
        return decide("wait")
    if chosen is None:
        if not sysrq and memcg is None:
            return decide("panic", message=DEADLOCK)
        return decide("fail", message=NO_KILLABLE)
    return oom_kill_process(chosen, "Out of memory" if memcg is None else
                            "Memory cgroup out of memory")


# ---------------------------------------------------------------- why this victim

@dataclass(frozen=True)
class BadnessTerms:
    """One row of the "why this victim" table: a candidate's oom_badness terms (pages)."""
    pid: int
    comm: str
    rss: int
    swapents: int
    pgtables: int
    adj: int                   # oom_score_adj
    adj_term: int              # adj_points(adj, totalpages)
    points: int | None         # what oom_evaluate_task compared (decision.points)
    unkillable: str            # why points is None ("" when it is not)
    victim: bool


def badness_terms(candidates: Sequence[Candidate], decision: OomDecision,
                  totalpages: int) -> list[BadnessTerms]:
    """The tasks the report's table lists (dump_tasks: the OOM domain in scan order, init left
    out), each with the terms of its points."""
    by_pid = {c.pid: c for c in candidates}
    rows = []
    for pid, points in decision.points.items():
        c = by_pid[pid]
        if c.is_init:                                   # oom_unkillable_task
            continue
        why = "" if points is not None else (
            "oom_score_adj -1000" if c.adj == OOM_SCORE_ADJ_MIN else "MMF_OOM_SKIP (reaped)")
        rows.append(BadnessTerms(pid=pid, comm=c.comm, rss=c.rss, swapents=c.swapents,
                                 pgtables=c.pgtables, adj=c.adj,
                                 adj_term=adj_points(c.adj, totalpages), points=points,
                                 unkillable=why, victim=pid == decision.victim))
    return rows
