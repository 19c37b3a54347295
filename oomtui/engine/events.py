"""The machine's event log: what the kernel would print to dmesg, and what a user would want
to see, each stamped with the tick it happened at."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """Something the kernel would log or a user would want to see, at a tick."""
    tick: int
    kind: str
    pid: int
    message: str
    data: dict = field(default_factory=dict)


class EventLog:
    """Appends to a Machine's `events` at its current tick: m.log(kind, pid, message, **data)."""

    def __init__(self, m):
        self.m = m
        self.actor: dict = {}  # who acts, and why, added to what is logged meanwhile

    def __call__(self, kind: str, pid: int, message: str, **data) -> None:
        self.m.events.append(Event(self.m.tick, kind, pid, message, self.actor | data))

    @contextmanager
    def acting(self, **who):
        """Events logged inside say who acted (by=...) and why: a daemon's kill()."""
        self.actor = who
        try:
            yield
        finally:
            self.actor = {}
