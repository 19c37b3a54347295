"""Rewind, forward, branches and their comparison."""

from __future__ import annotations

import itertools
import os

import pytest
from savetools import busy

from oomtui.engine.invariants import check_invariants
from oomtui.timeline import Timeline


@pytest.fixture(scope="module")
def original(request):
    """The busy machine run 500 ticks through a Timeline, with a kill at tick 200: the digest
    at every tick, and the final machine's events."""
    m = busy()
    t = Timeline(m, every=50)
    start = m.tick
    digests = {m.tick: m.state_digest()}
    for _ in range(500):
        t.step()
        if m.tick == start + 200:
            m.kill(6)  # the forker; seek(start + 200) lands after this call
        digests[m.tick] = m.state_digest()
    return start, digests, [e.message for e in m.events]


def _fresh(ticks: int, every=50, **kw):
    """The original run again, `ticks` long, through a new Timeline."""
    m = busy()
    t = Timeline(m, every=every, **kw)
    t.step(min(ticks, 200))
    if ticks >= 200:
        m.kill(6)
        t.step(ticks - 200)
    return m, t


def test_rewind_then_forward_equals_the_original_run(original):
    start, digests, messages = original
    m, t = _fresh(500)
    for tick in (start + 250, start + 137, start + 200, start + 499, start + 1, start + 500):
        t.seek(tick)
        assert (m.tick, m.state_digest()) == (tick, digests[tick])
    assert t.at_end and [e.message for e in m.events] == messages
    check_invariants(m)
    t.seek(start + 300)
    t.step(200)  # forward along the recorded future, then live
    assert (m.tick, m.state_digest()) == (start + 500, digests[start + 500])
    assert t.at_end and list(t.branches) == ["main"]


def test_a_branch_with_panic_on_oom_panics_where_the_original_killed(original):
    start, digests, _ = original
    m, t = _fresh(500)
    t.seek(start + 250)  # after the forker's kill: the two histories differ in the sysctl only
    t.branch("panic")
    m.sysctl("vm.panic_on_oom", 1)
    t.step(250)
    cmp = t.compare("main", "panic")
    (kill,) = [d for d in cmp.a.deaths if d[2] == "oom_kill"]
    assert kill[3] == "Out of memory: Killed process 3 (leak)"
    assert cmp.deaths_only_in("a") == (kill,)
    assert cmp.b.panicked and cmp.b.end_tick == kill[0]  # the same moment, a panic instead
    assert cmp.a.digest == digests[start + 500] and cmp.b.digest == m.state_digest()
    assert cmp.a.peak_swap_kb > 0 and cmp.b.peak_swap_kb > 0
    assert cmp.a.psi_total_us["some"] > 0
    assert (cmp.b.fork_tick, cmp.b.name) == (start + 250, "panic")
    t.switch("main")  # the original future is kept
    assert (m.tick, m.state_digest()) == (start + 500, digests[start + 500])


def test_a_call_made_in_the_past_starts_a_branch(original):
    start, digests, _ = original
    m, t = _fresh(300)
    t.seek(start + 150)
    m.set_oom_score_adj(3, -1000, caps="CAP_SYS_RESOURCE")  # spare the leak
    t.step(150)
    assert list(t.branches) == ["main", "main.1"] and t.current.name == "main.1"
    cmp = t.compare("main", "main.1")
    assert not [d for d in cmp.b.deaths if d[1] == 3]  # the leak was spared
    assert [d for d in cmp.b.deaths if d[2] == "oom_kill"]  # someone else was killed instead
    t.switch("main")
    assert m.state_digest() == digests[start + 300]


def test_checkpoints_stay_within_budget_older_ones_thinned(original):
    start, digests, _ = original
    m, t = _fresh(0, every=10)
    t.budget = 12 * t.checkpoints()[0].nbytes
    t.step(200)
    m.kill(6)
    t.step(300)
    held = sorted(c.tick for c in t.checkpoints())
    assert len(held) <= 12 and held[0] == start
    gaps = [b - a for a, b in itertools.pairwise(held)]
    assert gaps[0] > gaps[-1]  # sparse in the past, dense near now
    t.seek(start + 33)
    assert m.state_digest() == digests[start + 33]


def test_a_seek_reports_its_progress_every_hundred_ticks(original):
    start, digests, _ = original
    m, t = _fresh(0, every=1000)
    t.step(250)
    seen = []
    t.seek(start, progress=lambda done, total: seen.append((done, total)))  # a restore
    t.seek(start + 150, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(100, 150), (150, 150)]
    assert m.state_digest() == digests[start + 150]


def test_over_the_budget_one_second_back_still_replays_a_second_at_most(original):
    """Checkpoints that each cost more than the budget: the first and the newest stay, and in
    the last two seconds (200 ticks) none is more than a second from the next."""
    start, digests, _ = original
    m, t = _fresh(0, every=10, budget=1)
    for end in (start + 200, start + 230, start + 370):
        t.step(end - m.tick)
        if end == start + 200:
            m.kill(6)  # as the original run did
        held = sorted(c.tick for c in t.checkpoints())
        assert held[0] == start and held[-1] == end and len(held) <= 6
        recent = [tick for tick in held if tick >= end - 200]
        assert recent[0] <= end - 100 and max(b - a for a, b in itertools.pairwise(recent)) <= 100
    replayed = []
    t.seek(start + 275, progress=lambda done, total: replayed.append(total))
    assert m.state_digest() == digests[start + 275] and replayed[-1] <= 100


def test_the_default_budget_is_a_share_of_the_host_ram():
    t = Timeline(busy())
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert t.budget == ram // 8 > t.checkpoints()[0].nbytes
