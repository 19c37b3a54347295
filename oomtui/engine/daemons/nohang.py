"""nohang (github.com/hakavlad/nohang) as a policy beside the kernel's OOM killer.

What it reads: /proc/meminfo's MemTotal, MemAvailable, SwapTotal and SwapFree; with
psi_checking_enabled, /proc/pressure/memory (full avg10); for each process oom_score,
oom_score_adj and comm.

When (src/nohang check_mem_swap_ex): MemAvailable and SwapFree both at or below the hard
levels: SIGKILL; both at or below the soft levels: SIGTERM. The memory levels are percentages of
MemTotal, the swap ones of SwapTotal. With PSI checking on (check_psi_ex), a PSI value at or
above hard_threshold_max_psi for psi_excess_duration while MemAvailable is at or below the hard
memory level is a SIGKILL (soft: SIGTERM), at most once per psi_post_action_delay; swap is not
looked at there, but without swap PSI is not checked. Between checks it sleeps 0.1 to 3 s, as
long as memory could take to fall to the levels at the fill rates (sleep_after_check_mem); after
a SIGTERM, post_soft_action_delay.

Whom (fast_find_victim, pid_to_badness): the highest badness, ties to the lower pid; badness is
oom_score (0 stays 0) plus each @BADNESS_ADJ_RE_NAME rule whose regex matches comm (a positive
adjustment only when oom_score_adj >= 0); init is left out; nothing is done when the highest
badness is below min_badness.

Defaults, from conf/nohang/nohang.conf.in: soft_threshold_min_mem 5 %, soft_threshold_min_swap
10 %, hard_threshold_min_mem 2 %, hard_threshold_min_swap 4 %, psi_checking_enabled false,
soft/hard_threshold_max_psi 40/90, psi_excess_duration 30 s, psi_post_action_delay 15 s,
min_badness 1, post_soft_action_delay 3 s, max_soft_exit_time 10 s (sigterm_timeout_ms), no
badness rules, fill_rate_mem 6000 and fill_rate_swap 2000 MiB/s, min/max_sleep 0.1/3 s.

Simplified: thresholds are percentages only (nohang also takes MiB); no zram checks, cgroup
regex rules, ignore_positive_oom_score_adj, warnings or post-kill commands; PSI is the
system's, time is the simulated clock; the PSI timers restart whenever MemAvailable is above the
soft level (nohang leaves them as they are above its warning level, 20%).
"""

from __future__ import annotations

import re

from oomtui.engine.daemons.facts import Action, Facts, Verdict, ranked_task
from oomtui.engine.daemons.settings import (COMMON, Setting, badness_rules, fail, flag, number,
                                            resolve)

NAME = "nohang"
FILL_RATE_MEM, FILL_RATE_SWAP = 6000 * 1024, 2000 * 1024  # nohang.conf: MiB/s, as kB/s
MIN_SLEEP_US, MAX_SLEEP_US = 100_000, 3_000_000  # nohang.conf min_sleep, max_sleep

SETTINGS = {
    "soft_threshold_min_mem": Setting(5, number(0, 100), "SIGTERM: MemAvailable % of MemTotal"),
    "soft_threshold_min_swap": Setting(10, number(0, 100), "SIGTERM: SwapFree % of SwapTotal"),
    "hard_threshold_min_mem": Setting(2, number(0, 100), "SIGKILL: MemAvailable % of MemTotal"),
    "hard_threshold_min_swap": Setting(4, number(0, 100), "SIGKILL: SwapFree % of SwapTotal"),
    "psi_checking_enabled": Setting(False, flag, "also act on PSI full avg10"),
    "soft_threshold_max_psi": Setting(40, number(0, 100), "SIGTERM: PSI at or above"),
    "hard_threshold_max_psi": Setting(90, number(0, 100), "SIGKILL: PSI at or above"),
    "psi_excess_duration": Setting(30, number(0, 3600), "seconds PSI must stay above"),
    "psi_post_action_delay": Setting(15, number(0, 3600), "seconds between PSI actions"),
    "min_badness": Setting(1, number(1, 100_000), "no victim below this badness"),
    "post_soft_action_delay": Setting(3, number(0.1, 3600), "seconds of sleep after SIGTERM"),
    "badness_adj_re_name": Setting((), badness_rules, "[[adjustment, comm regex], ...]"),
    **COMMON,
}


def settings(given) -> dict:
    s = resolve(NAME, SETTINGS, given)
    for level in ("mem", "swap"):
        soft, hard = f"soft_threshold_min_{level}", f"hard_threshold_min_{level}"
        if s[hard] > s[soft]:
            raise fail(f"{NAME}: {hard}", f"{s[hard]:g} is above {soft} {s[soft]:g}")
    if s["hard_threshold_max_psi"] < s["soft_threshold_max_psi"]:
        raise fail(f"{NAME}: hard_threshold_max_psi", "is below soft_threshold_max_psi")
    return s


