"""Process lifecycle: boot state, spawn, fork pids, exit, kill (DESIGN.md §3, brief's boot rules).

Every process costs a 16 kB kernel stack (KernelStack), a 4 kB PGD (PageTables) and a 132 kB
untouched VM_ACCOUNT [stack] VMA (VmSize/VmStk/Committed_AS, no RSS).
"""

from __future__ import annotations

import errno

import pytest

PAGE = 4096
MiB = 1 << 20

MEMINFO_KEYS = ("MemFree", "MemAvailable", "Cached", "Active", "Inactive", "Active(anon)",
                "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked",
                "AnonPages", "Mapped", "Shmem", "KernelStack", "PageTables", "Committed_AS",
                "Dirty")


def pids(m):
    return [x["pid"] for x in m.processes()]


def test_boot_has_only_init(m):
    ps = m.processes()
    assert len(ps) == 1
    init = ps[0]
    assert (init["pid"], init["comm"], init["ppid"], init["oom_score_adj"]) == (1, "init", 0, 0)
    st = m.proc_status(1)
    assert st["Name"] == "init" and st["Pid"] == 1 and st["PPid"] == 0
    assert st["VmSize"] == 132 and st["VmStk"] == 132 and st["VmRSS"] == 0
    mi = m.meminfo()
    assert mi["KernelStack"] == 16 and mi["PageTables"] == 4 and mi["Committed_AS"] == 132


def test_spawn_costs(m, diff):
    mi0 = m.meminfo()
    m.spawn("a")
    d = diff(mi0, m.meminfo())
    assert d["KernelStack"] == 16 and d["PageTables"] == 4 and d["Committed_AS"] == 132
    assert d["MemFree"] == -20
    assert d["AnonPages"] == 0


def test_pids_are_sequential_and_not_reused(m):
    a = m.spawn("a")
    b = m.spawn("b")
    c = m.fork(a)
    assert (a, b, c) == (2, 3, 4)
    m.exit(b)
    assert m.spawn("d") == 5
    assert pids(m) == [1, 2, 4, 5]


def test_spawn_fields(m):
    p = m.spawn("worker", oom_score_adj=250)
    entry = next(x for x in m.processes() if x["pid"] == p)
    assert entry["comm"] == "worker" and entry["oom_score_adj"] == 250 and entry["ppid"] == 1
    st = m.proc_status(p)
    assert st["Name"] == "worker" and st["Pid"] == p and st["PPid"] == 1
    assert isinstance(st["State"], str) and st["State"]


def test_exit_returns_every_resource(m):
    mi0 = m.meminfo()
    p = m.spawn("p")
    a = m.mmap(p, 8 * MiB)
    m.touch(p, a, 8 * MiB)
    s = m.mmap(p, 2 * MiB, flags="shared|anonymous")
    m.touch(p, s, 2 * MiB)
    m.mlock(p, m.mmap(p, 1 * MiB), 1 * MiB)
    m.sbrk(p, 1 * MiB)
    c = m.fork(p)
    m.touch(c, a, 1 * MiB)
    m.exit(p)
    m.exit(c)
    mi = m.meminfo()
    for k in MEMINFO_KEYS:
        assert mi[k] == mi0[k], k
    assert pids(m) == [1]


def test_page_cache_survives_exit(m, diff):
    mi0 = m.meminfo()
    p = m.spawn("p")
    m.write_file(p, "/data/f", 1 * MiB)
    m.exit(p)
    d = diff(mi0, m.meminfo())
    assert d["Cached"] == 1024 and d["Dirty"] == 1024 and d["SReclaimable"] == 20  # dentry, inode
    assert d["MemFree"] == -1024 - 20 and d["SUnreclaim"] == 0  # p's task objects were freed


@pytest.mark.parametrize("sig", [9, 15])
def test_kill_terminates(m, sig, diff):
    mi0 = m.meminfo()
    p = m.spawn("p")
    m.touch(p, m.mmap(p, 1 * MiB), 1 * MiB)
    m.kill(p, sig)
    assert p not in pids(m)
    assert diff(mi0, m.meminfo())["MemFree"] == 0


def test_kill_default_signal_is_9(m):
    p = m.spawn("p")
    m.kill(p)
    assert p not in pids(m)


def test_kill_zero_is_existence_check(m, fails):
    p = m.spawn("p")
    digest = m.state_digest()
    m.kill(p, 0)
    assert p in pids(m) and m.state_digest() == digest
    m.exit(p)
    fails(m, errno.ESRCH, m.kill, p, 0)


def test_init_cannot_exit_or_be_killed(m, fails):
    fails(m, errno.EPERM, m.exit, 1)
    fails(m, errno.EPERM, m.kill, 1, 9)
    fails(m, errno.EPERM, m.kill, 1, 15)
    assert pids(m) == [1]


def test_other_signals_einval(m, fails):
    p = m.spawn("p")
    fails(m, errno.EINVAL, m.kill, p, 2)
    fails(m, errno.EINVAL, m.kill, p, 99)


