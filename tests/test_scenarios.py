"""The built-in scenarios: each boots, and each does what its description promises."""

from __future__ import annotations

import errno

import pytest

from oomtui.scenarios import builtin, builtin_names

MiB = 1024  # kB: /proc's unit


def run(scenario, machine, until: int) -> None:
    """Step to tick `until`, applying the scenario's timed calls on their ticks."""
    for call in scenario.calls:
        if call.tick > until:
            break
        if call.tick > machine.tick:
            machine.step(call.tick - machine.tick)
        call.apply(machine)
    if until > machine.tick:
        machine.step(until - machine.tick)


def kills(m) -> list[tuple[int, str]]:
    return [(e.tick, e.message) for e in m.events if e.kind == "oom_kill"]


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_scenario_boots_its_processes(name):
    scenario = builtin(name)
    m = scenario.boot()
    assert [p["comm"] for p in m.processes()][1:] == [p["comm"] for p in scenario.processes]


def test_leaky_service_fills_the_cache_swaps_the_leak_then_kills_it():
    # "A 2 GiB box with 1 GiB of swap: postgres, a backup streaming 1 GiB through the page
    # cache, and an app leaking 32 MiB/s."
    scenario = builtin("leaky-service")
    m = scenario.boot()
    mi = m.meminfo()
    assert 1900 * MiB < mi["MemTotal"] <= 2048 * MiB
    assert mi["SwapTotal"] == 1024 * MiB - 4        # less the swap header's page
    run(scenario, m, 1000)                          # 10 s
    assert m.proc_status(4)["RssAnon"] == 320 * MiB  # 32 MiB/s, exactly
    assert m.meminfo()["Cached"] >= 1000 * MiB      # the backup's 1 GiB at 100 MiB/s
    assert m.vmstat()["pgscan_kswapd"] == 0
    # Within a minute kswapd wakes, drops the page cache and sends anon pages to swap.
    run(scenario, m, 6000)
    vm, mi = m.vmstat(), m.meminfo()
    assert vm["pgscan_kswapd"] > 0 and vm["pswpout"] > 0 and mi["Cached"] < 1 * MiB
    assert vm["oom_kill"] == 0 and mi["SwapFree"] < mi["SwapTotal"]
    # When swap is (nearly) full the OOM killer picks the leak.
    run(scenario, m, 8800)
    assert m.vmstat()["oom_kill"] == 0 and m.meminfo()["SwapFree"] < 128 * MiB
    run(scenario, m, 9000)
    assert kills(m) == [(8890, "Out of memory: Killed process 4 (leaky-app)")]
    assert [p["comm"] for p in m.processes()][1:] == ["postgres", "backup"]


def test_dentry_flood_reclaims_slab_until_vfs_cache_pressure_is_0_then_kills_the_database():
    # "A 1 GiB box without swap: a database and an indexer stat'ing 4 M files at 50,000/s;
    # vfs_cache_pressure goes to 0 at 20 s."
    scenario = builtin("dentry-flood")
    m = scenario.boot()
    mi = m.meminfo()
    assert 900 * MiB < mi["MemTotal"] <= 1024 * MiB and mi["SwapTotal"] == 0
    run(scenario, m, 100)
    assert m.runners[3].program.phases[0].files == 4_000_000
    assert m.runners[3].progress == 50_000          # 1 s of lookups
    run(scenario, m, 2000)                          # 20 s: 1 M lookups on a 1 GiB machine
    vm, mi = m.vmstat(), m.meminfo()
    assert vm["slabs_scanned"] > 0 and vm["oom_kill"] == 0
    assert mi["SReclaimable"] > 800 * MiB           # the caches fill what the database leaves
    assert m.proc_status(2)["RssAnon"] == 96 * MiB  # and the shrinker keeps the database whole
    run(scenario, m, 2500)                          # vfs_cache_pressure = 0 from tick 2000
    assert m.sysctl("vm.vfs_cache_pressure") == 0
    assert m.vmstat()["slabs_scanned"] == vm["slabs_scanned"]   # the shrinker counts nothing
    assert kills(m)[0] == (2011, "Out of memory: Killed process 2 (postgres)")
    assert m.meminfo()["SReclaimable"] > m.meminfo()["MemTotal"] * 9 // 10


