"""The userspace OOM daemons' policies (engine/daemons/): each trigger and victim against
numbers computed by hand from the real daemons' rules, then the driver on a machine."""

from __future__ import annotations

import errno

import pytest

from oomtui.engine.daemons import earlyoom, nohang, systemd_oomd
from oomtui.engine.daemons.facts import Facts, Group, Task
from oomtui.engine.daemons.driver import policy_settings

MiB = 1024  # kB


def facts(*, total=1_000_000, avail, anon=0, swap_total=0, swap_free=0, tasks=(), groups=(),
          now_us=0, pgscan=0, full10=0.0) -> Facts:
    meminfo = {"MemTotal": total, "MemAvailable": avail, "AnonPages": anon,
               "SwapTotal": swap_total, "SwapFree": swap_free}
    pressure = {"some": {"avg10": full10}, "full": {"avg10": full10}}
    return Facts(now_us, meminfo, pressure, pgscan, tuple(tasks), tuple(groups))


def task(pid, comm, score, rss=1000, adj=0, cgroup="/") -> Task:
    return Task(pid, comm, score, adj, cgroup, rss)


TASKS = (task(1, "init", 0), task(2, "postgres", 300, rss=4000, adj=-200),
         task(3, "chrome", 500), task(4, "make", 100), task(5, "sshd", 0, adj=-1000))


# -- earlyoom -------------------------------------------------------------------------------

def test_earlyoom_sigterm_when_both_at_or_below_10_percent_of_user_mem_and_swap():
    s = earlyoom.settings({})
    assert (s["mem_kill_percent"], s["swap_kill_percent"]) == (5, 5)  # half the SIGTERM levels
    # user mem total = MemAvailable + AnonPages = 100,000 kB: 10,000 kB available is 10.00%
    f = facts(avail=10_000, anon=90_000, swap_total=100_000, swap_free=10_000, tasks=TASKS)
    v = earlyoom.poll(s, f, {})
    assert v.action.signal == 15 and v.action.pids == (3,)  # chrome: the highest oom_score
    assert "mem avail 10.00% <= 10% and swap free 10.00% <= 10%" in v.action.why
    # one kB more swap free: only memory is low, and earlyoom needs both
    f = facts(avail=10_000, anon=90_000, swap_total=100_000, swap_free=10_001, tasks=TASKS)
    assert earlyoom.poll(s, f, {}).action is None


def test_earlyoom_sigkill_at_or_below_5_percent_and_without_swap_swap_counts_as_0_percent():
    s = earlyoom.settings({})
    f = facts(avail=5_000, anon=95_000, tasks=TASKS)  # 5.00%, no swap
    assert earlyoom.poll(s, f, {}).action.signal == 9
    assert earlyoom.poll(s, facts(avail=5_001, anon=94_999, tasks=TASKS), {}).action.signal == 15


def test_earlyoom_polls_sooner_the_closer_memory_is_to_the_sigterm_level():
    s = earlyoom.settings({})
    # (50% - 10%) of 1,000,000 kB = 400,000 kB of headroom at 6000 kB/ms: 66 ms -> 100 ms floor
    f = facts(avail=500_000, anon=500_000)
    assert earlyoom.poll(s, f, {}).sleep_us == 100_000
    # 20% of 10,000,000 kB: 1,000,000 kB / 6000 = 166 ms; swap 90% of 1,000,000 kB at 800: 1125
    f = facts(total=10_000_000, avail=2_000_000, anon=8_000_000, swap_total=1_000_000,
              swap_free=1_000_000)
    assert earlyoom.poll(s, f, {}).sleep_us == 1_000_000  # 1291 ms -> the 1 s ceiling
    f = facts(total=10_000_000, avail=2_000_000, anon=8_000_000)
    assert earlyoom.poll(s, f, {}).sleep_us == 166_000


