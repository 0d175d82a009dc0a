"""Finished reads answered before Flask: the same bytes the route gave, and anything else left to the routes."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from werkzeug.exceptions import SecurityError

from app import access, serializers
from app.extensions import finished_tasks
from tests.app.conftest import comparable, created, listening, within_one_limit_window
from tests.conftest import new_token

READS = ("/v1/videos/{}", "/v1/video/generations/{}")


@pytest.mark.parametrize("state", ["completed", "failed"])
@pytest.mark.parametrize("read", READS)
def test_a_finished_read_is_answered_again_without_flask_as_flask_answered_it(
        cached_app: Flask, flask_requests: list[str], read: str, state: str) -> None:
    client, auth = cached_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    listening(finished_tasks)
    path = read.format(created(cached_app, auth, state))
    flask_requests.clear()
    first = client.get(path, headers=auth)
    again = client.get(path, headers={**auth, "X-Request-Id": "client-chosen"})
    assert flask_requests == [path]  # the first read only
    assert first.status_code == 200 and first.json["status"] == state
    assert comparable(again) == comparable(first)
    assert again.headers["X-Request-Id"] == "client-chosen"
    # The answer names the host it was asked on, so another host is the route's to render once more.
    elsewhere = client.get(path, headers={**auth, "Host": "videos.example:8443"})
    assert flask_requests == [path, path]
    if state == "completed":
        assert elsewhere.json["url"].startswith("http://videos.example:8443/")


def test_anything_the_process_does_not_keep_goes_to_flask(cached_app: Flask, flask_requests: list[str]) -> None:
    client, auth = cached_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    listening(finished_tasks)
    done, running = created(cached_app, auth, "completed"), created(cached_app, auth, "running")
    assert client.get(f"/v1/videos/{done}", headers=auth).status_code == 200  # kept from here on
    stranger = {"Authorization": f"Bearer {new_token('someone-else')}"}
    cases = [
        ("GET", f"/v1/videos/{running}", auth, 200),  # not finished: read every time
        ("GET", f"/v1/videos/{done}", stranger, 404),  # another account's: not found, even kept
        ("GET", f"/v1/videos/{done}", {"Authorization": "Bearer vg_not-a-token"}, 401),
        ("GET", f"/v1/videos/{done}", {}, 401),
        ("GET", f"/v1/videos/{done}", {"Authorization": f"Basic {auth['Authorization'][7:]}"}, 401),
        ("HEAD", f"/v1/videos/{done}", auth, 200),
        ("GET", f"/v1/videos/{done}/content", auth, 404),  # another route (no file stored here)
        ("GET", f"/v1/videos/{done}/", auth, 404),
        ("GET", "/v1/videos/", auth, 404),
        ("DELETE", f"/v1/videos/{done}", auth, 200),
        ("GET", f"/v1/videos/{done}", auth, 404),  # the delete dropped the row
    ]
    for method, path, headers, status in cases:
        flask_requests.clear()
        response = client.open(path, method=method, headers=headers)
        assert (response.status_code, flask_requests) == (status, [path]), (method, path, headers)


def test_a_host_werkzeug_refuses_goes_to_flask(cached_app: Flask, flask_requests: list[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    client, auth = cached_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    listening(finished_tasks)
    path = f"/v1/videos/{created(cached_app, auth, 'completed')}"
    assert client.get(path, headers=auth).status_code == 200

    def refuse(environ: dict[str, Any], trusted_hosts: object = None) -> str:
        # What werkzeug's get_host does with TRUSTED_HOSTS set, and from 3.2 with characters a host cannot have.
        raise SecurityError(f"Host {environ.get('HTTP_HOST')!r} is not trusted")

    monkeypatch.setattr(serializers, "get_host", refuse)
    flask_requests.clear()
    assert client.get(path, headers=auth).status_code == 200  # Flask's own check let it through here
    assert flask_requests == [path]


@pytest.mark.parametrize("read", READS)
def test_reads_answered_without_flask_count_once_against_the_limit(limited_app: Flask, read: str) -> None:
    within_one_limit_window()
    client, auth = limited_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    listening(finished_tasks)
    path = read.format(created(limited_app, auth, "completed"))  # the create is the first request
    statuses = [client.get(path, headers=auth).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    limited = client.get(path, headers=auth)
    assert limited.status_code == 429 and limited.json["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


def test_an_answer_without_flask_is_logged_with_its_task(cached_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    client, auth = cached_app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    listening(finished_tasks)
    done = created(cached_app, auth, "completed")
    written: list[dict[str, Any]] = []
    monkeypatch.setattr(access, "write_entry", written.append)
    monkeypatch.setattr(access.log, "isEnabledFor", lambda _level: True)
    for _ in range(2):
        client.get(f"/v1/videos/{done}", headers={**auth, "X-Request-Id": "read"})
    assert [(e["path"], e["status"], e["task_id"], e["request_id"]) for e in written] == [
        (f"/v1/videos/{done}", 200, done, "read")] * 2
