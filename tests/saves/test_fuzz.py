"""Hypothesis feeds the loader random files, mutated files, and mutated states behind a valid
checksum: each must load or be refused with SaveError/OSError, never raise anything else."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from savetools import pack, with_body

from oomtui import saves
from oomtui.engine import Machine

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load(tmp_path, data: bytes) -> None:
    path = tmp_path / "f.oomsave"
    path.write_bytes(data)
    try:
        Machine.load(path)
    except (saves.SaveError, OSError):
        pass
    assert path.read_bytes() == data


@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes(tmp_path, data):
    _load(tmp_path, data)


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255),
                                st.sampled_from(["set", "insert", "delete"])), min_size=1,
                      max_size=4),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_mutated_files(tmp_path, good_save, edits, cut):
    data = bytearray(good_save[0])
    for where, byte, how in edits:
        i = int(where * len(data))
        if how == "set":
            data[i] = byte
        elif how == "insert":
            data.insert(i, byte)
        else:
            del data[i]
    if cut is not None:
        del data[int(cut * len(data)):]
    _load(tmp_path, bytes(data))


def _leaves(value, path=()):
    """Every place in a state (arrays excepted) a value could be replaced."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            if path + (k,) != ("arrays",):
                yield from _leaves(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, path + (i,))


VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4),
                   st.lists(st.integers(-2, 2**40), max_size=3),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@FUZZ
@given(data=st.data())
def test_mutated_states_behind_a_valid_checksum(tmp_path, good_save, data):
    raw, _, state = good_save
    state = copy.deepcopy(state)
    if data.draw(st.booleans(), "array"):
        name = data.draw(st.sampled_from(sorted(state["arrays"])), "name")
        a = state["arrays"][name]
        if a.size:
            info = np.iinfo(a.dtype)
            i = data.draw(st.integers(0, a.size - 1), "index")
            a.flat[i] = data.draw(st.integers(info.min, info.max), "value")
    else:
        path = data.draw(st.sampled_from(list(_leaves(state))[1:]), "path")
        target = state
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = data.draw(VALUES, "value")
    _load(tmp_path, with_body(raw, pack(state)))
