"""Protocol tests for the Seedance (Volcengine Ark) simulator through the Flask test client, on a fake clock."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.test import TestResponse

from simulators import media
from simulators.app import create_app

if TYPE_CHECKING:
    from .conftest import SimEnv

TASKS = "/seedance/api/v3/contents/generations/tasks"
AUTH = {"Authorization": "Bearer ark-sim-key"}
PRO = "doubao-seedance-1-0-pro-250528"
IMAGE = "https://img.example/first.png"
DATA_URL = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nframe").decode()


def text(prompt: str = "a red fox") -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(url: str = IMAGE, role: str | None = "first_frame") -> dict[str, Any]:
    part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    return {**part, "role": role} if role else part


def create(env: SimEnv, **fields: Any) -> TestResponse:
    return env.anonymous.post(TASKS, json={"model": PRO, "content": [text()], **fields}, headers=AUTH)


def created(env: SimEnv, **fields: Any) -> str:
    response = create(env, **fields)
    assert response.status_code == 200, response.get_json()
    assert set(response.get_json()) == {"id"}
    return response.get_json()["id"]


def get(env: SimEnv, task_id: str) -> TestResponse:
    return env.anonymous.get(f"{TASKS}/{task_id}", headers=AUTH)


def _error(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "param", "type"} and error["code"] == code
    assert "Request id: " in error["message"]
    return error


def test_a_missing_or_wrong_key_is_refused_with_ark_s_envelope(env: SimEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YXJrLXNpbS1rZXk="}):
        response = env.anonymous.post(TASKS, json={"model": PRO, "content": [text()]}, headers=headers)
        assert _error(response, 401, "AuthenticationError")["type"] == "Unauthorized"
    assert env.sim.jobs.list("seedance") == []
    monkeypatch.setenv("VIDGATE_SIM_SEEDANCE_KEY", "ark-custom")
    client = create_app(env.sim).test_client()
    assert client.get(f"{TASKS}/x", headers=AUTH).status_code == 401
    assert client.get(f"{TASKS}/x", headers={"Authorization": "Bearer ark-custom"}).status_code == 404


@pytest.mark.parametrize(("body", "status", "code", "param"), [
    ({"content": [text()]}, 400, "MissingParameter", "model"),
    ({"model": "doubao-seedance-9-9", "content": [text()]}, 404, "InvalidEndpointOrModel.NotFound", ""),
    ({"model": PRO}, 400, "MissingParameter", "content"),
    ({"model": PRO, "content": [image(role="last_frame")]}, 400, "InvalidParameter", "content.role"),
    ({"model": PRO, "content": [image(role="reference_image")]}, 400, "InvalidParameter", "content.role"),
    ({"model": PRO, "content": [image(role="keyframe")]}, 400, "InvalidParameter", "content.role"),
    ({"model": PRO, "content": [image(url="ftp://x/y.png")]}, 400, "InvalidParameter", "content.image_url.url"),
    ({"model": PRO, "content": [image(url="data:image/png;base64,@@@")]}, 400, "InvalidParameter",
     "content.image_url.url"),
    ({"model": PRO, "content": [{"type": "video_url", "video_url": {"url": IMAGE}}]}, 400, "InvalidParameter",
     "content.type"),
    ({"model": PRO, "content": [text(), text()]}, 400, "InvalidParameter", "content"),
    ({"model": "doubao-seedance-1-0-lite-t2v-250428", "content": [text(), image()]}, 400, "InvalidParameter",
     "content.role"),
    ({"model": "doubao-seedance-1-0-lite-i2v-250428", "content": [text()]}, 400, "MissingParameter", "content"),
    ({"model": "doubao-seedance-1-0-lite-i2v-250428", "content": [image(role="reference_image")] * 5}, 400,
     "InvalidParameter", "content"),
    ({"model": "doubao-seedance-1-0-lite-i2v-250428", "content": [image(), image(role="reference_image")]}, 400,
     "InvalidParameter", "content.role"),
    ({"model": PRO, "content": [text()], "duration": 7}, 400, "InvalidParameter", "duration"),
    ({"model": PRO, "content": [text()], "ratio": "2:1"}, 400, "InvalidParameter", "ratio"),
    ({"model": PRO, "content": [text()], "resolution": "4k"}, 400, "InvalidParameter", "resolution"),
    ({"model": PRO, "content": [text()], "seed": 2**32}, 400, "InvalidParameter", "seed"),
    ({"model": PRO, "content": [text()], "watermark": "yes"}, 400, "InvalidParameter", "watermark"),
    ({"model": PRO, "content": [text()], "service_tier": "gold"}, 400, "InvalidParameter", "service_tier"),
])
def test_invalid_creates_are_refused_and_create_nothing(
    env: SimEnv, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    response = env.anonymous.post(TASKS, json=body, headers=AUTH)
    assert _error(response, status, code)["param"] == param
    assert env.sim.jobs.list("seedance") == []


def test_nulls_mean_absent_as_the_official_sdk_sends_them(env: SimEnv) -> None:
    task_id = created(env, callback_url=None, seed=None, ratio=None, duration=None, watermark=None)
    task = get(env, task_id).get_json()
    assert (task["ratio"], task["duration"], task["resolution"]) == ("16:9", 5, "1080p")
    assert task["seed"] >= 0


def test_images_are_recorded_as_sent(env: SimEnv) -> None:
    task_id = created(env, content=[text(), image(), image(DATA_URL, "last_frame")], ratio="adaptive")
    job = env.sim.jobs.get("seedance", task_id)
    assert job is not None and job.params["ratio"] == "adaptive"
    assert job.params["images"][0] == {"role": "first_frame", "url": IMAGE}
    assert job.params["images"][1]["role"] == "last_frame" and job.params["images"][1]["bytes"] == 13


def test_a_task_runs_queued_running_succeeded_with_an_expiring_link(env: SimEnv) -> None:
    env.sim.settings.update({"url_ttl": 60})
    task_id = created(env, duration=10, ratio="9:16", resolution="720p", seed=42)
    assert task_id.startswith("cgt-")
    queued = get(env, task_id).get_json()
    assert queued["status"] == "queued" and "content" not in queued
    assert (queued["created_at"], queued["updated_at"]) == (int(env.clock.now), int(env.clock.now))
    assert (queued["duration"], queued["ratio"], queued["resolution"], queued["seed"]) == (10, "9:16", "720p", 42)
    assert (queued["framespersecond"], queued["execution_expires_after"]) == (24, 172800)
    env.clock.advance(5)
    assert get(env, task_id).get_json()["status"] == "running"
    env.clock.advance(5)
    done = get(env, task_id).get_json()
    assert done["status"] == "succeeded" and done["usage"]["completion_tokens"] > 0
    assert done["updated_at"] == int(env.clock.now)
    link = done["content"]["video_url"]
    video = env.anonymous.get(link)  # signed object-store link: no Ark key
    assert video.status_code == 200 and video.data == b"".join(media.video_for(task_id)[1])
    env.clock.advance(61)
    assert env.anonymous.get(link).status_code == 403
    fresh = get(env, task_id).get_json()["content"]["video_url"]
    assert fresh != link and env.anonymous.get(fresh).status_code == 200


@pytest.mark.parametrize(("kind", "code"), [
    ("moderation", "OutputVideoSensitiveContentDetected"),
    ("fail_job", "InternalServiceError"),
])
def test_a_failed_task_carries_ark_s_error(env: SimEnv, kind: str, code: str) -> None:
    env.sim.faults.add("seedance", "create", kind)
    task_id = created(env)
    env.clock.advance(env.job_seconds)
    task = get(env, task_id).get_json()
    assert task["status"] == "failed" and task["error"]["code"] == code and task["error"]["message"]
    assert "content" not in task


def test_a_task_past_execution_expires_after_is_expired(env: SimEnv) -> None:
    env.sim.settings.update({"job_seconds": 7200})
    task_id = created(env, execution_expires_after=3600)
    env.clock.advance(3600)
    task = get(env, task_id).get_json()
    assert (task["status"], task["updated_at"]) == ("expired", task["created_at"] + 3600)


def test_delete_cancels_a_queued_task_and_deletes_a_finished_one(env: SimEnv) -> None:
    queued = created(env)
    assert env.anonymous.delete(f"{TASKS}/{queued}", headers=AUTH).get_json() == {}
    assert get(env, queued).get_json()["status"] == "cancelled"
    running = created(env)
    env.clock.advance(5)
    _error(env.anonymous.delete(f"{TASKS}/{running}", headers=AUTH), 403, "OperationDenied.InvalidState")
    env.clock.advance(5)
    assert env.anonymous.delete(f"{TASKS}/{running}", headers=AUTH).status_code == 200
    _error(get(env, running), 404, "ResourceNotFound")
    _error(env.anonymous.delete(f"{TASKS}/cgt-unknown", headers=AUTH), 404, "ResourceNotFound")
    assert env.sim.stats.snapshot(env.sim.jobs, env.clock.now)["seedance"]["in_flight"] == 0


def listed(env: SimEnv, query: str) -> dict[str, Any]:
    response = env.anonymous.get(f"{TASKS}?{query}", headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_task_list_filters_by_ids_newest_first_with_the_single_read_s_fields(env: SimEnv) -> None:
    first, second, third = created(env), created(env), created(env)
    env.clock.advance(10)
    both = listed(env, f"filter.task_ids={first}&filter.task_ids={third}&page_size=10")
    assert both["total"] == 2 and [item["id"] for item in both["items"]] == [third, first]
    single = get(env, first).get_json()
    del single["content"], both["items"][1]["content"]  # each read signs a fresh link
    assert both["items"][1] == single
    assert listed(env, "page_size=2&page_num=2")["items"][0]["id"] == first  # pages of everything, newest first
    assert listed(env, f"filter.task_ids={second}&filter.status=queued")["total"] == 0
    stats = env.sim.stats.snapshot(env.sim.jobs, env.clock.now)["seedance"]
    assert (stats["list_requests"], stats["listed"]) == (3, 3)
    assert stats["polls"] == {first: 3, third: 1}  # two listed reads and the single one; a listed one


def test_the_task_list_covers_seven_days_and_refuses_bad_pages(env: SimEnv) -> None:
    old = created(env)
    env.clock.advance(7 * 86400 + 1)
    new = created(env)
    assert [item["id"] for item in listed(env, f"filter.task_ids={old}&filter.task_ids={new}")["items"]] == [new]
    assert get(env, old).status_code == 200  # the single read still has it
    for query in ("page_size=0", "page_size=101", "page_num=x"):
        _error(env.anonymous.get(f"{TASKS}?{query}", headers=AUTH), 400, "InvalidParameter")
    env.sim.faults.add("seedance", "poll", "rate_limit")
    _error(env.anonymous.get(f"{TASKS}?filter.task_ids={new}", headers=AUTH), 429,
           "RateLimitExceeded.EndpointRPMExceeded")


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("rate_limit", 429, "RateLimitExceeded.EndpointRPMExceeded"),
    ("server_error", 500, "InternalServiceError"),
    ("unavailable", 503, "ServiceUnavailable"),
    ("timeout", 504, "RequestTimeout"),
])
def test_error_faults_answer_in_ark_s_envelope_and_create_nothing(
    env: SimEnv, kind: str, status: int, code: str
) -> None:
    env.sim.faults.add("seedance", "create", kind, **({"retry_after": 3} if kind == "rate_limit" else {"seconds": 5}))
    response = create(env)
    assert _error(response, status, code)["type"]
    if kind == "rate_limit":
        assert response.headers["Retry-After"] == "3"
    if kind == "timeout":
        assert env.sleeps.calls == [5]
    assert env.sim.jobs.list("seedance") == []
    assert create(env).status_code == 200  # the fault is spent


def test_poll_and_cancel_faults(env: SimEnv) -> None:
    task_id = created(env)
    env.sim.faults.add("seedance", "poll", "server_error")
    _error(get(env, task_id), 500, "InternalServiceError")
    env.sim.faults.add("seedance", "cancel", "unavailable")
    _error(env.anonymous.delete(f"{TASKS}/{task_id}", headers=AUTH), 503, "ServiceUnavailable")
    assert get(env, task_id).get_json()["status"] == "queued"


def test_unknown_paths_answer_in_ark_s_envelope(env: SimEnv) -> None:
    _error(env.anonymous.get("/seedance/api/v3/videos", headers=AUTH), 404, "NotFound")