def test_earlyoom_prefer_avoid_and_ignore_regexes_move_the_victim():
    low = dict(avail=1_000, anon=99_000)
    assert earlyoom.poll(earlyoom.settings({}), facts(**low, tasks=TASKS), {}).action.pids == (3,)
    # --avoid chrome: 500 - 300 = 200 < postgres' 300
    s = earlyoom.settings({"avoid": "^chrome$"})
    assert earlyoom.poll(s, facts(**low, tasks=TASKS), {}).action.pids == (2,)
    # --prefer make: 100 + 300 = 400 < chrome's 500; with chrome avoided, make wins
    s = earlyoom.settings({"prefer": "^make$", "avoid": "chrome"})
    assert earlyoom.poll(s, facts(**low, tasks=TASKS), {}).action.pids == (4,)
    s = earlyoom.settings({"ignore": "chrome|postgres|make"})
    assert earlyoom.poll(s, facts(**low, tasks=TASKS), {}).action is None  # sshd is -1000


def test_earlyoom_breaks_a_score_tie_by_the_larger_rss():
    tasks = (task(2, "a", 400, rss=100), task(3, "b", 400, rss=300), task(4, "c", 400, rss=300))
    v = earlyoom.poll(earlyoom.settings({}), facts(avail=0, anon=1, tasks=tasks), {})
    assert v.action.pids == (3,)  # c ties b on both: the first seen stays


@pytest.mark.parametrize("given, message", [
    ({"mem_term_percent": 100},
     "earlyoom: mem_term_percent: must be a number from 0 to 99, got 100"),
    ({"mem_term_percent": 4, "mem_kill_percent": 6},
     "earlyoom: mem_kill_percent: 6 is above mem_term_percent 4"),
    ({"swap_term_percent": 0},
     "earlyoom: swap_term_percent: both SIGTERM and SIGKILL levels are zero"),
    ({"avoid": "("}, "earlyoom: avoid: is not a valid regular expression: missing ), unterminated "
     "subpattern at position 0"),
    ({"mem_percent": 5}, "earlyoom: unknown setting 'mem_percent': use mem_term_percent, "
     "mem_kill_percent, swap_term_percent, swap_kill_percent, prefer, avoid, ignore, "
     "sigterm_grace_ms, sigterm_timeout_ms"),
])
def test_earlyoom_bad_settings_are_einval_naming_the_setting(given, message):
    with pytest.raises(OSError) as e:
        policy_settings("earlyoom", given)
    assert e.value.errno == errno.EINVAL and e.value.strerror == message


# -- nohang ---------------------------------------------------------------------------------

def test_nohang_soft_and_hard_levels_are_percentages_of_memtotal_and_swaptotal():
    s = nohang.settings({})
    # MemTotal 1,000,000 kB: soft 5% = 50,000 kB, hard 2% = 20,000 kB;
    # SwapTotal 100,000 kB: soft 10% = 10,000 kB, hard 4% = 4,000 kB
    def poll(avail, swap_free):
        v = nohang.poll(s, facts(avail=avail, swap_total=100_000, swap_free=swap_free,
                                 tasks=TASKS), {})
        return v.action and (v.action.signal, v.action.pids)
    assert poll(50_000, 10_000) == (15, (3,))
    assert poll(50_001, 10_000) is None
    assert poll(20_000, 4_000) == (9, (3,))
    assert poll(20_000, 4_001) == (15, (3,))


def test_nohang_badness_rules_and_min_badness():
    s = nohang.settings({"badness_adj_re_name": [[-400, "^chrome$"], [250, "^(postgres|make)$"]]})
    low = dict(avail=0, swap_total=100_000, swap_free=0)
    # chrome 500 - 400 = 100; postgres 300 but adj -200 < 0: no positive rule; make 100 + 250
    assert nohang.poll(s, facts(**low, tasks=TASKS), {}).action.pids == (4,)
    assert nohang.badness(s, "make", 0, 0) == 0  # oom_score 0 stays 0
    zero = (task(1, "init", 0), task(2, "idle", 0))
    assert nohang.poll(nohang.settings({}), facts(**low, tasks=zero), {}).action is None


def test_nohang_psi_needs_the_level_held_for_psi_excess_duration():
    s = nohang.settings({"psi_checking_enabled": True})
    # MemAvailable 15,000 kB is under the hard memory level; swap free is plenty
    f = lambda t, psi: facts(avail=15_000, swap_total=100_000, swap_free=90_000, tasks=TASKS,
                             now_us=t * 1_000_000, full10=psi)
    memo = nohang.poll(s, f(0, 95.0), {}).memo
    assert memo["psi_hard_since_us"] == 0
    v = nohang.poll(s, f(29, 95.0), memo)
    assert v.action is None
    v = nohang.poll(s, f(30, 95.0), v.memo)
    assert v.action.signal == 9
    assert "PSI full avg10 95.00 >= hard_threshold_max_psi 90" in v.action.why
    # below 40 the timers reset
    assert "psi_soft_since_us" not in nohang.poll(s, f(31, 10.0), v.memo).memo


