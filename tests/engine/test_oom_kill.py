"""The OOM killer, end to end (KERNEL.md §1, §5): a process faults in more memory than the
machine has, the slow path reclaims what it can, then out_of_memory kills a victim, panics, or
finds nobody to kill.

The decision arithmetic has unit tests of its own (test_oom_select.py, test_oom_report.py); here
everything goes through Machine: spawn/mmap/touch make the pressure, and the events, vmstat,
meminfo and the processes that are left show what the kernel did.

64 MiB machines without swap: totalpages T = 16384, T // 1000 = 16, so adj moves badness by
adj * 16 pages; about 60 MiB can be allocated before the min watermarks (≈ 3.2 MiB) stop it.
"""

from __future__ import annotations

import errno
import re

import pytest

from oomtui.engine import SwapDevice

PAGE = 4096
MiB = 1 << 20

TASKS_HEADER = ("[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem "
                "pgtables_bytes swapents oom_score_adj name")
KILLED = re.compile(r"^Out of memory: Killed process (\d+) \((.+?)\) total-vm:(\d+)kB, "
                    r"anon-rss:(\d+)kB, file-rss:(\d+)kB, shmem-rss:(\d+)kB, UID:(\d+) "
                    r"pgtables:(\d+)kB oom_score_adj:(-?\d+)$", re.M)


def grab(m, pid, nbytes) -> int:
    a = m.mmap(pid, nbytes)
    m.touch(pid, a, nbytes)
    return a


def events(m, kind):
    return [e for e in m.events if e.kind == kind]


def victims(m):
    return [e.data["victim"] for e in events(m, "oom")]


ROW_FIELDS = ("pid", "uid", "tgid", "total_vm", "rss", "rss_anon", "rss_file", "rss_shmem",
              "pgtables_bytes", "swapents", "oom_score_adj", "name")


def task_rows(report) -> dict[int, dict]:
    """dump_task rows of the report's task table, by pid."""
    rows = {}
    for line in report.splitlines():
        m = re.fullmatch(r"\[ *(\d+)\] +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) "
                         r"+(\d+) +(-?\d+) (.+)", line)
        if m:
            row = dict(zip(ROW_FIELDS, m.groups()))
            row = {k: (v if k == "name" else int(v)) for k, v in row.items()}
            rows[row["pid"]] = row
    return rows


# ----------------------------------------------------------------------------- who dies

def test_adj_minus_1000_survives_while_a_smaller_adj_0_process_dies(machine):
    m = machine(ram_mib=64)
    big = m.spawn("big", oom_score_adj=-1000)
    small = m.spawn("small")
    x = m.mmap(big, 56 * MiB)
    m.touch(big, x, 30 * MiB)
    grab(m, small, 12 * MiB)
    assert m.oom_badness(big) is None and m.oom_score(big) == 0
    points_small = m.oom_badness(small)
    assert points_small > 12 * 256
    m.touch(big, x + 30 * MiB, 24 * MiB)  # 66 MiB wanted in all: one kill makes it fit
    assert victims(m) == [small]
    (oom,) = events(m, "oom")
    assert oom.pid == big                                   # the allocating task
    assert oom.data["killed"] == (small,)
    assert oom.data["points"] == {1: None, big: None, small: points_small}
    (kill,) = events(m, "oom_kill")
    assert kill.pid == small and m.events.index(kill) == m.events.index(oom) + 1
    assert kill.message == f"Out of memory: Killed process {small} (small)"
    assert small not in m.procs and big in m.procs
    assert m.proc_status(big)["RssAnon"] == 54 * 1024       # the allocation completed
    assert m.vmstat()["oom_kill"] == 1


def test_oom_dump_tasks_0_leaves_the_task_table_out_of_the_report(machine):
    """dump_header: the task table only while vm.oom_dump_tasks is non-zero."""
    for dump, rows in ((1, 2), (0, 0)):  # hog and small (init is oom_unkillable_task)
        m = machine(ram_mib=64, sysctl={"vm.oom_dump_tasks": dump})
        hog, small = m.spawn("hog"), m.spawn("small")
        grab(m, small, 4 * MiB)
        grab(m, hog, 62 * MiB)
        report = events(m, "oom")[0].data["report"]
        assert len(task_rows(report)) == rows
        assert ("Tasks state (memory values in pages):" in report) == bool(dump)
        assert f"Killed process {hog} (hog)" in report


