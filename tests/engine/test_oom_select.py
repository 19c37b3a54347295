"""The OOM killer's decision: out_of_memory, select_bad_process, oom_kill_process (§1, §7).

T = 262144 pages (1 GiB, no swap), T // 1000 = 262, so adj moves badness by adj * 262 pages.
badness = rss_anon + rss_file + rss_shmem + swapents + pgtables + adj * 262.
"""

from __future__ import annotations

import pytest

from oomtui.engine.oom import LONG_MAX, Candidate, out_of_memory

T = 262144


def proc(pid, anon=0, *, comm=None, memcg="/", mm=None, **kw) -> Candidate:
    base = dict(comm=comm or f"p{pid}", uid=1000, mm_id=pid if mm is None else mm, rss_anon=anon,
                rss_file=0, rss_shmem=0, swapents=0, pgtables=0, total_vm=anon + 100, adj=0,
                memcg=memcg)
    base.update(kw)
    return Candidate(pid=pid, **base)


INIT = proc(1, 5000, comm="systemd", uid=0, is_init=True)


def oom(cands, current=None, **kw):
    return out_of_memory(cands, totalpages=T, current=current, **kw)


# ---------------------------------------------------------------- select_bad_process

def test_biggest_dies_and_points_are_badness():
    d = oom([INIT, proc(10, 300, rss_file=20, swapents=7, pgtables=3), proc(11, 900)])
    assert (d.action, d.victim, d.killed) == ("kill", 11, (11,))
    assert d.points == {1: None, 10: 330, 11: 900}
    assert d.constraint == "CONSTRAINT_NONE" and d.group is None and d.marked == (11,)
    assert d.message == ("Out of memory: Killed process 11 (p11) total-vm:4000kB, anon-rss:3600kB, "
                         "file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:0kB oom_score_adj:0")


def test_ties_go_to_the_newest():
    d = oom([INIT, proc(10, 500), proc(11, 500), proc(12, 499)])
    assert d.victim == 11                       # points >= chosen: the later of 10 and 11


def test_init_and_adj_minus_1000_never_chosen_even_when_largest():
    cands = [proc(1, 90000, is_init=True), proc(20, 80000, adj=-1000), proc(21, 10)]
    d = oom(cands)
    assert (d.victim, d.killed) == (21, (21,))   # the big -1000 process survives
    assert d.points == {1: None, 20: None, 21: 10}


@pytest.mark.parametrize("adj, winner, small_points", [
    (1000, 30, 100 + 1000 * 262),      # 262100 > 200000
    (500, 31, 100 + 500 * 262),        # 131100 < 200000
    (-100, 31, 100 - 100 * 262),       # negative badness is still eligible, just small
])
def test_adj_scales_with_totalpages(adj, winner, small_points):
    d = oom([proc(30, 100, adj=adj), proc(31, 200000)])
    assert d.victim == winner
    assert d.points == {30: small_points, 31: 200000}


def test_only_negative_badness_left_is_still_killed():
    d = oom([INIT, proc(40, 10, adj=-999)])
    assert (d.action, d.victim, d.points[40]) == ("kill", 40, 10 - 999 * 262)


def test_pending_victim_aborts_the_scan():
    d = oom([INIT, proc(50, 10, oom_victim=True), proc(51, 9000)])
    assert (d.action, d.victim, d.killed, d.marked, d.message) == ("wait", None, (), (), "")
    assert d.points == {1: None, 50: 10, 51: 9000}


def test_pending_victim_aborts_even_with_adj_minus_1000():
    # oom_evaluate_task checks tsk_is_oom_victim before oom_badness looks at the adj
    d = oom([proc(50, 10, oom_victim=True, adj=-1000), proc(51, 9000)])
    assert d.action == "wait" and d.victim is None


def test_reaped_victim_is_skipped_and_a_new_one_chosen():
    d = oom([INIT, proc(50, 90000, oom_victim=True, mm_oom_skip=True), proc(51, 20), proc(52, 10)])
    assert (d.action, d.victim, d.killed) == ("kill", 51, (51,))
    assert d.points[50] is None


def test_mm_oom_skip_alone_hides_a_process():
    d = oom([proc(60, 90000, mm_oom_skip=True), proc(61, 5)])
    assert d.victim == 61


