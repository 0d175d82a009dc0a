"""The web's engines: no pre-ping round trip, no lasting harm when connections are killed, reads on the driver."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy
from flask import Flask
from sqlalchemy import update

from app import db as app_db
from app.db import make_engine, on_driver
from app.extensions import db
from app.models import Task
from app.routes import VIEW_BY_PUBLIC_ID, _view_by_public_id
from app.routes.videos import _pages
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
        deadline = time.monotonic() + 30
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


@pytest.mark.parametrize("read", ["list", "status"])  # both on the driver (app.db.on_driver), by two paths
def test_a_connection_found_dead_in_use_is_a_503_and_the_next_request_succeeds(
    read: str, tmp_path: Path, sim: Sim, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No check on checkout: as if the server went away between the check and the query.
    monkeypatch.setattr(app_db, "_replace_if_closed_by_server", lambda *_args: None)
    app, auth = web_on_postgres(tmp_path, sim, postgres_url)
    client = app.test_client()
    queued = client.post("/v1/videos", headers=auth, json={"model": "sora-2", "prompt": "a fox"}).json["id"]
    path = "/v1/videos" if read == "list" else f"/v1/videos/{queued}"  # a queued task is read from the database
    assert client.get(path, headers=auth).status_code == 200
    kill_connections(postgres_url)
    refused = client.get(path, headers=auth)
    assert refused.status_code == 503 and refused.json["error"]["code"] == "database_unavailable"
    assert refused.headers["Retry-After"]
    assert client.get(path, headers=auth).status_code == 200  # the dead connection was not given back


@pytest.fixture(params=["sqlite", "postgresql"])
def web(request: pytest.FixtureRequest, tmp_path: Path, sim: Sim) -> tuple[Flask, dict[str, str]]:
    """The web front on either database, and a token's headers."""
    if request.param == "postgresql":
        return web_on_postgres(tmp_path, sim, request.getfixturevalue("postgres_url"))
    return prepared_app(make_settings(tmp_path / "instance", sim.url)), {"Authorization": f"Bearer {new_token()}"}


def test_a_read_on_the_driver_gives_what_sqlalchemy_gives(web: tuple[Flask, dict[str, str]]) -> None:
    app, auth = web
    created = app.test_client().post("/v1/videos", headers=auth, json={
        "model": "sora-2", "prompt": "a fox", "seconds": "8", "metadata": {"team": "a", "n": "1"}}).json
    with db.transaction() as session:  # every kind of column filled: text, JSON, integers, floats
        session.execute(update(Task).where(Task.public_id == created["id"]).values(
            state="failed", progress=40, completed_at=1795000000.25, error_code="moderation_blocked",
            error_message="blocked"))
    with db.autocommit() as connection:
        expected = connection.execute(VIEW_BY_PUBLIC_ID, {"public_id": created["id"]}).one()._asdict()
    read = _view_by_public_id.first(db.autocommit_engine, {"public_id": created["id"]})
    assert read._asdict() == expected
    assert {name: type(value) for name, value in read._asdict().items()} == \
        {name: type(value) for name, value in expected.items()}
    assert read.request["prompt"] == "a fox" and read.client_metadata == {"team": "a", "n": "1"}
    assert read.completed_at == 1795000000.25 and read.account_id == expected["account_id"]
    assert _view_by_public_id.first(db.autocommit_engine, {"public_id": "video_none"}) is None


def test_every_row_on_the_driver_in_order_as_sqlalchemy_gives_them(web: tuple[Flask, dict[str, str]]) -> None:
    app, auth = web
    client = app.test_client()
    ids = [client.post("/v1/videos", headers=auth, json={"model": "sora-2", "prompt": f"fox {n}"}).json["id"]
           for n in range(4)]
    with db.autocommit() as connection:
        account_id, third = connection.execute(sqlalchemy.select(Task.account_id, Task.id).where(
            Task.public_id == ids[2])).one()
    pages = {("desc", False): ids[:0:-1], ("asc", False): ids[:3], ("desc", True): [ids[1], ids[0]],
             ("asc", True): [ids[3]]}
    for (order, after_cursor), page in _pages.items():
        params = {"account_id": account_id, "rows": 3, **({"cursor_id": third} if after_cursor else {})}
        with db.autocommit() as connection:
            expected = [row._asdict() for row in connection.execute(page.query, params)]
        read = [row._asdict() for row in page.all(db.autocommit_engine, params)]
        assert read == expected, (order, after_cursor)
        assert [row["public_id"] for row in read] == pages[order, after_cursor]
    assert _pages["desc", False].all(db.autocommit_engine, {"account_id": -1, "rows": 3}) == []


def test_an_error_on_the_driver_is_sqlalchemys(web: tuple[Flask, dict[str, str]]) -> None:
    with pytest.raises(sqlalchemy.exc.DBAPIError) as raised:  # what the error handlers know how to answer
        on_driver(db.autocommit_engine, "SELECT * FROM no_such_table", ())
    assert "no_such_table" in str(raised.value) and not raised.value.connection_invalidated