def test_nohang_sleeps_as_long_as_memory_could_take_to_fall_to_the_levels():
    s = nohang.settings({})
    # (1,000,000 - 50,000) kB at 6000 MiB/s + (100,000 - 10,000) kB at 2000 MiB/s
    v = nohang.poll(s, facts(avail=1_000_000, swap_total=100_000, swap_free=100_000), {})
    assert v.sleep_us == int((950_000 / (6000 * 1024) + 90_000 / (2000 * 1024)) * 1e6) == 198_567


# -- systemd-oomd ---------------------------------------------------------------------------

def groups(**swap_mib) -> list[Group]:
    out = [Group("/", 0, 0, False, False, 0.0)]
    for name, mib in swap_mib.items():
        out.append(Group(f"/{name}", 100 << 20, mib << 20, False, True, 0.0))
    return out


def swap_low(gs, **settings):
    s = systemd_oomd.settings(settings)
    # MemTotal 1,000,000 kB; less than 10% (100,000 kB) available and swap free
    f = facts(avail=99_999, swap_total=1000 * MiB, swap_free=100 * MiB - 1, groups=gs)
    return systemd_oomd.poll(s, f, {}).action


def test_systemd_oomd_swap_kills_the_cgroup_with_the_most_swap_over_5_percent():
    a = swap_low(groups(build=60, db=40))
    assert (a.signal, a.cgroup) == (9, "/build")
    assert "over 90%" in a.why
    # 5% of 1000 MiB = 50 MiB: a cgroup must use more than that
    assert swap_low(groups(build=50, db=40)) is None
    # both conditions are strict: 100,000 kB available is not below 10%
    s = systemd_oomd.settings({})
    f = facts(avail=100_000, swap_total=1000 * MiB, swap_free=0, groups=groups(build=60))
    assert systemd_oomd.poll(s, f, {}).action is None


def test_systemd_oomd_avoid_sorts_last_and_omit_leaves_out():
    assert swap_low(groups(build=60, db=55), avoid_cgroups=["/build"]).cgroup == "/db"
    assert swap_low(groups(build=60, db=40), avoid_cgroups=["/build"]).cgroup == "/build"
    assert swap_low(groups(build=60, db=40), omit_cgroups=["/build"]) is None


def test_systemd_oomd_candidates_are_leaves_or_oom_group_cgroups():
    gs = [Group("/", 0, 0, False, False, 0.0),
          Group("/user", 0, 0, False, False, 0.0),
          Group("/user/app", 0, 90 << 20, True, False, 0.0),  # memory.oom.group: killed whole
          Group("/user/app/tab", 0, 80 << 20, False, True, 0.0),
          Group("/user/shell", 0, 70 << 20, False, True, 0.0)]
    assert swap_low(gs).cgroup == "/user/app"
    assert swap_low(gs, omit_cgroups=["/user/app"]).cgroup == "/user/shell"


def test_systemd_oomd_pressure_over_50_percent_for_20_s_with_reclaim_kills_the_largest_leaf():
    s = systemd_oomd.settings({})
    user = [Group("/", 0, 0, False, False, 0.0),
            Group("/user-1000", 300 << 20, 0, False, False, 55.0),
            Group("/user-1000/app", 200 << 20, 0, False, True, 0.0),
            Group("/user-1000/shell", 100 << 20, 0, False, True, 0.0)]
    def poll(t, memo, pgscan):
        return systemd_oomd.poll(s, facts(avail=500_000, groups=user, now_us=t * 1_000_000,
                                          pgscan=pgscan), memo)
    v = poll(0, {}, 10)
    v = poll(1, v.memo, 20)  # reclaim at 1 s
    assert v.memo["hit_start_us"] == {"/user-1000": 0}
    v = poll(19, v.memo, 20)
    assert v.action is None  # 19 s over the limit
    v = poll(20, v.memo, 20)
    assert v.action.cgroup == "/user-1000/app"
    assert "memory pressure for /user-1000 is 55.00% > 50% for > 20s" in v.action.why
    assert poll(34, v.memo, 30).action is None  # 15 s of post-action delay
    assert poll(35, v.memo, 30).action.cgroup == "/user-1000/app"
    assert poll(35, v.memo, 20).action is None  # no reclaim for more than 30 s: no kill


