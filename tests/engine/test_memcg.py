"""memcg v2 through the Machine API (KERNEL.md §7): charging, memory.max reclaim and OOM,
oom.group, memory.high throttling, memory.min/low protection, swap.max, and the calls' errors.

The arithmetic (overage, penalty, effective protection) has unit tests in test_memcg_model.py;
here a workload faults pages in and the cgroup's files, the events and the processes that are
left show what the kernel did.
"""

from __future__ import annotations

import errno

import pytest

from oomtui.engine import SwapDevice

PAGE = 4096
MiB = 1 << 20


def grab(m, pid, nbytes) -> int:
    a = m.mmap(pid, nbytes)
    m.touch(pid, a, nbytes)
    return a


def current(m, path) -> int:
    return m.cgroup_stat(path)["memory.current"]


def kinds(m, kind):
    return [e for e in m.events if e.kind == kind]


# -- charging ---------------------------------------------------------------------------------

def test_anon_pages_are_charged_to_the_faulting_process_cgroup_and_its_ancestors(m):
    m.cgroup_create("/a")
    m.cgroup_create("/a/b")
    pid = m.spawn("app", cgroup="/a/b")
    grab(m, pid, 10 * MiB)
    assert current(m, "/a/b") == 10 * MiB
    assert current(m, "/a") == 10 * MiB
    assert m.cgroup_stat("/a/b")["memory.stat"]["inactive_anon"] == 10 * MiB
    assert m.cgroup_stat("/a/b")["cgroup.procs"] == [pid]
    m.exit(pid)
    assert current(m, "/a") == 0
    assert m.cgroup_stat("/a")["memory.peak"] == 10 * MiB


def test_page_cache_stays_charged_to_the_first_reader(m):
    m.cgroup_create("/a")
    m.cgroup_create("/b")
    p = m.spawn("reader", cgroup="/a")
    q = m.spawn("reader2", cgroup="/b")
    m.write_file(p, "/data", 8 * MiB)
    m.read_file(q, "/data", 8 * MiB)
    assert current(m, "/a") == 8 * MiB
    assert current(m, "/b") == 0
    m.exit(p)  # the pages stay cached, and charged, after the task has gone
    assert current(m, "/a") == 8 * MiB


def test_cgroup_move_keeps_old_charges_and_charges_new_pages_to_the_new_group(m):
    m.cgroup_create("/old")
    m.cgroup_create("/new")
    pid = m.spawn("app", cgroup="/old")
    grab(m, pid, 4 * MiB)
    m.cgroup_move(pid, "/new")
    grab(m, pid, 2 * MiB)
    assert (current(m, "/old"), current(m, "/new")) == (4 * MiB, 2 * MiB)
    assert m.processes()[-1]["cgroup"] == "/new"


def test_fork_puts_the_child_in_the_parents_cgroup(m):
    m.cgroup_create("/svc")
    pid = m.spawn("svc", cgroup="/svc")
    child = m.fork(pid)
    assert m.cgroup_stat("/svc")["cgroup.procs"] == [pid, child]


# -- memory.max -------------------------------------------------------------------------------

def test_memory_max_reclaims_the_group_to_swap_instead_of_killing(machine):
    m = machine(512, swap=[SwapDevice(size_mib=256)])
    m.cgroup_create("/lim", memory_max=32 * MiB)
    other = m.spawn("other")
    grab(m, other, 64 * MiB)
    pid = m.spawn("big", cgroup="/lim")
    grab(m, pid, 48 * MiB)
    st = m.cgroup_stat("/lim")
    assert st["memory.current"] <= 32 * MiB
    assert st["memory.current"] + st["memory.swap.current"] == 48 * MiB
    assert st["memory.events"]["max"] > 0 and st["memory.events"]["oom"] == 0
    assert pid in {p["pid"] for p in m.processes()}
    assert m.proc_status(other)["VmSwap"] == 0  # reclaim stayed inside the group


