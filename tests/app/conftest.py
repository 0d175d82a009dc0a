"""Fixtures of the web front's unit tests."""
from __future__ import annotations

import pytest

from app import cache


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The in-process caches' clock, set by the test: clock[0] is now."""
    now = [1000.0]
    monkeypatch.setattr(cache, "monotonic", lambda: now[0])
    return now