def term_poll_us(s: dict) -> int:
    """How long it sleeps after a SIGTERM before it looks again."""
    return int(s["post_soft_action_delay"] * 1_000_000)


def poll(s: dict, facts: Facts, memo: dict) -> Verdict:
    mi = facts.meminfo
    avail, swap_free, swap_total = mi["MemAvailable"], mi["SwapFree"], mi["SwapTotal"]
    levels = {lv: (s[f"{lv}_threshold_min_mem"] / 100 * mi["MemTotal"],
                   s[f"{lv}_threshold_min_swap"] / 100 * swap_total) for lv in ("soft", "hard")}
    sleep_us = sleep_after_check_mem(avail, swap_free, levels)
    sig, why = 0, ""
    for lv, signal in (("hard", 9), ("soft", 15)):  # check_mem_swap_ex
        mem_kb, swap_kb = levels[lv]
        if avail <= mem_kb and swap_free <= swap_kb:
            sig, why = signal, (f"MemAvailable {avail} kB <= {lv}_threshold_min_mem "
                                f"{mem_kb:.0f} kB and SwapFree {swap_free} kB <= "
                                f"{lv}_threshold_min_swap {swap_kb:.0f} kB")
            break
    memo = dict(memo)
    if s["psi_checking_enabled"]:
        psi_sig, psi_why = check_psi(s, facts, memo, avail, levels)
        if psi_sig > sig:  # SIGKILL from either check wins
            sig, why = psi_sig, psi_why
    if not sig:
        return Verdict(None, sleep_us, memo)
    ranked = ranking(s, facts.tasks)
    if not ranked or ranked[0]["score"] < s["min_badness"]:  # implement_corrective_action
        return Verdict(None, sleep_us, memo)
    memo["last_action_us"] = facts.now_us
    return Verdict(Action(sig, (ranked[0]["pid"],), why, ranking=tuple(ranked)), sleep_us, memo)


def check_psi(s: dict, facts: Facts, memo: dict, avail: int, levels: dict) -> tuple[int, str]:
    """check_psi_ex: how long full avg10 has stayed at or above each level (memo holds when it
    got there), with MemAvailable at or below the matching memory level."""
    if avail > max(levels["soft"][0], levels["hard"][0]) or not facts.meminfo["SwapTotal"]:
        memo.pop("psi_soft_since_us", None)
        memo.pop("psi_hard_since_us", None)
        return 0, ""
    psi = facts.pressure["full"]["avg10"]
    after_delay = facts.now_us - memo.get("last_action_us", -10**18) >= \
        s["psi_post_action_delay"] * 1_000_000
    for lv, signal in (("hard", 9), ("soft", 15)):
        key = f"psi_{lv}_since_us"
        if psi >= s[f"{lv}_threshold_max_psi"] and avail <= levels[lv][0]:
            since = memo.setdefault(key, facts.now_us)
            if facts.now_us - since >= s["psi_excess_duration"] * 1_000_000 and after_delay:
                return signal, (f"PSI full avg10 {psi:.2f} >= {lv}_threshold_max_psi "
                                f"{s[f'{lv}_threshold_max_psi']:g} for "
                                f"{(facts.now_us - since) / 1e6:.1f} s and MemAvailable "
                                f"{avail} kB <= {lv}_threshold_min_mem {levels[lv][0]:.0f} kB")
        else:
            memo.pop(key, None)
    return 0, ""


def sleep_after_check_mem(avail: int, swap_free: int, levels: dict) -> int:
    # sleep_after_check_mem: the time to fall to the higher of the two levels at the fill rates
    mem_point = max(avail - max(levels["soft"][0], levels["hard"][0]), 0)
    swap_point = max(swap_free - max(levels["soft"][1], levels["hard"][1]), 0)
    t_us = int((mem_point / FILL_RATE_MEM + swap_point / FILL_RATE_SWAP) * 1_000_000)
    return min(max(t_us, MIN_SLEEP_US), MAX_SLEEP_US)


def badness(s: dict, comm: str, oom_score: int, adj: int) -> int:
    # pid_to_badness: 0 stays 0; negative rules always apply, positive ones when adj >= 0
    if oom_score == 0:
        return 0
    for change, pattern in s["badness_adj_re_name"]:
        if re.search(pattern, comm) and (change <= 0 or adj >= 0):
            oom_score += change
    return oom_score


def ranking(s: dict, tasks) -> list[dict]:
    """fast_find_victim: the candidates by badness, the highest first (a stable sort: ties to
    the lower pid), init left out."""
    rows = [ranked_task(t, badness(s, t.comm, t.oom_score, t.oom_score_adj))
            for t in tasks if t.pid != 1]
    return sorted(rows, key=lambda r: -r["score"])