@pytest.mark.parametrize("adj", [0, -1000])
def test_oom_origin_chosen_regardless_of_size_and_adj(adj):
    # oom_task_origin is checked before oom_badness, so even adj -1000 does not protect it
    d = oom([INIT, proc(70, 1, oom_origin=True, adj=adj), proc(71, 200000)])
    assert (d.action, d.victim) == ("kill", 70)
    assert d.points[70] == LONG_MAX


def test_sysrq_kills_despite_a_pending_victim():
    d = oom([proc(50, 10, oom_victim=True), proc(51, 9000)], order=-1)
    assert (d.action, d.victim) == ("kill", 51)


# ---------------------------------------------------------------- panic_on_oom, allocating task

@pytest.mark.parametrize("panic_on_oom, memcg, action, message", [
    (1, None, "panic", "Out of memory: system-wide panic_on_oom is enabled"),
    (1, "/a", "kill", "Memory cgroup out of memory: Killed process 81"),
    (2, None, "panic", "Out of memory: compulsory panic_on_oom is enabled"),
    (2, "/a", "panic", "Out of memory: compulsory panic_on_oom is enabled"),
])
def test_panic_on_oom(panic_on_oom, memcg, action, message):
    d = oom([INIT, proc(80, 500), proc(81, 100, memcg="/a")], memcg=memcg,
            panic_on_oom=panic_on_oom)
    assert d.action == action and d.message.startswith(message)
    if action == "panic":
        assert (d.victim, d.killed) == (None, ())


def test_panic_on_oom_never_for_sysrq():
    d = oom([proc(80, 500)], panic_on_oom=2, order=-1)
    assert d.action == "kill"


def test_dying_current_is_marked_before_panic_on_oom():
    d = oom([proc(80, 500), proc(81, 100, dying=True)], current=81, panic_on_oom=2)
    assert (d.action, d.victim, d.killed, d.marked, d.message) == ("wait", 81, (), (81,), "")


def test_oom_kill_allocating_task_kills_current():
    d = oom([INIT, proc(90, 50000), proc(91, 10)], current=91, oom_kill_allocating_task=1)
    assert (d.action, d.victim, d.killed) == ("kill", 91, (91,))
    assert d.message.startswith("Out of memory (oom_kill_allocating_task): Killed process 91 (p91)")
    assert d.points == {1: None, 90: 50000, 91: 10}


@pytest.mark.parametrize("current_kw", [dict(adj=-1000), dict(is_init=True)])
def test_oom_kill_allocating_task_falls_back_to_selection(current_kw):
    d = oom([proc(90, 50000), proc(91, 10, **current_kw)], current=91, oom_kill_allocating_task=1)
    assert d.victim == 90 and d.message.startswith("Out of memory: Killed process 90")


def test_oom_kill_allocating_task_is_global_only():
    d = oom([proc(90, 500, memcg="/a"), proc(91, 10, memcg="/a")], current=91, memcg="/a",
            oom_kill_allocating_task=1)
    assert d.victim == 90


# ---------------------------------------------------------------- dying tasks

def test_dying_current_is_only_marked():
    d = oom([INIT, proc(100, 90000), proc(101, 10, dying=True)], current=101)
    assert (d.action, d.victim, d.killed, d.marked) == ("wait", 101, (), (101,))


def test_dying_current_sharing_its_mm_with_a_live_process_does_not_count():
    # task_will_free_mem: every process sharing the mm must be exiting too
    d = oom([proc(100, 90000), proc(101, 10, dying=True, mm=7), proc(102, 10, mm=7)], current=101)
    assert (d.action, d.victim) == ("kill", 100)


def test_reaped_dying_current_does_not_count():
    d = oom([proc(100, 90000), proc(101, 10, dying=True, mm_oom_skip=True)], current=101)
    assert (d.action, d.victim) == ("kill", 100)


def test_chosen_victim_already_dying_is_marked_not_killed():
    d = oom([INIT, proc(110, 90000, dying=True), proc(111, 10)])
    assert (d.action, d.victim, d.killed, d.marked, d.message) == ("wait", 110, (), (110,), "")


# ---------------------------------------------------------------- memcg OOM, oom.group, shared mm

def test_memcg_oom_picks_only_inside_the_subtree():
    cands = [INIT, proc(120, 90000, memcg="/"), proc(121, 300, memcg="/a"),
             proc(122, 80000, memcg="/ab"), proc(123, 200, memcg="/a/b"),
             proc(124, 400, memcg="/a/b")]
    d = oom(cands, memcg="/a")
    assert (d.action, d.victim, d.constraint, d.memcg) == ("kill", 124, "CONSTRAINT_MEMCG", "/a")
    assert list(d.points) == [121, 123, 124]              # "/ab" is not below "/a"
    assert d.message.startswith("Memory cgroup out of memory: Killed process 124")


