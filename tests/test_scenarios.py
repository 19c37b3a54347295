"""The built-in scenarios: each boots, and each shows what its description promises."""

from __future__ import annotations

import pytest

from oomtui.scenarios import builtin, builtin_names


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


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_scenario_boots_its_processes(name):
    scenario = builtin(name)
    m = scenario.boot()
    assert [p["comm"] for p in m.processes()][1:] == [p["comm"] for p in scenario.processes]


def test_dentry_flood_reclaims_slab_until_vfs_cache_pressure_is_0_then_kills_the_database():
    scenario = builtin("dentry-flood")
    m = scenario.boot()
    run(scenario, m, 2000)                          # 20 s: 1 M lookups on a 1 GiB machine
    vm, mi = m.vmstat(), m.meminfo()
    assert vm["slabs_scanned"] > 0 and vm["oom_kill"] == 0
    assert mi["SReclaimable"] > 800 * 1024          # the caches fill what the database leaves
    run(scenario, m, 2500)                          # vfs_cache_pressure = 0 from tick 2000
    assert m.sysctl("vm.vfs_cache_pressure") == 0
    assert m.vmstat()["slabs_scanned"] == vm["slabs_scanned"]   # the shrinker counts nothing
    kills = [e.message for e in m.events if e.kind == "oom_kill"]
    assert kills[0] == "Out of memory: Killed process 2 (postgres)"
