"""Protocol tests for the Wan (DashScope) simulator through the Flask test client, on a fake clock."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from werkzeug.test import TestResponse

from simulators import media
from simulators.app import create_app
from tests.simulators.conftest import SimEnv, sim_env

KEY = "dashscope-sim-key"
API = "/wan/api/v1"
T2V = f"{API}/services/aigc/video-generation/video-synthesis"
KF2V = f"{API}/services/aigc/image2video/video-synthesis"
ASYNC = {"X-DashScope-Async": "enable"}


@pytest.fixture
def env() -> SimEnv:
    return sim_env({"Authorization": f"Bearer {KEY}"})


def _create(env: SimEnv, model: str = "wan2.5-t2v-preview", url: str = T2V, **body: Any) -> str:
    payload = {"model": model, "input": {"prompt": "a koi pond in the rain"}, **body}
    response = env.client.post(url, json=payload, headers=ASYNC)
    assert response.status_code == 200, response.get_json()
    created = response.get_json()
    assert created["output"]["task_status"] == "PENDING" and created["request_id"]
    return created["output"]["task_id"]


def _task(env: SimEnv, task_id: str) -> dict[str, Any]:
    response = env.client.get(f"{API}/tasks/{task_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _error(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"request_id", "code", "message"} and body["code"] == code and body["message"]
    return body


def test_a_missing_or_wrong_key_is_invalid_api_key(env: SimEnv) -> None:
    body = {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}}
    assert "No API-key" in _error(env.anonymous.post(T2V, json=body, headers=ASYNC), 401, "InvalidApiKey")["message"]
    wrong = env.anonymous.post(T2V, json=body, headers={**ASYNC, "Authorization": "Bearer sk-wrong"})
    assert "Invalid API-key" in _error(wrong, 401, "InvalidApiKey")["message"]
    _error(env.anonymous.get(f"{API}/tasks/whatever"), 401, "InvalidApiKey")
    assert env.sim.jobs.list("wan") == []


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_SIM_WAN_KEY", "custom")
    client = create_app().test_client()
    body = {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}}
    assert client.post(T2V, json=body, headers={**ASYNC, "Authorization": f"Bearer {KEY}"}).status_code == 401
    assert client.post(T2V, json=body, headers={**ASYNC, "Authorization": "Bearer custom"}).status_code == 200


def test_a_create_without_the_async_header_is_refused(env: SimEnv) -> None:
    response = env.client.post(T2V, json={"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}})
    assert "does not support synchronous calls" in _error(response, 403, "AccessDenied")["message"]
    assert env.sim.jobs.list("wan") == []


@pytest.mark.parametrize(("url", "body", "fragment"), [
    (T2V, {"input": {"prompt": "x"}}, "Model not exist"),
    (T2V, {"model": "wan9-t2v", "input": {"prompt": "x"}}, "Model not exist"),
    (T2V, {"model": "wan2.2-kf2v-flash", "input": {"first_frame_url": "https://x/a.png"}}, "image2video"),
    (KF2V, {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}}, "video-generation"),
    (T2V, {"model": "wan2.5-t2v-preview"}, "input"),
    (T2V, {"model": "wan2.5-t2v-preview", "input": {}}, "prompt"),
    (T2V, {"model": "wan2.2-t2v-plus", "input": {"prompt": "x"}, "parameters": {"size": "1280*720"}}, "size"),
    (T2V, {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}, "parameters": {"duration": 8}}, "duration"),
    (T2V, {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}, "parameters": {"seed": -1}}, "seed"),
    (T2V, {"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}, "parameters": {"watermark": "no"}},
     "watermark"),
    (T2V, {"model": "wan2.5-i2v-preview", "input": {"prompt": "x"}}, "img_url"),
    (T2V, {"model": "wan2.5-i2v-preview", "input": {"img_url": "ftp://x/a.png"}}, "img_url"),
    (T2V, {"model": "wan2.2-i2v-flash", "input": {"img_url": "https://x/a.png"},
           "parameters": {"resolution": "1080P"}}, "resolution"),
    (KF2V, {"model": "wan2.2-kf2v-flash", "input": {"last_frame_url": "https://x/a.png"}}, "first_frame_url"),
])
def test_invalid_creates_are_invalid_parameter(env: SimEnv, url: str, body: dict[str, Any], fragment: str) -> None:
    assert fragment in _error(env.client.post(url, json=body, headers=ASYNC), 400, "InvalidParameter")["message"]
    assert env.sim.jobs.list("wan") == []


def test_images_may_be_urls_or_base64_data_urls(env: SimEnv) -> None:
    _create(env, "wan2.5-i2v-preview", input={"img_url": "data:image/png;base64,iVBORw0KGgo="},
            parameters={"resolution": "720P", "duration": 10})
    _create(env, "wan2.2-kf2v-flash", KF2V, input={"first_frame_url": "https://x/a.png",
                                                   "last_frame_url": "oss://bucket/b.png"})
    i2v, kf2v = env.sim.jobs.list("wan")
    assert i2v.params["images"] == {"img_url": "data-url"} and (i2v.params["resolution"], i2v.params["duration"]) == (
        "720P", 10)
    assert kf2v.params["images"] == {"first_frame_url": "https://x/a.png", "last_frame_url": "oss://bucket/b.png"}


def test_status_progresses_and_a_success_carries_the_video(env: SimEnv) -> None:
    task_id = _create(env, parameters={"size": "832*480", "seed": 7})
    seen = []
    for _ in range(11):
        seen.append(_task(env, task_id))
        env.clock.advance(1)
    assert [s["output"]["task_status"] for s in seen] == ["PENDING"] + ["RUNNING"] * 9 + ["SUCCEEDED"]
    done = seen[-1]
    assert done["output"]["submit_time"] == "2027-01-15 16:00:00.000"  # Beijing time of the fake clock's start
    assert done["output"]["end_time"] == "2027-01-15 16:00:10.000"
    assert done["usage"] == {"video_duration": 5, "video_ratio": "832*480", "video_count": 1}
    assert "video_url" not in seen[5]["output"]
    path = done["output"]["video_url"].removeprefix("http://localhost")
    response = env.anonymous.get(path)  # the OSS-style link needs no key
    expected = b"".join(media.video_for(task_id)[1])
    assert response.status_code == 200 and response.data == expected
    stats = env.client.get("/_sim/stats").get_json()["wan"]
    assert stats["polls"] == {task_id: 11} and stats["served_sha256"] == {
        task_id: [hashlib.sha256(expected).hexdigest()]}


def test_the_video_url_expires_and_a_fresh_poll_renews_it(env: SimEnv) -> None:
    env.sim.settings.update({"url_ttl": 60})
    task_id = _create(env)
    env.clock.advance(10)
    path = _task(env, task_id)["output"]["video_url"].removeprefix("http://localhost")
    env.clock.advance(61)
    expired = env.client.get(path)
    assert expired.status_code == 403 and b"<Code>AccessDenied</Code>" in expired.data
    fresh = _task(env, task_id)["output"]["video_url"].removeprefix("http://localhost")
    assert env.client.get(fresh).status_code == 200


def test_unknown_and_expired_tasks_are_unknown(env: SimEnv) -> None:
    assert _task(env, "no-such-task")["output"] == {"task_id": "no-such-task", "task_status": "UNKNOWN"}
    env.sim.settings.update({"result_ttl": 60})
    task_id = _create(env)
    env.clock.advance(10 + 60)
    assert _task(env, task_id)["output"]["task_status"] == "UNKNOWN"


def test_only_a_pending_task_can_be_canceled(env: SimEnv) -> None:
    task_id = _create(env)
    assert env.client.post(f"{API}/tasks/{task_id}/cancel").status_code == 200
    assert _task(env, task_id)["output"]["task_status"] == "CANCELED"
    running = _create(env)
    env.clock.advance(2)
    _error(env.client.post(f"{API}/tasks/{running}/cancel"), 400, "UnsupportedOperation")
    _error(env.client.post(f"{API}/tasks/nope/cancel"), 404, "NotFound")


@pytest.mark.parametrize(("kind", "code", "message"), [
    ("moderation", "DataInspectionFailed", "inappropriate content"),
    ("fail_job", "InternalError", "internal error"),
])
def test_injected_failures_end_failed_with_a_code(env: SimEnv, kind: str, code: str, message: str) -> None:
    env.client.post("/_sim/faults", json={"vendor": "wan", "op": "create", "kind": kind})
    task_id = _create(env)
    env.clock.advance(10)
    output = _task(env, task_id)["output"]
    assert (output["task_status"], output["code"]) == ("FAILED", code) and message in output["message"]
    assert "video_url" not in output


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("rate_limit", 429, "Throttling.RateQuota"),
    ("server_error", 500, "InternalError"),
    ("unavailable", 503, "ServiceUnavailable"),
    ("timeout", 504, "RequestTimeOut"),
])
def test_faults_answer_in_dashscopes_envelope(env: SimEnv, kind: str, status: int, code: str) -> None:
    env.client.post("/_sim/faults", json={"vendor": "wan", "op": "create", "kind": kind, **(
        {"retry_after": 3} if kind == "rate_limit" else {})})
    response = env.client.post(T2V, json={"model": "wan2.5-t2v-preview", "input": {"prompt": "x"}}, headers=ASYNC)
    _error(response, status, code)
    if kind == "rate_limit":
        assert response.headers["Retry-After"] == "3"
    assert env.sim.jobs.list("wan") == []
    task_id = _create(env)
    env.client.post("/_sim/faults", json={"vendor": "wan", "op": "poll", "kind": kind})
    _error(env.client.get(f"{API}/tasks/{task_id}"), status, code)


def test_unknown_paths_are_not_found(env: SimEnv) -> None:
    _error(env.client.get(f"{API}/services/aigc/text2image/image-synthesis"), 404, "NotFound")