def test_strict_overcommit_refuses_the_batch_jobs_mmap_and_never_oom_kills():
    # "vm.overcommit_memory = 2 on 1 GiB without swap: the batch job's mmap is refused once
    # Committed_AS reaches CommitLimit (less the admin and user reserves)."
    scenario = builtin("strict-overcommit")
    m = scenario.boot()
    mi = m.meminfo()
    assert 900 * MiB < mi["MemTotal"] <= 1024 * MiB and mi["SwapTotal"] == 0
    assert m.sysctl("vm.overcommit_memory") == 2
    assert mi["CommitLimit"] == mi["MemTotal"] * 80 // 100  # overcommit_ratio 80, no swap
    batch = m.runners[2]
    run(scenario, m, 4500)
    assert batch.last_error is None and m.meminfo()["Committed_AS"] < 730 * MiB
    run(scenario, m, 5000)
    mi = m.meminfo()
    assert batch.last_error["errno"] == errno.ENOMEM
    # __vm_enough_memory keeps admin_reserve (8 MiB) and total_vm/32 of the limit back.
    assert mi["CommitLimit"] - 16 * MiB < mi["Committed_AS"] <= mi["CommitLimit"]
    run(scenario, m, 9000)                          # and it stays so: ENOMEM, never a kill
    assert m.vmstat()["oom_kill"] == 0 and kills(m) == []
    assert m.sysctl("vm.overcommit_memory") == 2
    assert [p["comm"] for p in m.processes()][1:] == ["batch", "grower"]
    assert batch.last_error["errno"] == errno.ENOMEM and batch.last_error["tick"] > 8900


@pytest.mark.slow  # two runs of 35 s
def test_throttled_session_is_killed_whole_by_systemd_oomd_on_its_memory_pressure():
    # "systemd-oomd on a 2 GiB box with 1 GiB of swap: postgres in /system.slice, and a session
    # in /user-1000 held to memory.high 256 MiB whose app writes 512 MiB and then touches all
    # of it at random, 512 MiB/s."
    from dataclasses import replace

    scenario = builtin("throttled-session")
    m = scenario.boot()
    assert m.policy()[0] == "systemd-oomd"
    run(scenario, m, 3000)                          # 30 s: the session swaps in and out
    assert m.cgroup_stat("/user-1000")["memory.current"] <= 256 << 20
    assert m.vmstat()["pswpin"] > 0 and m.daemon.psi["/user-1000"].show(30 * 10**6)["full"][
        "avg10"] > 50
    assert m.pressure()["full"]["avg10"] == 0       # postgres runs: the box as a whole is fine
    m.step(500)                                     # (the calls are all made, at tick 0)
    said = next(e for e in m.events if e.kind == "daemon")
    assert said.tick == 3151 and said.data["cgroup"] == "/user-1000"
    # ManagedOOMMemoryPressureLimit=50% for DefaultMemoryPressureDurationSec=20s (Fedora)
    assert said.message.startswith("systemd-oomd: memory pressure for /user-1000 is ")
    assert "> 50% for > 20s with reclaim activity" in said.message
    assert [(e.tick, e.pid, e.data["by"]) for e in m.events if e.kind == "kill"] == \
        [(3151, 3, "systemd-oomd")]
    assert [p["comm"] for p in m.processes()] == ["init", "postgres"]
    # the kernel alone never kills: memory.high throttles, it does not OOM
    alone = replace(scenario, policy=None)
    k = alone.boot()
    run(alone, k, 3500)
    assert k.vmstat()["oom_kill"] == 0 and [p["comm"] for p in k.processes()] == \
        ["init", "postgres", "app"]
