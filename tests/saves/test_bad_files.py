"""Broken and hostile save files: a clear SaveError (or OSError), nothing loaded, nothing lost."""

from __future__ import annotations

import copy
import errno
import os
import zlib

import msgpack
import numpy as np
import pytest
from savetools import pack, split, with_body

from oomtui import saves
from oomtui.engine import Machine
from oomtui.engine.snapshot import saved_array
from oomtui.engine.state import PC_SWAP


def _with_header(data: bytes, **changes) -> bytes:
    header, body = split(data)
    return saves._pack({**header, **changes}) + body


def _with_state(good_save, mutate) -> bytes:
    data, _, state = good_save
    state = copy.deepcopy(state)
    mutate(state)
    return with_body(data, pack(state))


def _load_fails(tmp_path, data: bytes, match: str, error=saves.SaveError):
    path = tmp_path / "bad.oomsave"
    path.write_bytes(data)
    with pytest.raises(error, match=match) as ei:
        Machine.load(path)
    assert str(path) in str(ei.value)
    assert path.read_bytes() == data  # nothing on disk is touched
    return ei.value


@pytest.mark.parametrize("cut", [0, 1, 10, 100, -1000, -1])
def test_truncated(good_save, tmp_path, cut):
    data = good_save[0]
    _load_fails(tmp_path, data[:cut], "not an oomtui save|truncated")


