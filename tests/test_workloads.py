"""Workload programs and their runner, against a real Machine (oomtui/workloads.py)."""

from __future__ import annotations

import errno

import msgpack
import numpy as np
import pytest

from oomtui.engine import Machine, MachineConfig
from oomtui.engine.invariants import check_invariants
from oomtui.workloads import (
    PRESETS, Alloc, Fork, Free, Lock, Loop, Program, ReadFile, Runner, Sleep, Touch, Walk,
    WriteFile,
)

PAGE = 4096
MiB = 1 << 20
TICK_MS = 10


@pytest.fixture
def m():
    """A 256 MiB machine, recounted from scratch when the test ends."""
    machine = Machine(MachineConfig(ram_mib=256))
    yield machine
    check_invariants(machine)


def run(m, runners: list[Runner], ticks: int, start: int = 0) -> int:
    """Tick every runner (and the runners of the children they fork) as step() will."""
    for t in range(start, start + ticks):
        for r in list(runners):
            r.tick(m, t, TICK_MS)
            runners.extend(r.take_spawned())
    return start + ticks


def start(m, *phases, seed=1, **spawn) -> tuple[int, Runner]:
    pid = m.spawn("work", **spawn)
    return pid, Runner(Program("test", phases), pid, seed)


def status(m, pid, key="RssAnon") -> int:
    return m.proc_status(pid)[key]


def oldest_first(m, r: Runner) -> np.ndarray:
    """mincore of the runner's single region, page 0 = the oldest (highest) page."""
    (lo, hi), = r.regions
    return m.mincore(r.pid, lo, hi - lo)[::-1]


# -- rates -------------------------------------------------------------------------------------

def test_alloc_grows_one_mib_per_tick_and_stops_at_its_size(m):
    pid, r = start(m, Alloc(10, 100))
    for t in range(10):
        assert status(m, pid) == t * 1024
        assert r.state == "allocating"
        r.tick(m, t, TICK_MS)
    assert status(m, pid) == 10240 and r.done and r.state == "done"
    run(m, [r], 5, start=10)
    assert status(m, pid) == 10240
    assert len(m.maps(pid)) == 2, "the ten mmaps merge into one VMA (plus the stack)"


def test_fractional_rate_is_exact_over_time(m):
    pid, r = start(m, Alloc(10, 1))  # 2.56 pages per tick
    run(m, [r], 500)
    assert status(m, pid) == 1280 * 4  # floor(2.56 * 500) pages
    run(m, [r], 499, start=500)
    assert not r.done and status(m, pid) < 10240
    run(m, [r], 1, start=999)
    assert r.done and status(m, pid) == 10240


def test_decimal_rates_are_taken_as_written(m):
    pid, r = start(m, Alloc(10, 0.3))  # 0.3 is not 0.29999... here: 768 pages after 10 s
    run(m, [r], 1000)
    assert status(m, pid) == 768 * 4 and not r.done


def test_alloc_without_touch_maps_but_does_not_fault(m):
    pid, r = start(m, Alloc(8, 100, touch=False))
    before = status(m, pid, "VmSize")
    run(m, [r], 8)
    assert status(m, pid, "VmSize") - before == 8192 and status(m, pid) == 0


def test_long_leak_stays_one_vma(m):
    pid, r = start(m, *PRESETS["leaker"].phases)
    run(m, [r], 1000)
    assert status(m, pid) == 20 * 1024  # 2 MiB/s for 10 s, across 20 loop runs
    assert len(m.maps(pid)) == 2 and len(r.regions) == 1


# -- touching ----------------------------------------------------------------------------------

def test_sequential_touch_sweeps_a_prefix_then_wraps(m):
    pid, r = start(m, Alloc(4, 400, touch=False),
                   Touch(pattern="sequential", working_set_mib=3, rate_mib_s=100, write=True))
    run(m, [r], 3)  # 1 tick to map, 2 ticks of touching: 2 MiB
    resident = oldest_first(m, r)
    assert resident[:512].all() and not resident[512:].any()
    run(m, [r], 2, start=3)  # wraps after 3 MiB: the 4th MiB is outside the working set
    resident = oldest_first(m, r)
    assert resident[:768].all() and not resident[768:].any()
    assert r.state == "touching" and not r.done


