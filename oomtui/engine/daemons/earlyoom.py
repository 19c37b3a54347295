"""earlyoom (github.com/rfjakob/earlyoom) as a policy beside the kernel's OOM killer.

What it reads: /proc/meminfo's MemAvailable, AnonPages, SwapTotal and SwapFree; for each
process oom_score, oom_score_adj, VmRSS and comm.

When: MemAvailable as a percentage of "user mem total" (MemAvailable + AnonPages, since
v1.8) and SwapFree as a percentage of SwapTotal (0 without swap) are both at or below the
SIGTERM levels: SIGTERM; both at or below the SIGKILL levels: SIGKILL. It polls every 100 ms
to 1 s, sooner the closer memory is to the SIGTERM levels (sleep_time_ms).

Whom: the process with the highest oom_score, ties to the larger VmRSS; --prefer adds 300,
--avoid subtracts 300, --ignore skips; init and processes with oom_score_adj -1000 are skipped.

Defaults (settings), as a stock install runs it (earlyoom.default only adds -r 3600, a report
interval): mem_term_percent 10, mem_kill_percent 5, swap_term_percent 10,
swap_kill_percent 5 (main.c's poll_loop_args; a SIGKILL level left out is half the SIGTERM
one, as parse_term_kill_tuple does), prefer/avoid/ignore "" (none).

Simplified: the regexes are Python's re.search on comm, not POSIX extended regexec (the same
for the patterns earlyoom's docs show); no --sort-by-rss, -g, -M/-S (absolute sizes),
--ignore-root-user or notifications; the re-check after choosing a victim sees the same facts
(no time passes within a poll). A level below its SIGKILL twin is refused (earlyoom raises it).
"""

from __future__ import annotations

import re

from oomtui.engine.daemons.facts import Action, Facts, Verdict, ranked_task
from oomtui.engine.daemons.settings import COMMON, Setting, fail, number, regex, resolve

NAME = "earlyoom"
OOM_SCORE_PREFER, OOM_SCORE_AVOID = 300, -300  # kill.c
MEM_FILL_RATE, SWAP_FILL_RATE = 6000, 800  # main.c sleep_time_ms: kiB per ms
MIN_SLEEP_MS, MAX_SLEEP_MS = 100, 1000

SETTINGS = {
    "mem_term_percent": Setting(10, number(0, 99), "SIGTERM when MemAvailable % is at or below"),
    "mem_kill_percent": Setting(None, number(0, 99), "SIGKILL level (default: half of term)"),
    "swap_term_percent": Setting(10, number(0, 100), "SIGTERM when SwapFree % is at or below"),
    "swap_kill_percent": Setting(None, number(0, 100), "SIGKILL level (default: half of term)"),
    "prefer": Setting("", regex, "comm regex: oom_score + 300"),
    "avoid": Setting("", regex, "comm regex: oom_score - 300"),
    "ignore": Setting("", regex, "comm regex: never killed"),
    **COMMON,
}


def settings(given) -> dict:
    s = resolve(NAME, SETTINGS, given)
    for what in ("mem", "swap"):
        term, kill = f"{what}_term_percent", f"{what}_kill_percent"
        if s[kill] is None:
            s[kill] = s[term] / 2  # msg.c parse_term_kill_tuple: SIGKILL = SIGTERM / 2
        if s[kill] > s[term]:
            raise fail(f"{NAME}: {kill}", f"{s[kill]:g} is above {term} {s[term]:g}")
        if s[kill] == 0 and s[term] == 0:  # msg.c parse_term_kill_tuple
            raise fail(f"{NAME}: {term}", "both SIGTERM and SIGKILL levels are zero")
    return s


def term_poll_us(s: dict) -> int:
    return 100_000  # kill.c kill_wait: poll_ms = 100 while the victim exits


def percents(facts: Facts) -> tuple[float, float, int]:
    """(MemAvailable %, SwapFree %, user mem total kB) as meminfo.c parse_meminfo has them."""
    mi = facts.meminfo
    user_total = max(mi["MemAvailable"] + mi["AnonPages"], 1)  # UserMemTotalKiB
    swap = mi["SwapFree"] * 100 / mi["SwapTotal"] if mi["SwapTotal"] else 0.0
    return mi["MemAvailable"] * 100 / user_total, swap, user_total


def poll(s: dict, facts: Facts, memo: dict) -> Verdict:
    mem, swap, user_total = percents(facts)
    sleep_us = sleep_time_ms(s, mem, swap, user_total, facts.meminfo["SwapTotal"]) * 1000
    sig = lowmem_sig(s, mem, swap)
    if not sig:
        return Verdict(None, sleep_us, memo)
    ranked = ranking(s, facts.tasks)
    if not ranked:
        return Verdict(None, sleep_us, memo)
    level = "SIGKILL" if sig == 9 else "SIGTERM"
    key = "kill" if sig == 9 else "term"
    why = (f"mem avail {mem:.2f}% <= {s[f'mem_{key}_percent']:g}% and swap free {swap:.2f}% <= "
           f"{s[f'swap_{key}_percent']:g}% ({level} limits)")
    return Verdict(Action(sig, (ranked[0]["pid"],), why, ranking=tuple(ranked)), sleep_us, memo)


def lowmem_sig(s: dict, mem: float, swap: float) -> int:
    # main.c lowmem_sig: both memory and swap at or below a level
    if mem <= s["mem_kill_percent"] and swap <= s["swap_kill_percent"]:
        return 9
    if mem <= s["mem_term_percent"] and swap <= s["swap_term_percent"]:
        return 15
    return 0


def sleep_time_ms(s: dict, mem: float, swap: float, user_total: int, swap_total: int) -> int:
    # main.c sleep_time_ms: how long until memory could reach the SIGTERM levels at the fill rates
    mem_headroom = max(int((mem - s["mem_term_percent"]) * user_total / 100), 0)
    swap_headroom = max(int((swap - s["swap_term_percent"]) * swap_total / 100), 0)
    ms = mem_headroom // MEM_FILL_RATE + swap_headroom // SWAP_FILL_RATE
    return min(max(ms, MIN_SLEEP_MS), MAX_SLEEP_MS)


def score(s: dict, comm: str, oom_score: int) -> int | None:
    """oom_score as earlyoom ranks it, None if --ignore matches (kill.c is_larger)."""
    if s["prefer"] and re.search(s["prefer"], comm):
        oom_score += OOM_SCORE_PREFER
    if s["avoid"] and re.search(s["avoid"], comm):
        oom_score += OOM_SCORE_AVOID
    if s["ignore"] and re.search(s["ignore"], comm):
        return None
    return oom_score


def ranking(s: dict, tasks) -> list[dict]:
    """kill.c find_largest_process / is_larger: the candidates, the victim first: the highest
    score, ties to the larger VmRSS, then to the first in /proc order; init and oom_score_adj
    -1000 skipped (earlyoom skips pid <= 2, init and kthreadd: this machine has no kernel
    threads, its pid 2 is a process)."""
    rows = []
    for t in tasks:
        if t.pid == 1 or t.oom_score_adj == -1000:
            continue
        ranked = score(s, t.comm, t.oom_score)
        if ranked is not None:
            rows.append(ranked_task(t, ranked))
    return sorted(rows, key=lambda r: (-r["score"], -r["rss_kb"]))  # stable: /proc order
