"""Unified dialect: create answers the short task object, retrieve the full one, in the same envelope."""
from __future__ import annotations

from flask.testing import FlaskClient


def test_create_and_retrieve_a_generation(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/video/generations", json={"model": "sora-2", "prompt": "a fox", "duration": 4,
                                                          "aspect_ratio": "16:9"}, headers=auth)
    created = response.json
    assert response.status_code == 200
    assert set(created) == {"id", "task_id", "object", "model", "status", "progress", "created_at"}
    assert (created["object"], created["status"], created["progress"]) == ("video", "queued", 0)
    task = client.get(f"/v1/video/generations/{created['task_id']}", headers=auth).json
    assert task["id"] == created["id"] and task["seconds"] == "4" and task["size"] == "16:9"
    assert "format" not in task and "url" not in task


def test_generation_errors(client: FlaskClient, auth: dict[str, str]) -> None:
    missing = client.post("/v1/video/generations", json={"prompt": "a fox"}, headers=auth)
    assert missing.status_code == 400 and missing.json["error"]["param"] == "model"
    unknown = client.get("/v1/video/generations/task_nope", headers=auth)
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "task_not_found"