@pytest.mark.parametrize("pattern, lo, hi", [("hotcold", 4, np.inf), ("random", 0.5, 2)])
def test_hotcold_touches_the_hot_fraction_more(m, pattern, lo, hi):
    # 64 MiB mapped untouched; 8 MiB of write accesses fault in what they reach.
    pid, r = start(m, Alloc(64, 6400, touch=False),
                   Touch(pattern=pattern, working_set_mib=64, rate_mib_s=100, write=True,
                         hot_fraction=0.2, hot_share=0.8, seconds=0.08))
    run(m, [r], 10)
    assert r.done
    resident = oldest_first(m, r)
    hot = int(len(resident) * 0.2)
    ratio = resident[:hot].mean() / resident[hot:].mean()
    assert lo < ratio < hi, f"hot/cold residency ratio {ratio:.2f}"
    assert status(m, pid) <= 8 * 1024


def test_touch_duration_then_next_phase(m):
    pid, r = start(m, Alloc(1, 100), Touch(working_set_mib=1, rate_mib_s=10, seconds=0.05),
                   Alloc(1, 100))
    run(m, [r], 6)
    assert status(m, pid) == 1024 and r.phase_index == 2
    run(m, [r], 1, start=6)
    assert status(m, pid) == 2048


# -- files -------------------------------------------------------------------------------------

def test_read_file_grows_cached_by_the_file_size(m):
    pid, r = start(m, ReadFile("/srv/big", 8, 100))
    before = m.meminfo()["Cached"]
    run(m, [r], 7)
    assert m.meminfo()["Cached"] - before == 7 * 1024 + 4  # + the sparse file's last page
    assert r.state == "reading"
    run(m, [r], 1, start=7)
    assert r.done and m.meminfo()["Cached"] - before == 8192
    assert m.meminfo()["Dirty"] == 4  # only the page that laid the file out


def test_read_file_stops_at_end_of_an_existing_file(m):
    pid, r = start(m, ReadFile("/srv/small", 8, 100))
    m.write_file(pid, "/srv/small", 2 * MiB)
    run(m, [r], 3)
    assert r.done and m.meminfo()["Cached"] == 2048


def test_write_file_dirties_the_page_cache(m):
    pid, r = start(m, WriteFile("/var/log/out", 2, 100))
    run(m, [r], 2)
    mi = m.meminfo()
    assert r.done and mi["Dirty"] == 2048 and mi["Cached"] == 2048


# -- free, fork, sleep, lock, loop -------------------------------------------------------------

def test_free_unmaps_the_newest_first(m):
    pid, r = start(m, Alloc(8, 800), Free(3), Sleep(0.01), Free())
    committed = m.meminfo()["Committed_AS"]
    run(m, [r], 1)  # the alloc completes and Free(3) follows in the same tick
    assert status(m, pid) == 5 * 1024
    assert oldest_first(m, r).all(), "the 5 oldest MiB stay"
    assert m.meminfo()["Committed_AS"] - committed == 5 * 1024
    run(m, [r], 1, start=1)
    assert status(m, pid) == 0 and r.regions == [] and r.done
    assert m.meminfo()["Committed_AS"] == committed


def test_fork_creates_children_that_run_their_program(m):
    child = Program("child", (Alloc(1, 100),))
    pid, r = start(m, Alloc(2, 200), Fork(2, child), Fork(1))
    runners = [r]
    run(m, runners, 1)
    kids = [p["pid"] for p in m.processes() if p["ppid"] == pid]
    assert len(kids) == 3 and len(runners) == 3 and r.done
    assert [status(m, k) for k in kids] == [2048] * 3  # the parent's pages, shared copy-on-write
    run(m, runners, 1, start=1)
    assert [status(m, k) for k in kids] == [3072, 3072, 2048]
    assert all(x.done for x in runners)


def test_children_of_children(m):
    grandchild = Program("g", (Alloc(1, 100),))
    child = Program("c", (Fork(1, grandchild), Sleep(1)))
    pid, r = start(m, Fork(1, child), Sleep(1))
    runners = [r]
    run(m, runners, 3)
    assert len(m.processes()) == 4  # init, the process, its child and grandchild
    assert status(m, runners[2].pid) == 1024


def test_sleep_delays_the_next_phase_exactly(m):
    pid, r = start(m, Alloc(1, 100), Sleep(0.05), Alloc(1, 100))
    run(m, [r], 5)
    assert r.state == "sleeping"
    run(m, [r], 1, start=5)  # 1 tick of alloc, 5 of sleep
    assert status(m, pid) == 1024 and r.state == "allocating"
    run(m, [r], 1, start=6)
    assert status(m, pid) == 2048 and r.done


