"""Creates run before Flask for a trusted token: the answer the route gives, and errors rendered by Flask, once."""
from __future__ import annotations

import gc
import io
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from app import form_parser, submission
from app.extensions import db
from app.models import Task
from app.routes import videos
from tests.app.conftest import within_one_limit_window
from tests.app.routes.test_videos import PNG
from tests.conftest import new_token

BODY = {"model": "sora-2", "prompt": "a fox in the snow", "seconds": "8", "size": "1280x720"}
CREATES = [
    ("/v1/videos", "json"),
    ("/v1/videos", "multipart"),
    ("/v1/video/generations", "json"),
]
SAME_EVERY_TIME = ("object", "model", "status", "progress", "seconds", "size", "prompt", "metadata")


def post(app: Flask, path: str, auth: dict[str, str], body: dict[str, Any] | None = None,
         kind: str = "json", **headers: str) -> TestResponse:
    body = BODY if body is None else body
    if kind == "json":
        return app.test_client().post(path, json=body, headers={**auth, **headers})
    return app.test_client().post(path, data=body, headers={**auth, **headers}, content_type="multipart/form-data")


def tasks() -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Task))


@pytest.mark.parametrize(("path", "kind"), CREATES)
def test_a_trusted_tokens_create_skips_flask_and_answers_as_the_route_does(
        cached_app: Flask, flask_requests: list[str], path: str, kind: str) -> None:
    auth = {"Authorization": f"Bearer {new_token()}"}
    by_flask = post(cached_app, path, auth, kind=kind)  # the token's first request: authenticated by the route
    direct = post(cached_app, path, auth, kind=kind)
    assert flask_requests == [path]
    assert by_flask.status_code == direct.status_code == 200
    assert direct.headers["Content-Type"] == by_flask.headers["Content-Type"] == "application/json"
    assert sorted(direct.headers.keys()) == sorted(by_flask.headers.keys())
    assert int(direct.headers["Content-Length"]) == len(direct.data)
    assert 1000 <= int(direct.headers["openai-poll-after-ms"]) <= 10_000
    first, second = by_flask.json, direct.json
    assert list(second) == list(first)  # the same fields in the same order
    assert {k: second[k] for k in SAME_EVERY_TIME if k in first} == {k: first[k] for k in SAME_EVERY_TIME if k in first}
    assert second["id"] != first["id"]
    assert len(direct.data) == len(by_flask.data)  # same rendering: the ids and times are of equal length
    with db.session() as session:
        row = session.scalar(select(Task).where(Task.public_id == second["id"]))
    assert row.state == "pending" and row.request["prompt"] == BODY["prompt"]


