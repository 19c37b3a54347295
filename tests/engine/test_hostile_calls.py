"""Every public call of Machine, found by introspection, given hostile arguments of every type:
it answers or raises OSError, and a refused call changes nothing (state_digest).

The only other outcomes: Killed (an OSError too), when an access killed its process, or a
panic (when that process was init), which is the machine changing as Linux would; and ValueError from the snapshot calls, whose contract
is that a state or save that cannot be read is a ValueError. Each argument is drawn, with a fixed seed, either from
HOSTILE (wrong types, huge and negative numbers, nested containers, numpy values) or from
PLAUSIBLE values for a parameter of that name, so later checks of a call are reached too.
"""

from __future__ import annotations

import errno
import inspect
import random

import numpy as np
import pytest

from oomtui.engine import Machine, MachineConfig
from oomtui.engine.machine import Killed
from oomtui.engine.snapshot import SnapshotCalls

PAGE = 4096
MiB = 1 << 20
A = 1 << 40  # pid 2's 1 MiB anonymous mapping, touched
SEED = 20261205
ROUNDS = 60  # calls per public method

HOSTILE = [
    None, True, False, 0, 1, -1, 7, PAGE + 1, 2**31, 2**63, 2**64, 10**30, -(10**30), 0.5,
    float("nan"), float("inf"), "", "x", "\0", "../..", "vm.swappiness", b"rw", [], [1], [[1]],
    ["CAP_KILL", ["CAP_KILL"]], (), (1, 2), ((1,),), {}, {"Normal": -1}, {"Nowhere": 4},
    {"Normal": 2**40}, {"Normal": 1.5}, {1: 2}, {"memory_max": -5}, {1, 2}, frozenset({"x"}),
    np.int64(5), np.int64(-5), np.uint64(2**64 - 1), np.float64(1.0), np.bool_(True),
    np.array([1, 2]), np.array([]), np.array([[1]]), np.array([10**18]), np.array(["x"]),
    object(), print, Ellipsis, slice(1), range(3), 1j,
]

PLAUSIBLE = {
    "pid": [2], "addr": [A, A + PAGE], "length": [PAGE, MiB], "old_len": [PAGE],
    "new_len": [2 * PAGE], "path": ["/f", "/"], "name": ["vm.swappiness", "vm.dirty_bytes"],
    "value": [0, 100], "comm": ["x"], "prot": ["rw", "r"], "flags": ["private|anonymous"],
    "advice": ["dontneed", "cold"], "resource": ["AS"], "soft": [MiB], "buckets": [4],
    "pixels": [{"Normal": 8}, {"DMA32": 3}], "pfns": [np.array([1, 2])], "count": [3],
    "n": [1], "dev": [0], "size_mib": [1], "increment": [PAGE], "new_break": [None],
    "offset": [0], "sig": [0, 15], "caps": [(), ("CAP_KILL",)], "cgroup": ["/"],
    "oom_score_adj": [0], "uid": [0], "state": [{}], "write": [True], "negative": [False],
}


def public_calls():
    """Machine's public methods (not properties): a new call is fuzzed without listing it."""
    return sorted(name for name, member in inspect.getmembers(Machine)
                  if not name.startswith("_") and callable(member)
                  and not isinstance(inspect.getattr_static(Machine, name), property))


def boot() -> Machine:
    m = Machine(MachineConfig(ram_mib=64))
    p = m.spawn("p")
    m.mmap(p, 1 * MiB, flags="private|anonymous|fixed", addr=A)
    m.touch(p, A, 1 * MiB)
    m.write_file(p, "/f", 64 * 1024)
    m.swapon(8)
    return m


def draw(rng: random.Random, name: str):
    if name in PLAUSIBLE and rng.random() < 0.5:
        return rng.choice(PLAUSIBLE[name])
    return rng.choice(HOSTILE)


def arguments(rng: random.Random, fn) -> tuple[list, dict]:
    args, kwargs = [], {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            kwargs.update({rng.choice(["memory_max", "memory_high", "bogus", "oom_group"]):
                           draw(rng, "value")})
        elif param.default is not param.empty and rng.random() < 0.3:
            continue  # left at its default
        elif param.kind is param.KEYWORD_ONLY:
            kwargs[param.name] = draw(rng, param.name)
        else:
            args.append(draw(rng, param.name))
    return args, kwargs


def test_the_public_calls_are_found():
    calls = public_calls()
    assert {"spawn", "mmap", "touch", "sysctl", "page_states", "frame_grid", "step"} <= set(calls)
    assert "k" not in calls and "state_digest" in calls


@pytest.mark.parametrize("name", public_calls())
def test_hostile_arguments_are_refused_with_oserror_and_change_nothing(name, tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)  # save() may be handed a plausible file name
    rng = random.Random(f"{SEED}:{name}")
    refusals = (OSError, ValueError) if hasattr(SnapshotCalls, name) else OSError
    m = boot()
    wrong = []
    for _ in range(ROUNDS):
        bound = getattr(m, name)
        args, kwargs = arguments(rng, bound)
        before = m.state_digest()
        what = f"{name}(*{args!r}, **{kwargs!r})"
        try:
            bound(*args, **kwargs)
        except Killed:
            m = boot()
            continue
        except refusals as e:
            if m.panicked:  # init died
                assert e.errno == errno.ENOTRECOVERABLE, f"{what}: {e!r}"
                m = boot()
                continue
            assert not isinstance(e, OSError) or e.errno in errno.errorcode, f"{what}: {e!r}"
            assert str(e).strip(), f"{what}: the error must say why"
            if m.state_digest() != before:
                wrong.append(f"{what} raised {e!r} but changed the machine")
            continue
        except Exception as e:  # noqa: BLE001 - the point: anything else is a bug
            wrong.append(f"{what} raised {type(e).__name__}: {e}")
            m = boot()
            continue
        if m.state_digest() != before:
            m = boot()  # it did something: start again from the known state
    assert not wrong, "\n".join(wrong[:10])