def test_memory_max_without_swap_kills_inside_the_group_only(machine):
    m = machine(512)
    m.cgroup_create("/lim", memory_max=32 * MiB)
    outside = m.spawn("outside")
    grab(m, outside, 100 * MiB)  # the biggest process on the machine, but outside the group
    small = m.spawn("small", cgroup="/lim")
    grab(m, small, 4 * MiB)
    big = m.spawn("big", cgroup="/lim")
    grab(m, big, 40 * MiB)
    alive = {p["pid"] for p in m.processes()}
    assert big not in alive and {small, outside} <= alive
    ev = m.cgroup_stat("/lim")["memory.events"]
    assert (ev["oom"], ev["oom_kill"]) == (1, 1)
    oom = kinds(m, "oom")[-1]
    assert oom.data["memcg"] == "/lim" and oom.data["victim"] == big
    assert "Memory cgroup out of memory: Killed process" in oom.data["report"]
    assert "memory: usage " in oom.data["report"] and "limit 32768kB" in oom.data["report"]
    assert set(oom.data["points"]) == {small, big}  # only the group's tasks are candidates
    assert m.vmstat()["oom_kill"] == 1
    assert current(m, "/lim") == 4 * MiB


def test_oom_group_kills_the_whole_group_but_spares_adj_minus_1000(machine):
    m = machine(512)
    m.cgroup_create("/job", memory_max=32 * MiB, oom_group=True)
    keeper = m.spawn("keeper", cgroup="/job", oom_score_adj=-1000)
    a = m.spawn("worker-a", cgroup="/job")
    b = m.spawn("worker-b", cgroup="/job")
    grab(m, a, 4 * MiB)
    grab(m, b, 40 * MiB)
    alive = {p["pid"] for p in m.processes()}
    assert keeper in alive and a not in alive and b not in alive
    ev = m.cgroup_stat("/job")["memory.events"]
    assert (ev["oom_kill"], ev["oom_group_kill"]) == (2, 1)


def test_panic_on_oom_1_does_not_panic_for_a_memcg_oom(machine):
    m = machine(512, sysctl={"vm.panic_on_oom": 1})
    m.cgroup_create("/lim", memory_max=16 * MiB)
    pid = m.spawn("big", cgroup="/lim")
    grab(m, pid, 20 * MiB)
    assert m.panicked is None and pid not in {p["pid"] for p in m.processes()}


def test_panic_on_oom_2_panics_for_a_memcg_oom(machine):
    m = machine(512, sysctl={"vm.panic_on_oom": 2})
    m.cgroup_create("/lim", memory_max=16 * MiB)
    pid = m.spawn("big", cgroup="/lim")
    with pytest.raises(OSError) as ei:
        grab(m, pid, 20 * MiB)
    assert ei.value.errno == errno.ENOTRECOVERABLE
    assert "compulsory panic_on_oom" in m.panicked


def test_a_charge_with_nobody_killable_fails_with_enomem_and_the_task_lives(machine):
    m = machine(512)
    m.cgroup_create("/lim", memory_max=8 * MiB)
    pid = m.spawn("immortal", cgroup="/lim", oom_score_adj=-1000)
    a = m.mmap(pid, 16 * MiB)
    with pytest.raises(OSError) as ei:
        m.touch(pid, a, 16 * MiB)
    assert ei.value.errno == errno.ENOMEM and "/lim" in str(ei.value)
    assert current(m, "/lim") == 8 * MiB
    assert m.cgroup_stat("/lim")["memory.events"]["oom"] == 1
    assert kinds(m, "oom")[-1].message == "Out of memory and no killable processes..."


def test_lowering_memory_max_below_usage_reclaims_then_kills(machine):
    m = machine(512)
    m.cgroup_create("/lim")
    pid = m.spawn("big", cgroup="/lim")
    grab(m, pid, 20 * MiB)
    reader = m.spawn("reader", cgroup="/lim")
    m.write_file(reader, "/log", 4 * MiB)
    m.cgroup_set("/lim", memory_max=22 * MiB)  # the dirty cache is written and dropped
    assert current(m, "/lim") <= 22 * MiB and pid in {p["pid"] for p in m.processes()}
    m.cgroup_set("/lim", memory_max=10 * MiB)  # anon cannot go anywhere: the OOM killer
    assert pid not in {p["pid"] for p in m.processes()}
    assert current(m, "/lim") <= 10 * MiB
    assert m.cgroup_stat("/lim")["memory.events"]["oom_kill"] == 1


