"""Loading then stepping equals never having saved; snapshots cover every piece of state."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from oomtui.engine import Machine, MachineConfig
from oomtui.engine import machine as M
from oomtui.engine.invariants import check_invariants
from oomtui.engine.memcg import MemCgroup
from oomtui.engine.schema import CGROUP, EVENT, FILE, GROUP_ATTR, MM, PROCESS, VMA
from oomtui.engine.snapshot import array, saved_array
from oomtui.engine.vma import Mm, Vma


@pytest.mark.parametrize("compress", [False, True])
def test_long_run_with_saves_equals_one_without(busy_machine, tmp_path, compress):
    never = busy_machine()
    saved = busy_machine()
    path = tmp_path / "run.oomsave"
    for _ in range(4):  # through reclaim, swapping, forks and the leak's OOM kill (tick ~340)
        never.step(150)
        saved.step(150)
        saved.save(path, compress=compress)
        saved = Machine.load(path)
        check_invariants(saved)
        assert saved.state_digest() == never.state_digest()
    assert never.vmstat()["oom_kill"] == 1 and never.vmstat()["pswpin"] > 0
    assert saved.inputs.entries == never.inputs.entries
    assert [e.message for e in saved.events] == [e.message for e in never.events]


def test_restore_then_step_equals_the_original_future(busy_machine):
    m = busy_machine()
    snap = m.snapshot()
    tick, before = m.tick, m.state_digest()
    m.step(200)
    after = m.state_digest()
    m.restore(snap)
    assert (m.tick, m.state_digest()) == (tick, before)
    m.step(200)
    assert m.state_digest() == after


def test_a_snapshot_is_a_copy(busy_machine):
    m = busy_machine()
    snap = m.snapshot()
    digest = m.state_digest()
    m.step(100)  # must not write through into the snapshot's arrays or objects
    m.restore(snap)
    m.step(100)
    m.restore(snap)
    assert m.state_digest() == digest


def test_loaded_arrays_are_writable_copies(busy_machine, tmp_path):
    busy_machine().save(tmp_path / "s.oomsave")
    m = Machine.load(tmp_path / "s.oomsave")
    for group in (m.fr, m.zn, m.lru, m.ctr, m.mms, m.pt, m.pc, m.sw, m.rs):
        for a in group:
            assert a.flags.writeable and a.flags.owndata


def test_a_failed_restore_changes_nothing(busy_machine):
    m = busy_machine()
    snap = m.snapshot()
    m.step(50)
    digest = m.state_digest()
    nxt = array(snap["arrays"]["frames.next"], "frames.next").copy()
    nxt[7] = 1 << 30  # a pfn far beyond RAM
    snap["arrays"]["frames.next"] = saved_array(nxt)
    with pytest.raises(ValueError, match="frames.next"):
        m.restore(snap)
    assert m.state_digest() == digest
    m.step(10)  # and it still runs


def test_restore_refuses_another_config(busy_machine):
    other = Machine(MachineConfig(ram_mib=128, seed=2))
    with pytest.raises(ValueError, match="another config"):
        other.restore(busy_machine().snapshot())


def test_the_digest_covers_workload_runners(busy_machine):
    m = busy_machine()
    digest = m.state_digest()
    m.runners[2].cursor += 1  # same arrays and processes, a different future
    assert m.state_digest() != digest


# Everything a Machine holds is saved or rebuilt from what is saved; a new attribute must be
# put in one of these lists (and saved, if it is state).
SAVED = {"tick", "committed", "least_priority", "panicked", "_sysctl", "_next", "_embryo",
         "_kswapd_was_awake", "_protected", "psi", "_stalled", "_victims", "config", "events", "inputs", "procs", "files",
         "file_by_id", "runners", "cgtree", "_cg_by_id", "fr", "zn", "lru", "ctr", "mms", "pt", "pc",
         "sw", "rs"}
DERIVED = {"managed", "totalram", "watermarks", "totalreserve", "_rmap", "_walks"}
# The services the machine is made of: their state is saved under the Machine attributes they
# keep (least_priority, _stalled, _victims, cgtree, ...).
SERVICES = {"log", "stalls", "memcg", "allocator", "reclaim", "writeback", "compaction", "thp",
            "oom", "swap_areas", "slab", "views"}


def test_every_machine_attribute_is_saved_or_derived(busy_machine):
    m = busy_machine()
    known = SAVED | DERIVED | SERVICES
    assert set(vars(m)) <= known, set(vars(m)) - known
    snap = m.snapshot()
    saved = {a.lstrip("_") for a in SAVED} - {"fr", "zn", "lru", "ctr", "mms", "pt", "pc", "sw",
                                              "rs", "file_by_id", "cgtree", "cg_by_id"}
    saved.add("cgroups")
    assert set(snap) == saved | {"seed", "arrays"}
    assert set(snap["arrays"]) == {f"{g}.{n}" for g, n, *_ in M.S.FIELDS}


@pytest.mark.parametrize("cls, record", [(M.Process, PROCESS), (M.File, FILE), (M.Event, EVENT),
                                         (Mm, MM), (Vma, VMA)])
def test_every_field_of_engine_objects_is_saved(cls, record):
    assert {f.attr for f in record.fields} == {f.name for f in dataclasses.fields(cls)}


def test_every_setting_and_counter_of_a_cgroup_is_saved():
    structure = {"parent", "children", "id"}  # rebuilt from the paths and the order
    fields = {f.name for f in dataclasses.fields(MemCgroup)} - structure
    assert {f.attr for f in CGROUP.fields} == fields


def test_restored_arrays_equal_the_saved_ones(busy_machine):
    m = busy_machine()
    snap = m.snapshot()
    fresh = Machine(m.config)
    fresh.restore(snap)
    for name, a in snap["arrays"].items():
        group, field = name.split(".")
        attr = GROUP_ATTR[group]
        assert np.array_equal(getattr(getattr(fresh, attr), field), array(a, name)), name
