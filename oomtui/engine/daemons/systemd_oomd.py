"""systemd-oomd (systemd/systemd src/oom/) as a policy beside the kernel's OOM killer.

What it reads: /proc/meminfo's MemTotal, MemAvailable, SwapTotal and SwapFree; for the cgroups
below the units it manages, memory.current, memory.swap.current, memory.oom.group and
memory.pressure (full avg10); the system's pgscan (reclaim activity).

Swap (ManagedOOMSwap=kill, every 150 ms, oomd-manager.c monitor_swap_contexts_handler): when
MemAvailable and SwapFree are both below 100% - SwapUsedLimit of their totals, it kills the
candidate with the most swap, among those using more than 5% of SwapTotal
(oomd_select_by_swap_usage, THRESHOLD_SWAP_USED_PERCENT).

Pressure (ManagedOOMMemoryPressure=kill, every 1 s, monitor_memory_pressure_contexts_handler):
when a managed cgroup's full avg10 has stayed above its limit for the duration
(oomd_pressure_above) and there was reclaim in the last 30 s (RECLAIM_DURATION_USEC), it kills
the candidate below that cgroup with the highest pgscan rate, then the largest memory.current
(oomd_select_by_pgscan_rate); then it waits 15 s before acting on pressure again
(POST_ACTION_DELAY_USEC).

Candidates are the leaf cgroups below a managed unit, or the first with memory.oom.group set on
the way down (recursively_get_cgroup_context); ManagedOOMPreference=avoid sorts a cgroup last,
=omit leaves it out (oomd_sort_cgroup_contexts). A kill is SIGKILL to every process of the
cgroup and below (cg_kill_recursive): the whole cgroup, never a SIGTERM.

Defaults: systemd-oomd as Fedora ships it (the systemd-oomd-defaults drop-ins):
SwapUsedLimit 90% (DEFAULT_SWAP_USED_LIMIT_PERCENT), ManagedOOMSwap=kill on the root slice
(-.slice.d/10-oomd-root-slice-defaults.conf: swap_cgroups ["/"]), ManagedOOMMemoryPressure=kill
with ManagedOOMMemoryPressureLimit=50% on user sessions (user@.service.d/
10-oomd-user-service-defaults.conf), DefaultMemoryPressureDurationSec=20s
(oomd.conf.d/10-oomd-defaults.conf; upstream's own default is 30 s, DEFAULT_MEM_PRESSURE_*).

Simplified: a machine here has no units, so the user sessions are the top-level cgroups
(pressure_cgroups ["/*"]); the engine keeps no per-cgroup pgscan, so candidates are ranked by
memory.current alone and "reclaim activity" is the system's pgscan; memory.pressure is kept by
the daemon driver for the managed cgroups from the stalls of their tasks (the kernel's per-cgroup
psi_group); the root cgroup is never a candidate; no prekill hooks, OOMRules or dry run.
"""

from __future__ import annotations

from oomtui.engine.daemons.facts import Action, Facts, Group, Verdict, named
from oomtui.engine.daemons.settings import COMMON, Setting, cgroups, number, resolve

NAME = "systemd-oomd"
SWAP_INTERVAL_US = 150_000  # oomd-manager.h SWAP_INTERVAL_USEC
MEM_PRESSURE_INTERVAL_US = 1_000_000  # MEM_PRESSURE_INTERVAL_USEC
THRESHOLD_SWAP_USED_PERCENT = 5
RECLAIM_DURATION_US = 30_000_000
POST_ACTION_DELAY_US = 15_000_000

SETTINGS = {
    "swap_used_limit": Setting(90, number(0, 100), "SwapUsedLimit, %"),
    "memory_pressure_limit": Setting(50, number(0, 100), "ManagedOOMMemoryPressureLimit, %"),
    "memory_pressure_duration": Setting(20, number(0, 3600),
                                        "DefaultMemoryPressureDurationSec, seconds"),
    "swap_cgroups": Setting(("/",), cgroups, "units with ManagedOOMSwap=kill"),
    "pressure_cgroups": Setting(("/*",), cgroups, "units with ManagedOOMMemoryPressure=kill"),
    "avoid_cgroups": Setting((), cgroups, "ManagedOOMPreference=avoid"),
    "omit_cgroups": Setting((), cgroups, "ManagedOOMPreference=omit"),
    **COMMON,
}


def settings(given) -> dict:
    return resolve(NAME, SETTINGS, given)


def term_poll_us(s: dict) -> int:
    return SWAP_INTERVAL_US  # it never sends SIGTERM


def managed(patterns, groups) -> list[Group]:
    return [g for g in groups if any(named(p, g.path) for p in patterns)]


