"""The OOM killer at work (mm/oom_kill.c; KERNEL.md §1, §7): it gathers the facts, asks oom.py
which victim to pick (out_of_memory, pure), logs the report (report.py) and kills; then the
victims exit, or the OOM reaper frees what they hold once they stay stuck in D state."""

from __future__ import annotations

import errno

from oomtui.engine import kernels as K
from oomtui.engine import state as S
from oomtui.engine.oom import Candidate, badness_terms, out_of_memory
from oomtui.engine.report import oom_report
from oomtui.engine.state import (
    MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS, PAGE_SHIFT, V_LOCKED, V_SHARED,
)
from oomtui.engine.vma import err

OOM_REAPER_DELAY_US = 2_000_000  # OOM_REAPER_DELAY: 2 * HZ


class OomKiller:
    """The OOM killer of a Machine `m`, which hands it how to end a process as exit does,
    release(p, kind, message), and how to panic, panic(reason)."""

    def __init__(self, m, *, release, panic):
        self.m = m
        self.release = release
        self.panic = panic
        self.victims: set[int] = set()  # OOM victims that have not exited yet
        self.embryo = 0  # a child fork is still copying: invisible to the OOM killer

    def kill(self, current, *, totalpages: int, origin: bool = False, memcg=None) -> bool:
        """out_of_memory for the whole machine or (memcg given) one cgroup: report, then kill
        or panic. False when nothing could be killed (only possible in a memcg); EAGAIN when
        an earlier victim has not exited yet."""
        m = self.m
        cands = [self.candidate(q, origin and q is current) for q in m.procs.values()
                 if q.pid != self.embryo]
        decision = out_of_memory(
            cands, totalpages=totalpages, current=current.pid if current is not None else None,
            memcg=None if memcg is None else memcg.path,
            panic_on_oom=m.sysctl("vm.panic_on_oom"),
            oom_kill_allocating_task=m.sysctl("vm.oom_kill_allocating_task"),
            oom_group=lambda path: m.cgtree.get(path).oom_group, cgroup_order=m.cgroups())
        me = next((c for c in cands if current is not None and c.pid == current.pid), None)
        if memcg is None:
            report = oom_report(decision, cands, current=me, meminfo=m.meminfo(),
                                slabinfo=m.slabinfo(), dump_tasks=m.sysctl("vm.oom_dump_tasks"))
        else:
            report = oom_report(decision, cands, current=me, memcg_info=m.memcg.oom_info(memcg),
                                dump_tasks=m.sysctl("vm.oom_dump_tasks"))
        pid = current.pid if current is not None else 0
        # the "why this victim" table as plain data (saves carry event data as msgpack)
        why = {"totalpages": totalpages,
               "candidates": [vars(t) for t in badness_terms(cands, decision, totalpages)]}
        where = why if memcg is None else why | {"memcg": memcg.path}
        if decision.action == "panic":
            m.log("oom", pid, decision.message, report=report, points=decision.points, **where)
            self.panic(decision.message)
        if decision.action == "fail":
            m.log("oom", pid, decision.message, report=report, points=decision.points, **where)
            return False
        if decision.action == "wait":  # an earlier victim has not exited yet
            pending = [m.procs[pid] for pid in sorted(self.victims)
                       if not m.procs[pid].reaped]
            raise err(errno.EAGAIN, f"out of memory: waiting for the OOM victim "
                                    f"{', '.join(f'{q.comm}[{q.pid}]' for q in pending)} to exit")
        if decision.action != "kill":
            raise RuntimeError(f"engine bug: OOM decision {decision.action!r} cannot happen here")
        m.log("oom", pid, decision.message, report=report, points=decision.points,
              victim=decision.victim, killed=decision.killed, group=decision.group, **where)
        if decision.group is not None:
            m.cgtree.count_event(decision.group, "oom_group_kill")
        for victim in decision.killed:
            m.ctr.vm[S.OOM_KILL] += 1
            q = m.procs[victim]
            m.cgtree.count_event(q.cgroup, "oom_kill")
            what = "Out of memory" if memcg is None else "Memory cgroup out of memory"
            message = f"{what}: Killed process {victim} ({q.comm})"
            if q is not current and q.stall_us and q.stall_kind != "throttled":
                # In uninterruptible I/O or reclaim (D state): SIGKILL waits until that ends;
                # the OOM reaper steps in after OOM_REAPER_DELAY (a throttle sleep is killable).
                q.oom_victim_tick = m.tick
                self.victims.add(q.pid)
                m.log("oom_kill", victim, message + " (pending: in D state)", pending=True)
            else:
                self.release(q, "oom_kill", message)
        return True

    def reap(self, tick_us: int) -> None:
        """Pending OOM victims exit once their D-state stall is over; after 2 s still stuck,
        the OOM reaper frees their private memory (__oom_reap_task_mm) and sets MMF_OOM_SKIP,
        so the OOM killer may choose another victim."""
        m = self.m
        for q in [m.procs[pid] for pid in sorted(self.victims)]:
            if not q.stall_us:
                self.release(q, "exit", f"{q.comm}[{q.pid}] exited (OOM victim)")
            elif not q.reaped and (m.tick - q.oom_victim_tick) * tick_us >= OOM_REAPER_DELAY_US:
                for v in q.mm.vmas:
                    if not v.flags & V_SHARED:
                        K.zap_range(k=m.k, mm=q.mm.id, vstart=v.start >> PAGE_SHIFT, npages=v.pages,
                                    locked=bool(v.flags & V_LOCKED))
                q.reaped = True
                r = m.mms.rss[q.mm.id]
                m.log("oom_reaper", q.pid, f"oom_reaper: reaped process {q.pid} ({q.comm}), "
                      f"now anon-rss:{int(r[MM_ANONPAGES]) * 4}kB, file-rss:"
                      f"{int(r[MM_FILEPAGES]) * 4}kB, shmem-rss:{int(r[MM_SHMEMPAGES]) * 4}kB")

    def candidate(self, q, origin: bool) -> Candidate:
        """A process as select_bad_process sees it."""
        m = self.m
        r = m.mms.rss[q.mm.id]
        return Candidate(pid=q.pid, comm=q.comm, uid=q.uid, mm_id=q.mm.id,
                         rss_anon=int(r[MM_ANONPAGES]), rss_file=int(r[MM_FILEPAGES]),
                         rss_shmem=int(r[MM_SHMEMPAGES]), swapents=int(r[MM_SWAPENTS]),
                         pgtables=int(m.mms.nr_pt[q.mm.id]), total_vm=q.mm.total_vm(),
                         adj=q.oom_score_adj, memcg=q.cgroup, is_init=q.pid == 1,
                         oom_origin=origin, oom_victim=q.oom_victim_tick is not None,
                         mm_oom_skip=q.reaped)
