"""OpenAI Videos dialect over the Flask test client: envelopes, validation, tenancy, pagination, delete."""
from __future__ import annotations

import functools
import io
import time

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app import serializers
from app.extensions import db
from app.models import Task
from app.routes import videos
from tests.conftest import new_token

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def create(client: FlaskClient, auth: dict[str, str], **body: object) -> dict:  # type: ignore[type-arg]
    response = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a fox", **body}, headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def test_create_json_returns_a_queued_video_with_poll_hint(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a fox", "seconds": "8",
                                               "size": "1280x720", "metadata": {"k": "v"}}, headers=auth)
    video = response.json
    assert response.status_code == 200
    assert video["object"] == "video" and video["status"] == "queued" and video["progress"] == 0
    assert (video["seconds"], video["size"], video["metadata"]) == ("8", "1280x720", {"k": "v"})
    assert video["task_id"] == video["id"] and video["id"].startswith("video_")
    assert 1000 <= int(response.headers["openai-poll-after-ms"]) <= 10_000


def test_create_multipart_with_a_file_reference(client: FlaskClient, auth: dict[str, str]) -> None:
    data = {"model": "sora-2", "prompt": "a fox", "seconds": "4", "metadata": '{"a": 1}',
            "input_reference": (io.BytesIO(PNG), "ref.png", "image/png")}
    response = client.post("/v1/videos", data=data, headers=auth, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    with db.session() as session:
        task = session.scalar(select(Task).where(Task.public_id == response.json["id"]))
        assert task.request["images"][0]["role"] == "first_frame"
        assert task.client_metadata == {"a": 1}


def test_errors_use_the_openai_envelope_with_param(client: FlaskClient, auth: dict[str, str]) -> None:
    cases = [
        ({"model": "sora-2", "prompt": "p", "seconds": "7"}, 400, "seconds"),
        ({"model": "sora-2", "prompt": "p", "n": 2}, 400, "n"),
        ({"model": "sora-2", "prompt": "p", "size": "640x480"}, 400, "size"),
        ({"model": "sora-2", "prompt": "p", "negative_prompt": "x"}, 400, "negative_prompt"),
        ({"model": "no-such-model", "prompt": "p"}, 400, "model"),
        ({"model": "sora-2", "prompt": 5}, 400, "prompt"),
    ]
    for body, status, param in cases:
        response = client.post("/v1/videos", json=body, headers=auth)
        assert response.status_code == status, (body, response.json)
        error = response.json["error"]
        assert error["param"] == param and error["message"] and error["type"] == "invalid_request_error"


def test_malformed_bodies_are_4xx_never_500(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.post("/v1/videos", data="{not json", headers={**auth, "Content-Type": "application/json"}
                       ).status_code == 400
    assert client.post("/v1/videos", data="[1,2]", headers={**auth, "Content-Type": "application/json"}
                       ).status_code == 400
    assert client.post("/v1/videos", data="x", headers={**auth, "Content-Type": "text/plain"}).status_code == 415
    big = client.post("/v1/videos", data=b"x" * (65 * 1024 * 1024),
                      headers={**auth, "Content-Type": "application/json"})
    assert big.status_code == 413 and big.json["error"]["code"] == "request_too_large"


def test_auth_failures_are_401(client: FlaskClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/v1/videos", headers=headers)
        assert response.status_code == 401 and response.json["error"]["type"] == "authentication_error"


def test_model_allow_list_is_403(client: FlaskClient) -> None:
    token = new_token("limited", models=["sora-2-pro"])
    response = client.post("/v1/videos", json={"model": "sora-2", "prompt": "p"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.json["error"]["code"] == "model_not_allowed"


def test_other_accounts_ids_are_404_everywhere(client: FlaskClient, auth: dict[str, str]) -> None:
    video = create(client, auth)
    other = {"Authorization": f"Bearer {new_token('someone-else')}"}
    for method, path in [("GET", ""), ("GET", "/content"), ("DELETE", ""), ("POST", "/remix")]:
        response = client.open(f"/v1/videos/{video['id']}{path}", method=method, headers=other, json={"prompt": "x"})
        assert response.status_code == 404, (method, path)
        assert response.json["error"]["code"] == "video_not_found"
    assert client.get("/v1/videos", headers=other).json["data"] == []


def test_unknown_routes_and_methods_answer_json(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.get("/v2/nothing").json["error"]["code"] == "not_found"
    response = client.put("/v1/videos", headers=auth)
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"
    assert client.get("/v1/videos/..%2F..%2Fetc%2Fpasswd", headers=auth).status_code == 404


def test_content_before_completion_says_not_ready(client: FlaskClient, auth: dict[str, str]) -> None:
    video = create(client, auth)
    response = client.get(f"/v1/videos/{video['id']}/content", headers=auth)
    assert response.status_code == 404 and response.json["error"]["code"] == "video_not_ready"
    bad = client.get(f"/v1/videos/{video['id']}/content?variant=../../x", headers=auth)
    assert bad.status_code == 400 and bad.json["error"]["param"] == "variant"


def test_list_is_newest_first_with_keyset_pages(client: FlaskClient, auth: dict[str, str]) -> None:
    ids = [create(client, auth, prompt=f"p{i}")["id"] for i in range(5)]
    first = client.get("/v1/videos?limit=2", headers=auth).json
    assert [v["id"] for v in first["data"]] == ids[::-1][:2] and first["has_more"] is True
    assert first["first_id"] == ids[4] and first["last_id"] == ids[3]
    second = client.get(f"/v1/videos?limit=2&after={first['last_id']}", headers=auth).json
    assert [v["id"] for v in second["data"]] == [ids[2], ids[1]]
    oldest = client.get("/v1/videos?order=asc&limit=10", headers=auth).json
    assert [v["id"] for v in oldest["data"]] == ids and oldest["has_more"] is False
    assert client.get("/v1/videos?limit=0", headers=auth).status_code == 400
    assert client.get("/v1/videos?after=video_unknown", headers=auth).status_code == 400


def test_delete_hides_the_video_and_schedules_cleanup(client: FlaskClient, auth: dict[str, str]) -> None:
    video = create(client, auth)
    response = client.delete(f"/v1/videos/{video['id']}", headers=auth)
    assert response.json == {"id": video["id"], "object": "video.deleted", "deleted": True}
    assert client.get(f"/v1/videos/{video['id']}", headers=auth).status_code == 404
    assert client.delete(f"/v1/videos/{video['id']}", headers=auth).status_code == 404
    with db.session() as session:
        task = session.scalar(select(Task).where(Task.public_id == video["id"]))
        assert task.state == "cancelled" and task.next_action_at is not None


def test_idempotency_key_replays_or_conflicts(client: FlaskClient, auth: dict[str, str]) -> None:
    headers = {**auth, "Idempotency-Key": "abc-123"}
    first = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a fox"}, headers=headers)
    again = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a fox"}, headers=headers)
    assert first.json["id"] == again.json["id"]
    conflict = client.post("/v1/videos", json={"model": "sora-2", "prompt": "a cat"}, headers=headers)
    assert conflict.status_code == 409 and conflict.json["error"]["code"] == "idempotency_conflict"


def test_remix_needs_a_completed_source(client: FlaskClient, auth: dict[str, str]) -> None:
    video = create(client, auth)
    response = client.post(f"/v1/videos/{video['id']}/remix", json={"prompt": "again"}, headers=auth)
    assert response.status_code == 400 and response.json["error"]["code"] == "video_not_ready"
    missing = client.post(f"/v1/videos/{video['id']}/remix", json={}, headers=auth)
    assert missing.status_code == 400 and missing.json["error"]["param"] == "prompt"


def test_openapi_document_lists_every_route(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").json["paths"]
    for path in ("/v1/videos", "/v1/videos/{video_id}", "/v1/videos/{video_id}/content",
                 "/v1/videos/{video_id}/remix", "/v1/video/generations", "/v1/video/generations/{task_id}"):
        assert path in paths
    assert "multipart/form-data" in paths["/v1/videos"]["post"]["requestBody"]["content"]
    for path in ("/v1/videos", "/v1/video/generations", "/kling/v1/videos/{action}", "/jimeng/"):
        headers = {p["name"]: p for p in paths[path]["post"]["parameters"] if p["in"] == "header"}
        assert headers["Idempotency-Key"]["schema"]["maxLength"] == 255, path


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_readiness_names_what_is_down(tmp_path, sim) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings, prepared_app

    settings = make_settings(tmp_path / "down", sim.url, REDIS_URL="redis://127.0.0.1:1/0")
    response = prepared_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    assert set(response.json["down"]) == {"broker"} and response.json["error"]["code"] == "not_ready"


def test_a_finished_videos_answer_is_rendered_once_per_process(client: FlaskClient, auth: dict[str, str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[str] = []

    @functools.wraps(videos.video_object)
    def counting(task):  # type: ignore[no-untyped-def]
        rendered.append(task.public_id)
        return serializers.video_object(task)

    done, queued = create(client, auth)["id"], create(client, auth)["id"]
    with db.transaction() as session:
        session.execute(update(Task).where(Task.public_id == done).values(
            state="completed", upstream_status="succeeded", completed_at=time.time()))
    monkeypatch.setattr(videos, "video_object", counting)
    answers = [client.get(f"/v1/videos/{done}", headers=auth) for _ in range(3)]
    assert [a.json for a in answers] == [answers[0].json] * 3 and answers[0].json["status"] == "completed"
    assert {a.headers["openai-poll-after-ms"] for a in answers} == {"10000"}
    assert answers[2].mimetype == "application/json"
    for _ in range(2):
        assert client.get(f"/v1/videos/{queued}", headers=auth).json["status"] == "queued"
    assert rendered == [done, queued, queued]
    stranger = {"Authorization": f"Bearer {new_token('someone-else')}"}
    assert client.get(f"/v1/videos/{done}", headers=stranger).status_code == 404
    assert client.delete(f"/v1/videos/{done}", headers=auth).status_code == 200
    assert client.get(f"/v1/videos/{done}", headers=auth).status_code == 404
