"""What a save file may cost: inflation bounded by the header's machine, no temp files left
behind by a killed save, and reasons in a save's terms."""

from __future__ import annotations

import os
import zlib

import pytest
from savetools import with_body

from oomtui import saves
from oomtui.engine import Machine


def _load_fails(tmp_path, data: bytes, match: str) -> None:
    path = tmp_path / "bad.oomsave"
    path.write_bytes(data)
    with pytest.raises(saves.SaveError, match=match):
        Machine.load(path)


def test_a_body_inflates_only_to_what_the_headers_machine_can_hold(good_save, tmp_path):
    assert saves.most_held(16) == 289 << 20  # the good save's 16 MiB machine
    assert saves.most_held(16384) == saves.MAX_FILE_BYTES
    z = zlib.compressobj(1)
    bomb = b"".join(z.compress(bytes(16 << 20)) for _ in range(19)) + z.flush()  # 304 MiB
    assert len(bomb) < 2 << 20
    _load_fails(tmp_path, with_body(good_save[0], bomb, compression="zlib"),
                "inflates beyond 289 MiB, more than the machine its header names can hold")


@pytest.mark.parametrize(("body", "reason"), [
    (b"\x81\x91\x01\x02", "a map key that is a list or a map"),  # {[1]: 2}
    (b"\xa2\xff\xfe", r"a string that is not UTF-8 \(at byte 0 of a string\)"),
    (b"\x80\x80", "bytes after the end of the body"),
])
def test_a_bad_body_is_named_in_a_saves_terms(good_save, tmp_path, body, reason):
    _load_fails(tmp_path, with_body(good_save[0], body), f": {reason}$")


def test_temp_files_of_killed_saves_are_removed(good_save, tmp_path):
    dead = tmp_path / ".a.oomsave.999999999.x1y2.tmp"  # no such pid
    live = tmp_path / f".b.oomsave.{os.getpid()}.x1y2.tmp"  # a save being written
    other = tmp_path / ".notes.tmp"
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    saves.list_saves(tmp_path)
    assert not dead.exists() and live.exists() and other.exists()
    dead.write_bytes(b"partial")
    saves.write(tmp_path / "c.oomsave", {"x": 1}, {})  # saving cleans up too
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, other.name, "c.oomsave"]
