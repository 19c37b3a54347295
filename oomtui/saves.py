"""Save files: bytes <-> a dict, in msgpack, written atomically, read defensively.

This module knows files, not machines: it imports neither the engine nor numba, so listing
saves stays cheap. engine/snapshot.py turns a Machine into the dict written here and back
(Machine.save(), Machine.load()), and engine/schema.py declares what the dict holds.

A save is two msgpack values one after the other:

- a small header map: {"format": "oomtui-save", "version": 3, "meta": {scenario, tick,
  tick_ms, saved_at, ram_mib, digest, oomtui}, "compression": "zlib" or None,
  "body_size", "body_crc32"}. Listing saves reads only this.
- the body: the map Machine.snapshot() returns ({config, seed, tick, arrays, procs, files,
  runners, events, inputs, ...}, each array as {"dtype", "shape", "data"}), zlib-compressed
  when asked (a 16 GiB machine's arrays shrink a lot: most frames look alike).

Tuples, integers beyond 64 bits, and the engine's values msgpack has no type for (an Ext:
a workload program, an argument no save can hold) travel as msgpack extension types, so what
is loaded equals what was saved, type for type.

A save of an older version is converted as it is read, one step per version (UPGRADES): read()
always returns the current version's dict.

Reading trusts nothing: the file size is capped, msgpack's limits are set from the bytes
actually there, zlib output is capped by what the header's machine can hold, the body's CRC-32
must match (damage, not malice: the checks after it are what keep hostile files out), and the
engine checks every field, then recounts every book, before anything changes. A bad file
raises SaveError naming the file and what is wrong; an unreadable one OSError.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgpack

from oomtui import __version__, paths

FORMAT = "oomtui-save"
VERSION = 3
SUFFIX = ".oomsave"
TEMP_SUFFIX = ".tmp"  # .NAME.PID.RANDOM.tmp while a save is written
MAX_FILE_BYTES = 4 << 30  # a 128 GiB machine saves in about 1.5 GiB
MAX_HEADER_BYTES = 64 << 10
ZLIB_LEVEL = 1  # most of the gain of level 6 at a fraction of its time (see oomtui bench)
# Extension values inside extension values: each level is another run of msgpack's C unpacker,
# whose frame is large, so a hostile file nesting thousands would overflow the C stack.
MAX_EXT_DEPTH = 32
EXT_TUPLE, EXT_BIGINT, EXT_OPAQUE, EXT_PROGRAM = 1, 2, 3, 4
HEADER_KEYS = {"format", "version", "meta", "compression", "body_size", "body_crc32"}
META_TYPES = {"scenario": (str, type(None)), "tick": (int,), "tick_ms": (int,), "saved_at": (int,),
              "ram_mib": (int,), "digest": (str,), "oomtui": (str,)}
LAST_SAVED_AT = int(datetime.max.replace(tzinfo=UTC, microsecond=0).timestamp())  # 9999-12-31


class SaveError(ValueError):
    """A file that is not a valid save; the message names the file and the problem."""


@dataclass(frozen=True)
class Ext:
    """An engine value msgpack has no type for, in plain form: an "opaque" argument's text, or
    a "program"'s dict (workloads.Program.to_dict)."""
    kind: str
    value: object


# -- msgpack with the extra types --------------------------------------------------------------

def _default(obj):
    if type(obj) is tuple:
        return msgpack.ExtType(EXT_TUPLE, _pack(list(obj)))
    if type(obj) is int:  # only those msgpack cannot hold come here
        return msgpack.ExtType(EXT_BIGINT, str(obj).encode())
    if type(obj) is Ext and obj.kind == "opaque" and type(obj.value) is str:
        return msgpack.ExtType(EXT_OPAQUE, obj.value.encode())
    if type(obj) is Ext and obj.kind == "program":
        return msgpack.ExtType(EXT_PROGRAM, _pack(obj.value))
    raise TypeError(f"cannot save a {type(obj).__name__}: {obj!r:.60}")


