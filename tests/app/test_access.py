"""The access log middleware: every request gets an id, answers it, and leaves one line."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import access
from tests.conftest import Sim, make_settings, new_token, prepared_app


@pytest.fixture
def entries(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(access, "write_entry", written.append)
    return written


@pytest.fixture
def client(tmp_path: Path, sim: Sim) -> FlaskClient:
    """A client of an app that logs at INFO, where the access lines are."""
    return prepared_app(make_settings(tmp_path / "instance", sim.url, VIDGATE_LOG_LEVEL="INFO")).test_client()


@pytest.fixture
def auth(client: FlaskClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_token()}"}


def test_a_request_gets_an_id_answers_it_and_is_logged_once(client: FlaskClient, auth: dict[str, str],
                                                             entries: list[dict[str, Any]]) -> None:
    created = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a fox"}, headers=auth)
    video_id = created.json["id"]
    read = client.get(f"/v1/videos/{video_id}", headers={**auth, "X-Request-Id": "client-chosen-id"})
    assert len(created.headers["X-Request-Id"]) == 32
    assert read.headers["X-Request-Id"] == "client-chosen-id"
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/v1/videos", 200), ("GET", f"/v1/videos/{video_id}", 200)]
    assert entries[0]["request_id"] == created.headers["X-Request-Id"]
    assert entries[1]["request_id"] == "client-chosen-id" and entries[1]["task_id"] == video_id
    assert all(e["level"] == "INFO" and e["message"] == "request" and e["ms"] >= 0 for e in entries)


def test_errors_are_logged_with_their_status_and_carry_the_id(client: FlaskClient, auth: dict[str, str],
                                                               entries: list[dict[str, Any]]) -> None:
    missing = client.get("/v1/videos/video_nope", headers=auth)
    kling = client.get("/kling/v1/videos/text2video/nope", headers={**auth, "X-Request-Id": "k-1"})
    assert missing.status_code == 404 and missing.headers["X-Request-Id"]
    assert kling.json["request_id"] == "k-1" == kling.headers["X-Request-Id"]
    assert [e["status"] for e in entries] == [404, kling.status_code]


def test_nothing_is_written_below_info(app: Flask, entries: list[dict[str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {new_token()}"}
    assert app.test_client().get("/v1/videos", headers=headers).status_code == 200
    assert entries == []  # the tests' default settings log at WARNING
