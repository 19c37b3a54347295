"""One plain sentence for an OOM killer's decision: who was killed and why that one, as a
share of memory rather than points ("leaky-app was killed: it held 71% of RAM+swap; postgres
was spared by its oom_score_adj -200").

oom_badness (KERNEL.md §1) counts a task's RSS + swap entries + page tables, in pages, and adds
oom_score_adj per mille of totalpages (RAM + swap, or a memcg's limit); the task with the most
points dies. Dividing points by totalpages turns them into the share this sentence speaks of.
"""

from __future__ import annotations


def _pct(pages: int, total: int) -> str:
    share = 100 * pages / max(total, 1)
    return f"{share:.0f}%" if share >= 10 or share == 0 else f"{share:.1f}%"


def _held(row: dict) -> int:
    return row["rss"] + row["swapents"] + row["pgtables"]


def kill_sentence(machine, event) -> str:
    """The sentence for an "oom" event of `machine` (a kill, a panic, or nobody to kill)."""
    data = event.data
    if data.get("victim") is None:
        if machine.panicked:
            return (f"Nobody was killed: vm.panic_on_oom = {machine.sysctl('vm.panic_on_oom')} "
                    f"made the kernel panic instead ({event.message})")
        return f"Nobody was killed: {event.message or 'no process could be chosen'}"
    total = data["totalpages"]
    memcg = data.get("memcg")
    of = "RAM+swap" if memcg is None else f"{memcg}'s memory limit"
    rows = data["candidates"]
    victim = next(r for r in rows if r["victim"])
    said = f"{victim['comm']} was killed: it held {_pct(_held(victim), total)} of {of}"
    others = [r for r in rows if not r["victim"]]
    # someone held more but was protected: oom_score_adj took them below the victim
    spared = [r for r in others if _held(r) > victim["points"] and (
        r["points"] is None or r["adj"] < 0)]
    if spared:
        r = max(spared, key=_held)
        why = ("is exempt: oom_score_adj -1000" if r["points"] is None and r["adj"] == -1000
               else f"was spared by its oom_score_adj {r['adj']}")
        said += f"; {r['comm']} ({_pct(_held(r), total)}) {why}"
    elif victim["adj"] > 0:
        said += (f", and its oom_score_adj +{victim['adj']} counted as another "
                 f"{_pct(victim['adj_term'], total)}")
    elif others:
        runner_up = max((r for r in others if r["points"] is not None),
                        key=lambda r: r["points"], default=None)
        if runner_up is not None:
            said += f"; the next, {runner_up['comm']}, held {_pct(_held(runner_up), total)}"
    else:
        said += "; it was the only candidate"
    group = data.get("group")
    if group:
        said += f" (memory.oom.group: all of {group} went with it)"
    return said
