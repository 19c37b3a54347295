"""The input log: every public call made on a Machine from outside, so a run can be replayed.

`@recorded` sits on each public method that may change the machine. A call is logged when it
comes from outside the engine: not the calls workload runners make inside step(), not calls
nested in another, not the swapon()s of boot. Calls that raised are logged with their error:
replaying them must raise the same one (and some, like a fork whose parent was OOM-killed,
changed the machine before failing).

Consecutive steps make one entry: replaying step(a + b) is the same as step(a) then step(b),
so the log does not depend on how time was chunked (a UI stepping once per frame would
otherwise log 30 entries a second), and replaying a log rebuilds exactly the same log.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Mapping
from numbers import Integral
from typing import NamedTuple

import numpy as np

from oomtui.workloads import Program

RECORDED: set[str] = set()  # the method names a log may name (a save must not call others)


class Input(NamedTuple):
    tick: int  # the machine's tick when the call was made
    name: str
    args: tuple
    kwargs: dict
    error: tuple | None  # (exception type name, errno or None, message) if the call raised


class Opaque:
    """An argument no save can hold (an arbitrary object), kept as its repr. The engine refused
    the original, and refuses this stand-in the same way on replay."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other) -> bool:
        return isinstance(other, Opaque) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


class ReplayError(ValueError):
    """A replayed call did not do what the log says it did."""


class InputLog:
    """A machine's inputs since boot; `depth` > 0 while a recorded call runs."""

    def __init__(self, entries=()):
        self.entries: list[Input] = list(entries)
        self.depth = 0

    def add(self, entry: Input) -> None:
        last = self.entries[-1] if self.entries else None
        if entry.name == "step" and entry.error is None and last is not None \
                and last.name == "step" and last.error is None:
            self.entries[-1] = last._replace(args=(step_ticks(last) + step_ticks(entry),))
        else:
            self.entries.append(entry)


def step_ticks(entry: Input) -> int:
    """The n of a successful step entry."""
    return entry.args[0] if entry.args else entry.kwargs.get("n", 1)


def freeze(value):
    """A call argument as a value a save can hold, and a copy the caller cannot change."""
    if value is None or type(value) in (bool, int, float, str, bytes) or isinstance(value, Program):
        return value
    if isinstance(value, np.generic):
        return freeze(value.item())
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, (list, tuple)):
        items = [freeze(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, (set, frozenset)) and all(type(v) is str for v in value):
        return tuple(sorted(value))  # capabilities: the order a set iterates in is random
    if isinstance(value, Mapping):
        return {freeze(k): freeze(v) for k, v in value.items()}
    return Opaque(repr(value))


def error_of(e: Exception) -> tuple:
    if isinstance(e, OSError):
        return type(e).__name__, e.errno, e.strerror or str(e)
    return type(e).__name__, None, str(e)


def recorded(fn=None, *, read=None):
    """Log outside calls of a Machine method. `read(*args, **kwargs)` says when a call only
    reads (as sysctl(name) does): those are not logged."""
    if fn is None:
        return functools.partial(recorded, read=read)
    name = fn.__name__
    RECORDED.add(name)

    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        log = self.__dict__.get("inputs")
        if log is None or log.depth or (read is not None and read(*args, **kwargs)):
            return fn(self, *args, **kwargs)
        tick, fargs, fkwargs = self.tick, freeze(args), freeze(kwargs)
        log.depth += 1
        try:
            result = fn(self, *args, **kwargs)
        except Exception as e:
            log.add(Input(tick, name, fargs, fkwargs, error_of(e)))
            raise
        finally:
            log.depth -= 1
        log.add(Input(tick, name, fargs, fkwargs, None))
        return result

    return call


def apply(machine, entry: Input, index: int) -> None:
    """Make one logged call again; ReplayError if it does not fail or succeed as logged."""
    where = f"input #{index} ({entry.name} at tick {entry.tick})"
    if machine.tick != entry.tick:
        raise ReplayError(f"replay diverged at {where}: the machine is at tick {machine.tick}")
    try:
        getattr(machine, entry.name)(*entry.args, **entry.kwargs)
    except Exception as e:
        got = error_of(e)
        if entry.error is None or got[:2] != tuple(entry.error[:2]):
            raise ReplayError(f"replay diverged at {where}: it raised {_describe(got)}, "
                              f"the log says {_describe(entry.error)}") from None
    else:
        if entry.error is not None:
            raise ReplayError(f"replay diverged at {where}: it succeeded, the log says "
                              f"{_describe(entry.error)}")


def _describe(error: tuple | None) -> str:
    if error is None:
        return "success"
    kind, code, message = error
    name = errno.errorcode.get(code) if code else None
    return f"{kind} {name}: {message}" if name else f"{kind}: {message}"


def replay(machine, entries, on_input=None) -> None:
    """Apply a log to a freshly booted machine; on_input(index, entry) after each call."""
    for i, entry in enumerate(entries):
        apply(machine, entry, i)
        if on_input is not None:
            on_input(i, entry)