def test_swap_max_zero_keeps_the_groups_anon_in_ram(machine):
    m = machine(512, swap=[SwapDevice(size_mib=256)])
    m.cgroup_create("/noswap", memory_max=32 * MiB, swap_max=0)
    pid = m.spawn("big", cgroup="/noswap")
    grab(m, pid, 40 * MiB)
    st = m.cgroup_stat("/noswap")
    assert st["memory.swap.current"] == 0
    assert pid not in {p["pid"] for p in m.processes()}  # killed: no reclaimable memory left
    assert st["memory.events"]["oom_kill"] == 1


def test_swap_max_refusals_count_in_swap_events(machine):
    m = machine(512, swap=[SwapDevice(size_mib=256)])
    m.cgroup_create("/some", swap_max=1 * MiB)
    pid = m.spawn("app", cgroup="/some")
    a = grab(m, pid, 4 * MiB)
    m.madvise(pid, a, 4 * MiB, "pageout")
    st = m.cgroup_stat("/some")
    assert st["memory.swap.current"] == 1 * MiB
    assert st["memory.current"] == 3 * MiB
    assert st["memory.swap.events"]["max"] == 768  # every page that found swap.max full


# -- memory.high ------------------------------------------------------------------------------

def test_memory_high_throttles_by_the_kernels_penalty_and_never_kills(machine):
    """high 100M, usage 110M after charging 64 pages: overage = (2560 << 20) / 25600 = 104857,
    penalty = 104857² * 1000 >> 34 = 639 jiffies (ms) for 64 pages (× 64/64)."""
    m = machine(512)
    m.cgroup_create("/h")
    pid = m.spawn("leaker", cgroup="/h")
    grab(m, pid, 110 * MiB - 64 * PAGE)
    m.cgroup_set("/h", memory_high=100 * MiB)  # no swap: reclaim frees nothing, no OOM
    assert current(m, "/h") == 110 * MiB - 64 * PAGE
    grab(m, pid, 64 * PAGE)
    assert m.procs[pid].stall_us == 639_000
    assert m.processes()[-1]["state"] == "throttled"
    throttle = kinds(m, "throttle")[-1]
    assert throttle.data == {"jiffies": 639, "pages": 64}
    # reclaim_high ran once, then 16 more times while nothing was reclaimed
    assert m.cgroup_stat("/h")["memory.events"]["high"] == 17
    m.step(64)  # 639 ms of stall, served 10 ms a tick
    assert m.procs[pid].stall_us == 0 and m.processes()[-1]["state"] == "sleeping"
    psi = m.pressure()
    assert psi["some"]["total"] == 639_000 and psi["full"]["total"] == 639_000
    assert kinds(m, "oom") == []


def test_a_small_overage_is_not_worth_a_sleep(machine):
    """high 100M, usage 101M: 6 ms per 64 pages (≤ HZ/100), so no sleep at all."""
    m = machine(512)
    m.cgroup_create("/h")
    pid = m.spawn("app", cgroup="/h")
    grab(m, pid, 101 * MiB - 64 * PAGE)
    m.cgroup_set("/h", memory_high=100 * MiB)
    grab(m, pid, 64 * PAGE)
    assert m.procs[pid].stall_us == 0 and kinds(m, "throttle") == []


def test_memory_high_slows_a_leaking_workload_without_killing_it(machine):
    def leaked(high):
        m = machine(512)
        m.cgroup_create("/h", memory_high=high)
        pid = m.spawn("leaker", cgroup="/h", workload="leaker")
        m.step(3000)
        assert pid in {p["pid"] for p in m.processes()}
        return current(m, "/h"), m.pressure()["some"]["total"]

    free_run, no_stall = leaked(None)
    throttled, stalled = leaked(8 * MiB)
    assert no_stall == 0 and stalled > 0
    assert 8 * MiB < throttled < free_run


