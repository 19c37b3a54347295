"""A scenario's [policy] table and its important processes (oomtui/scenarios)."""

from __future__ import annotations

import errno

import pytest

from oomtui.scenarios import builtin, parse


def doc(**extra) -> dict:
    return {"machine": {"ram_mib": 64}, "process": [{"comm": "a"}, {"comm": "b", "important": True}]
            } | extra


def test_a_policy_table_chooses_the_policy_the_machine_boots_with():
    sc = parse(doc(policy={"name": "earlyoom", "mem_term_percent": 15}), "f.toml")
    assert sc.policy == ("earlyoom", {"mem_term_percent": 15}) and sc.important == ("b",)
    m = sc.boot()
    name, settings = m.policy()
    assert name == "earlyoom"
    assert (settings["mem_term_percent"], settings["mem_kill_percent"]) == (15, 7.5)
    assert m.inputs.entries[-1].name == "set_policy"
    assert parse(doc(), "f.toml").boot().policy() == ("kernel", {})


@pytest.mark.parametrize("data, message", [
    (doc(policy={"name": "oomd"}), "f.toml: [policy]: unknown OOM policy 'oomd': use kernel, "
     "earlyoom, systemd-oomd, nohang"),
    (doc(policy={"mem_term_percent": 5}), "f.toml: [policy]: unknown OOM policy None: use "
     "kernel, earlyoom, systemd-oomd, nohang"),
    (doc(policy={"name": "nohang", "soft_threshold_min_mem": "5%"}), "f.toml: [policy]: nohang: "
     "soft_threshold_min_mem: must be a number from 0 to 100, got '5%'"),
    (doc(policy={"name": "systemd-oomd", "swap_used_limit": 90, "limit": 1}), "f.toml: [policy]: "
     "systemd-oomd: unknown setting 'limit': use swap_used_limit, memory_pressure_limit, "
     "memory_pressure_duration, swap_cgroups, pressure_cgroups, avoid_cgroups, omit_cgroups, "
     "sigterm_grace_ms, sigterm_timeout_ms"),
    (doc(policy=5), "f.toml: policy must be a table, got int"),
    (doc(process=[{"comm": "a", "important": "yes"}]), "f.toml: process 0: important: must be "
     "true or false, got 'yes'"),
])
def test_a_bad_policy_table_is_einval_naming_the_file_and_key(data, message):
    with pytest.raises(OSError) as e:
        parse(data, "f.toml")
    assert e.value.errno == errno.EINVAL and e.value.strerror == message


def test_build_storm_is_what_its_description_says():
    # "A 2 GiB box with 512 MiB of swap: postgres (important) in /system.slice, and a parallel
    # build in /user-1000 whose three compilers each grow 12 MiB/s."
    sc = builtin("build-storm")
    m = sc.boot()
    for call in sc.calls:
        call.apply(m)
    mi = m.meminfo()
    assert mi["MemTotal"] == 2048 << 10 and mi["SwapTotal"] == (512 << 10) - 4
    assert sc.important == ("postgres",)
    assert {p["comm"]: p["cgroup"] for p in m.processes()} == {
        "init": "/", "postgres": "/system.slice", "cc1-a": "/user-1000", "cc1-b": "/user-1000",
        "cc1-c": "/user-1000"}
    m.step(500)
    assert [m.proc_status(pid)["RssAnon"] for pid in (3, 4, 5)] == [60 << 10] * 3
