"""The OOM report's dmesg text (dump_header, dump_task(s), dump_oom_victim, __oom_kill_process,
__show_mem, mem_cgroup_print_oom_meminfo, panic). Expected lines are written out by hand.

The machine: four processes, sizes in pages (kB = pages * 4, pgtables_bytes = pages * 4096):
  pid    comm     uid  total_vm  anon   file  shmem  swap  pgtables  adj    memcg
  1      systemd    0      5000   200    300      0     0        20     0    /        (init)
  250    sshd       0      3000   100    150     10     5        12  -1000   /system.slice
  1000   hog     1000     30000 25600     40      0     0        60     0    /user.slice
  1001   bash    1000      2500   500    200      4     0        15     0    /user.slice
badness: hog 25600 + 40 + 60 = 25700, bash 500 + 200 + 4 + 15 = 719, sshd unkillable.
"""

from __future__ import annotations

from oomtui.engine.oom import Candidate, out_of_memory
from oomtui.engine.report import oom_report, panic_text

T = 262144


def proc(pid, comm, uid, total_vm, anon, file, shmem, swap, pgtables, adj, memcg, **kw):
    return Candidate(pid=pid, comm=comm, uid=uid, mm_id=pid, rss_anon=anon, rss_file=file,
                     rss_shmem=shmem, swapents=swap, pgtables=pgtables, total_vm=total_vm,
                     adj=adj, memcg=memcg, **kw)


INIT = proc(1, "systemd", 0, 5000, 200, 300, 0, 0, 20, 0, "/", is_init=True)
SSHD = proc(250, "sshd", 0, 3000, 100, 150, 10, 5, 12, -1000, "/system.slice")
HOG = proc(1000, "hog", 1000, 30000, 25600, 40, 0, 0, 60, 0, "/user.slice")
BASH = proc(1001, "bash", 1000, 2500, 500, 200, 4, 0, 15, 0, "/user.slice")
PROCS = [INIT, SSHD, HOG, BASH]

MEMINFO = {   # kB
    "MemTotal": 1048576, "MemFree": 22528, "Buffers": 0, "Cached": 6184, "SwapCached": 0,
    "Active(anon)": 409600, "Inactive(anon)": 8192, "Active(file)": 4096, "Inactive(file)": 2048,
    "Unevictable": 0, "Dirty": 8, "Writeback": 0, "Mapped": 3000, "Shmem": 40,
    "KReclaimable": 12000, "SReclaimable": 12000, "SUnreclaim": 20000, "PageTables": 1200,
    "SwapTotal": 0, "SwapFree": 0,
}

HEADER = ("bash invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, "
          "oom_score_adj=0")
MEM_INFO = """\
Mem-Info:
active_anon:102400 inactive_anon:2048 isolated_anon:0
 active_file:1024 inactive_file:512 isolated_file:0
 unevictable:0 dirty:2 writeback:0
 slab_reclaimable:3000 slab_unreclaimable:5000
 mapped:750 shmem:10 pagetables:300
 sec_pagetables:0 bounce:0
 kernel_misc_reclaimable:0
 free:5632 free_pcp:0 free_cma:0
1546 total pagecache pages
0 pages in swap cache
Free swap  = 0kB
Total swap = 0kB
"""
TASKS = """\
Tasks state (memory values in pages):
[  pid  ]   uid  tgid total_vm      rss rss_anon rss_file rss_shmem pgtables_bytes swapents oom_score_adj name
[    250]     0   250     3000      260      100      150        10    49152        5         -1000 sshd
[   1000]  1000  1000    30000    25640    25600       40         0   245760        0             0 hog
[   1001]  1000  1001     2500      704      500      200         4    61440        0             0 bash
"""
HOG_KILLED = ("Killed process 1000 (hog) total-vm:120000kB, anon-rss:102400kB, file-rss:160kB, "
              "shmem-rss:0kB, UID:1000 pgtables:240kB oom_score_adj:0")


def report(d, **kw):
    kw.setdefault("meminfo", MEMINFO)
    return oom_report(d, PROCS, current=BASH, **kw)


def test_global_kill_report():
    d = out_of_memory(PROCS, totalpages=T, current=1001)
    assert d.victim == 1000 and d.message == "Out of memory: " + HOG_KILLED
    assert report(d) == HEADER + "\n" + MEM_INFO + TASKS + (
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
        "task_memcg=/user.slice,task=hog,pid=1000,uid=1000\n"
        "Out of memory: " + HOG_KILLED + "\n")


def test_oom_dump_tasks_0_drops_the_task_table():
    d = out_of_memory(PROCS, totalpages=T, current=1001)
    assert report(d, dump_tasks=0) == HEADER + "\n" + MEM_INFO + (
        "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
        "task_memcg=/user.slice,task=hog,pid=1000,uid=1000\n"
        "Out of memory: " + HOG_KILLED + "\n")