def test_lock_maps_locked_memory_within_rlimit_memlock(m):
    pid, r = start(m, *PRESETS["mlocker"].phases)
    run(m, [r], 200)  # 4 MiB per 0.5 s; the default 8 MiB RLIMIT_MEMLOCK stops the third
    assert status(m, pid, "VmLck") == 8192 and m.meminfo()["Mlocked"] == 8192
    assert r.last_error["errno"] == errno.EAGAIN and not r.done


def test_lock_beyond_the_rlimit_with_cap_ipc_lock(m):
    pid, r = start(m, Lock(16), caps=("CAP_IPC_LOCK",))
    run(m, [r], 1)
    assert r.done and r.last_error is None
    assert status(m, pid, "VmLck") == status(m, pid) == 16384


def test_loop_repeats_the_given_number_of_times(m):
    pid, r = start(m, Alloc(1, 100), Loop(times=3))
    run(m, [r], 3)
    assert status(m, pid) == 3072 and r.done
    run(m, [r], 5, start=3)
    assert status(m, pid) == 3072


def test_batch_spikes_frees_and_loops(m):
    pid, r = start(m, *PRESETS["batch"].phases)
    peaks = []
    for t in range(0, 700, 25):
        run(m, [r], 25, start=t)
        peaks.append(status(m, pid))
    assert max(peaks) == 64 * 1024 and peaks.count(0) >= 2 and not r.done
    assert r.runs >= 2


# -- errors ------------------------------------------------------------------------------------

def test_enomem_is_recorded_and_retried():
    # Overcommit mode 2 on 256 MiB without swap: CommitLimit 128 MiB, so mmap refuses (ENOMEM)
    # once the hog's 100 MiB and the leak reach it; the runner retries and goes on when the
    # hog's memory is unmapped.
    m = Machine(MachineConfig(ram_mib=256, sysctl={"vm.overcommit_memory": 2}))
    pid, r = start(m, Alloc(400, 1000))
    hog = m.spawn("hog")
    hog_addr = m.mmap(hog, 100 * MiB, flags="private|anonymous|populate")
    run(m, [r], 30)
    assert r.last_error["errno"] == errno.ENOMEM and r.state == "allocating"
    stuck = status(m, pid)
    assert 0 < stuck < 28 * 1024
    m.munmap(hog, hog_addr, 100 * MiB)
    run(m, [r], 5, start=30)
    assert status(m, pid) > stuck, "it goes on once memory is back"


def test_a_dead_process_ends_its_runner(m):
    pid, r = start(m, Alloc(8, 100))
    run(m, [r], 2)
    m.kill(pid)
    run(m, [r], 1, start=2)
    assert r.done and r.last_error["errno"] == errno.ESRCH


def _nested(depth: int) -> Program:
    """A program whose fork's child has a fork's child... `depth` deep."""
    program = Program("p", (Sleep(1),))
    for _ in range(depth):
        program = Program("p", (Sleep(1), Fork(1, program)))
    return program


@pytest.mark.parametrize("program, words", [
    (Program("p", (Alloc(-1, 10),)), "mib=-1"),
    (Program("p", (Alloc(1, 0),)), "rate_mib_s=0"),
    (Program("p", (Alloc(1, float("nan")),)), "must be a number"),
    (Program("p", (Alloc("1", 1),)), "must be a number"),
    (Program("p", (Touch(pattern="zipf", working_set_mib=1, rate_mib_s=1),)), "unknown pattern"),
    (Program("p", (Touch(pattern="hotcold", working_set_mib=1, rate_mib_s=1, hot_fraction=1),)),
     "hot_fraction=1"),
    (Program("p", (Touch(working_set_mib=1, rate_mib_s=1, hot_share=1.5),)), "hot_share=1.5"),
    (Program("p", (Loop(), Sleep(1))), "Loop must be the last"),
    (Program("p", (Free(), Loop())), "needs a phase that takes time"),
    (Program("p", (Sleep(1), Loop(times=0))), "times must be an int"),
    (Program("p", (Fork(0),)), "count must be an int"),
    (Program("p", (Fork(1, Program("kid", (Sleep(-2),))),)), "'kid', phase 0 (sleep)"),
    (Program("p", (ReadFile("", 1, 1),)), "path must be"),
    (Program("p", ()), "no phases"),
    # Rates bounded by what a tick can do (a 10^7 MiB/s Touch took 35 s a tick):
    (Program("p", (Touch(working_set_mib=1, rate_mib_s=10**7),)),
     "rate_mib_s=10000000 is out of range (0, 8192]"),
    (Program("p", (ReadFile("/f", 1, 8192.5),)), "rate_mib_s=8192.5 is out of range (0, 8192]"),
    (Program("p", (Walk(10**9, 10**9),)), "rate_per_s=1000000000 is out of range (0, 1000000]"),
    (Program("p", (Fork(101),)), "count must be an int from 1 to 100, got 101"),
    (Program("p", (Lock(2**28),)), "mib=268435456 is out of range (0, 134217728]"),
    (_nested(33), "phase 1 (fork): programs nest more than 32 deep"),
    (Program("", (Sleep(1),)), "name"),
])
def test_validation_errors(program, words):
    with pytest.raises(OSError) as e:
        program.validate()
    assert e.value.errno == errno.EINVAL and words in str(e.value)
    with pytest.raises(OSError):
        Runner(program, 2, 0)


