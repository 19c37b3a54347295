"""The OOM killer's dmesg text (mm/oom_kill.c, mm/show_mem.c, mm/memcontrol.c, kernel/panic.c).

Lines come in the kernel's order and formats; what this model lacks is left out: the stack dump,
the per-node and per-zone lines and free lists of __show_mem, "pages RAM/reserved".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from oomtui.engine.constants import PAGE_SIZE
from oomtui.engine.oom import (DEADLOCK, NO_KILLABLE, PAGE_COUNTER_MAX_KB, Candidate, OomDecision,
                              killed_line)

TASKS_HEADER = ("[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem "
                "pgtables_bytes swapents oom_score_adj name")


def panic_text(reason: str) -> str:
    """panic(): its first and last line (the stack and "Kernel Offset" between are left out)."""
    return (f"Kernel panic - not syncing: {reason}\n"
            f"---[ end Kernel panic - not syncing: {reason} ]---\n")


def dump_task(c: Candidate) -> str:
    """dump_task: one row of the task table, memory in pages, page tables in bytes."""
    return (f"[{c.pid:7d}] {c.uid:5d} {c.pid:5d} {c.total_vm:8d} {c.rss:8d} {c.rss_anon:8d} "
            f"{c.rss_file:8d} {c.rss_shmem:9d} {c.pgtables * PAGE_SIZE:8d} {c.swapents:8d}"
            f"         {c.adj:5d} {c.comm[:15]}")


def show_mem(meminfo: Mapping[str, int]) -> list[str]:
    """__show_mem / __show_free_areas / show_swap_cache_info from a /proc/meminfo dict (kB)."""
    pg = {k: v // 4 for k, v in meminfo.items()}
    g = lambda key: pg.get(key, 0)   # noqa: E731
    return [
        "Mem-Info:",
        f"active_anon:{g('Active(anon)')} inactive_anon:{g('Inactive(anon)')} isolated_anon:0",
        f" active_file:{g('Active(file)')} inactive_file:{g('Inactive(file)')} isolated_file:0",
        f" unevictable:{g('Unevictable')} dirty:{g('Dirty')} writeback:{g('Writeback')}",
        f" slab_reclaimable:{g('SReclaimable')} slab_unreclaimable:{g('SUnreclaim')}",
        f" mapped:{g('Mapped')} shmem:{g('Shmem')} pagetables:{g('PageTables')}",
        f" sec_pagetables:{g('SecPageTables')} bounce:{g('Bounce')}",
        f" kernel_misc_reclaimable:{g('KReclaimable') - g('SReclaimable')}",
        f" free:{g('MemFree')} free_pcp:0 free_cma:0",
        f"{g('Cached') + g('SwapCached') + g('Buffers')} total pagecache pages",
        f"{g('SwapCached')} pages in swap cache",
        f"Free swap  = {meminfo.get('SwapFree', 0)}kB",
        f"Total swap = {meminfo.get('SwapTotal', 0)}kB",
    ]


def unreclaimable_slab(meminfo: Mapping[str, int], slabinfo: Sequence[Mapping]) -> list[str]:
    """dump_unreclaimable_slab, when should_dump_unreclaim_slab: unreclaimable slab exceeds
    the LRU pages. Caches without SLAB_RECLAIM_ACCOUNT, in kB."""
    lru = sum(meminfo.get(k, 0) for k in ("Active(anon)", "Inactive(anon)", "Active(file)",
                                          "Inactive(file)", "Unevictable"))
    if meminfo.get("SUnreclaim", 0) <= lru:
        return []
    return ["Unreclaimable slab info:", "Name                      Used          Total",
            *(f"{s['name']:<17} {s['active_objs'] * s['objsize'] // 1024:10d}KB "
              f"{s['num_objs'] * s['objsize'] // 1024:10d}KB"
              for s in slabinfo if not s["reclaimable"] and s["num_objs"])]


def memcg_meminfo(path: str, info: Mapping) -> list[str]:
    """mem_cgroup_print_oom_meminfo (cgroup v2). info in kB: usage, limit, failcnt, swap_usage,
    swap_limit, swap_failcnt (a limit of None = "max"), and stat: memory.stat in file order."""
    lim = lambda key: PAGE_COUNTER_MAX_KB if info.get(key) is None else info[key]  # noqa: E731
    return [
        f"memory: usage {info.get('usage', 0)}kB, limit {lim('limit')}kB, "
        f"failcnt {info.get('failcnt', 0)}",
        f"swap: usage {info.get('swap_usage', 0)}kB, limit {lim('swap_limit')}kB, "
        f"failcnt {info.get('swap_failcnt', 0)}",
        f"Memory cgroup stats for {path}:",
        *(f"{name} {value}" for name, value in info.get("stat", {}).items()),
    ]


def oom_report(decision: OomDecision, candidates: Sequence[Candidate], *,
               current: Candidate | None,
               gfp_mask: str = "0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP)", order: int = 0,
               meminfo: Mapping[str, int] | None = None, memcg_info: Mapping | None = None,
               slabinfo: Sequence[Mapping] = (), dump_tasks: int = 1) -> str:
    """The dmesg text of one out_of_memory call ("" when the kernel prints nothing).

    candidates: the list given to out_of_memory. current None (the allocation came from outside
    the model, e.g. a shell writing memory.max) is shown as bash with oom_score_adj 0.
    dump_tasks: vm.oom_dump_tasks; 0 leaves the task table out (dump_header).
    """
    if decision.action == "wait":
        return ""
    by_pid = {c.pid: c for c in candidates}
    # dump_header
    comm, adj = (current.comm[:15], current.adj) if current else ("bash", 0)
    out = [f"{comm} invoked oom-killer: gfp_mask={gfp_mask}, order={order}, oom_score_adj={adj}"]
    if decision.memcg is not None:
        if memcg_info is not None:
            out += memcg_meminfo(decision.memcg, memcg_info)
    elif meminfo is not None:
        out += show_mem(meminfo) + unreclaimable_slab(meminfo, slabinfo)
    if dump_tasks:
        out += ["Tasks state (memory values in pages):", TASKS_HEADER]
        out += [dump_task(by_pid[pid]) for pid in decision.points   # points are in scan order
                if not by_pid[pid].is_init]                         # oom_unkillable_task
    if decision.action == "panic":
        if decision.message == DEADLOCK:
            out.append(NO_KILLABLE)
        return "\n".join(out) + "\n" + panic_text(decision.message)
    if decision.action == "fail":
        return "\n".join(out + [NO_KILLABLE]) + "\n"
    # dump_oom_victim, then one __oom_kill_process per kill
    victim = by_pid[decision.victim]
    context = ("global_oom" if decision.memcg is None else f"oom_memcg={decision.memcg}")
    out.append(f"oom-kill:constraint={decision.constraint},nodemask=(null),cpuset=/,"
               f"mems_allowed=0,{context},task_memcg={victim.memcg},task={victim.comm[:15]},"
               f"pid={victim.pid},uid={victim.uid}")
    prefix = decision.message.split(": Killed process ")[0]
    for i, pid in enumerate(decision.kills):
        c = by_pid[pid]
        out.append(killed_line(prefix, c))
        out += [f"oom killer {c.pid} ({c.comm[:15]}) has mm pinned by {q.pid} ({q.comm[:15]})"
                for q in candidates if q.is_init and q.mm_id == c.mm_id and q.pid != c.pid]
        if i == 0 and decision.group is not None:   # mem_cgroup_print_oom_group
            out.append(f"Tasks in {decision.group} are going to be killed due to "
                       "memory.oom.group set")
    return "\n".join(out) + "\n"
