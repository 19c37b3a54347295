"""Saving is atomic: an interrupted save leaves the old file whole and no temp file behind."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from oomtui import paths, saves
from oomtui.engine import Machine, MachineConfig


@pytest.fixture
def m():
    m = Machine(MachineConfig(ram_mib=32))
    m.spawn("a", workload="leaker")
    m.step(10)
    return m


@pytest.fixture
def old(m, tmp_path):
    path = tmp_path / "run.oomsave"
    m.save(path)
    m.step(10)  # the next save would differ
    return path, path.read_bytes()


def _fail(exc):
    def fail(*args, **kwargs):
        raise exc
    return fail


@pytest.mark.parametrize("where, exc", [
    ("fsync", OSError(errno.ENOSPC, "No space left on device")),
    ("replace", OSError(errno.EIO, "Input/output error")),
    ("replace", KeyboardInterrupt()),
])
def test_an_interrupted_save_keeps_the_old_file(m, old, monkeypatch, where, exc):
    path, before = old
    monkeypatch.setattr(saves.os, where, _fail(exc))
    with pytest.raises(type(exc)) as ei:
        m.save(path)
    monkeypatch.undo()
    if isinstance(exc, OSError):
        assert ei.value.errno == exc.errno and f"cannot write {path}" in str(ei.value)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temp file left over
    assert Machine.load(path).tick == 10


def test_a_save_replaces_the_old_file_whole(m, old):
    path, before = old
    m.save(path, compress=True)
    assert path.read_bytes() != before and os.listdir(path.parent) == [path.name]
    assert Machine.load(path).state_digest() == m.state_digest()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_saving_into_a_missing_directory_is_an_oserror(m, tmp_path):
    with pytest.raises(OSError, match="cannot write") as ei:
        m.save(tmp_path / "nowhere" / "x.oomsave")
    assert ei.value.errno == errno.ENOENT


def test_saves_dir_and_listing(m, oomtui_home):
    directory = paths.ensure(paths.saves_dir())
    assert directory == oomtui_home / "data" / "saves"
    name = saves.default_name("leaky", m.tick)
    assert name.startswith("leaky-t10-") and name.endswith(saves.SUFFIX)
    m.save(directory / name, scenario="leaky")
    (listed,) = saves.list_saves()
    assert (listed.path.name, listed.scenario, listed.tick, listed.seconds) == (name, "leaky", 10, 0.1)
    assert listed.error is None and not listed.compressed
