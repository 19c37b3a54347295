"""Gauges as data: each reading has the engine's value and the kernel formula that explains it,
with the terms filled in (KERNEL.md §3, §4, §8, §10). No Textual here."""

from __future__ import annotations

from dataclasses import dataclass

from oomtui.tui.fmt import kb

MODES = {0: "heuristic", 1: "always", 2: "strict"}


@dataclass(frozen=True)
class Reading:
    key: str  # stable id (history is kept per key)
    label: str
    value: int  # what the bar and the sparkline show
    limit: int  # the bar's full scale (0: no bar)
    text: str  # the numbers next to the bar
    why: str  # the formula with its terms
    level: str = ""  # "", "warning" or "error"
    marks: tuple = ()  # (value, char): watermarks drawn on the bar
    reserved: int = 0  # the end of value drawn apart: held, not used (a memcg's charge stock)


def readings(frame) -> list[Reading]:
    out = [zone(frame, name) for name, z in frame.zoneinfo.items() if z["managed"]]
    out.append(kswapd(frame))
    out.append(mem_available(frame))
    out.append(commit(frame))
    out += [swap(frame, dev) for dev in frame.swaps]
    out.append(swap_cached(frame))
    out.append(slab(frame))
    out += [psi(frame, kind) for kind in ("some", "full")]
    out += [memcg(frame, path) for path in frame.cgroups if path != "/"]
    return out


def zone(frame, name: str) -> Reading:
    z = frame.zoneinfo[name]
    free, wmin, low, high = z["free"], z["min"], z["low"], z["high"]
    if free < wmin:
        level, state = "error", "below min: allocations reclaim directly"
    elif free < low:
        level, state = "warning", "below low: kswapd is woken"
    elif free < high:
        level, state = "warning", "below high: kswapd balances up to high"
    else:
        level, state = "", "above high"
    w = frame.watermarks[name]
    mfk, wsf = frame.sysctl["vm.min_free_kbytes"], frame.sysctl["vm.watermark_scale_factor"]
    why = (f"Zone {name}: free {free} pages ({kb(free * 4)}), {state}.\n"
           f"min   = min_free_kbytes/4 × managed / lowmem = {mfk}/4 × {w['managed']} / "
           f"{w['lowmem']} = {w['min']}\n"
           f"delta = max(min/4, managed × watermark_scale_factor/10000) = max({w['tmp']}/4, "
           f"{w['managed']} × {wsf}/10000) = {w['delta']}\n"
           f"low   = min + delta = {w['low']}\nhigh  = low + delta = {w['high']}\n"
           f"(pages; /proc/zoneinfo says min {wmin}, low {low}, high {high})\n"
           f"The bar spans 0 to twice high, the marks m, l, h at the watermarks: "
           f"it is full whenever free is above {kb(2 * high * 4)}.")
    nearest = next(((n, w) for n, w in (("min", wmin), ("low", low), ("high", high))
                    if free < w), ("high", high))
    text = f"{kb(free * 4)} {'<' if free < nearest[1] else '≥'} {nearest[0]} {kb(nearest[1] * 4)}"
    return Reading(f"zone-{name}", f"{name} free", free, 2 * high, text, why, level,
                   ((wmin, "m"), (low, "l"), (high, "h")))


def kswapd(frame) -> Reading:
    k = frame.kswapd
    if k["failures"] >= frame.kswapd_max_failures:
        text, level = f"gave up: {k['failures']} fruitless runs (kswapd_failures)", "error"
    elif k["awake"]:
        text, level = f"awake, reclaiming (order {k['order']})", "warning"
    else:
        text, level = "asleep", ""
    why = ("kswapd0 wakes when an allocation finds a zone below its low watermark and "
           "reclaims until a zone is above high (balance_pgdat), then sleeps. After "
           f"{frame.kswapd_max_failures} runs that reclaim nothing (MAX_RECLAIM_RETRIES) it stops "
           "waking (the node is 'hopeless') until some reclaim succeeds.\n"
           f"Now: {text}; pgscan_kswapd {frame.vmstat['pgscan_kswapd']}, "
           f"pgsteal_kswapd {frame.vmstat['pgsteal_kswapd']}.")
    return Reading("kswapd", "kswapd0", int(k["awake"]), 0, text, why, level)


