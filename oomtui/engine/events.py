"""The machine's event log: what the kernel would print to dmesg, and what a user would want
to see, each stamped with the tick it happened at."""

from __future__ import annotations

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

    def __call__(self, kind: str, pid: int, message: str, **data) -> None:
        self.m.events.append(Event(self.m.tick, kind, pid, message, data))