def test_equal_badness_kills_the_newest(machine):
    m = machine(ram_mib=64)
    older = m.spawn("twin")
    newer = m.spawn("twin")
    grab(m, older, 16 * MiB)
    grab(m, newer, 16 * MiB)
    assert m.oom_badness(older) == m.oom_badness(newer)     # same size, same page tables
    trigger = m.spawn("trigger", oom_score_adj=-1000)
    grab(m, trigger, 40 * MiB)
    assert victims(m) == [newer]                            # points >= chosen: the later task
    assert older in m.procs and newer not in m.procs


def test_init_is_never_chosen_even_as_the_biggest(machine):
    m = machine(ram_mib=64)
    grab(m, 1, 30 * MiB)                                    # init is by far the biggest
    small = m.spawn("small")
    grab(m, small, 6 * MiB)
    trigger = m.spawn("trigger", oom_score_adj=-1000)
    grab(m, trigger, 26 * MiB)
    (oom,) = events(m, "oom")
    assert oom.data["victim"] == small and oom.data["points"][1] is None
    assert 1 in m.procs and m.proc_status(1)["RssAnon"] == 30 * 1024


def test_points_in_the_event_are_oom_badness_just_before(machine):
    """points = rss (anon + file + shmem) + swapents + page tables + adj * (T // 1000)."""
    m = machine(ram_mib=64)
    plus = m.spawn("plus", oom_score_adj=500)
    minus = m.spawn("minus", oom_score_adj=-500)
    shm = m.spawn("shm")
    grab(m, plus, 2 * MiB)
    grab(m, minus, 20 * MiB)
    grab(m, shm, 4 * MiB)
    s = m.mmap(shm, 2 * MiB, flags="shared|anonymous")
    m.touch(shm, s, 2 * MiB)                                # RssShmem: not reclaimable here
    st = m.proc_status(plus)
    assert m.oom_badness(plus) == (st["RssAnon"] + st["VmPTE"]) // 4 + 500 * 16
    before = {pid: m.oom_badness(pid) for pid in (plus, minus, shm)}
    assert before[minus] < 0 < before[shm] < before[plus]
    trigger = m.spawn("trigger", oom_score_adj=-1000)
    grab(m, trigger, 40 * MiB)
    oom = events(m, "oom")[0]
    assert oom.data["points"] == {1: None, plus: before[plus], minus: before[minus],
                                  shm: before[shm], trigger: None}
    assert oom.data["victim"] == plus                       # the highest points, not the biggest
    assert minus in m.procs


def test_oom_kill_counts_every_kill(machine):
    m = machine(ram_mib=64)
    v1 = m.spawn("v1")
    v2 = m.spawn("v2")
    grab(m, v1, 12 * MiB)
    grab(m, v2, 10 * MiB)
    trigger = m.spawn("trigger", oom_score_adj=-1000)
    grab(m, trigger, 54 * MiB)                               # needs both gone
    assert victims(m) == [v1, v2]                            # the bigger one first
    assert [e.pid for e in events(m, "oom_kill")] == [v1, v2]
    assert m.vmstat()["oom_kill"] == 2
    assert sorted(m.procs) == [1, trigger]
    assert m.proc_status(trigger)["RssAnon"] == 54 * 1024


# ------------------------------------------------------------------------ what it frees

def test_the_victims_memory_is_freed_and_its_pid_is_gone(machine, fails):
    m = machine(ram_mib=64)
    mi0 = m.meminfo()
    p = m.spawn("hog")
    a = m.mmap(p, 63 * MiB)
    m.touch(p, a, 63 * MiB)                                  # more than there is: it kills itself
    assert victims(m) == [p]
    mi = m.meminfo()
    # everything the process held is back: anon pages, page tables, kernel stack, PGD, commit
    for key in ("MemFree", "AnonPages", "PageTables", "KernelStack", "Committed_AS",
                "MemAvailable"):
        assert mi[key] == mi0[key], key
    assert p not in [row["pid"] for row in m.processes()]
    for call, args in ((m.proc_status, (p,)), (m.touch, (p, a, PAGE)), (m.mmap, (p, PAGE)),
                       (m.kill, (p,)), (m.oom_badness, (p,)), (m.fork, (p,))):
        fails(m, errno.ESRCH, call, *args)


