"""A real OOM report explained: the moment rebuilt as a machine and the engine's own choice of
victim (out_of_memory, KERNEL.md §1) set beside the kernel's."""

from __future__ import annotations

from dataclasses import dataclass, replace

from oomtui.engine.config import MAX_RAM_MIB
from oomtui.engine.oom import Candidate, OomDecision, out_of_memory
from oomtui.realworld.oom_report import OomReport
from oomtui.realworld.rebuild import PAGE, Cgroup, Rebuilt, Snapshot, Task, build, zones_for

HEADROOM_PAGES = 32768   # 128 MiB: the engine's own kernel memory and watermarks


@dataclass
class Explanation:
    """report: what the kernel printed. totalpages: its oom_control.totalpages, None when the
    report does not say. decision: the engine's out_of_memory on the rebuilt tasks, None when the
    report lacks what the choice depends on (`missing` says what)."""
    report: OomReport
    tasks: list[Task]
    rebuilt: Rebuilt | None
    totalpages: int | None
    decision: OomDecision | None
    missing: list[str]
    notes: list[str]

    def why(self) -> str:
        """In plain words: whom the kernel killed, whom the engine picks, and why."""
        v = self.report.victim
        said = f"The kernel killed {v.comm}[{v.pid}]"
        if self.decision is None:
            return f"{said}; the engine cannot choose again: missing {'; '.join(self.missing)}"
        points = self.decision.points
        ranked = sorted((p, pid) for pid, p in points.items() if p is not None)
        if not ranked or self.decision.victim is None:
            return f"{said}; the engine finds no killable task"
        best = self.decision.victim
        comm = next(t.comm for t in self.tasks if t.pid == best)
        agree = "the engine picks it too" if best == v.pid else \
            f"the engine picks {comm}[{best}] instead"
        why = (f"{said}; {agree}: the most points (rss + swap + page tables + "
               "oom_score_adj x totalpages/1000)")
        if self.totalpages is None:   # equal adj terms: the order is known, the sums are not
            return why
        runner = f", next {ranked[-2][0]}" if len(ranked) > 1 else ""
        return f"{why}, {points[best]} pages{runner}"

    def to_json(self) -> dict:
        r = self.report
        sim = None
        if self.decision is not None and self.decision.victim is not None:
            c = next(t for t in self.tasks if t.pid == self.decision.victim)
            sim = {"pid": c.pid, "comm": c.comm}
        known = self.decision is not None and self.totalpages is not None
        points = self.decision.points if known else {}   # else only their order is known
        return {
            "trigger": {"comm": r.comm, "pid": r.pid, "order": r.order,
                        "gfp_mask": {"mask": r.gfp_mask, "flags": list(r.gfp_flags)}},
            "constraint": r.constraint,
            "totalpages": self.totalpages,
            "victim": {"pid": r.victim.pid, "comm": r.victim.comm},
            "simulated_victim": sim,
            "tasks": [{"pid": t.pid, "comm": t.comm, "rss": t.rss, "swapents": t.swapents,
                       "pgtables_bytes": t.pgtables_bytes, "oom_score_adj": t.oom_score_adj,
                       "points": points.get(t.pid)} for t in self.tasks],
        }


def explain(report: OomReport, *, ram_pages: int | None = None,
            swap_pages: int | None = None) -> Explanation:
    """Rebuild the report's moment and recompute the victim. ram_pages / swap_pages fill in
    totals the report does not print (a memcg OOM prints neither)."""
    missing: list[str] = []
    notes: list[str] = []
    tasks = _tasks(report, notes)
    in_table = any(t.pid == report.victim.pid for t in tasks)
    if not report.has_table:
        missing.append("the task table (vm.oom_dump_tasks was 0): the candidates are unknown")
    elif not in_table:
        missing.append(f"the victim {report.victim.comm}[{report.victim.pid}] is not in the task "
                       "table: the table is incomplete (cut off or ratelimited)")
    ram = report.totalram_pages if report.totalram_pages is not None else ram_pages
    swap = report.total_swap_kb // 4 if report.total_swap_kb is not None else swap_pages
    totalpages = _totalpages(report, ram, swap, missing)
    adjs = {t.oom_score_adj for t in tasks if t.oom_score_adj != -1000}
    stand_in = totalpages
    if totalpages is None and len(adjs) <= 1:
        stand_in = 1000   # equal adj terms cannot change the ranking: any totalpages will do
    rebuilt = None
    decision = None
    if in_table and stand_in is not None:
        memcg = (report.memcg or "/oom-memcg") if report.memcg_oom else None
        limit = report.memcg_limit_kb
        sysctl = {"vm.oom_kill_allocating_task": int(report.allocating_task)}
        if report.allocating_task:
            notes.append("the kernel killed the allocating task: vm.oom_kill_allocating_task "
                         "was 1, and so it is in the rebuilt machine")
        rebuilt = _rebuild(report, tasks, memcg, limit, ram, swap, sysctl, notes)
        current = report.pid if any(t.pid == report.pid for t in tasks) else None
        if rebuilt is not None:
            notes += rebuilt.notes
            decision = rebuilt.out_of_memory(totalpages=stand_in, memcg=memcg,
                                             order=report.order, current=current)
        else:
            decision = out_of_memory(_candidates(tasks, memcg), totalpages=stand_in,
                                     current=current, memcg=memcg, order=report.order,
                                     oom_kill_allocating_task=sysctl[
                                         "vm.oom_kill_allocating_task"])
    return Explanation(report, tasks, rebuilt, totalpages, decision, missing, notes)