def _pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True, strict_types=True, default=_default)


def _ext_hook(code: int, data: bytes, depth: int):
    if code == EXT_TUPLE:
        return tuple(_unpack(data, depth))
    if code == EXT_BIGINT:
        return int(data.decode("ascii"))
    if code == EXT_OPAQUE:
        return Ext("opaque", data.decode())
    if code == EXT_PROGRAM:
        return Ext("program", _unpack(data, depth))
    raise ValueError(f"unknown msgpack extension type {code}")


def _unpack(data, depth: int = 0):
    """msgpack's limits default to the input's length: no header can ask for more memory."""
    if depth > MAX_EXT_DEPTH:
        raise ValueError(f"values nested more than {MAX_EXT_DEPTH} extension types deep")
    return msgpack.unpackb(data, raw=False, strict_map_key=False,
                           ext_hook=functools.partial(_ext_hook, depth=depth + 1))


# -- older versions ----------------------------------------------------------------------------

# Version 1 saved the kernels' control words as one array "lru.ctl" of 9 int64 words; version 2
# keeps only the three that carry over from one call to the next (the reclaim scope: words 3, 4
# and 5) as "lru.scope", and never saves the per-call ones.
CTL_V1_WORDS, SCOPE_V1_WORDS = 9, slice(3 * 8, 6 * 8)
# Sysctls version 2 added (at their kernel default: the ratios rule) and dropped (not modelled).
SYSCTLS_ADDED_IN_V2 = {"vm.dirty_bytes": 0, "vm.dirty_background_bytes": 0}
SYSCTLS_DROPPED_IN_V2 = ("vm.watermark_boost_factor",)
# Version 2's names for the fields version 1 listed in order (fixed: a later version that
# renames one does it in a step of its own, from these).
INPUT_V1 = ("tick", "call", "args", "kwargs", "error")
ERROR_V1 = ("exception", "errno", "message")


def _v1_to_v2(state):
    """Version 2 names the fields of an input entry and its error (version 1 listed them in
    order), saves the reclaim scope instead of all the control words (lru.ctl), and knows
    vm.dirty_bytes and vm.dirty_background_bytes but not vm.watermark_boost_factor. What does
    not have the shape version 1 had is left as it is, for the engine's checks to refuse."""
    if type(state) is not dict:
        return state
    if type(state.get("inputs")) is list:
        state["inputs"] = [_v1_input(e) for e in state["inputs"]]
    if type(state.get("arrays")) is dict:
        _v1_scope(state["arrays"])
    if type(state.get("sysctl")) is dict:
        for name in SYSCTLS_DROPPED_IN_V2:
            state["sysctl"].pop(name, None)
        for name, value in SYSCTLS_ADDED_IN_V2.items():
            state["sysctl"].setdefault(name, value)
    return state


def _v1_scope(arrays: dict) -> None:
    ctl = arrays.get("lru.ctl")
    if (type(ctl) is dict and ctl.get("dtype") == "<i8" and ctl.get("shape") == [CTL_V1_WORDS]
            and type(ctl.get("data")) is bytes and len(ctl["data"]) == CTL_V1_WORDS * 8):
        del arrays["lru.ctl"]
        arrays["lru.scope"] = {"dtype": "<i8", "shape": [3], "data": ctl["data"][SCOPE_V1_WORDS]}


def _v1_input(entry):
    if type(entry) not in (list, tuple) or len(entry) != len(INPUT_V1):
        return entry
    entry = dict(zip(INPUT_V1, entry))
    error = entry["error"]
    if type(error) in (list, tuple) and len(error) == len(ERROR_V1):
        entry["error"] = dict(zip(ERROR_V1, error))
    return entry