def test_swap_fills_up_before_the_oom_killer_runs_and_the_victim_frees_it(machine):
    m = machine(ram_mib=64, swap=[SwapDevice(size_mib=16)])
    mi0 = m.meminfo()
    p = m.spawn("hog")
    a = m.mmap(p, 79 * MiB)                                  # RAM + swap is 80 MiB
    m.touch(p, a, 79 * MiB)
    (oom,) = events(m, "oom")
    assert oom.data["victim"] == p
    report = oom.data["report"]
    assert "Free swap  = 0kB" in report                      # swap was used up first
    assert f"Total swap = {mi0['SwapTotal']}kB" in report
    assert task_rows(report)[p]["swapents"] == mi0["SwapTotal"] // 4  # every slot was its
    assert m.vmstat()["pswpout"] == mi0["SwapTotal"] // 4
    mi = m.meminfo()
    assert mi["SwapFree"] == mi["SwapTotal"]                 # its swap entries freed as well
    assert mi["MemFree"] == mi0["MemFree"]


def test_with_nothing_reclaimable_one_fruitless_direct_reclaim_precedes_the_kill(machine):
    """No swap, no page cache: should_reclaim_retry sees no reclaimable pages that could lift a
    zone over min, so the first direct reclaim that frees nothing leads to out_of_memory."""
    m = machine(ram_mib=64)
    p = m.spawn("hog")
    a = m.mmap(p, 63 * MiB)
    m.touch(p, a, 63 * MiB)
    vs = m.vmstat()
    assert (vs["oom_kill"], vs["allocstall"], vs["pgscan_direct"]) == (1, 1, 0)


def test_the_page_cache_is_reclaimed_completely_before_anyone_is_killed(machine):
    m = machine(ram_mib=64)
    r = m.spawn("reader")
    m.write_file(r, "/cache", 0, offset=16 * MiB)
    m.read_file(r, "/cache", 16 * MiB)                       # 4096 clean pages
    p = m.spawn("hog")
    a = m.mmap(p, 63 * MiB)
    m.touch(p, a, 63 * MiB)
    (oom,) = events(m, "oom")
    assert oom.data["victim"] == p
    assert " active_file:0 inactive_file:0 isolated_file:0" in oom.data["report"].splitlines()
    assert "0 total pagecache pages" in oom.data["report"].splitlines()
    vs = m.vmstat()
    assert vs["pgsteal_direct"] == 4096 and vs["allocstall"] > 1
    assert r in m.procs and m.meminfo()["Cached"] == 0


# ---------------------------------------------------------------------------- the report

def test_the_report_has_the_kernels_lines(machine):
    m = machine(ram_mib=64)
    big = m.spawn("big", oom_score_adj=-1000)
    small = m.spawn("small", uid=1234)
    x = m.mmap(big, 56 * MiB)
    m.touch(big, x, 30 * MiB)
    grab(m, small, 12 * MiB)
    st = m.proc_status(small)
    m.touch(big, x + 30 * MiB, 24 * MiB)
    (oom,) = events(m, "oom")
    report = oom.data["report"]
    lines = report.splitlines()
    assert re.fullmatch(r"big invoked oom-killer: gfp_mask=0x[0-9a-f]+\(.*\), order=0, "
                        r"oom_score_adj=-1000", lines[0])
    assert "Mem-Info:" in lines and "Tasks state (memory values in pages):" in lines
    assert lines.count(TASKS_HEADER) == 1
    rows = task_rows(report)
    assert list(rows) == [big, small]                        # init is not listed
    assert lines[lines.index(TASKS_HEADER) + 2].startswith(f"[{small:7d}]  1234 {small:5d} ")
    assert rows[small] == {"pid": small, "uid": 1234, "tgid": small, "total_vm": st["VmSize"] // 4,
                           "rss": st["VmRSS"] // 4, "rss_anon": st["RssAnon"] // 4, "rss_file": 0,
                           "rss_shmem": 0, "pgtables_bytes": st["VmPTE"] * 1024, "swapents": 0,
                           "oom_score_adj": 0, "name": "small"}
    assert rows[big]["oom_score_adj"] == -1000
    assert (f"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,"
            f"global_oom,task_memcg=/,task=small,pid={small},uid=1234") in lines
    (killed,) = KILLED.findall(report)
    assert killed == (str(small), "small", str(st["VmSize"]), str(st["RssAnon"]), "0", "0",
                      "1234", str(st["VmPTE"]), "0")
    assert oom.message == KILLED.search(report).group(0)


# ------------------------------------------------------------------------------- sysctls

def test_oom_kill_allocating_task_kills_the_allocator_not_the_biggest(machine):
    m = machine(ram_mib=64, sysctl={"vm.oom_kill_allocating_task": 1})
    big = m.spawn("big")
    grab(m, big, 36 * MiB)
    small = m.spawn("small")
    a = m.mmap(small, 30 * MiB)
    m.touch(small, a, 30 * MiB)
    (oom,) = events(m, "oom")
    assert oom.data["victim"] == small and oom.data["killed"] == (small,)
    assert oom.message.startswith(f"Out of memory (oom_kill_allocating_task): Killed process "
                                  f"{small} (small) total-vm:")
    assert oom.message in oom.data["report"].splitlines()
    assert big in m.procs and small not in m.procs


