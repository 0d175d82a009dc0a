"""Protocol tests for the Jimeng (Volcengine visual) simulator through the Flask test client, on a fake clock."""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.test import TestResponse

from simulators import media
from simulators.app import create_app
from workers.vendors.jimeng.client import canonical_query, sign

if TYPE_CHECKING:
    from .conftest import SimEnv

AK, SK = "AKSIMJIMENG", "SKSIMJIMENG"
SUBMIT, GET_RESULT = "CVSync2AsyncSubmitTask", "CVSync2AsyncGetResult"
PNG = b"\x89PNG\r\n\x1a\nframe"


def _x_date(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def call(env: SimEnv, action: str, body: dict[str, Any], *, ak: str = AK, sk: str = SK,
         signed_at: float | None = None, sent: bytes | None = None, version: str = "2022-08-31") -> TestResponse:
    """POST an action signed as Volcengine clients sign it (`sent` replaces the body after signing)."""
    raw = json.dumps(body).encode()
    query = {"Action": action, "Version": version}
    x_date = _x_date(env.clock.now if signed_at is None else signed_at)
    headers = sign(ak, sk, host="localhost", query=query, body=raw, x_date=x_date)
    return env.anonymous.post(f"/jimeng/?{canonical_query(query)}", data=sent or raw, headers=headers)


def submit(env: SimEnv, **fields: Any) -> str:
    response = call(env, SUBMIT, {"req_key": "jimeng_t2v_v30", "prompt": "a red fox", **fields})
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert (answer["code"], answer["status"], answer["message"]) == (10000, 10000, "Success")
    assert answer["request_id"] and answer["time_elapsed"].endswith("ms")
    return answer["data"]["task_id"]


def result(env: SimEnv, task_id: str, req_key: str = "jimeng_t2v_v30") -> TestResponse:
    return call(env, GET_RESULT, {"req_key": req_key, "task_id": task_id})


def _gateway_error(response: TestResponse, status: int, code_n: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    metadata = response.get_json()["ResponseMetadata"]
    assert (metadata["Service"], metadata["Region"]) == ("cv", "cn-north-1") and metadata["RequestId"]
    assert (metadata["Error"]["CodeN"], metadata["Error"]["Code"]) == (code_n, code)


def test_signatures_are_recomputed_and_bad_ones_refused_by_the_gateway(env: SimEnv) -> None:
    body = {"req_key": "jimeng_t2v_v30", "prompt": "x"}
    unsigned = env.anonymous.post(f"/jimeng/?Action={SUBMIT}&Version=2022-08-31", json=body)
    _gateway_error(unsigned, 401, 100003, "MissingAuthenticationToken")
    _gateway_error(call(env, SUBMIT, body, ak="AKOTHER"), 401, 100009, "InvalidAccessKey")
    _gateway_error(call(env, SUBMIT, body, sk="SKWRONG"), 401, 100010, "SignatureDoesNotMatch")
    tampered = json.dumps({**body, "prompt": "y"}).encode()
    _gateway_error(call(env, SUBMIT, body, sent=tampered), 401, 100010, "SignatureDoesNotMatch")
    stale = call(env, SUBMIT, body, signed_at=env.clock.now - 16 * 60)
    _gateway_error(stale, 400, 100006, "InvalidTimestamp")
    assert env.sim.jobs.list("jimeng") == []
    assert call(env, SUBMIT, body, signed_at=env.clock.now - 60).status_code == 200  # small clock skew is fine


def test_keys_come_from_the_environment(env: SimEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_SIM_JIMENG_ACCESS_KEY", "AKCUSTOM")
    monkeypatch.setenv("VIDGATE_SIM_JIMENG_SECRET_KEY", "SKCUSTOM")
    env.anonymous = create_app(env.sim).test_client()
    body = {"req_key": "jimeng_t2v_v30", "prompt": "x"}
    _gateway_error(call(env, SUBMIT, body), 401, 100009, "InvalidAccessKey")
    assert call(env, SUBMIT, body, ak="AKCUSTOM", sk="SKCUSTOM").status_code == 200


def test_missing_or_unknown_action_and_version_are_refused(env: SimEnv) -> None:
    _gateway_error(env.anonymous.post("/jimeng/?Version=2022-08-31", json={}), 400, 100002, "MissingParameter")
    _gateway_error(env.anonymous.post(f"/jimeng/?Action={SUBMIT}", json={}), 400, 100002, "MissingParameter")
    _gateway_error(call(env, "CVProcess", {}), 404, 100008, "InvalidActionOrVersion")
    _gateway_error(call(env, SUBMIT, {}, version="2020-08-26"), 404, 100008, "InvalidActionOrVersion")


@pytest.mark.parametrize("body", [
    {"prompt": "no req_key"},
    {"req_key": "jimeng_unknown", "prompt": "x"},
    {"req_key": "jimeng_t2v_v30"},
    {"req_key": "jimeng_t2v_v30", "prompt": "x", "image_urls": ["https://img.example/a.png"]},
    {"req_key": "jimeng_i2v_first_v30", "prompt": "x"},
    {"req_key": "jimeng_i2v_first_tail_v30", "image_urls": ["https://img.example/a.png"]},
    {"req_key": "jimeng_i2v_first_v30", "image_urls": ["https://a.example/a.png"],
     "binary_data_base64": [base64.b64encode(PNG).decode()]},
    {"req_key": "jimeng_i2v_first_v30", "binary_data_base64": ["not base64!"]},
    {"req_key": "jimeng_t2v_v30", "prompt": "x", "frames": 100},
    {"req_key": "jimeng_t2v_v30", "prompt": "x", "aspect_ratio": "2:1"},
    {"req_key": "jimeng_t2v_v30", "prompt": "x", "seed": "7"},
])
def test_invalid_submissions_are_refused_in_the_service_envelope(env: SimEnv, body: dict[str, Any]) -> None:
    response = call(env, SUBMIT, body)
    assert response.status_code == 400
    answer = response.get_json()
    assert (answer["code"], answer["data"]) == (50200, None) and answer["message"].startswith("Invalid Request")
    assert env.sim.jobs.list("jimeng") == []


def test_images_are_recorded_as_sent(env: SimEnv) -> None:
    encoded = base64.b64encode(PNG).decode()
    by_bytes = submit(env, req_key="jimeng_i2v_first_tail_v30", binary_data_base64=[encoded, encoded], frames=241)
    by_url = submit(env, req_key="jimeng_ti2v_v30_pro", image_urls=["https://img.example/a.png"], req_json="{}")
    job = env.sim.jobs.get("jimeng", by_bytes)
    assert job is not None and job.params["frames"] == 241 and [i["bytes"] for i in job.params["images"]] == [13, 13]
    other = env.sim.jobs.get("jimeng", by_url)
    assert other is not None and other.params["images"] == [{"url": "https://img.example/a.png"}]
    assert other.params["extra"] == ["req_json"]


def test_a_task_is_queued_then_generating_then_done_with_an_expiring_link(env: SimEnv) -> None:
    env.sim.settings.update({"url_ttl": 60})
    task_id = submit(env)
    assert task_id.isdigit() and len(task_id) == 19
    assert result(env, task_id).get_json()["data"]["status"] == "in_queue"
    env.clock.advance(5)
    assert result(env, task_id).get_json()["data"]["status"] == "generating"
    env.clock.advance(5)
    answer = result(env, task_id).get_json()
    assert (answer["code"], answer["data"]["status"]) == (10000, "done")
    link = answer["data"]["video_url"]
    video = env.anonymous.get(link)
    assert video.status_code == 200 and video.data == b"".join(media.video_for(task_id)[1])
    env.clock.advance(61)
    expired = env.anonymous.get(link)
    assert expired.status_code == 403 and b"AccessDenied" in expired.data
    fresh = result(env, task_id).get_json()["data"]["video_url"]
    assert fresh != link and env.anonymous.get(fresh).status_code == 200
    assert env.sim.stats.snapshot(env.sim.jobs, env.clock.now)["jimeng"]["polls"][task_id] == 4


def test_tasks_are_not_found_under_another_req_key_or_after_twelve_hours(env: SimEnv) -> None:
    task_id = submit(env)
    assert result(env, "1234567890123456789").get_json()["data"]["status"] == "not_found"
    assert result(env, task_id, req_key="jimeng_t2v_v30_1080p").get_json()["data"]["status"] == "not_found"
    env.clock.advance(env.job_seconds + env.sim.settings.result_ttl)
    assert result(env, task_id).get_json()["data"]["status"] == "expired"
    env.clock.advance(12 * 3600)
    assert result(env, task_id).get_json()["data"] == {"status": "not_found", "video_url": ""}


@pytest.mark.parametrize(("kind", "status", "code", "message"), [
    ("moderation", 400, 50516, "Post Video Risk Not Pass"),
    ("fail_job", 500, 50500, "Internal Error"),
])
def test_a_failed_task_is_done_with_the_reason_code(
    env: SimEnv, kind: str, status: int, code: int, message: str
) -> None:
    env.sim.faults.add("jimeng", "create", kind)
    task_id = submit(env)
    env.clock.advance(env.job_seconds)
    response = result(env, task_id)
    answer = response.get_json()
    assert response.status_code == status
    assert (answer["code"], answer["status"], answer["message"]) == (code, code, message)
    assert answer["data"] == {"status": "done", "video_url": ""}


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("rate_limit", 429, 50429),
    ("server_error", 500, 50500),
    ("unavailable", 503, 50501),
    ("timeout", 504, 50500),
])
def test_error_faults_answer_with_jimeng_codes_and_create_nothing(
    env: SimEnv, kind: str, status: int, code: int
) -> None:
    env.sim.faults.add("jimeng", "create", kind, **({"retry_after": 2} if kind == "rate_limit" else {"seconds": 5}))
    response = call(env, SUBMIT, {"req_key": "jimeng_t2v_v30", "prompt": "x"})
    assert response.status_code == status
    assert (response.get_json()["code"], response.get_json()["data"]) == (code, None)
    if kind == "rate_limit":
        assert response.headers["Retry-After"] == "2"
    if kind == "timeout":
        assert env.sleeps.calls == [5]
    assert env.sim.jobs.list("jimeng") == []
    assert call(env, SUBMIT, {"req_key": "jimeng_t2v_v30", "prompt": "x"}).status_code == 200


def test_poll_faults_meet_get_result(env: SimEnv) -> None:
    task_id = submit(env)
    env.sim.faults.add("jimeng", "poll", "rate_limit")
    limited = result(env, task_id)
    assert (limited.status_code, limited.get_json()["code"]) == (429, 50429)
    assert result(env, task_id).status_code == 200