def _tasks(report: OomReport, notes: list[str]) -> list[Task]:
    cgroup = (report.memcg or "/oom-memcg") if report.memcg_oom else "/"
    tasks = [replace(t, cgroup=cgroup) for t in report.tasks]
    if report.has_table and not report.rss_split:
        notes.append("the task table has no rss_anon/rss_file/rss_shmem columns (before 6.8): "
                     "each task's rss is held as anonymous pages")
        k = report.killed
        for i, t in enumerate(tasks):
            if k is not None and t.pid == k.pid and k.rss == t.rss:   # the kill line splits it
                tasks[i] = replace(t, rss_anon=k.rss_anon, rss_file=k.rss_file,
                                   rss_shmem=k.rss_shmem)
    return tasks


def _totalpages(report: OomReport, ram: int | None, swap: int | None,
                missing: list[str]) -> int | None:
    """constrained_alloc: RAM + swap; a memcg's max + min(swap room, total swap)."""
    if not report.memcg_oom:
        if ram is None:
            missing.append("the RAM size (no zone 'managed:' or 'pages RAM' lines): "
                           "give --ram-kb")
        if swap is None:
            missing.append("the swap size (no 'Total swap' line): give --swap-kb")
        return None if ram is None or swap is None else ram + swap
    if report.memcg_limit_kb is None:
        missing.append("the cgroup's limit (no 'memory: usage …, limit …' line)")
        return None
    limit = report.memcg_limit_kb // 4
    room = report.memcg_swap_kb // 4 if report.memcg_swap_kb is not None else None
    if room == 0:
        return limit or 1
    if swap is None:
        missing.append("the machine's swap size, which caps the cgroup's swap in totalpages "
                       "(a memcg report does not print it): give --swap-kb")
        return None
    return (limit + (swap if room is None else min(room, swap))) or 1   # 0 is replaced by 1


def _rebuild(report: OomReport, tasks: list[Task], memcg: str | None, limit_kb: int | None,
             ram: int | None, swap: int | None, sysctl: dict,
             notes: list[str]) -> Rebuilt | None:
    held = sum(t.rss_anon + t.rss_shmem + t.pgtables_bytes // PAGE for t in tasks)
    held += max((t.rss_file for t in tasks), default=0)
    need = held + held // 8 + HEADROOM_PAGES
    pages = max(ram or 0, need)
    if pages > MAX_RAM_MIB * 256:
        notes.append(f"{pages} pages of RAM are more than the simulator holds: the victim is "
                     "chosen from the task table, without a machine")
        return None
    if ram is None or pages != ram:
        notes.append(f"the rebuilt machine has {pages} pages of RAM"
                     + ("" if ram is None else f", not {ram}: its tasks must fit with room "
                        "for the simulator's own kernel memory"))
    zones = {k: v // 4 for k, v in report.zones_kb.items()} if pages == ram and \
        report.zones_kb else zones_for(pages)
    swapped = sum(t.swapents for t in tasks)
    swap_area = max(swap or 0, swapped)
    limit = None if limit_kb is None or limit_kb * 1024 >= pages * PAGE else limit_kb * 1024
    cgroups = () if memcg is None else (Cgroup(memcg, memory_max=limit),)
    return build(Snapshot(zones=zones, swap=(swap_area,) if swap_area else (),
                          sysctl=sysctl, tasks=tuple(tasks), cgroups=cgroups))


def _candidates(tasks: list[Task], memcg: str | None) -> list[Candidate]:
    return [Candidate(pid=t.pid, comm=t.comm, uid=t.uid, mm_id=i, rss_anon=t.rss_anon,
                      rss_file=t.rss_file, rss_shmem=t.rss_shmem, swapents=t.swapents,
                      pgtables=t.pgtables_bytes // PAGE, total_vm=t.total_vm,
                      adj=t.oom_score_adj, memcg=memcg or "/")
            for i, t in enumerate(tasks)]