def test_uploads_of_a_create_without_flask_are_stored_and_closed(
        cached_app: Flask, flask_requests: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    auth = {"Authorization": f"Bearer {new_token()}"}
    post(cached_app, "/v1/videos", auth)
    closed: list[int] = []
    close = form_parser.Request.close
    monkeypatch.setattr(form_parser.Request, "close", lambda self: closed.append(len(self.files)) or close(self))
    flask_requests.clear()
    response = post(cached_app, "/v1/videos", auth, {**BODY, "input_reference": (io.BytesIO(PNG), "ref.png")},
                    kind="multipart")
    assert response.status_code == 200 and flask_requests == []
    assert closed == [1]
    with db.session() as session:
        row = session.scalar(select(Task).where(Task.public_id == response.json["id"]))
    assert row.request["images"][0]["role"] == "first_frame"


def test_keyed_and_unknown_tokens_creates_go_to_flask(cached_app: Flask, flask_requests: list[str]) -> None:
    auth = {"Authorization": f"Bearer {new_token()}"}
    post(cached_app, "/v1/videos", auth)
    flask_requests.clear()
    keyed = post(cached_app, "/v1/videos", auth, **{"Idempotency-Key": "k1"})
    with db.transaction() as session:  # a replay of a finished video answers its URL, made from the request's host
        session.execute(update(Task).where(Task.public_id == keyed.json["id"]).values(state="completed"))
    replay = post(cached_app, "/v1/videos", auth, **{"Idempotency-Key": "k1"})
    assert replay.status_code == 200 and replay.json["id"] == keyed.json["id"]
    assert replay.json["url"] == f"http://localhost/v1/videos/{keyed.json['id']}/content"
    assert post(cached_app, "/v1/videos", {"Authorization": "Bearer vg_unknown"}).status_code == 401
    assert post(cached_app, "/v1/videos/", auth).status_code in (308, 404)  # another path: the router's to answer
    assert flask_requests == ["/v1/videos"] * 3 + ["/v1/videos/"]


def test_errors_are_rendered_by_flask_and_counted_once(limited_app: Flask, flask_requests: list[str]) -> None:
    within_one_limit_window()
    auth = {"Authorization": f"Bearer {new_token()}"}
    trusted = post(limited_app, "/v1/videos", auth)  # request 1 of the minute's 5, by the route
    flask_requests.clear()
    bad_field = post(limited_app, "/v1/videos", auth, {**BODY, "seconds": "7"})
    unknown_model = post(limited_app, "/v1/video/generations", auth, {**BODY, "model": "no-such-model"})
    not_json = limited_app.test_client().post("/v1/videos", data="{",
                                              headers={**auth, "Content-Type": "application/json"})
    fifth = post(limited_app, "/v1/videos", auth)
    over = post(limited_app, "/v1/videos", auth)
    assert [r.status_code for r in (trusted, bad_field, unknown_model, not_json, fifth, over)] == [
        200, 400, 400, 400, 200, 429]
    # Each error reached Flask once, to be rendered, and was counted once: the sixth request is the first over.
    assert flask_requests == ["/v1/videos", "/v1/video/generations", "/v1/videos", "/v1/videos"]
    assert bad_field.json["error"] == {"message": bad_field.json["error"]["message"], "type": "invalid_request_error",
                                       "param": "seconds", "code": "unsupported_value"}
    assert unknown_model.json["error"]["code"] == "model_not_found"
    assert not_json.json["error"]["code"] == "invalid_json"
    assert over.json["error"]["code"] == "rate_limit_exceeded" and 1 <= int(over.headers["Retry-After"]) <= 60


def test_a_failed_write_is_answered_503_and_not_tried_again(
        cached_app: Flask, flask_requests: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    auth = {"Authorization": f"Bearer {new_token()}"}
    post(cached_app, "/v1/videos", auth)
    before, writes = tasks(), []

    def down(values: dict[str, Any]) -> None:
        writes.append(values["public_id"])
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(submission._task_rows, "insert", down)
    flask_requests.clear()
    response = post(cached_app, "/v1/videos", auth)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json["error"]["code"] == "database_unavailable"
    assert len(writes) == 1 and flask_requests == ["/v1/videos"] and tasks() == before


def test_an_unexpected_error_is_a_500_in_the_envelope_and_runs_once(
        cached_app: Flask, flask_requests: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    auth = {"Authorization": f"Bearer {new_token()}"}
    post(cached_app, "/v1/videos", auth)
    calls: list[str] = []

    def broken(*_args: Any, **_kwargs: Any) -> None:
        calls.append("submit")
        raise RuntimeError("a bug")

    monkeypatch.setattr(videos, "submit", broken)
    flask_requests.clear()
    response = post(cached_app, "/v1/videos", auth)
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    assert calls == ["submit"] and flask_requests == ["/v1/videos"]


@pytest.mark.parametrize("kind", ["json", "multipart"])
def test_a_create_without_flask_leaves_no_cycle_for_the_garbage_collector(cached_app: Flask, kind: str) -> None:
    # A request that points at its environ, which points back at it, lives until a collection finds it: at
    # thousands of creates a second, collections every few milliseconds (BENCHMARKS.md, item 1, session 18).
    auth = {"Authorization": f"Bearer {new_token()}"}
    post(cached_app, "/v1/videos", auth, kind=kind)  # the token's first request: trusted from then on
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection would free is kept in gc.garbage, to be looked at
    try:
        responses = [post(cached_app, "/v1/videos", auth, kind=kind) for _ in range(3)]
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, form_parser.Request)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert left == []
