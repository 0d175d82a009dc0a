"""The web's PostgreSQL engine: no pre-ping round trip, and no lasting harm when its connections are killed."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy
from flask import Flask

from app import db as app_db
from app.db import make_engine
from config.settings import normalise_database_url
from tests.conftest import Sim, make_settings, new_token, prepared_app


def test_only_the_web_front_goes_without_pre_ping() -> None:
    url = "postgresql+psycopg2://vidgate@db.invalid/vidgate"  # engines connect lazily: nothing is dialled
    worker, web = make_engine(url), make_engine(url, pre_ping=False)
    assert worker.pool._pre_ping and not web.pool._pre_ping  # type: ignore[attr-defined]
    assert web.pool._recycle > 0  # type: ignore[attr-defined]


def kill_connections(database_url: str) -> int:
    """pg_terminate_backend on every session of that database, from outside the app; waits until they are gone."""
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    killer = sqlalchemy.create_engine(normalise_database_url(database_url), poolclass=sqlalchemy.pool.NullPool,
                                      isolation_level="AUTOCOMMIT")  # each count a fresh view of the sessions
    with killer.connect() as connection:
        killed = len(connection.execute(sqlalchemy.text(f"SELECT pg_terminate_backend(pid) {others}")).all())
        deadline = time.monotonic() + 10
        while connection.execute(sqlalchemy.text(f"SELECT count(*) {others}")).scalar() and \
                time.monotonic() < deadline:
            time.sleep(0.05)
    killer.dispose()
    return killed


def web_on_postgres(tmp_path: Path, sim: Sim, postgres_url: str) -> tuple[Flask, dict[str, str]]:
    app = prepared_app(make_settings(tmp_path / "instance", sim.url, DATABASE_URL=postgres_url))
    return app, {"Authorization": f"Bearer {new_token()}"}


def test_killed_connections_are_replaced_before_a_request_uses_them(tmp_path: Path, sim: Sim,
                                                                     postgres_url: str) -> None:
    app, auth = web_on_postgres(tmp_path, sim, postgres_url)
    client = app.test_client()
    assert client.get("/v1/videos", headers=auth).status_code == 200
    assert kill_connections(postgres_url) >= 1
    for _ in range(3):
        assert client.get("/v1/videos", headers=auth).status_code == 200


def test_a_connection_found_dead_in_use_is_a_503_and_the_next_request_succeeds(
    tmp_path: Path, sim: Sim, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No check on checkout: as if the server went away between the check and the query.
    monkeypatch.setattr(app_db, "_replace_if_closed_by_server", lambda *_args: None)
    app, auth = web_on_postgres(tmp_path, sim, postgres_url)
    client = app.test_client()
    assert client.get("/v1/videos", headers=auth).status_code == 200
    kill_connections(postgres_url)
    refused = client.get("/v1/videos", headers=auth)
    assert refused.status_code == 503 and refused.json["error"]["code"] == "database_unavailable"
    assert refused.headers["Retry-After"]
    assert client.get("/v1/videos", headers=auth).status_code == 200
