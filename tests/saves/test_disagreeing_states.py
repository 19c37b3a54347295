"""A save whose values are each in bounds but disagree with each other is refused when loaded,
naming what disagrees: the engine would hang or crash on it (engine/invariants.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from savetools import pack, split, with_body

from oomtui import saves
from oomtui.engine import Machine
from oomtui.engine import state as S


def _load_fails(tmp_path, good_save, mutate, match: str) -> None:
    data, _, state = good_save
    state = copy.deepcopy(state)
    mutate(state)
    path = tmp_path / "bad.oomsave"
    path.write_bytes(with_body(data, pack(state)))
    with pytest.raises(saves.SaveError, match=match) as ei:
        Machine.load(path)
    assert str(path) in str(ei.value)


def _zone(state) -> int:
    """The zone the 16 MiB machine's frames are in."""
    return int(np.flatnonzero(state["arrays"]["zones.free"])[0])


def test_the_good_save_loads(good_save, tmp_path):
    path = tmp_path / "good.oomsave"
    path.write_bytes(good_save[0])
    assert Machine.load(path).tick == 30


def test_an_lru_list_longer_than_its_pages(good_save, tmp_path):
    def mutate(state):  # kswapd never returned from step(1) on this
        state["arrays"]["lru.size"][0, S.LRU_INACTIVE_FILE] = 10**12
    _load_fails(tmp_path, good_save, mutate,
                r"memcg 0's LRU list 2 length: counter 1000000000000 != recount \d+")


def test_a_zone_free_count_beyond_its_free_blocks(good_save, tmp_path):
    def mutate(state):  # the next fault never returned
        state["arrays"]["zones.free"][_zone(state)] = 10**15
    _load_fails(tmp_path, good_save, mutate, r"zone \d free pages: counter 1000000000000000 != ")


def test_a_watermark_the_sysctls_do_not_make(good_save, tmp_path):
    def mutate(state):
        state["arrays"]["zones.wmark"][_zone(state), S.WMARK_MIN] = -1
    _load_fails(tmp_path, good_save, mutate, "zones.wmark is .*-1.*not what vm.min_free_kbytes")


def test_a_tick_time_cannot_be_kept_in(good_save, tmp_path):
    def mutate(state):  # OverflowError in step
        state["tick"] = 2**63
    _load_fails(tmp_path, good_save, mutate, "tick must be an int in 0..1099511627776")


def test_the_reclaim_clock_must_be_the_tick(good_save, tmp_path):
    def mutate(state):
        state["arrays"]["reclaim.state"][S.RS_NOW] = 7
    _load_fails(tmp_path, good_save, mutate, "reclaim clock .*: counter 7 != recount 30")


def test_a_free_list_that_loops(good_save, tmp_path):
    def mutate(state):
        a = state["arrays"]
        z = _zone(state)
        o = int(np.flatnonzero(a["zones.free_count"][z] >= 2)[0])
        head, tail = a["zones.free_head"][z, o], a["zones.free_tail"][z, o]
        a["frames.next"][tail], a["frames.prev"][head] = head, tail
    _load_fails(tmp_path, good_save, mutate, r"the zone \d order \d+ free list loops")


def test_a_free_block_over_frames_in_use(good_save, tmp_path):
    def mutate(state):
        a = state["arrays"]
        used = int(np.flatnonzero(a["frames.type"] == S.ANON)[0])
        a["frames.type"][used] = S.FREE  # counted free, but in no free block
    _load_fails(tmp_path, good_save, mutate, "free frames")


def test_a_header_that_disagrees_with_the_state(good_save, tmp_path):
    data = good_save[0]
    header, body = split(data)
    header["meta"]["tick"] = 31
    path = tmp_path / "bad.oomsave"
    path.write_bytes(saves._pack(header) + body)
    with pytest.raises(saves.SaveError,
                       match="the header says tick 31 .*, the machine is at tick 30"):
        Machine.load(path)


def test_a_logged_step_past_the_saved_tick(good_save, tmp_path):
    def mutate(state):  # 1,000 of these replayed for half an hour before failing
        state["inputs"].append({"tick": 30, "call": "step", "args": [1_000_000], "kwargs": {},
                                "error": None})
    _load_fails(tmp_path, good_save, mutate,
                r"input #\d+: step\(1000000\) at tick 30 ends at tick 1000030, but the next call "
                "is at tick 30")