def test_memcg_scan_is_pre_order_then_fork_order():
    # ties go to the later task in mem_cgroup_scan_tasks order, not in fork order
    cands = [proc(130, 50, memcg="/a/c"), proc(131, 50, memcg="/a/b"), proc(132, 50, memcg="/a"),
             proc(133, 50, memcg="/a/c")]
    assert list(oom(cands, memcg="/a").points) == [132, 130, 133, 131]
    d = oom(cands, memcg="/a", cgroup_order=["/a", "/a/b", "/a/c"])
    assert list(d.points) == [132, 131, 130, 133] and d.victim == 133


def test_nothing_killable_global_panics_memcg_fails():
    cands = [INIT, proc(140, 500, adj=-1000, memcg="/a"), proc(141, 5, mm_oom_skip=True)]
    d = oom(cands)
    assert (d.action, d.victim, d.killed, d.message) == ("panic", None, (),
                                                         "System is deadlocked on memory")
    d = oom(cands, memcg="/a")
    assert (d.action, d.victim) == ("fail", None)
    assert d.message == "Out of memory and no killable processes..."
    assert d.points == {140: None}
    assert oom(cands, order=-1).action == "fail"       # sysrq never panics


GROUPED = [INIT,
           proc(150, 100, memcg="/a"),
           proc(151, 9000, memcg="/a/b/c"),
           proc(152, 50, memcg="/a/b"),
           proc(153, 70, memcg="/a/b/c", adj=-1000),
           proc(154, 60, memcg="/a/b/c"),
           proc(155, 10, memcg="/x")]


def test_oom_group_kills_the_top_most_group_except_minus_1000():
    groups = {"/a/b", "/a/b/c"}
    d = oom(GROUPED, oom_group=groups.__contains__)
    assert (d.action, d.victim, d.group) == ("kill", 151, "/a/b")
    assert d.kills == (151, 152, 151, 154)          # scan of /a/b: 152, then /a/b/c: 151 154
    assert d.killed == d.marked == (151, 152, 154)   # 153 (-1000), 150 (/a), 155 survive


def test_oom_group_stops_at_the_oom_memcg():
    groups = {"/a/b", "/a/b/c"}
    d = oom(GROUPED, memcg="/a/b/c", oom_group=groups.__contains__)
    assert (d.victim, d.group, d.killed) == (151, "/a/b/c", (151, 154))


def test_oom_group_unset_or_victim_in_root():
    assert oom(GROUPED).group is None
    d = oom([proc(160, 900), proc(161, 10, memcg="/g")], oom_group=lambda p: True)
    assert (d.victim, d.group, d.killed) == (160, None, (160,))


def test_processes_sharing_the_mm_are_killed_but_not_marked():
    # CLONE_VM without CLONE_THREAD: the sharers get SIGKILL, even at adj -1000, but not init
    cands = [proc(1, 0, is_init=True, mm=7), proc(170, 10, mm=9), proc(171, 900, mm=7),
             proc(172, 5, mm=7, adj=-1000), proc(173, 5, mm=8)]
    d = oom(cands)
    assert (d.victim, d.killed, d.marked) == (171, (171, 172), (171,))


def test_group_members_bring_their_mm_sharers_along():
    cands = [proc(180, 900, memcg="/g"), proc(181, 5, memcg="/g", mm=4), proc(182, 5, mm=4)]
    d = oom(cands, oom_group=lambda p: p == "/g")
    assert (d.group, d.killed, d.marked) == ("/g", (180, 181, 182), (180, 181))


@pytest.mark.parametrize("kw", [
    dict(), dict(panic_on_oom=1), dict(memcg="/a/b"), dict(oom_group=lambda p: True),
    dict(current=154, oom_kill_allocating_task=1), dict(memcg="/x", panic_on_oom=2),
])
def test_points_cover_every_candidate_in_the_domain(kw):
    d = oom(GROUPED, **kw)
    memcg = kw.get("memcg")
    expected = {c.pid for c in GROUPED if memcg is None or c.memcg == memcg
                or c.memcg.startswith(memcg + "/")}
    assert set(d.points) == expected
