"""Fixtures of the web front's unit tests."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request, request_started
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from werkzeug.test import TestResponse

from app import cache
from app import db as app_db
from app.extensions import db, finished_tasks
from app.finished import FinishedTasks
from app.models import Task
from tests.conftest import Sim, make_settings, prepared_app


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


def eventually(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait for `condition`; the deadline only bounds a failure (a loaded CI host may take a while)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def listening(finished: FinishedTasks) -> FinishedTasks:
    """The cache once its listener is subscribed (it starts on first use)."""
    finished.get("video_none", 0)
    eventually(lambda: finished.listening)
    return finished


@pytest.fixture
def cached_app(tmp_path: Path, sim: Sim, redis_url: str) -> Iterator[Flask]:
    yield from _redis_app(tmp_path, sim, redis_url)


@pytest.fixture
def limited_app(tmp_path: Path, sim: Sim, redis_url: str) -> Iterator[Flask]:
    """A cached app whose tokens may make five requests a minute (counted in Redis, exactly)."""
    yield from _redis_app(tmp_path, sim, redis_url, VIDGATE_RATE_LIMIT_PER_MINUTE="5")


def _redis_app(tmp_path: Path, sim: Sim, redis_url: str, **env: str) -> Iterator[Flask]:
    app = prepared_app(make_settings(tmp_path / "instance", sim.url, REDIS_URL=redis_url, **env))
    yield app
    finished_tasks.init(None, 0)


def within_one_limit_window() -> None:
    """Wait, if need be, so that the next few requests fall in one of the limiter's windows (the clock's minute)."""
    if time.time() % 60 > 57:
        time.sleep(60 - time.time() % 60)


@pytest.fixture
def flask_requests() -> Iterator[list[str]]:
    """The paths of the requests that reached Flask (any app's)."""
    seen: list[str] = []

    def record(_app: Flask, **_extra: Any) -> None:
        seen.append(request.path)

    request_started.connect(record)
    yield seen
    request_started.disconnect(record)


def comparable(response: TestResponse) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, [h for h in response.headers.items() if h[0] != "X-Request-Id"], response.data


def created(app: Flask, auth: dict[str, str], state: str) -> str:
    public_id = app.test_client().post("/v1/videos", json={"model": "sora-2", "prompt": "a fox"},
                                       headers=auth).json["id"]
    with db.transaction() as session:
        session.execute(update(Task).where(Task.public_id == public_id).values(
            state=state, upstream_status="succeeded" if state == "completed" else state, progress=100,
            completed_at=time.time()))
    return public_id