def mem_available(frame) -> Reading:
    t, mi = frame.terms, frame.meminfo
    value = mi["MemAvailable"]
    why = ("MemAvailable = free − totalreserve + pagecache − min(pagecache/2, Σlow)\n"
           "               + SReclaimable − min(SReclaimable/2, Σlow)   (pages, floored at 0)\n"
           f"= {t['free']} − {t['totalreserve']} + {t['pagecache']} − "
           f"min({t['pagecache']}/2, {t['low']}) + {t['reclaimable']} − "
           f"min({t['reclaimable']}/2, {t['low']})\n"
           f"= {value // 4} pages = {value} kB\n"
           "pagecache = Active(file) + Inactive(file); anon and shmem never count.")
    level = "error" if value < mi["MemTotal"] // 20 else "warning" if value < mi["MemTotal"] // 5 else ""
    return Reading("avail", "MemAvailable", value, mi["MemTotal"],
                   f"{kb(value)} of {kb(mi['MemTotal'])}", why, level)


def commit(frame) -> Reading:
    s, mi, c = frame.sysctl, frame.meminfo, frame.commit
    mode = c["mode"]
    used, limit = mi["Committed_AS"], mi["CommitLimit"]
    if c["kbytes"]:
        formula = (f"CommitLimit = overcommit_kbytes/4 + total swap = {c['kbytes']}/4 + "
                   f"{c['swap']}")
    else:
        formula = (f"CommitLimit = (totalram − hugetlb) × overcommit_ratio/100 + total swap = "
                   f"({c['totalram']} − {c['hugetlb']}) × {c['ratio']}/100 + {c['swap']}")
    rule = {
        0: f"Mode 0 (heuristic): only a single request larger than RAM + swap "
           f"({kb(mi['MemTotal'] + mi['SwapTotal'])}) is refused; Committed_AS may pass "
           "CommitLimit.",
        1: "Mode 1 (always): no request is ever refused.",
        2: f"Mode 2 (strict): a request is refused (ENOMEM) when Committed_AS would reach "
           f"CommitLimit − admin_reserve ({s['vm.admin_reserve_kbytes']} kB, unless "
           f"CAP_SYS_ADMIN) − min(total_vm/32, user_reserve {s['vm.user_reserve_kbytes']} kB).",
    }[mode]
    why = (f"{formula} = {c['limit']} pages = {limit} kB\n"
           f"Committed_AS = {used} kB: private writable mappings, charged in full when mapped.\n"
           f"{rule}")
    level = "error" if mode == 2 and used >= limit else "warning" if used > limit else ""
    return Reading("commit", "Committed_AS", used, limit,
                   f"{kb(used)} / {kb(limit)} (mode {mode} {MODES[mode]})", why, level)


def swap(frame, dev: dict) -> Reading:
    used, size = dev["used"], dev["size"]
    why = (f"/proc/swaps: swap{dev['dev']} size {size} kB, used {used} kB, priority "
           f"{dev['priority']}. Reclaim writes anon pages here (vm.swappiness "
           f"{frame.sysctl['vm.swappiness']}: anon vs file scan balance); higher priority "
           f"devices fill first. pswpout {frame.vmstat['pswpout']}, pswpin "
           f"{frame.vmstat['pswpin']} pages.")
    level = "error" if used >= size else "warning" if used > size // 2 else ""
    return Reading(f"swap{dev['dev']}", f"swap{dev['dev']} p{dev['priority']}", used, size,
                   f"{kb(used)} / {kb(size)}", why, level)


def swap_cached(frame) -> Reading:
    mi = frame.meminfo
    value = mi["SwapCached"]
    why = (f"SwapCached = {value} kB: pages in RAM that still have a valid copy in swap "
           "(just swapped in, or being written out). Reclaiming them costs no I/O. On swap-in the "
           "slot is freed when swap is more than half full.")
    return Reading("swapcached", "SwapCached", value, mi["SwapTotal"], kb(value), why)


