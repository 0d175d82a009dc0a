"""Fixtures of the web front's unit tests."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app import cache
from app import db as app_db
from app.extensions import db


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The in-process caches' clock, set by the test: clock[0] is now."""
    now = [1000.0]
    monkeypatch.setattr(cache, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, bool]]]:
    """Each statement the app sends, through SQLAlchemy or on the driver (app.db.on_driver), and whether it went
    on an autocommit connection (on SQLite, whose driver says so with isolation_level None)."""
    seen: list[tuple[str, bool]] = []

    def record(conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append((statement, conn.connection.dbapi_connection.isolation_level is None))

    def on_driver(engine: Engine, statement: str, params: Any) -> Any:
        seen.append((statement, engine is db.autocommit_engine))
        return driver(engine, statement, params)

    driver = app_db.on_driver
    monkeypatch.setattr(app_db, "on_driver", on_driver)
    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)
