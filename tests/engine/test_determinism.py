"""Same config + seed + inputs -> bit-identical state (DESIGN.md §2 Randomness)."""

from __future__ import annotations

import re

import pytest

from oomtui.engine.machine import Killed

PAGE = 4096
MiB = 1 << 20


def script(m, touch_len=4 * MiB):
    p = m.spawn("db", oom_score_adj=100)
    a = m.mmap(p, 16 * MiB)
    m.touch(p, a, touch_len)
    m.touch(p, a + 8 * MiB, 2 * MiB, write=False)
    s = m.mmap(p, 2 * MiB, flags="shared|anonymous")
    m.touch(p, s, 1 * MiB)
    m.write_file(p, "/data/log", 3 * MiB)
    c = m.fork(p)
    m.touch(c, a, 1 * MiB)
    m.madvise(p, a + 2 * MiB, 1 * MiB, "free")
    m.madvise(c, a + 3 * MiB, 1 * MiB, "dontneed")
    m.mlock(p, a + 12 * MiB, 1 * MiB)
    m.sbrk(c, 1 * MiB)
    with pytest.raises(Killed):
        m.touch(c, 1 << 40, PAGE)      # SIGSEGV: the child dies
    q = m.spawn("batch")
    m.mmap(q, 1 * MiB, flags="private|anonymous|populate")
    try:
        m.mmap(q, 1 << 60)
    except OSError:
        pass
    return p, q


def snapshot(m):
    return (m.state_digest(), m.meminfo(), m.zoneinfo(), m.vmstat(), m.processes(),
            [(e.tick, e.kind, e.pid, e.message, e.data) for e in m.events])


def test_digest_is_hex(m):
    d = m.state_digest()
    assert isinstance(d, str) and re.fullmatch(r"[0-9a-f]{16,}", d)


def test_fresh_machines_identical(machine):
    assert machine(seed=3).state_digest() == machine(seed=3).state_digest()


@pytest.mark.slow
def test_same_inputs_same_state(machine):
    m1, m2 = machine(seed=7), machine(seed=7)
    script(m1)
    script(m2)
    assert snapshot(m1) == snapshot(m2)


def test_different_inputs_different_digest(machine):
    m1, m2 = machine(seed=7), machine(seed=7)
    script(m1, touch_len=4 * MiB)
    script(m2, touch_len=4 * MiB + PAGE)
    assert m1.state_digest() != m2.state_digest()


def test_every_successful_mutation_changes_digest(m):
    seen = {m.state_digest()}
    p = m.spawn("p")
    seen.add(m.state_digest())
    a = m.mmap(p, 1 * MiB)
    seen.add(m.state_digest())
    m.touch(p, a, PAGE)
    seen.add(m.state_digest())
    m.touch(p, a + PAGE, PAGE, write=False)
    seen.add(m.state_digest())
    m.mprotect(p, a, PAGE, "r")
    seen.add(m.state_digest())
    m.set_oom_score_adj(p, 5)
    seen.add(m.state_digest())
    m.sysctl("vm.swappiness", 10)
    seen.add(m.state_digest())
    assert len(seen) == 8