def slab(frame) -> Reading:
    mi, s = frame.meminfo, frame.sysctl
    value, reclaimable = mi["Slab"], mi["SReclaimable"]
    pressure = s["vm.vfs_cache_pressure"]
    why = (f"Slab = SReclaimable + SUnreclaim = {reclaimable} + {mi['SUnreclaim']} kB.\n"
           "SReclaimable: dentries and inodes left by file lookups. Each reclaim pass the "
           "superblock shrinker scans (freeable >> priority) × 4/2 of them in batches of 128, "
           "freeable = unused dentries and inodes × vfs_cache_pressure/"
           f"{s['vm.vfs_cache_pressure_denom']} (now {pressure}; 0: never shrunk). "
           f"slabs_scanned {frame.vmstat['slabs_scanned']}.\n"
           "SUnreclaim: each process's task_struct, mm_struct, signal, sighand, files and pid.\n"
           "MemAvailable counts SReclaimable − min(SReclaimable/2, Σlow).")
    level = "warning" if pressure == 0 and reclaimable > mi["MemTotal"] // 4 else ""
    return Reading("slab", "Slab", value, mi["MemTotal"], f"{kb(value)} ({kb(reclaimable)} reclaimable)",
                   why, level)


def psi(frame, kind: str) -> Reading:
    p = frame.pressure[kind]
    share = {"some": "at least one task was", "full": "all non-idle tasks were"}[kind]
    why = (f"/proc/pressure/memory {kind}: the share of time {share} stalled on memory (direct "
           "reclaim, memory.high throttling, swap-in).\n"
           f"avg10 {p['avg10']:.2f}%  avg60 {p['avg60']:.2f}%  avg300 {p['avg300']:.2f}%: "
           "decaying averages over 10, 60 and 300 s, updated every 2.001 s "
           f"(psi_period = 2·HZ+1 jiffies).\ntotal {p['total']} µs stalled since boot.")
    value = round(p["avg10"] * 100)
    level = "error" if p["avg10"] >= 40 else "warning" if p["avg10"] >= 10 else ""
    return Reading(f"psi-{kind}", f"PSI {kind}", value, 10000,
                   f"avg10 {p['avg10']:.2f}% avg60 {p['avg60']:.2f}%", why, level)


def memcg(frame, path: str) -> Reading:
    st = frame.cgroups[path]
    current, high, top = st["memory.current"], st["memory.high"], st["memory.max"]
    limit = top if top != "max" else high if high != "max" else frame.meminfo["MemTotal"] * 1024
    ev = st["memory.events"]
    show = lambda v: v if v == "max" else f"{v} B ({kb(v // 1024)})"  # noqa: E731
    stock = st.get("stock", 0)
    why = (f"cgroup {path}: memory.current {current} B ({kb(current // 1024)}), of which "
           f"{kb(stock // 1024)} is charged ahead in the per-cpu stock (charges take 64 pages "
           "at a time; the next faults use them up without charging)\n"
           f"memory.min {show(st['memory.min'])}, memory.low {show(st['memory.low'])}: "
           "protection from reclaim\n"
           f"memory.high {show(high)}: above it tasks reclaim and sleep "
           "penalty = overage²·HZ/2^34 per 64 pages, overage = (usage − high)·2^20/high, "
           "at most 2 s\n"
           f"memory.max {show(top)}: a charge over it reclaims, then OOM-kills inside the group\n"
           f"memory.swap.current {st['memory.swap.current']} B, memory.swap.max "
           f"{st['memory.swap.max']}\nmemory.events: "
           + ", ".join(f"{k} {v}" for k, v in ev.items()))
    level = ("error" if ev.get("oom_kill") else
             "warning" if high != "max" and current > high else "")
    text = (f"{kb(current // 1024)} / high {'max' if high == 'max' else kb(high // 1024)}"
            f" max {'max' if top == 'max' else kb(top // 1024)}")
    return Reading(f"memcg-{path}", path, current // 1024, limit // 1024, text, why, level,
                   reserved=stock // 1024)
