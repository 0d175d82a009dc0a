"""Kling dialect: Kling's paths, fields and envelope (plus the unified fields), for any vendor's tasks."""
from __future__ import annotations

from flask.testing import FlaskClient

from app.extensions import db
from app.models import Task
from tests.workers.test_steps import load, run_until


def test_text2video_answers_in_klings_envelope_with_unified_fields(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post("/kling/v1/videos/text2video", headers=auth, json={
        "model_name": "sora-2", "prompt": "a fox", "duration": "4", "aspect_ratio": "16:9",
        "external_task_id": "my-42"})
    body = response.json
    assert response.status_code == 200, body
    assert (body["code"], body["message"]) == (0, "SUCCEED") and body["request_id"]
    data = body["data"]
    assert data["task_status"] == "submitted" and data["task_info"] == {"external_task_id": "my-42"}
    assert data["created_at"] > 10**12  # milliseconds, as Kling
    assert body["id"] == data["task_id"] and body["status"] == "queued" and body["object"] == "video"


def test_query_follows_the_task_to_succeed_with_the_gateway_url(client: FlaskClient, auth: dict[str, str]) -> None:
    created = client.post("/kling/v1/videos/text2video", headers=auth,
                          json={"model_name": "sora-2", "prompt": "a fox", "duration": "4"}).json
    run_until(load(created["id"]).id, ("completed",))
    body = client.get(f"/kling/v1/videos/text2video/{created['id']}", headers=auth).json
    [video] = body["data"]["task_result"]["videos"]
    assert body["data"]["task_status"] == "succeed" and body["status"] == "completed"
    assert video["url"].endswith(f"/v1/videos/{created['id']}/content") and video["duration"] == "4"
    assert client.get(video["url"].split("localhost", 1)[1], headers=auth).status_code == 200
    # either action path reads the task
    assert client.get(f"/kling/v1/videos/image2video/{created['id']}", headers=auth).json["data"]["task_id"]


def test_kling_fields_become_unified_ones(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post("/kling/v1/videos/text2video", headers=auth, json={
        "model": "sora-2", "prompt": "p", "cfg_scale": 0.5, "camera_control": {"type": "simple"}})
    assert response.status_code == 200
    with db.session() as session:
        task = session.get(Task, load(response.json["id"]).id)
        assert task.request["vendor_params"] == {"cfg_scale": 0.5, "camera_control": {"type": "simple"}}


def test_errors_use_klings_envelope_and_codes(client: FlaskClient, auth: dict[str, str]) -> None:
    unauthenticated = client.post("/kling/v1/videos/text2video", json={"prompt": "p"})
    assert unauthenticated.status_code == 401 and unauthenticated.json["code"] == 1001
    bad = client.post("/kling/v1/videos/image2video", headers=auth, json={"model_name": "sora-2", "prompt": "p"})
    assert bad.status_code == 400 and bad.json["code"] == 1201 and "image" in bad.json["message"]
    assert set(bad.json) == {"code", "message", "request_id"}
    conflict = client.post("/kling/v1/videos/text2video", headers=auth,
                           json={"model": "sora-2", "model_name": "kling-v1", "prompt": "p"})
    assert conflict.status_code == 400 and conflict.json["code"] == 1201
    missing = client.get("/kling/v1/videos/text2video/video_nope", headers=auth)
    assert missing.status_code == 404 and missing.json["code"] == 1203
    assert client.get("/kling/v1/videos/lipsync/x", headers=auth).json["code"] == 1203