def poll(s: dict, facts: Facts, memo: dict) -> Verdict:
    memo = dict(memo)
    now = facts.now_us
    if facts.pgscan > memo.get("pgscan", facts.pgscan):  # oomd_pgscan_rate > 0
        memo["reclaim_us"] = now
    memo["pgscan"] = facts.pgscan
    action = swap_check(s, facts)
    if action is None and now >= memo.get("next_pressure_us", 0):
        memo["next_pressure_us"] = now + MEM_PRESSURE_INTERVAL_US
        action = pressure_check(s, facts, memo)
    return Verdict(action, SWAP_INTERVAL_US, memo)


def swap_check(s: dict, facts: Facts) -> Action | None:
    mi = facts.meminfo
    if not s["swap_cgroups"]:
        return None
    free_permyriad = 10000 - int(s["swap_used_limit"] * 100)
    # oomd_mem_available_below and oomd_swap_free_below: strictly below, in permyriad
    mem_low = mi["MemAvailable"] < mi["MemTotal"] * free_permyriad // 10000
    swap_low = mi["SwapFree"] < mi["SwapTotal"] * free_permyriad // 10000
    if not (mem_low and swap_low):
        return None
    threshold = mi["SwapTotal"] * 1024 * THRESHOLD_SWAP_USED_PERCENT // 100
    ranked = ranked_candidates(s, facts.groups, managed(s["swap_cgroups"], facts.groups),
                               key=lambda g: g.swap)
    for g in ranked:
        if g.swap > threshold:
            return Action(9, (), f"memory used {mi['MemTotal'] - mi['MemAvailable']} kB / total "
                                 f"{mi['MemTotal']} kB and swap used "
                                 f"{mi['SwapTotal'] - mi['SwapFree']} kB / total "
                                 f"{mi['SwapTotal']} kB over {s['swap_used_limit']:g}%", g.path,
                          ranking_of(ranked))
    return None


def pressure_check(s: dict, facts: Facts, memo: dict) -> Action | None:
    now = facts.now_us
    hit = memo.setdefault("hit_start_us", {})
    limit, duration = s["memory_pressure_limit"], s["memory_pressure_duration"] * 1_000_000
    targets = []
    for g in managed(s["pressure_cgroups"], facts.groups):  # oomd_pressure_above
        if g.pressure > limit:
            hit.setdefault(g.path, now)
            if now - hit[g.path] >= duration:
                targets.append(g)
        else:
            hit.pop(g.path, None)
    if now - memo.get("post_action_us", -POST_ACTION_DELAY_US) < POST_ACTION_DELAY_US:
        return None
    for t in targets:
        if "reclaim_us" not in memo or now - memo["reclaim_us"] > RECLAIM_DURATION_US:
            continue  # no reclaim: killing would not relieve the pressure
        ranked = ranked_candidates(s, facts.groups, [t], key=lambda g: g.current)
        for g in ranked:
            if g.current:
                memo["post_action_us"] = now
                return Action(9, (), f"memory pressure for {t.path} is {t.pressure:.2f}% > "
                                     f"{limit:g}% for > {s['memory_pressure_duration']:g}s "
                                     "with reclaim activity", g.path, ranking_of(ranked))
    return None


def ranked_candidates(s: dict, groups, tops, key) -> list[Group]:
    """The candidates below `tops`, largest key first, "avoid" ones last, "omit" ones out."""
    found: dict[str, Group] = {}
    for top in tops:
        for g in candidates(groups, top):
            found.setdefault(g.path, g)
    kept = [g for g in found.values() if not any(named(p, g.path) for p in s["omit_cgroups"])]
    # oomd-util.h compare_*: preference first (none before avoid), then the largest value
    return sorted(kept, key=lambda g: (any(named(p, g.path) for p in s["avoid_cgroups"]),
                                       -key(g)))


def ranking_of(groups) -> tuple[dict, ...]:
    """The ranked candidates as an Action lists them: what systemd-oomd read of each."""
    return tuple({"cgroup": g.path, "current": g.current, "swap": g.swap,
                  "pressure": g.pressure} for g in groups)


def candidates(groups, top: Group) -> list[Group]:
    """recursively_get_cgroup_context: the leaves below top, or a cgroup with memory.oom.group
    set (it is killed whole); the root itself is never one."""
    by_parent: dict[str, list[Group]] = {}
    for g in groups:
        if g.path != "/":
            by_parent.setdefault(g.path.rsplit("/", 1)[0] or "/", []).append(g)
    out, stack = [], [top]
    while stack:
        g = stack.pop()
        if g.leaf:
            if g.path != "/":
                out.append(g)
            continue
        for child in reversed(by_parent.get(g.path, [])):
            if child.oom_group:
                out.append(child)
            else:
                stack.append(child)
    return out