def test_dead_pid_is_esrch_everywhere(m, fails):
    p = m.spawn("p")
    a = m.mmap(p, 1 * MiB)
    m.exit(p)
    calls = [
        (m.fork, (p,), {}), (m.exit, (p,), {}), (m.kill, (p, 9), {}),
        (m.mmap, (p, PAGE), {}), (m.munmap, (p, a, PAGE), {}),
        (m.mremap, (p, a, PAGE, 2 * PAGE), {}), (m.mprotect, (p, a, PAGE, "r"), {}),
        (m.madvise, (p, a, PAGE, "dontneed"), {}), (m.mlock, (p, a, PAGE), {}),
        (m.munlock, (p, a, PAGE), {}), (m.mlockall, (p, "current"), {}),
        (m.mincore, (p, a, PAGE), {}), (m.brk, (p,), {}), (m.sbrk, (p, PAGE), {}),
        (m.prlimit, (p, "AS"), {}), (m.touch, (p, a, PAGE), {}),
        (m.read_file, (p, "/data/x", PAGE), {}), (m.write_file, (p, "/data/x", PAGE), {}),
        (m.set_oom_score_adj, (p, 1), {}), (m.proc_status, (p,), {}),
        (m.oom_score, (p,), {}), (m.oom_badness, (p,), {}),
    ]
    for fn, args, kw in calls:
        fails(m, errno.ESRCH, fn, *args, **kw)


def test_unknown_pid_is_esrch(m, fails):
    fails(m, errno.ESRCH, m.fork, 77)
    fails(m, errno.ESRCH, m.mmap, 77, PAGE)
    fails(m, errno.ESRCH, m.proc_status, 77)
    fails(m, errno.ESRCH, m.fork, 0)


def test_spawn_validation(m, fails):
    fails(m, errno.EINVAL, m.spawn, "p", oom_score_adj=1001)
    fails(m, errno.EINVAL, m.spawn, "p", oom_score_adj=-1001)
    fails(m, errno.EINVAL, m.spawn, "p", caps=("CAP_FLY",))
    assert m.spawn("p", caps=("CAP_SYS_RESOURCE", "CAP_IPC_LOCK", "CAP_SYS_ADMIN")) == 2


def test_fork_of_init_works(m):
    c = m.fork(1)
    assert m.proc_status(c)["PPid"] == 1
    assert m.proc_status(c)["VmStk"] == 132
    assert m.oom_badness(c) == 0            # a forked init is not "global init"


def test_many_processes_accounting(m):
    for i in range(20):
        m.spawn(f"w{i}")
    mi = m.meminfo()
    assert mi["KernelStack"] == 21 * 16
    assert mi["PageTables"] == 21 * 4
    assert mi["Committed_AS"] == 21 * 132


def test_status_state_is_the_tasks_and_executable_mappings_are_vmlib(m):
    """task_state: an idle process sleeps (S), one running a workload runs (R), a writer
    paused by balance_dirty_pages sleeps uninterruptibly (D). task_mem: a 1 MiB r-x file
    mapping is 256 pages of exec_vm; with no code segment mapped it is all VmLib."""
    idle = m.spawn("idle")
    busy = m.spawn("busy", workload="leaker")
    assert m.proc_status(idle)["State"] == "S (sleeping)"
    assert m.proc_status(busy)["State"] == "R (running)"
    m.write_file(idle, "/lib.so", 1 * MiB)
    m.mmap(idle, 1 * MiB, prot="rx", flags="private", file="/lib.so")
    st = m.proc_status(idle)
    assert (st["VmExe"], st["VmLib"]) == (0, 1024)
    m.mmap(idle, 1 * MiB, prot="rwx")  # writable: not exec_vm
    assert m.proc_status(idle)["VmLib"] == 1024
    m.write_file(idle, "/log", m.dirty_limits()[1] * 4096)  # MAX_PAUSE at the dirty limit
    assert m.processes()[-2]["state"] == "dirty"
    assert m.proc_status(idle)["State"] == "D (disk sleep)"


def test_kill_matching_ends_every_process_by_name_or_cgroup(m, fails, diff):
    """pkill -x NAME and cgroup.kill: every match dies at once (init is spared), and the
    memory of all of them comes back."""
    mi0 = m.meminfo()
    m.cgroup_create("/batch")
    m.cgroup_create("/batch/jobs")
    bombs = [m.spawn("bomb") for _ in range(3)]
    bombs.append(m.fork(bombs[0]))
    jobs = [m.spawn("job", cgroup="/batch"), m.spawn("job", cgroup="/batch/jobs")]
    keep = m.spawn("job")
    for pid in bombs + jobs + [keep]:
        m.touch(pid, m.mmap(pid, 1 * MiB), 1 * MiB)
    assert m.kill_matching(comm="bomb") == sorted(bombs)
    assert m.kill_matching(comm="job", cgroup="/batch") == jobs  # and /batch/jobs below it
    assert m.kill_matching(comm="nobody") == [] and m.kill_matching(comm="init") == []
    assert sorted(m.procs) == [1, keep]
    assert diff(mi0, m.meminfo())["AnonPages"] == 1024  # only keep's MiB is left
    assert [e.kind for e in m.events[-6:]] == ["kill"] * 6
    fails(m, errno.EINVAL, m.kill_matching)
    fails(m, errno.EINVAL, m.kill_matching, cgroup="/")
    fails(m, errno.ENOENT, m.kill_matching, cgroup="/nope")
    fails(m, errno.EINVAL, m.kill_matching, comm=["job"])
    fails(m, errno.EINVAL, m.kill_matching, comm="job", sig=1)