# The arrays version 3 added, at the kernel's initial values: (dtype, shape, value); a shape of
# None is one row per mm, as many as mms.nr_pt has.
NR_MEMCG_STOCK_V3 = 7
ARRAYS_ADDED_IN_V3 = {
    "lru.stock_memcg": ("<i8", [NR_MEMCG_STOCK_V3], -1),  # an empty per-cpu charge stock
    "lru.stock_pages": ("<i8", [NR_MEMCG_STOCK_V3], 0),
    "lru.stock_drain": ("<i8", [1], 0),
    "mms.swap_ra": ("<i8", None, 0),  # vma->swap_readahead_info starts at 0
    "swap.ra": ("<i8", [3], 0),  # swapin_nr_pages' statics start at 0
}


def _v2_to_v3(state):
    """Version 3 saves the per-cpu memcg charge stock and the swap readahead state (each mm's
    and the cluster readahead's), which start empty, and no longer charges the root memcg's
    own pages and swap entries: the root's counters become the sum of its children's. What
    does not have the shape version 2 had is left as it is, for the engine's checks to
    refuse. (Its header's digest also changed: it hashes the content of the hash tables and
    the page-table pool, not the whole arrays, so not how big they grew.)"""
    if type(state) is not dict or type(state.get("arrays")) is not dict:
        return state
    arrays = state["arrays"]
    _v2_root_counters(arrays)
    nr_pt = arrays.get("mms.nr_pt")
    mms = nr_pt.get("shape") if type(nr_pt) is dict else None
    if type(mms) is not list or len(mms) != 1 or type(mms[0]) is not int or mms[0] < 0:
        return state
    for name, (dtype, shape, value) in ARRAYS_ADDED_IN_V3.items():
        shape = shape or [mms[0], 4]
        n = shape[0] * (shape[1] if len(shape) > 1 else 1)
        arrays.setdefault(name, {"dtype": dtype, "shape": shape,
                                 "data": value.to_bytes(8, "little", signed=True) * n})
    return state


def _v2_root_counters(arrays: dict) -> None:
    """lru.usage[0] and lru.swap[0] := the sum over the root's children (lru.parent == 0)."""
    parent = arrays.get("lru.parent")
    if type(parent) is not dict or parent.get("dtype") != "<i4" or type(parent.get("data")) \
            is not bytes:
        return
    n = len(parent["data"]) // 4
    parents = [int.from_bytes(parent["data"][4 * i:4 * i + 4], "little", signed=True)
               for i in range(n)]
    for name in ("lru.usage", "lru.swap"):
        a = arrays.get(name)
        if type(a) is not dict or a.get("dtype") != "<i8" or a.get("shape") != [n] \
                or type(a.get("data")) is not bytes or len(a["data"]) != 8 * n:
            continue
        data = a["data"]
        root = sum(int.from_bytes(data[8 * i:8 * i + 8], "little", signed=True)
                   for i in range(1, n) if parents[i] == 0)
        a["data"] = root.to_bytes(8, "little", signed=True) + data[8:]


UPGRADES = {1: _v1_to_v2, 2: _v2_to_v3}  # version -> the step from it to the next


# -- writing -----------------------------------------------------------------------------------

def meta_of(machine, scenario: str | None = None) -> dict:
    """The header's meta for a Machine."""
    return {"scenario": scenario, "tick": machine.tick, "tick_ms": machine.config.tick_ms,
            "saved_at": int(time.time()), "ram_mib": machine.totalram >> 8,
            "digest": machine.state_digest(), "oomtui": __version__}


def write(path, state: dict, meta: dict, *, compress: bool = False) -> None:
    """Write a snapshot atomically: the old file stays whole until the new one is on disk.

    Needs no engine lock: give it a snapshot, and a worker thread can do the packing,
    compressing and writing."""
    body = _pack(state)
    if compress:
        body = zlib.compress(body, ZLIB_LEVEL)
    header = _pack({"format": FORMAT, "version": VERSION, "meta": meta,
                    "compression": "zlib" if compress else None, "body_size": len(body),
                    "body_crc32": zlib.crc32(body)})
    _atomic_write(_path(path), (header, body))