def test_without_oom_kill_allocating_task_the_biggest_dies(machine):
    """Control for the test above: the same run with the default sysctl kills `big`."""
    m = machine(ram_mib=64)
    big = m.spawn("big")
    grab(m, big, 36 * MiB)
    small = m.spawn("small")
    grab(m, small, 30 * MiB)
    assert victims(m) == [big]
    assert small in m.procs and m.proc_status(small)["RssAnon"] == 30 * 1024


def test_oom_kill_allocating_task_skips_an_unkillable_allocator(machine):
    m = machine(ram_mib=64, sysctl={"vm.oom_kill_allocating_task": 1})
    big = m.spawn("big")
    grab(m, big, 36 * MiB)
    small = m.spawn("small", oom_score_adj=-1000)
    grab(m, small, 30 * MiB)
    (oom,) = events(m, "oom")
    assert oom.data["victim"] == big                         # normal selection instead
    assert oom.message.startswith(f"Out of memory: Killed process {big} (big)")


def _panicked(machine, **sysctl):
    m = machine(ram_mib=64, sysctl=sysctl)
    big = m.spawn("big")
    grab(m, big, 30 * MiB)
    small = m.spawn("small")
    a = m.mmap(small, 40 * MiB)
    with pytest.raises(OSError) as ei:
        m.touch(small, a, 40 * MiB)
    assert ei.value.errno == errno.ENOTRECOVERABLE
    return m, big, small, str(ei.value)


@pytest.mark.parametrize("mode, how", [(1, "system-wide"), (2, "compulsory")])
def test_panic_on_oom_panics_instead_of_killing(machine, mode, how):
    m, big, small, text = _panicked(machine, **{"vm.panic_on_oom": mode})
    reason = f"Out of memory: {how} panic_on_oom is enabled"
    assert text.endswith(f"Kernel panic - not syncing: {reason}")
    oom, panic = m.events[-2:]
    assert (oom.kind, oom.pid, oom.message) == ("oom", small, reason)
    assert "victim" not in oom.data and set(oom.data["points"]) == {1, big, small}
    assert oom.data["report"].startswith("small invoked oom-killer:")
    assert oom.data["report"].endswith(f"Kernel panic - not syncing: {reason}\n"
                                       f"---[ end Kernel panic - not syncing: {reason} ]---\n")
    assert "Killed process" not in oom.data["report"]
    assert (panic.kind, panic.message) == ("panic", f"Kernel panic - not syncing: {reason}")
    assert m.vmstat()["oom_kill"] == 0 and sorted(m.procs) == [1, big, small]  # nobody killed


def test_nothing_killable_panics_deadlocked(machine):
    m = machine(ram_mib=64)
    keeper = m.spawn("keeper", oom_score_adj=-1000)
    grab(m, keeper, 20 * MiB)
    hog = m.spawn("hog", oom_score_adj=-1000)
    a = m.mmap(hog, 50 * MiB)
    with pytest.raises(OSError) as ei:
        m.touch(hog, a, 50 * MiB)
    assert ei.value.errno == errno.ENOTRECOVERABLE
    oom, panic = m.events[-2:]
    assert oom.kind == "oom" and oom.message == "System is deadlocked on memory"
    assert oom.data["points"] == {1: None, keeper: None, hog: None}
    assert oom.data["report"].endswith(
        "Out of memory and no killable processes...\n"
        "Kernel panic - not syncing: System is deadlocked on memory\n"
        "---[ end Kernel panic - not syncing: System is deadlocked on memory ]---\n")
    assert panic.kind == "panic"
    assert panic.message == "Kernel panic - not syncing: System is deadlocked on memory"
    assert m.vmstat()["oom_kill"] == 0


AFTER_PANIC = {
    "spawn": lambda m, p: m.spawn("new"),
    "step": lambda m, p: m.step(),
    "touch": lambda m, p: m.touch(p, 0x10000, PAGE),
    "mmap": lambda m, p: m.mmap(p, PAGE),
    "fork": lambda m, p: m.fork(p),
    "kill": lambda m, p: m.kill(p),
    "exit": lambda m, p: m.exit(p),
    "write_file": lambda m, p: m.write_file(p, "/f", PAGE),
    "read_file": lambda m, p: m.read_file(p, "/f", PAGE),
    "madvise": lambda m, p: m.madvise(p, 0x10000, PAGE, "dontneed"),
    "mlock": lambda m, p: m.mlock(p, 0x10000, PAGE),
    "set_oom_score_adj": lambda m, p: m.set_oom_score_adj(p, 100),
    "sysctl write": lambda m, p: m.sysctl("vm.swappiness", 10),
    "proc_status": lambda m, p: m.proc_status(p),
}


