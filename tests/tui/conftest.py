"""Fixtures for the app tests (helpers are in tuitools.py)."""

from __future__ import annotations

import pytest
from tuitools import scenario

from oomtui.tui.app import OomApp, make_app


@pytest.fixture
def notes(monkeypatch):
    """Every notification text, in order (App.notify recorded, still shown)."""
    seen: list[str] = []
    original = OomApp.notify

    def record(self, message, **kw):
        seen.append(message)
        return original(self, message, **kw)

    monkeypatch.setattr(OomApp, "notify", record)
    return seen


@pytest.fixture
def app():
    """A paused app on the small scenario at tick 10 (web's 32 MiB are written)."""
    return make_app(scenario(), paused=True, start_tick=10)