def test_header_shows_gfp_order_and_currents_adj():
    d = out_of_memory(PROCS, totalpages=T, current=250)
    text = oom_report(d, PROCS, current=SSHD, gfp_mask="0xcc0(GFP_KERNEL)", order=2)
    assert text.splitlines()[0] == ("sshd invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=2, "
                                    "oom_score_adj=-1000")
    assert "Mem-Info:" not in text                     # no meminfo given: block left out


def test_panic_on_oom_report():
    d = out_of_memory(PROCS, totalpages=T, current=1001, panic_on_oom=1)
    assert report(d) == HEADER + "\n" + MEM_INFO + TASKS + (
        "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled\n"
        "---[ end Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled ]---\n")


def test_deadlock_report():
    procs = [INIT, SSHD]
    d = out_of_memory(procs, totalpages=T, current=None)
    text = oom_report(d, procs, current=None)
    assert text == ("bash invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), "
                    "order=0, oom_score_adj=0\n"
                    "Tasks state (memory values in pages):\n" + TASKS.splitlines(True)[1]
                    + TASKS.splitlines(True)[2] + "Out of memory and no killable processes...\n"
                    + panic_text("System is deadlocked on memory"))


def test_panic_text():
    assert panic_text("System is deadlocked on memory") == (
        "Kernel panic - not syncing: System is deadlocked on memory\n"
        "---[ end Kernel panic - not syncing: System is deadlocked on memory ]---\n")


def test_wait_prints_nothing():
    victim = proc(1000, "hog", 1000, 30000, 25600, 40, 0, 0, 60, 0, "/user.slice", oom_victim=True)
    procs = [INIT, SSHD, victim, BASH]
    d = out_of_memory(procs, totalpages=T, current=1001)
    assert d.action == "wait" and oom_report(d, procs, current=BASH) == ""


def test_memcg_group_report():
    # memory.max on /user.slice; memory.oom.group set there: the victim's line repeats
    d = out_of_memory(PROCS, totalpages=25600, current=1001, memcg="/user.slice",
                      oom_group=lambda p: p == "/user.slice")
    info = {"usage": 102400, "limit": 102400, "failcnt": 0, "swap_usage": 0, "swap_limit": None,
            "swap_failcnt": 0, "stat": {"anon": 104857600, "file": 163840}}
    assert oom_report(d, PROCS, current=BASH, memcg_info=info) == HEADER + "\n" + (
        "memory: usage 102400kB, limit 102400kB, failcnt 0\n"
        "swap: usage 0kB, limit 9007199254740988kB, failcnt 0\n"
        "Memory cgroup stats for /user.slice:\n"
        "anon 104857600\n"
        "file 163840\n"
        + "".join(TASKS.splitlines(True)[i] for i in (0, 1, 3, 4)) +
        "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        "oom_memcg=/user.slice,task_memcg=/user.slice,task=hog,pid=1000,uid=1000\n"
        "Memory cgroup out of memory: " + HOG_KILLED + "\n"
        "Tasks in /user.slice are going to be killed due to memory.oom.group set\n"
        "Memory cgroup out of memory: " + HOG_KILLED + "\n"
        "Memory cgroup out of memory: Killed process 1001 (bash) total-vm:10000kB, "
        "anon-rss:2000kB, file-rss:800kB, shmem-rss:16kB, UID:1000 pgtables:60kB oom_score_adj:0\n")


def test_memcg_fail_report():
    d = out_of_memory(PROCS, totalpages=T, current=1001, memcg="/system.slice")
    assert d.action == "fail"
    assert oom_report(d, PROCS, current=BASH) == HEADER + "\n" + TASKS.splitlines(True)[0] + \
        TASKS.splitlines(True)[1] + TASKS.splitlines(True)[2] + \
        "Out of memory and no killable processes...\n"


def test_init_pinning_the_victims_mm_is_reported():
    init = proc(1, "systemd", 0, 5000, 200, 300, 0, 0, 20, 0, "/", is_init=True)
    hog = Candidate(**{**HOG.__dict__, "mm_id": 1})
    d = out_of_memory([init, hog], totalpages=T, current=None)
    assert d.killed == (1000,)
    assert oom_report(d, [init, hog], current=None).splitlines()[-2:] == [
        "Out of memory: " + HOG_KILLED, "oom killer 1000 (hog) has mm pinned by 1 (systemd)"]


def test_comm_is_cut_to_15_characters():
    long = proc(7, "systemd-timesyncd", 991, 100, 10, 0, 0, 0, 1, 0, "/")
    d = out_of_memory([long], totalpages=T, current=None)
    assert "(systemd-timesyn)" in d.message
    assert oom_report(d, [long], current=None).splitlines()[3].endswith(" systemd-timesyn")