def _path(path) -> Path:
    """A save's path as given: a str or os.PathLike; anything else is EINVAL, not a TypeError."""
    if not isinstance(path, (str, os.PathLike)):
        raise OSError(errno.EINVAL, f"a save's path must be a file name, got {type(path).__name__}")
    return Path(path)


def _atomic_write(path: Path, chunks) -> None:
    """Temp file in the same directory, fsync, rename over the old one, fsync the directory."""
    remove_stale_temps(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                   suffix=TEMP_SUFFIX)
    except OSError as e:
        raise OSError(e.errno, f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OSError(e.errno, f"cannot write {path}: {e.strerror or e}") from None
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def remove_stale_temps(directory: Path) -> None:
    """Delete the temp files of saves whose writer was killed mid-write (its pid is in the
    name, _atomic_write): they are hidden, and can be hundreds of MiB."""
    for tmp in directory.glob(f".*{SUFFIX}.*{TEMP_SUFFIX}"):
        pid = tmp.name.removesuffix(TEMP_SUFFIX).split(".")[-2]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        pass
    return True


# -- reading -----------------------------------------------------------------------------------

def _read_bytes(path: Path, limit: int) -> bytes:
    try:
        with open(path, "rb", opener=_open_nonblocking) as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
                raise SaveError(f"{path}: not a save: not a regular file")
            size = st.st_size
            if size > MAX_FILE_BYTES:
                raise SaveError(f"{path}: {size >> 20} MiB is more than a save can be "
                                f"({MAX_FILE_BYTES >> 30} GiB)")
            return f.read(limit)
    except OSError as e:
        raise OSError(e.errno, f"cannot read {path}: {e.strerror or e}") from None


def _open_nonblocking(path, flags: int) -> int:
    """Opening a FIFO for reading waits for a writer, unless non-blocking (no effect on files)."""
    return os.open(path, flags | os.O_NONBLOCK)


def _header(path: Path, data: bytes) -> tuple[dict, int]:
    """The checked header, and where the body starts."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=MAX_HEADER_BYTES)
    unpacker.feed(data[:MAX_HEADER_BYTES])
    try:
        header = unpacker.unpack()
    except (ValueError, msgpack.UnpackException, RecursionError):
        header = None
    if type(header) is not dict or header.get("format") != FORMAT:
        raise SaveError(f"{path}: not an oomtui save (no \"{FORMAT}\" header)")
    version = header.get("version")
    if type(version) is not int or version < 1:
        raise SaveError(f"{path}: unknown save format version {version!r}")
    if version > VERSION:
        raise SaveError(f"{path}: saved by a newer oomtui (save format {version}; this "
                        f"oomtui {__version__} reads format {VERSION}): upgrade oomtui to open it")
    meta = header.get("meta")
    if set(header) != HEADER_KEYS or type(meta) is not dict or set(meta) != set(META_TYPES) \
            or any(type(meta[k]) not in t for k, t in META_TYPES.items()) \
            or not (0 <= meta["tick"] and 1 <= meta["tick_ms"]
                    and 0 <= meta["saved_at"] <= LAST_SAVED_AT) \
            or header["compression"] not in ("zlib", None) or type(header["body_size"]) is not int \
            or type(header["body_crc32"]) is not int:
        raise SaveError(f"{path}: damaged header")
    return header, unpacker.tell()


def read_header(path) -> dict:
    """A save's header alone (for listing saves): cheap whatever the save's size."""
    path = _path(path)
    return _header(path, _read_bytes(path, MAX_HEADER_BYTES))[0]


def read(path) -> tuple[dict, dict]:
    """(meta, state) of a save, its state converted to the current version: the dict
    Machine.from_snapshot() takes (which checks it)."""
    path = _path(path)
    data = _read_bytes(path, MAX_FILE_BYTES)
    header, start = _header(path, data)
    body = memoryview(data)[start:]
    if len(body) != header["body_size"]:
        raise SaveError(f"{path}: truncated or padded: the body is {len(body)} bytes, the header "
                        f"says {header['body_size']}")
    if zlib.crc32(body) != header["body_crc32"]:
        raise SaveError(f"{path}: damaged: the body's checksum does not match the header's")
    try:
        if header["compression"] == "zlib":
            body = _inflate(body, most_held(header["meta"]["ram_mib"]))
        state = _unpack(body)
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError, zlib.error) as e:
        raise SaveError(f"{path}: {_reason(e)}") from None
    for version in range(header["version"], VERSION):
        state = UPGRADES[version](state)
    return header["meta"], state


def most_held(ram_mib: int) -> int:
    """The most bytes a machine with ram_mib of RAM saves, uncompressed: its page-table pool,
    whose rows are page-table pages, at most twice its RAM; 256 bytes a page of frame arrays
    and hash tables; 256 MiB for swap slots (38 bytes per 4 KiB), processes and logs."""
    return min(MAX_FILE_BYTES, (2 << 20) * ram_mib + (256 << 8) * ram_mib + (256 << 20))


def _inflate(body, limit: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(body, limit)
    if d.unconsumed_tail or not d.eof:
        raise ValueError(f"the compressed body is incomplete or inflates beyond {limit >> 20} "
                         "MiB, more than the machine its header names can hold")
    return out


def _reason(e: Exception) -> str:
    """What is wrong with a body, in the save's terms rather than Python's."""
    if isinstance(e, msgpack.StackError):  # its message is empty
        return "values nested too deep"
    if isinstance(e, msgpack.ExtraData):
        return "bytes after the end of the body"
    if isinstance(e, UnicodeDecodeError):
        return f"a string that is not UTF-8 (at byte {e.start} of a string)"
    if isinstance(e, RecursionError):
        return "values nested too deep"
    if isinstance(e, TypeError):  # "unhashable type: 'list'"
        return "a map key that is a list or a map"
    if isinstance(e, zlib.error):
        return f"the compressed body is damaged ({e})"
    return str(e) or "the body is not a valid msgpack value"


# -- the saves directory -----------------------------------------------------------------------

@dataclass(frozen=True)
class SaveInfo:
    """One save as a load dialog lists it; `error` says why it cannot be opened."""
    path: Path
    size: int
    scenario: str | None = None
    tick: int = 0
    seconds: float = 0.0
    saved_at: datetime | None = None
    compressed: bool = False
    error: str | None = None


def info(path) -> SaveInfo:
    """What a save's header says (nothing is loaded), or why it is not a save."""
    path = _path(path)
    try:
        header = read_header(path)
        size = path.stat().st_size
    except (OSError, ValueError) as e:
        return SaveInfo(path, 0, error=str(e))
    meta = header["meta"]
    return SaveInfo(path, size, meta["scenario"], meta["tick"], meta["tick"] * meta["tick_ms"] / 1000,
                    datetime.fromtimestamp(meta["saved_at"], UTC),
                    header["compression"] == "zlib")


def list_saves(directory=None) -> list[SaveInfo]:
    """The saves in `directory` (default: the user's saves dir), newest first."""
    directory = Path(directory) if directory is not None else paths.saves_dir()
    if not directory.is_dir():
        return []
    remove_stale_temps(directory)
    found = [info(p) for p in directory.glob(f"*{SUFFIX}") if p.is_file()]
    epoch = datetime.fromtimestamp(0, UTC)
    return sorted(found, key=lambda s: (s.saved_at or epoch, s.path.name), reverse=True)


def default_name(scenario: str | None, tick: int, when: datetime | None = None) -> str:
    """scenario + tick + time, as the save dialog proposes it."""
    when = when or datetime.now()
    return f"{scenario or 'machine'}-t{tick}-{when:%Y%m%d-%H%M%S}{SUFFIX}"