def test_after_a_panic_every_call_is_enotrecoverable_and_nothing_changes(machine, fails):
    m, big, small, _ = _panicked(machine, **{"vm.panic_on_oom": 1})
    digest = m.state_digest()
    for name, call in AFTER_PANIC.items():
        fails(m, errno.ENOTRECOVERABLE, call, m, big)
    assert m.state_digest() == digest
    assert m.sysctl("vm.swappiness") == 60                   # reading a sysctl still works


def test_after_a_panic_swapon_is_enotrecoverable(machine, fails):
    m, *_ = _panicked(machine, **{"vm.panic_on_oom": 1})
    fails(m, errno.ENOTRECOVERABLE, m.swapon, 16)


# -- pending victims and the OOM reaper --------------------------------------------------------

def stuck_victim(machine, reread_mib):
    """A 64 MiB machine with 256 MiB of swap and no swap readahead: `victim` has 160 MiB, most
    of it swapped out, and has just faulted `reread_mib` back in (100 µs of D state for each
    page read), when `hog` runs the machine out of RAM and swap and the OOM killer picks the
    victim (the bigger of the two)."""
    m = machine(64, swap=[SwapDevice(size_mib=256)], sysctl={"vm.page-cluster": 0})
    victim = m.spawn("victim")
    a = grab(m, victim, 160 * MiB)
    m.touch(victim, a, reread_mib * MiB)
    stall = m.procs[victim].stall_us
    hog = m.spawn("hog")
    b = m.mmap(hog, 200 * MiB)
    with pytest.raises(OSError) as ei:
        m.touch(hog, b, 200 * MiB)
    return m, victim, hog, b, stall, ei.value


def test_a_victim_in_d_state_is_pending_and_blocks_a_second_kill(machine):
    m, victim, hog, b, stall, e = stuck_victim(machine, 8)
    assert stall >= 8 * 256 * 100  # every re-read page was a major fault of 100 µs
    # The kill is sent, but the victim cannot exit while its swap-in I/O lasts; the next OOM
    # finds it still exiting and kills nobody else: the hog's fault has to wait.
    assert e.errno == errno.EAGAIN and f"victim[{victim}]" in str(e)
    assert m.vmstat()["oom_kill"] == 1
    assert [r["state"] for r in m.processes() if r["pid"] == victim] == ["oom-victim"]
    assert events(m, "oom_kill")[-1].data == {"pending": True}
    m.step(-(-m.procs[victim].stall_us // 10_000))  # serve the stall, 10 ms a tick
    assert victim not in m.procs and events(m, "exit")[-1].pid == victim
    m.touch(hog, b, 200 * MiB)  # room again
    assert m.vmstat()["oom_kill"] == 1


def test_a_victim_stuck_for_2_s_is_reaped_and_the_next_oom_may_kill_again(machine):
    m, victim, hog, b, stall, e = stuck_victim(machine, 100)
    assert stall > 2_000_000 and e.errno == errno.EAGAIN
    m.step(199)
    assert events(m, "oom_reaper") == []
    m.step(1)  # OOM_REAPER_DELAY: 2 s after the kill
    reaped = events(m, "oom_reaper")[-1]
    assert reaped.message.startswith(f"oom_reaper: reaped process {victim} (victim), now anon-rss:0kB")
    assert m.proc_status(victim)["VmSwap"] == 0 and victim in m.procs
    m.touch(hog, b, 200 * MiB)  # the reaped memory is free, and the victim is MMF_OOM_SKIP
    assert hog in m.procs


def test_spawn_fails_while_the_victim_is_pending(machine):
    """copy_process needs a kernel stack: with RAM and swap full and the victim still exiting,
    the allocation waits for it, so the spawn fails (EAGAIN here) instead of killing again."""
    m, victim, _hog, _b, _stall, _e = stuck_victim(machine, 8)
    pids = sorted(m.procs)
    with pytest.raises(OSError) as ei:
        m.spawn("late")
    assert ei.value.errno == errno.EAGAIN and f"victim[{victim}]" in str(ei.value)
    assert sorted(m.procs) == pids and m.vmstat()["oom_kill"] == 1
