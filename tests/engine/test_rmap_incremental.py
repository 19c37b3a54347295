"""The reverse map kept up to date by what changed holds exactly what one built from scratch
holds, after any mix of mapping calls, forks and exits."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oomtui.engine import Machine, MachineConfig
from oomtui.engine.vma import vmas_changed

PAGE = 4096


def live_rows(rm) -> set:
    """The rows of VMAs (an empty one is a dropped VMA's), checked to be found through both
    sorted keys."""
    anon_keys, file_keys = np.asarray(rm.anon_keys), np.asarray(rm.file_keys)
    assert (np.diff(anon_keys) >= 0).all() and (np.diff(file_keys) >= 0).all()
    assert sorted(rm.anon_rows) == list(range(rm.mm.size)) == sorted(rm.file_rows)
    anon_of = dict(zip(rm.anon_rows.tolist(), anon_keys.tolist()))
    file_of = dict(zip(rm.file_rows.tolist(), file_keys.tolist()))
    rows = set()
    for r in np.flatnonzero(rm.end > rm.start).tolist():
        row = (anon_of[r], file_of[r], *(int(c[r]) for c in (rm.mm, rm.start, rm.end, rm.pgoff,
                                                              rm.flags)))
        assert row not in rows
        rows.add(row)
    return rows


def vma_rows(m: Machine) -> set:
    """The rows a full build makes: one per VMA of every live mm."""
    return {(v.anon, v.file, q.mm.id, v.start // PAGE, v.end // PAGE, v.pgoff, v.flags)
            for q in m.procs.values() for v in q.mm.vmas}


CALLS = st.lists(st.tuples(
    st.sampled_from(["mmap", "mmap_fixed", "munmap", "mprotect", "mlock", "munlock", "madvise",
                     "mremap", "touch", "fork", "exit", "sbrk", "look", "mmap", "mmap_fixed"]),
    st.integers(0, 7), st.integers(0, 63), st.integers(1, 16), st.integers(0, 3)), min_size=10, max_size=80)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(CALLS)
def test_the_kept_reverse_map_equals_a_full_build(calls):
    m = Machine(MachineConfig(ram_mib=128))
    m.spawn("a")
    for call, who, at, pages, kind in calls:
        pids = sorted(m.procs)
        pid = pids[who % len(pids)]
        vmas = m.procs[pid].mm.vmas
        base = vmas[at % len(vmas)].start if vmas else 1 << 30
        addr, length = base + (at % 4) * PAGE, pages * PAGE
        prot = ("r", "rw", "rx", "none")[kind]
        try:
            if call == "mmap":
                m.mmap(pid, length, prot=prot, flags=("private|anonymous", "shared|anonymous")[kind % 2])
            elif call == "mmap_fixed":
                m.mmap(pid, length, prot=prot, flags="private|anonymous|fixed", addr=addr)
            elif call == "munmap":
                m.munmap(pid, addr, length)
            elif call == "mprotect":
                m.mprotect(pid, addr, length, prot)
            elif call == "mlock":
                m.mlock(pid, addr, length)
            elif call == "munlock":
                m.munlock(pid, addr, length)
            elif call == "madvise":
                m.madvise(pid, addr, length, ("hugepage", "nohugepage", "dontneed", "cold")[kind])
            elif call == "mremap":
                m.mremap(pid, addr, length, length + kind * PAGE, may_move=bool(kind % 2))
            elif call == "touch":
                m.touch(pid, addr, length, write=bool(kind % 2))
            elif call == "fork":
                m.fork(pid)
            elif call == "exit" and pid != 1:
                m.exit(pid)
            elif call == "sbrk":
                m.sbrk(pid, (kind - 1) * length)
            else:
                m.k  # the map catches up mid-sequence too
        except OSError:
            pass
    vmas_changed()  # a removal alone leaves harmless rows until the next addition
    assert live_rows(m.k.rm) == vma_rows(m)

