"""What the engine worker tells the app: Textual messages, posted from the worker thread
(post_message is thread-safe) and handled on the UI thread in the order they were posted.

The data they carry (Frame, Where, Result, Reply, Moved, LogLine) is defined in sim.py, a level's
Ending in level_play.py.
"""

from __future__ import annotations

from textual.message import Message


class FrameReady(Message):
    """A new frame to show. One still queued behind a newer one is dropped (the UI shows only
    the newest when it lags)."""

    def __init__(self, frame, where, scenario: str) -> None:
        super().__init__()
        self.frame = frame
        """The sim.Frame."""
        self.where = where
        """Where the timeline was when it was built (sim.Where)."""
        self.scenario = scenario
        """The name of the scenario (or save) running."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FrameReady)


class EngineEvents(Message):
    """The machine's new events (engine Event records), oldest first."""

    def __init__(self, events: tuple) -> None:
        super().__init__()
        self.events = events


class CallDone(Message):
    """A submitted call was made: its sim.Result."""

    def __init__(self, result) -> None:
        super().__init__()
        self.result = result


class ControlDone(Message):
    """A control request ran in the worker: its sim.Reply."""

    def __init__(self, reply) -> None:
        super().__init__()
        self.reply = reply


class TimeMoved(Message):
    """The machine jumped (boot, rewind, forward, load): its sim.Moved."""

    def __init__(self, moved) -> None:
        super().__init__()
        self.moved = moved


class LogNote(Message):
    """A line for the event log that is no engine event: its sim.LogLine."""

    def __init__(self, line) -> None:
        super().__init__()
        self.line = line


class Compiling(Message):
    """The worker, preparing the engine, starts compiling a kernel: `done` of `total` so far.
    Posted at once (no frame follows until the engine is ready)."""

    def __init__(self, done: int, total: int, name: str) -> None:
        super().__init__()
        self.done = done
        self.total = total
        self.name = name


class Seeking(Message):
    """The worker is replaying the timeline towards `target` (a tick): `done` of `total`
    ticks so far. Posted at once, every SEEK_REPORTS (no frame comes until it is done)."""

    def __init__(self, done: int, total: int, target: int) -> None:
        super().__init__()
        self.done = done
        self.total = total
        self.target = target


class LevelEnded(Message):
    """The level being played was won or lost: its level_play.Ending, for the end screen."""

    def __init__(self, ending) -> None:
        super().__init__()
        self.ending = ending
