"""The rebuilt machine holds the snapshot's pages, so the engine's oom_badness and oom_score are
the kernel's for them (KERNEL.md §2)."""

from oomtui.engine.oom import c_div
from oomtui.realworld.rebuild import Cgroup, Snapshot, Task, build, table_layout, zones_for

PAGE = 4096


def kernel_oom_score(t: Task, totalpages: int) -> int:
    # proc_oom_score over oom_badness, from the snapshot's own numbers
    points = t.rss + t.swapents + t.pgtables_bytes // PAGE + t.oom_score_adj * (totalpages // 1000)
    return c_div((1000 + c_div(points * 1000, totalpages)) * 2, 3)


SNAP = Snapshot(
    zones=zones_for(65536), swap=(16383,),
    sysctl={"vm.overcommit_memory": 2, "vm.swappiness": 10},
    tasks=(Task(pid=100, comm="postgres", uid=104, oom_score_adj=300, rss_anon=3000, rss_file=700,
                rss_shmem=600, swapents=1000, pgtables_bytes=20 * PAGE, total_vm=100_000,
                cgroup="/system.slice/db"),
           Task(pid=120, comm="nginx", uid=33, rss_anon=10, pgtables_bytes=3 * PAGE),
           Task(pid=130, comm="batch", rss_anon=20_000, rss_file=300,
                pgtables_bytes=(1 + 40 + 60) * PAGE)),
    cgroups=(Cgroup("/system.slice/db", memory_max=1 << 30),))


def test_processes_hold_the_snapshots_pages():
    r = build(SNAP)
    m = r.machine
    assert r.notes == []
    assert m.meminfo()["MemTotal"] == 65536 * 4 and m.total_swap_pages() == 16383
    assert m.sysctl("vm.overcommit_memory") == 2 and m.sysctl("vm.swappiness") == 10
    for t in SNAP.tasks:
        pid = r.pids[t.pid]
        s = m.proc_status(pid)
        assert (s["RssAnon"], s["RssFile"], s["RssShmem"], s["VmSwap"], s["VmPTE"]) == (
            t.rss_anon * 4, t.rss_file * 4, t.rss_shmem * 4, t.swapents * 4,
            t.pgtables_bytes // 1024)
        assert m.oom_score(pid) == kernel_oom_score(t, SNAP.totalpages)
        assert s["Uid"] == t.uid and m.processes()[pid - 1]["cgroup"] == t.cgroup
    assert m.proc_status(r.pids[100])["VmSize"] == 100_000 * 4
    assert m.cgroup_stat("/system.slice/db")["memory.max"] == 1 << 30


def test_the_engines_victim_uses_the_snapshots_pids():
    r = build(SNAP)
    decision = r.out_of_memory(totalpages=SNAP.totalpages)
    assert decision.victim == 100     # 5320 pages + 300 * 81 beats batch's 20401
    assert decision.points[130] == 20_000 + 300 + 101


def test_page_tables_below_what_4k_pages_need_are_said():
    r = build(Snapshot(zones=zones_for(65536),
                       tasks=(Task(pid=7, comm="thp", rss_anon=2048, pgtables_bytes=3 * PAGE),)))
    assert r.notes == ["pid 7 (thp): its 3 page-table pages cannot map its pages with 4 kB pages "
                       "(huge pages?): simulated with 3 more, its points are 3 higher"]


def test_table_layout_reaches_every_count():
    # 1 PUD + PMDs + PTEs = pgtables, with at least a PTE table per 2 MiB of pages
    for chunks in range(0, 5):
        for pgtables in range(2 + max(chunks, 1), 40):
            ptes, pmds, missing = table_layout(chunks, pgtables)
            assert missing == 0 and 1 + pmds + ptes == pgtables
            assert ptes >= max(chunks, 1) and 1 <= pmds <= ptes
    assert table_layout(0, 0) == (0, 0, 0)
    assert table_layout(513, 1 + 2 + 513) == (513, 2, 0)
    assert table_layout(513, 515) == (513, 2, 1)


def test_tasks_that_do_not_fit_are_said_not_guessed():
    # 64 MiB of RAM and no swap cannot hold two 40 MiB tasks: the engine's OOM killer takes one
    r = build(Snapshot(zones=zones_for(16384),
                       tasks=(Task(pid=10, comm="a", rss_anon=10240, pgtables_bytes=24 * PAGE),
                              Task(pid=11, comm="b", rss_anon=10240, pgtables_bytes=24 * PAGE))))
    assert r.pids == {11: 3}
    assert r.notes == ["pid 10 (a) was killed by the simulated OOM killer while the machine was "
                       "rebuilt (its RAM ran out)"]