@pytest.mark.parametrize("d, words", [
    ({"name": "p", "phases": [{"kind": "explode"}]}, "unknown phase kind"),
    ({"name": "p", "phases": [{"kind": "alloc", "mib": 1}]}, "needs rate_mib_s"),
    ({"name": "p", "phases": [{"kind": "sleep", "seconds": 1, "snore": True}]}, "no field 'snore'"),
    ({"name": "p", "phases": "sleep"}, "phases must be a list"),
    ({"name": "p", "phases": [{"kind": "sleep", "seconds": -1}]}, "seconds=-1"),
])
def test_from_dict_refuses_bad_input(d, words):
    with pytest.raises(OSError) as e:
        Program.from_dict(d)
    assert e.value.errno == errno.EINVAL and words in str(e.value)


# -- presets, determinism, saves ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_and_run(m, name):
    program = PRESETS[name]
    program.validate()
    assert Program.from_dict(msgpack.unpackb(msgpack.packb(program.to_dict()))) == program
    pid = m.spawn(name)
    runners = [Runner(program, pid, seed=7)]
    run(m, runners, 100)
    assert m.proc_status(pid)["Name"] == name


def test_presets_include_the_required_ones():
    assert {"leaker", "database", "batch", "backup", "forkbomb", "mlocker"} <= set(PRESETS)


@pytest.mark.slow
def test_forkbomb_grows_until_memory_runs_out():
    m = Machine(MachineConfig(ram_mib=32))
    runners = [Runner(PRESETS["forkbomb"], m.spawn("forkbomb"), seed=1)]
    t = 0
    while not any(r.last_error for r in runners):
        t = run(m, runners, 1, start=t)
        assert t < 300, "the bomb should have run out of memory by now"
    assert len(m.processes()) > 200
    # Forks need kernel stacks and page tables: when they run out the OOM killer steps in,
    # and its victims' runners end with ESRCH (a fork interrupted by it fails with ENOMEM).
    assert m.vmstat()["oom_kill"] > 0
    assert {r.last_error["errno"] for r in runners if r.last_error} <= {errno.ENOMEM, errno.ESRCH}
    check_invariants(m)


def _random_toucher(m, seed):
    pid = m.spawn("db")
    return Runner(Program("db", (Alloc(32, 1000, touch=False), Sleep(0.015),
                                 Touch(pattern="hotcold", working_set_mib=32, rate_mib_s=33.3,
                                       write=True, seconds=0.2), Free(5), Loop())), pid, seed)


def test_same_seed_same_digest_other_seed_other_touches():
    digests = []
    for seed in (5, 5, 6):
        m = Machine(MachineConfig(ram_mib=256))
        run(m, [_random_toucher(m, seed)], 60)
        digests.append(m.state_digest())
    assert digests[0] == digests[1] != digests[2]


def test_resume_from_state_matches_an_uninterrupted_run():
    a, b = Machine(MachineConfig(ram_mib=256)), Machine(MachineConfig(ram_mib=256))
    ra, rb = _random_toucher(a, 3), _random_toucher(b, 3)
    run(a, [ra], 83)
    t = run(b, [rb], 41)
    saved = msgpack.unpackb(msgpack.packb(rb.to_state()))
    rb = Runner.from_state(saved)
    assert rb.to_state() == saved
    run(b, [rb], 42, start=t)
    assert a.state_digest() == b.state_digest()
    assert ra.to_state() == rb.to_state()


def test_from_state_refuses_garbage():
    with pytest.raises(OSError) as e:
        Runner.from_state({"program": PRESETS["leaker"].to_dict(), "pid": 2})
    assert e.value.errno == errno.EINVAL and "bad workload runner state" in str(e.value)


# -- a save's runner state: every field checked, so tick() meets only the machine's refusals ----

