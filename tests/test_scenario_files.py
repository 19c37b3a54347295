"""Hostile scenario files (oomtui/scenarios): every fault is OSError(EINVAL) naming the file and
the key, found at load; what loads runs, its calls refused only with an OSError."""

from __future__ import annotations

import copy
import datetime
import errno
import random

import pytest

from oomtui.scenarios import MAX_FILE_BYTES, load, parse


def nested(depth: int, leaf):
    for _ in range(depth):
        leaf = [leaf]
    return leaf


def deep_program(depth: int) -> dict:
    program = {"name": "p", "phases": [{"kind": "sleep", "seconds": 1}]}
    for _ in range(depth):
        program = {"name": "p", "phases": [{"kind": "sleep", "seconds": 1},
                                           {"kind": "fork", "child": program}]}
    return program


def doc(*processes, at=()) -> dict:
    return {"machine": {"ram_mib": 64}, "process": list(processes), "at": list(at)}


def workload(**phase) -> dict:
    return doc({"comm": "w", "workload": {"name": "w", "phases": [phase]}})


ERRORS = [
    (doc() | {"at": 5}, "f.toml: at must be an array of tables ([[at]]), got int"),
    (doc() | {"process": 5},
     "f.toml: process must be an array of tables ([[process]]), got int"),
    ({"machine": [1]}, "f.toml: machine must be a table, got list"),
    ({"machine": {"ram_mib": 64, "swap": 5}}, "f.toml: [machine]: swap must be a list, got int"),
    (doc({"comm": "a", "caps": 5}), "f.toml: process 0: caps: must be a list of capabilities "
     "from CAP_IPC_LOCK, CAP_KILL, CAP_SYS_ADMIN, CAP_SYS_NICE, CAP_SYS_RESOURCE, got 5"),
    (doc({"comm": "a", "caps": [["CAP_KILL"]]}), "f.toml: process 0: caps: must be a list of "
     "capabilities from CAP_IPC_LOCK, CAP_KILL, CAP_SYS_ADMIN, CAP_SYS_NICE, CAP_SYS_RESOURCE, "
     "got [['CAP_KILL']]"),
    (doc({"comm": "a", "oom_score_adj": 5000}),
     "f.toml: process 0: oom_score_adj: must be an int from -1000 to 1000, got 5000"),
    (doc({"comm": "a", "nice": 5}), "f.toml: process 0: unknown key 'nice': use comm, "
     "oom_score_adj, cgroup, uid, caps, workload, important"),
    (doc({"comm": "a", "cgroup": "/db"}), "f.toml: process 0: cgroup '/db' does not exist at "
     "boot: create it with an [[at]] cgroup_create, then move the process (cgroup_move)"),
    (doc({"comm": "a", "workload": "nope"}), "f.toml: process 0: workload: must be a program "
     "table or one of backup, batch, database, find, forkbomb, leaker, mlocker, got 'nope'"),
    (doc({"comm": "a", "workload": deep_program(2000)}), "f.toml: process 0: workload: program "
     "'p', phase 1: programs nest more than 32 deep"),
    (workload(kind="touch", working_set_mib=64, rate_mib_s=1e7), "f.toml: process 0: workload: "
     "program 'w', phase 0 (touch): rate_mib_s=10000000.0 is out of range (0, 8192]"),
    (workload(kind="walk", files=10**9, rate_per_s=10**9), "f.toml: process 0: workload: program "
     "'w', phase 0 (walk): rate_per_s=1000000000 is out of range (0, 1000000]"),
    (workload(kind="alloc", mib=2**40, rate_mib_s=1), "f.toml: process 0: workload: program "
     "'w', phase 0 (alloc): mib=1099511627776 is out of range (0, 134217728]"),
    (workload(kind="fork", count=10**6), "f.toml: process 0: workload: program 'w', phase 0 "
     "(fork): count must be an int from 1 to 100, got 1000000"),
    (workload(kind=[1]), "f.toml: process 0: workload: program 'w', phase 0: unknown phase kind "
     "[1]: use alloc, touch, read_file, write_file, walk, free, fork, sleep, lock, loop"),
    (doc(at=[{"tick": 1, "call": "mmap", "args": ["x"]}]), "f.toml: at 0: mmap(pid, length, *, "
     "prot='rw', flags='private|anonymous', file=None, offset=0, addr=None) cannot take args "
     "['x'] and kwargs {}: missing a required argument: 'length'"),
    (doc(at=[{"tick": 1, "call": "kill", "args": [2], "kwargs": {"signal": 9}}]),
     "f.toml: at 0: kill(pid, sig=9) cannot take args [2] and kwargs {'signal': 9}: got an "
     "unexpected keyword argument 'signal'"),
    (doc(at=[{"tick": 1, "call": "sysctl", "args": ["vm.swappiness"]}]),
     "f.toml: at 0: sysctl needs its value argument: a scenario's calls change the machine"),
    (doc(at=[{"tick": 1, "call": "spawn", "args": ["a"], "kwargs": {"caps": 0}}]),
     "f.toml: at 0: spawn() argument caps: must be a list of capabilities from CAP_IPC_LOCK, "
     "CAP_KILL, CAP_SYS_ADMIN, CAP_SYS_NICE, CAP_SYS_RESOURCE, got 0"),
    (doc(at=[{"tick": 1, "call": "touch", "args": [2, [[4096]], 4096]}]),
     "f.toml: at 0: touch() argument addr: must be a number, a string or a list of them, got "
     "[[4096]]"),
    (doc(at=[{"tick": -1, "call": "exit", "args": [2]}]),
     "f.toml: at 0: tick: must be an int from 0 to 9223372036854775807, got -1"),
    (doc(at=[{"tick": 1}]), "f.toml: at 0: no call is not one a scenario may make: use brk, "
     "cgroup_create, cgroup_move, cgroup_set, exit, fork, kill, madvise, mlock, mlockall, mmap, "
     "mprotect, mremap, munlock, munmap, prlimit, read_file, sbrk, set_oom_score_adj, spawn, "
     "swapoff, swapon, sysctl, touch, write_file"),
]


