"""`oomtui compare`: one scenario replayed under several OOM policies, side by side.

Each policy's run boots the scenario (same seed, same processes, same timed calls) with that
policy set, and runs it for the same simulated time, in a process of its own (a pool as large
as the machine's cores); a run is deterministic, so the comparison is too. Per policy: every
kill (who was killed, by whom, when, the memory it held: VmRSS + VmSwap just before), the PSI
some/full stall time until the first kill (to the end when nothing was killed), and which
processes the scenario marked important are still alive at the end.
"""

from __future__ import annotations

import errno
import os
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from oomtui.engine.compiler import compile_all
from oomtui.engine.daemons import killed_by
from oomtui.engine.daemons.driver import NAMES, policy_settings

TASK_COMM_LEN = 16  # a comm is cut to 15 characters, as spawn does


def parse_policies(text: str, overrides=()) -> dict[str, dict]:
    """{name: settings} from "kernel,earlyoom" and ["earlyoom.mem_term_percent=15", ...]; each
    checked now, so a bad name or value is an OSError(EINVAL) before anything runs."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise OSError(errno.EINVAL, f"--policies names no policy: use some of {', '.join(NAMES)}")
    policies: dict[str, dict] = {}
    for name in names:
        if name in policies:
            raise OSError(errno.EINVAL, f"--policies names {name} twice")
        policy_settings(name)
        policies[name] = {}
    for item in overrides:
        key, eq, value = item.partition("=")
        name, dot, setting = key.strip().rpartition(".")
        if not eq or not dot or name not in policies:
            raise OSError(errno.EINVAL, f"--set {item!r}: use POLICY.SETTING=VALUE with a "
                                        f"policy of --policies ({', '.join(policies)})")
        try:
            policies[name][setting] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            raise OSError(errno.EINVAL, f"--set {item!r}: {value!r} is not a TOML value (a "
                                        "number, true/false, a \"string\" or a [list])") from None
    for name, given in policies.items():
        policy_settings(name, given)
    return policies


def compare(path: str, policies: dict[str, dict], seconds: float) -> dict:
    """{"policies": {name: run(...)}} in the order given, the runs in parallel."""
    jobs = [(path, name, given, seconds) for name, given in policies.items()]
    compile_all()  # once, side by side, not once in each process of the pool
    with ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        results = list(pool.map(_run, jobs))
    return {"policies": dict(zip(policies, results))}


def _run(job) -> dict:
    return run(*job)


def run(path: str, name: str, given: dict, seconds: float) -> dict:
    """The scenario at `path` for `seconds` of simulated time under one policy. The scenario's
    own [policy] settings are the base when it names this policy."""
    from oomtui import scenarios

    sc = scenarios.load(path)
    base = sc.policy[1] if sc.policy is not None and sc.policy[0] == name else {}
    sc = replace(sc, policy=(name, base | given))
    m = sc.boot()
    ticks = round(seconds * 1000 / m.config.tick_ms)
    calls = list(sc.calls)
    seen: dict[int, dict] = {}  # pid -> what it was just before this tick
    kills, stall = [], None
    while m.tick < ticks and not m.panicked:
        for call in [c for c in calls if c.tick == m.tick]:
            try:
                call.apply(m)
            except OSError:
                pass  # as the app does: a call that fails at its tick changes nothing
        seen = {pid: _held(m, pid) for pid in m.procs}
        first = len(m.events)
        m.step(1)
        for e in m.events[first:]:
            by = killed_by(e)
            if by not in (None, "user"):  # a process forked and killed within the tick: unseen
                held = seen.get(e.pid, {"comm": "?", "cgroup": "?", "freed_kb": 0})
                kills.append({"pid": e.pid, "tick": e.tick, "by": by} | held)
        if kills and stall is None:
            stall = m.pressure()
    stall = stall or m.pressure()
    alive = {p.comm for p in m.procs.values()}
    return {"kills": kills,
            "stall_ms": {kind: stall[kind]["total"] // 1000 for kind in ("some", "full")},
            "survivors": [c for c in sc.important if c[:TASK_COMM_LEN - 1] in alive]}


def _held(m, pid: int) -> dict:
    p, st = m.procs[pid], m.proc_status(pid)
    return {"comm": p.comm, "cgroup": p.cgroup, "freed_kb": st["VmRSS"] + st["VmSwap"]}


def table(result: dict, important, tick_ms: int) -> str:
    """The comparison as a plain-text table: a row per kill (one for a policy without);
    `important`: the comms the scenario marked."""
    rows = [("policy", "killed", "cgroup", "by", "at", "freed", "stall before 1st kill",
             "important alive")]
    for name, r in result["policies"].items():
        stall = ", ".join(f"{kind} {r['stall_ms'][kind] / 1000:.2f} s" for kind in ("some", "full"))
        alive = ", ".join(f"{c} {'yes' if c in r['survivors'] else 'NO'}"
                          for c in important) or "-"
        kills = r["kills"] or [None]
        for i, k in enumerate(kills):
            head = (name, stall, alive) if i == 0 else ("", "", "")
            if k is None:
                rows.append((head[0], "nothing", "", "", "", "", head[1], head[2]))
            else:
                rows.append((head[0], f"{k['comm']}[{k['pid']}]", k["cgroup"], k["by"],
                             f"{k['tick'] * tick_ms / 1000:.2f} s",
                             f"{k['freed_kb'] / 1024:.0f} MiB", head[1], head[2]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