def _states(m) -> list[dict]:
    """Runner states a save could hold: mid-Alloc, a sequential Touch, and a Fork's child."""
    kid = Program("kid", (Touch(working_set_mib=2, rate_mib_s=10, seconds=1),))
    a = start(m, Alloc(64, 100), Loop())[1]
    b = start(m, Alloc(2, 200), Touch(working_set_mib=2, rate_mib_s=150, write=True))[1]
    c = start(m, Alloc(1, 100), Fork(2, kid), Sleep(1))[1]
    run(m, [a, b], 5)
    c.tick(m, 5, TICK_MS)  # maps 1 MiB and forks: its children wait in `spawned`
    return [a.to_state(), b.to_state(), c.to_state()]


@pytest.mark.parametrize("field, value, words", [
    ("credit", [1, 0], "credit must be [numerator, denominator] of a fraction from 0 to 16, "
                       "got [1, 0]"),
    ("credit", [-1, 2], "credit must be"),
    ("progress", 10**6, "progress must be an int from 0 to 16384, got 1000000"),
    ("phase_index", 3, "phase_index must be an int from 0 to 2, got 3"),
    ("runs", 0, "runs must be an int from 1 to 9223372036854775807, got 0"),
    ("elapsed_ms", -5, "elapsed_ms must be an int from 0"),
    ("cursor", 7, "cursor must be an int from 0 to 0, got 7"),
    ("regions", [[4096, 0]], "regions[0] must be [lo, hi), page-aligned addresses below 128 TiB"),
    ("regions", [[0, 4097]], "regions[0] must be"),
    ("regions", [[0, 8192], [4096, 12288]], "regions (0, 8192) and (4096, 12288) overlap"),
    ("regions", 5, "regions must be a list, got 5"),
    ("finished", 1, "finished must be true or false, got 1"),
    ("last_error", {"tick": 1}, "last_error must be none or {tick, errno, message}"),
    ("spawned", [{}], "it has the fields program, pid, seed, "),
    ("program", {"name": "x", "phases": [{"kind": "sleep", "seconds": -1}]}, "seconds=-1"),
    ("pid", -1, "pid must be an int >= 0, got -1"),
])
def test_from_state_refuses_each_field_a_save_could_not_hold(m, field, value, words):
    state = _states(m)[0]
    with pytest.raises(OSError) as e:
        Runner.from_state(state | {field: value})
    assert e.value.errno == errno.EINVAL
    assert e.value.strerror.startswith("bad workload runner state: ") and words in e.value.strerror


def test_a_sequential_touch_cursor_past_its_working_set_is_refused_not_a_hang(m):
    state = _states(m)[1]
    assert Runner.from_state(state).program.phases[state["phase_index"]].kind == "touch"
    with pytest.raises(OSError) as e:
        Runner.from_state(state | {"cursor": 512})
    assert "cursor must be an int from 0 to 511, got 512" in e.value.strerror


def test_a_childs_state_has_spawned_nothing(m):
    state = _states(m)[2]
    assert len(Runner.from_state(state).spawned) == 2
    nested = state | {"spawned": [state["spawned"][0] | {"spawned": [state["spawned"][0]]}]}
    with pytest.raises(OSError) as e:
        Runner.from_state(nested)
    assert "spawned must be a list of runner states (empty in a child's)" in e.value.strerror


def test_fuzz_runner_states_load_refused_or_tick_without_raising():
    """A hostile value in any field: refused with EINVAL, or the runner ticks as any other
    (tick() keeps a refusal in last_error and never raises)."""
    m = Machine(MachineConfig(ram_mib=256))
    states = _states(m)
    hostile = [True, -1, 0, 1, 7, 4096, 2**63 - 1, 1e308, float("nan"), "x", None, [], [1],
               [1, 0], [0, 4096], [[0, 4096]], [[4096, 8192], [0, 4096]], {}, {"a": 1},
               {"tick": 1, "errno": None, "message": "m"}]
    rng = np.random.default_rng(5)
    loaded = 0
    for _ in range(300):
        state = dict(states[rng.integers(len(states))])
        field = sorted(state)[rng.integers(len(state))]
        state[field] = hostile[rng.integers(len(hostile))]
        try:
            r = Runner.from_state(state)
        except OSError as e:
            assert e.errno == errno.EINVAL
            assert field in e.strerror or field in ("program", "spawned"), e.strerror
            continue
        loaded += 1
        for t in range(6, 9):
            r.tick(m, t, TICK_MS)
    assert loaded > 10