@pytest.mark.parametrize("data, message", ERRORS)
def test_each_fault_is_einval_naming_the_file_and_key(data, message):
    with pytest.raises(OSError) as e:
        parse(data, "f.toml")
    assert e.value.errno == errno.EINVAL and e.value.strerror == message


def test_a_file_nested_too_deep_for_toml_is_einval(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 2000 + "]" * 2000 + "\n")
    with pytest.raises(OSError) as e:
        load(path)
    assert e.value.strerror == f"{path}: invalid TOML: arrays or tables nested too deep"


def test_a_file_too_big_to_be_a_scenario_is_einval(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(OSError) as e:
        load(path)
    assert e.value.strerror == f"{path}: larger than 1024 KiB: not a scenario"


def test_a_cgroup_set_call_takes_its_memory_files_as_kwargs():
    scenario = parse(doc(at=[{"tick": 0, "call": "cgroup_create", "args": ["/b"]},
                             {"tick": 1, "call": "cgroup_set", "args": ["/b"],
                              "kwargs": {"memory_high": 1 << 20}}]), "f.toml")
    assert scenario.calls[1].kwargs == {"memory_high": 1 << 20}
    with pytest.raises(OSError) as e:
        parse(doc(at=[{"tick": 1, "call": "cgroup_set", "args": ["/b"],
                       "kwargs": {"memory_high": [[1]]}}]), "f.toml")
    assert e.value.strerror == ("f.toml: at 0: cgroup_set() argument memory_high: must be a "
                                "number, a string or a list of them, got [[1]]")


def test_an_at_call_that_loads_but_fails_at_its_tick_is_an_oserror():
    scenario = parse(doc({"comm": "a"}, at=[{"tick": 0, "call": "mmap", "args": [2, "x"]}]),
                     "f.toml")
    m = scenario.boot()
    with pytest.raises(OSError) as e:
        scenario.calls[0].apply(m)
    assert e.value.errno == errno.EINVAL


# -- a seeded fuzz over every key ----------------------------------------------------------------

VALID = {
    "name": "fuzz", "description": "every key a scenario has",
    "machine": {"ram_mib": 64, "seed": 1, "swap": [{"size_mib": 16, "priority": 5}],
                "sysctl": {"vm.swappiness": 60, "vm.lowmem_reserve_ratio": [256, 256, 32, 0, 0]},
                "thp": "madvise", "tick_ms": 10},
    "process": [
        {"comm": "db", "oom_score_adj": -100, "uid": 1000, "cgroup": "/", "caps": ["CAP_IPC_LOCK"],
         "workload": {"name": "w", "phases": [
             {"kind": "alloc", "mib": 4, "rate_mib_s": 200, "touch": True},
             {"kind": "touch", "pattern": "hotcold", "working_set_mib": 4, "rate_mib_s": 50,
              "hot_fraction": 0.2, "hot_share": 0.8, "write": True, "seconds": 0.03},
             {"kind": "read_file", "path": "/data", "mib": 1, "rate_mib_s": 100},
             {"kind": "write_file", "path": "/log", "mib": 1, "rate_mib_s": 100},
             {"kind": "walk", "files": 500, "rate_per_s": 50000, "negative": False},
             {"kind": "fork", "count": 2, "child": {"name": "c", "phases": [
                 {"kind": "sleep", "seconds": 0.02}]}},
             {"kind": "free", "mib": 1}, {"kind": "lock", "mib": 1},
             {"kind": "loop", "times": 2}]}},
        {"comm": "leak", "workload": "leaker"},
    ],
    "at": [
        {"tick": 2, "call": "sysctl", "args": ["vm.swappiness", 10]},
        {"tick": 3, "call": "mmap", "args": [2, 65536], "kwargs": {"flags": "private|anonymous"}},
        {"tick": 4, "call": "spawn", "args": ["late"], "kwargs": {"workload": "batch", "caps": []}},
        {"tick": 5, "call": "cgroup_create", "args": ["/g"], "kwargs": {"memory_max": 8 << 20}},
        {"tick": 6, "call": "set_oom_score_adj", "args": [3, 500]},
    ],
}
HOSTILE = [True, -1, 0, 2**63 - 1, -2**63, 1e308, -0.5, float("nan"), float("inf"), "x", "",
           [], [1], [[1]], {}, {"a": {"b": 1}}, datetime.date(2020, 1, 1), nested(2000, 1),
           {"name": "p", "phases": [{"kind": "sleep", "seconds": 1}]}, "/", "CAP_KILL"]


def places(value, path=()):
    """Every (path, key) in a document: the key of a table or the index of a list."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, v in items:
        yield path, key
        if isinstance(v, (dict, list)):
            yield from places(v, path + (key,))


def mutate(rng: random.Random):
    """VALID with one key's value made hostile (or the key gone, or an unknown key added)."""
    data = copy.deepcopy(VALID)
    path, key = rng.choice(list(places(data)))
    parent = data
    for k in path:
        parent = parent[k]
    how = rng.randrange(4)
    if how == 0 and isinstance(parent, dict):
        del parent[key]
    elif how == 1 and isinstance(parent, dict):
        parent["bogus"] = 1
        key = "bogus"
    else:
        parent[key] = rng.choice(HOSTILE)
    return data, path, key


def test_fuzz_every_key_with_hostile_values():
    assert len(parse(VALID, "fuzz.toml").calls) == 5
    rng = random.Random(11)
    loaded = 0
    for _ in range(400):
        data, path, key = mutate(rng)
        try:
            scenario = parse(data, "fuzz.toml")
        except OSError as e:
            assert e.errno == errno.EINVAL and e.strerror.startswith("fuzz.toml: ")
            # the key (a list's singular will do: "phase 3"), or for a list's item the list's;
            # args and kwargs are named by the call's parameter they bind to
            named = (key if isinstance(key, str) else path[-1]).rstrip("s")
            assert named in e.strerror or named in ("arg", "kwarg") and "argument" in e.strerror, (
                path, key, e.strerror)
            continue
        loaded += 1
        try:
            m = scenario.boot()
        except OSError:
            continue
        for call in scenario.calls:
            m.step(call.tick - m.tick) if call.tick > m.tick else None
            try:
                call.apply(m)
            except OSError:
                pass
        m.step(3)
    assert loaded > 20