def test_random_bytes(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    _load_fails(tmp_path, data, "not an oomtui save")


@pytest.mark.parametrize("data", [b'{"format": "oomtui-save"}', msgpack.packb({"format": "other"}),
                                  msgpack.packb([1, 2, 3]), b"\x00" * 100])
def test_wrong_magic(tmp_path, data):
    _load_fails(tmp_path, data, "not an oomtui save")


def test_newer_version_is_refused_with_a_reason(good_save, tmp_path):
    e = _load_fails(tmp_path, _with_header(good_save[0], version=saves.VERSION + 1),
                    "saved by a newer oomtui")
    assert "upgrade" in str(e)


@pytest.mark.parametrize("version", [0, -1, "1", None])
def test_unknown_version(good_save, tmp_path, version):
    _load_fails(tmp_path, _with_header(good_save[0], version=version), "unknown save format version")


@pytest.mark.parametrize("changes", [{"body_size": "12"}, {"meta": {"tick": 1}}, {"extra": 1},
                                     {"compression": "lzma"}])
def test_damaged_header(good_save, tmp_path, changes):
    _load_fails(tmp_path, _with_header(good_save[0], **changes), "damaged header")


def test_a_date_no_calendar_holds_is_a_damaged_header(good_save, tmp_path):
    _, meta, _ = good_save
    for name, saved_at in (("last", saves.LAST_SAVED_AT), ("after", saves.LAST_SAVED_AT + 1),
                           ("far", 2**38)):  # in the year 10000, and 10680
        (tmp_path / f"{name}.oomsave").write_bytes(
            _with_header(good_save[0], meta={**meta, "saved_at": saved_at}))
    listed = {s.path.stem: s for s in saves.list_saves(tmp_path)}
    assert listed["last"].error is None and listed["last"].saved_at.year == 9999
    assert "damaged header" in listed["after"].error and "damaged header" in listed["far"].error


def test_a_flipped_bit_fails_the_checksum(good_save, tmp_path):
    data = bytearray(good_save[0])
    data[len(data) // 2] ^= 4
    _load_fails(tmp_path, bytes(data), "checksum")


def _set(path, value):
    def mutate(state):
        *parents, last = path
        target = state
        for key in parents:
            target = target[key]
        target[last] = value
    return mutate


def _shmem_swap_entry(slot_of):
    """A shmem page-cache entry (state.PC_SWAP) for the swap slot slot_of(state) picks."""
    def mutate(state):
        keys, vals, count = (state["arrays"][f"pagecache.{n}"] for n in ("keys", "vals", "count"))
        i = int(np.flatnonzero(keys == -1)[0])
        keys[i], vals[i] = 7 << 36, PC_SWAP - slot_of(state)
        count[0] += 1
    return mutate


@pytest.mark.parametrize("mutate, match", [
    (_set(("tick",), "20"), "tick must be an int"),
    (_set(("procs", 1, "comm"), 5), r"procs\[1\].comm must be a string"),
    (_set(("procs", 1, "caps"), ["CAP_EVERYTHING"]), "unknown capability"),
    (_set(("sysctl", "vm.swappiness"), 500), "vm.swappiness"),
    (_set(("config", "ram_mib"), 64), "shape"),  # the arrays are a 16 MiB machine's
    (_set(("config", "ram_mib"), 1 << 40), "config: ram_mib"),
    (_set(("seed",), 6), "seed"),
    (_set(("events", 0, "data"), {"x": saves.Ext("opaque", "x")}), "no event has"),
    (_set(("inputs", 0, "call"), "_release"), "not a call the input log records"),
    (_set(("inputs", 0, "tick"), 10**6), "past the machine's tick"),
    (_set(("runners", 0, "phase_index"), 99), "runner"),
    (_set(("cgroups", 0, "path"), "/x"), "root cgroup"),
    (_set(("next", "pid"), 1), "pid or mm id"),
    (lambda s: s["arrays"].pop("frames.next"), "missing"),
    (lambda s: s["arrays"].update(extra=np.zeros(3)), "unknown"),
    (lambda s: s["arrays"].update({"frames.type": s["arrays"]["frames.type"][:-1]}), "shape"),
    (lambda s: s["arrays"].update({"frames.type": s["arrays"]["frames.type"].astype(np.int64)}),
     "must be uint8"),
    (lambda s: s["arrays"]["frames.next"].__setitem__(5, 10**9), "frames.next holds"),
    (lambda s: s["arrays"]["lru.head"].__setitem__((0, 0), -7), "lru.head holds"),
    (lambda s: s["arrays"]["pagetables.pte"].__setitem__((0, 0), (10**7 << 8) | 1),
     "pagetables.pte maps"),
    (lambda s: s["arrays"]["pagecache.count"].__setitem__(0, 3), "hash table"),
    (_shmem_swap_entry(lambda s: 10**9), "pagecache.vals holds a swap entry"),
    (_shmem_swap_entry(lambda s: int(np.flatnonzero(s["arrays"]["swap.map"] == 0)[0])),
     "pagecache.vals holds a swap entry"),
    (lambda s: s["arrays"]["zones.start"].__setitem__(1, 7), "zones.start"),
    (lambda s: s["procs"][1].update(kstack=1 << 40), "kernel stack"),
    (lambda s: s["arrays"]["reclaim.slab"].__setitem__((2, 5), 10**9), "task_struct slab list"),
    (lambda s: s["arrays"]["reclaim.slab"].__setitem__((2, 1), 1 << 62), "object or LRU counts"),
    (lambda s: s["arrays"]["reclaim.slab"].__setitem__((0, 3), 5), "object or LRU counts"),
    (lambda s: s["arrays"]["reclaim.state"].__setitem__(13, 0), "sysctls the kernels read"),
    (lambda s: s["procs"][1]["mm"]["vmas"][0].update(start=4095), "VMA"),
])
def test_wrong_content(good_save, tmp_path, mutate, match):
    _load_fails(tmp_path, _with_state(good_save, mutate), match)


def test_array_sizes_must_match_their_data(good_save, tmp_path):
    data, _, state = good_save
    arrays = {k: saved_array(a) for k, a in state["arrays"].items()}
    arrays["frames.type"] = {**arrays["frames.type"], "shape": [1 << 40]}
    body = saves._pack({**state, "arrays": arrays})
    _load_fails(tmp_path, with_body(data, body), r"shape \[1099511627776\] does not match")


def _nested(depth: int, code: int) -> bytes:
    data = msgpack.packb([])
    for _ in range(depth):
        data = msgpack.packb(msgpack.ExtType(code, data))
    return data


@pytest.mark.parametrize("body, match", [
    (_nested(1000, saves.EXT_TUPLE), "nested more than 32 extension types deep"),
    (_nested(1000, saves.EXT_PROGRAM), "nested more than 32 extension types deep"),
    (b"\x91" * 100_000 + b"\x90", "nested too deep"),  # lists in lists
])
def test_deep_nesting_is_refused_not_a_crash(good_save, tmp_path, body, match):
    _load_fails(tmp_path, with_body(good_save[0], body), match)


def test_absurd_lengths_allocate_nothing(good_save, tmp_path):
    # a map header claiming 2**32 - 1 entries, then almost nothing: msgpack's limits (set
    # from the bytes actually there) refuse it before allocating
    _load_fails(tmp_path, with_body(good_save[0], b"\xdf\xff\xff\xff\xff\x00"), "exceeds|incomplete")
    _load_fails(tmp_path, _with_header(good_save[0], body_size=1 << 62), "truncated")


def test_a_compressed_body_may_not_inflate_without_bound(good_save, tmp_path, monkeypatch):
    monkeypatch.setattr(saves, "MAX_FILE_BYTES", 1 << 20)
    data = with_body(good_save[0], zlib.compress(b"\x00" * (4 << 20)), compression="zlib")
    _load_fails(tmp_path, data, "inflates beyond")


def test_missing_or_unreadable_file_is_an_oserror(tmp_path):
    with pytest.raises(OSError, match="cannot read .*nope.oomsave") as ei:
        Machine.load(tmp_path / "nope.oomsave")
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(OSError) as ei:
        Machine.load(tmp_path)
    assert ei.value.errno == errno.EISDIR


def test_a_fifo_or_a_device_is_refused_before_reading(tmp_path):
    fifo = tmp_path / "fifo.oomsave"
    os.mkfifo(fifo)  # no writer: reading it would wait forever
    for path in (fifo, "/dev/zero"):  # /dev/zero would never end
        with pytest.raises(saves.SaveError, match="not a regular file"):
            Machine.load(path)
        assert "not a regular file" in saves.info(path).error


def test_a_bad_file_listed_says_why(good_save, tmp_path):
    (tmp_path / "ok.oomsave").write_bytes(good_save[0])
    (tmp_path / "junk.oomsave").write_bytes(b"junk")
    listed = {s.path.name: s for s in saves.list_saves(tmp_path)}
    assert listed["ok.oomsave"].error is None and listed["ok.oomsave"].tick == 30
    assert "not an oomtui save" in listed["junk.oomsave"].error
    assert os.path.getsize(tmp_path / "junk.oomsave") == 4