@pytest.mark.parametrize("name, given, message", [
    ("oomd", None, "unknown OOM policy 'oomd': use kernel, earlyoom, systemd-oomd, nohang"),
    ("kernel", {"x": 1}, "kernel: the kernel's OOM killer has no settings here (its sysctls "
     "are vm.*)"),
    ("systemd-oomd", {"swap_cgroups": "/"}, "systemd-oomd: swap_cgroups: must be a list of "
     "cgroup paths like '/' or '/*', got '/'"),
    ("nohang", {"hard_threshold_min_mem": 6}, "nohang: hard_threshold_min_mem: 6 is above "
     "soft_threshold_min_mem 5"),
    ("nohang", {"badness_adj_re_name": [[5000, "x"]]}, "nohang: badness_adj_re_name[0]: "
     "adjustment must be an int from -1000 to 1000, got 5000"),
    ("nohang", {"psi_checking_enabled": 1}, "nohang: psi_checking_enabled: must be true or "
     "false, got 1"),
])
def test_bad_policy_names_and_settings_are_einval(name, given, message):
    with pytest.raises(OSError) as e:
        policy_settings(name, given)
    assert e.value.errno == errno.EINVAL and e.value.strerror == message


def test_set_policy_refuses_bad_input_and_changes_nothing(machine, fails):
    m = machine()
    e = fails(m, errno.EINVAL, m.set_policy, "earlyoom", {"mem_term_percent": -1})
    assert e.strerror == "earlyoom: mem_term_percent: must be a number from 0 to 99, got -1"
    fails(m, errno.EINVAL, m.set_policy, "oomd")
    assert m.policy() == ("kernel", {}) and "daemon" not in m.snapshot()
    m.set_policy("nohang", {"min_badness": 50})
    assert m.policy()[1]["min_badness"] == 50 and m.events[-1].kind == "policy"
    m.set_policy("kernel")
    assert m.daemon is None and "daemon" not in m.snapshot()


def test_a_cgroups_memory_pressure_follows_the_system_rule_for_its_own_tasks():
    from types import SimpleNamespace as Proc

    from oomtui.engine.daemons.driver import cgroup_stall

    running = Proc(done=False)
    a = Proc(pid=2, stall_us=4000, stall_kind="reclaim")
    b = Proc(pid=3, stall_us=15000, stall_kind="swapin")
    c = Proc(pid=4, stall_us=0, stall_kind="")
    runners = {2: running, 3: running, 4: running}
    # some: the longest stall served (capped at the 10 ms tick); full: all busy tasks stalled
    assert cgroup_stall([a, b], runners, 10_000) == (10_000, 4000)
    assert cgroup_stall([a, b, c], runners, 10_000) == (10_000, 0)  # c runs: not full
    dirty = Proc(pid=5, stall_us=8000, stall_kind="dirty")  # waits for I/O, not memory
    assert cgroup_stall([dirty], {}, 10_000) == (0, 0)
    assert cgroup_stall([c], {}, 10_000) == (0, 0)


def test_a_daemon_survives_a_save_file(machine, tmp_path):
    from oomtui.engine import Machine, SwapDevice

    m = machine(256, swap=[SwapDevice(size_mib=64)])
    m.cgroup_create("/user")
    pid = m.spawn("hog", cgroup="/user", workload="leaker")
    m.set_policy("systemd-oomd", {"memory_pressure_duration": 5})
    m.step(300)
    assert set(m.daemon.psi) == {"/user"} and m.daemon.memo["pgscan"] == 0
    m.save(tmp_path / "s.oomsave")
    loaded = Machine.load(tmp_path / "s.oomsave")
    assert loaded.policy() == m.policy() and loaded.state_digest() == m.state_digest()
    for x in (m, loaded):
        x.step(50)
    assert loaded.state_digest() == m.state_digest() and pid in loaded.procs