def test_lowering_memory_high_reclaims_file_pages_at_once(m):
    m.cgroup_create("/h")
    pid = m.spawn("reader", cgroup="/h")
    m.write_file(pid, "/f", 16 * MiB)
    m.cgroup_set("/h", memory_high=4 * MiB)
    assert current(m, "/h") <= 4 * MiB
    assert kinds(m, "oom") == []


# -- memory.min / memory.low ------------------------------------------------------------------

def pressure_against(m, protected_path, **limits):
    """A clean file-cache group under `protected_path`, then an unprotected hog that needs
    its RAM (after its own cold cache)."""
    m.cgroup_create(protected_path, **limits)
    m.cgroup_create("/hog")
    cache = m.spawn("cache", cgroup=protected_path)
    m.write_file(cache, "/warm", 0, offset=48 * MiB)  # sparse: sized, nothing cached or dirty
    m.read_file(cache, "/warm", 48 * MiB)
    m.read_file(cache, "/warm", 48 * MiB)  # used twice: active
    hog = m.spawn("hog", cgroup="/hog")
    m.write_file(hog, "/cold", 0, offset=48 * MiB)
    m.read_file(hog, "/cold", 48 * MiB)
    grab(m, hog, 150 * MiB)
    return cache, hog


def test_memory_min_protects_a_groups_pages_from_global_reclaim(machine):
    m = machine(192)
    _, hog = pressure_against(m, "/prot", memory_min=64 * MiB)
    assert current(m, "/prot") == 48 * MiB
    assert hog not in m.procs  # the OOM killer comes before memory.min is broken
    assert m.cgroup_stat("/hog")["memory.events"]["oom_kill"] == 1


def test_without_protection_the_same_group_is_reclaimed(machine):
    m = machine(192)
    _, hog = pressure_against(m, "/prot")
    assert current(m, "/prot") < 48 * MiB and hog in m.procs


def test_memory_low_is_reclaimed_only_when_nothing_else_is_left(machine):
    m = machine(192)
    _, hog = pressure_against(m, "/soft", memory_low=64 * MiB)
    assert hog in m.procs
    st = m.cgroup_stat("/soft")
    assert st["memory.current"] < 48 * MiB and st["memory.events"]["low"] > 0
    assert m.cgroup_stat("/hog")["memory.stat"]["inactive_file"] == 0  # the cold cache went first


# -- errors -----------------------------------------------------------------------------------

def test_bad_cgroup_calls_are_refused_and_change_nothing(m, fails):
    m.cgroup_create("/a", memory_max=64 * MiB)
    pid = m.spawn("app")
    fails(m, errno.EEXIST, m.cgroup_create, "/a")
    fails(m, errno.ENOENT, m.cgroup_create, "/x/y")
    fails(m, errno.EINVAL, m.cgroup_create, "relative")
    fails(m, errno.EINVAL, m.cgroup_create, "/b", memory_max=-1)
    fails(m, errno.EINVAL, m.cgroup_create, "/b", memory_high="lots")
    fails(m, errno.EINVAL, m.cgroup_set, "/", memory_max=MiB)
    fails(m, errno.EINVAL, m.cgroup_set, "/a", memory_maximum=MiB)
    fails(m, errno.ENOENT, m.cgroup_set, "/nope", memory_max=MiB)
    fails(m, errno.ENOENT, m.cgroup_move, pid, "/nope")
    fails(m, errno.ESRCH, m.cgroup_move, 999, "/a")
    fails(m, errno.ENOENT, m.spawn, "x", cgroup="/nope")
    fails(m, errno.ENOENT, m.cgroup_stat, "/nope")
    assert m.cgroups() == ["/", "/a"]


def test_many_cgroups_grow_the_tables(m):
    for i in range(40):
        m.cgroup_create(f"/g{i}")
        grab(m, m.spawn(f"p{i}", cgroup=f"/g{i}"), 64 * PAGE)
    assert len(m.cgroups()) == 41
    assert all(current(m, f"/g{i}") == 64 * PAGE for i in range(40))
