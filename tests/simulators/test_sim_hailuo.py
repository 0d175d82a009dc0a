"""Protocol tests for the MiniMax Hailuo simulator through the Flask test client, on a fake clock."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from werkzeug.test import TestResponse

from simulators import media
from simulators.app import create_app

from .conftest import SimEnv, sim_env

KEY = "minimax-sim-key"
CREATE = "/hailuo/v1/video_generation"
QUERY = "/hailuo/v1/query/video_generation"
RETRIEVE = "/hailuo/v1/files/retrieve"
IMAGE = "data:image/png;base64,iVBORw0KGgo="
URL_IMAGE = "https://img.example/cat.png"


@pytest.fixture
def hailuo() -> SimEnv:
    """10 s jobs on a fake clock: Preparing [0, 0.5), Queueing [0.5, 1), Processing [1, 10), Success from 10."""
    return sim_env({"Authorization": f"Bearer {KEY}"}, url_ttl=600.0)


def ok(response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["base_resp"] == {"status_code": 0, "status_msg": "success"}, body
    return body


def refused(response: TestResponse, code: int) -> str:
    """MiniMax's errors: HTTP 200, the code in base_resp."""
    assert response.status_code == 200, response.get_data(as_text=True)
    base = response.get_json()["base_resp"]
    assert base["status_code"] == code, base
    return base["status_msg"]


def create(env: SimEnv, **body: object) -> str:
    answer = ok(env.client.post(CREATE, json={"model": "MiniMax-Hailuo-2.3", "prompt": "a fox", **body}))
    assert set(answer) == {"task_id", "base_resp"} and answer["task_id"].isdigit()
    return answer["task_id"]


def query(env: SimEnv, task_id: str) -> dict[str, Any]:
    return ok(env.client.get(QUERY, query_string={"task_id": task_id}))


def test_a_missing_or_wrong_key_is_refused_with_1004_in_http_200(hailuo: SimEnv) -> None:
    task_id = create(hailuo)
    calls = [
        lambda c, h: c.post(CREATE, json={"model": "T2V-01", "prompt": "x"}, headers=h),
        lambda c, h: c.get(QUERY, query_string={"task_id": task_id}, headers=h),
        lambda c, h: c.get(RETRIEVE, query_string={"file_id": "1"}, headers=h),
    ]
    for call in calls:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
            assert "login fail" in refused(call(hailuo.anonymous, headers), 1004)
    assert len(hailuo.sim.jobs.list("hailuo")) == 1


def test_key_and_group_id_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDGATE_SIM_HAILUO_KEY", "custom")
    monkeypatch.setenv("VIDGATE_SIM_HAILUO_GROUP_ID", "42")
    client = create_app().test_client()
    body = {"model": "T2V-01", "prompt": "x"}
    refused(client.post(CREATE, json=body, headers={"Authorization": f"Bearer {KEY}"}, query_string={"GroupId": "42"}),
            1004)
    assert "GroupId" in refused(client.post(CREATE, json=body, headers={"Authorization": "Bearer custom"}), 1004)
    ok(client.post(CREATE, json=body, headers={"Authorization": "Bearer custom"}, query_string={"GroupId": "42"}))


def test_create_records_the_body_with_minimax_defaults(hailuo: SimEnv) -> None:
    task_id = create(hailuo, first_frame_image=URL_IMAGE, prompt_optimizer=False, style="noir")
    job = hailuo.sim.jobs.get("hailuo", task_id)
    assert (job.model, job.prompt) == ("MiniMax-Hailuo-2.3", "a fox")
    assert job.params == {"first_frame_image": URL_IMAGE, "prompt_optimizer": False, "style": "noir",
                          "resolution": "768P", "duration": 6}


@pytest.mark.parametrize("body", [
    {"model": "MiniMax-Hailuo-02", "prompt": "p", "first_frame_image": IMAGE, "last_frame_image": IMAGE,
     "resolution": "1080P", "duration": 6},
    {"model": "MiniMax-Hailuo-02", "first_frame_image": IMAGE, "resolution": "512P", "duration": 10},
    {"model": "MiniMax-Hailuo-2.3-Fast", "first_frame_image": URL_IMAGE, "duration": 10},
    {"model": "I2V-01-live", "first_frame_image": IMAGE, "resolution": "720P"},
    {"model": "S2V-01", "prompt": "p", "subject_reference": [{"type": "character", "image": [URL_IMAGE]}]},
])
def test_every_documented_mode_is_accepted(hailuo: SimEnv, body: dict[str, Any]) -> None:
    ok(hailuo.client.post(CREATE, json=body))


@pytest.mark.parametrize(("body", "fragment"), [
    ({"model": "MiniMax-Hailuo-9", "prompt": "p"}, "model"),
    ({"model": "MiniMax-Hailuo-2.3"}, "prompt is required"),
    ({"model": "MiniMax-Hailuo-2.3", "prompt": "x" * 2001}, "prompt"),
    ({"model": "MiniMax-Hailuo-2.3", "prompt": "p", "resolution": "720P"}, "resolution"),
    ({"model": "MiniMax-Hailuo-2.3", "prompt": "p", "resolution": ["768P"]}, "resolution"),
    ({"model": "MiniMax-Hailuo-2.3", "prompt": "p", "resolution": "1080P", "duration": 10}, "duration"),
    ({"model": "MiniMax-Hailuo-2.3", "prompt": "p", "duration": "6"}, "duration"),
    ({"model": "MiniMax-Hailuo-02", "prompt": "p", "resolution": "512P"}, "512P"),
    ({"model": "MiniMax-Hailuo-02", "prompt": "p", "last_frame_image": IMAGE}, "last_frame_image"),
    ({"model": "MiniMax-Hailuo-2.3", "prompt": "p", "first_frame_image": IMAGE, "last_frame_image": IMAGE},
     "last_frame_image"),
    ({"model": "MiniMax-Hailuo-2.3-Fast", "prompt": "p"}, "first_frame_image is required"),
    ({"model": "I2V-01", "prompt": "p", "first_frame_image": "not-an-image"}, "first_frame_image"),
    ({"model": "T2V-01", "prompt": "p", "first_frame_image": IMAGE}, "first_frame_image"),
    ({"model": "T2V-01", "prompt": "p", "duration": 10}, "duration"),
    ({"model": "S2V-01", "prompt": "p"}, "subject_reference"),
    ({"model": "S2V-01", "prompt": "p", "subject_reference": [{"type": "character", "image": [IMAGE, IMAGE]}]},
     "subject_reference"),
    ({"model": "T2V-01", "prompt": "p", "subject_reference": []}, "subject_reference"),
    ({"model": "T2V-01", "prompt": "p", "prompt_optimizer": "yes"}, "prompt_optimizer"),
])
def test_invalid_bodies_get_2013(hailuo: SimEnv, body: dict[str, Any], fragment: str) -> None:
    message = refused(hailuo.client.post(CREATE, json=body), 2013)
    assert message.startswith("invalid params") and fragment in message
    assert hailuo.sim.jobs.list("hailuo") == []


def test_a_body_that_is_not_json_gets_2013(hailuo: SimEnv) -> None:
    refused(hailuo.client.post(CREATE, data="model=T2V-01"), 2013)
    refused(hailuo.client.post(CREATE, json=["T2V-01"]), 2013)


def test_status_progresses_through_every_minimax_status(hailuo: SimEnv) -> None:
    task_id = create(hailuo, resolution="1080P")
    seen = []
    for at in (0.0, 0.6, 5.0, 10.0):
        hailuo.clock.now = 1_800_000_000.0 + at
        seen.append(query(hailuo, task_id))
    assert [s["status"] for s in seen] == ["Preparing", "Queueing", "Processing", "Success"]
    assert seen[2] == {"task_id": task_id, "status": "Processing", "file_id": "", "video_width": 0,
                       "video_height": 0, "base_resp": {"status_code": 0, "status_msg": "success"}}
    done = seen[-1]
    assert done["file_id"].isdigit() and (done["video_width"], done["video_height"]) == (1920, 1080)
    assert hailuo.sim.stats.snapshot(hailuo.sim.jobs, hailuo.clock())["hailuo"]["polls"] == {task_id: 4}


def test_unknown_or_missing_task_ids(hailuo: SimEnv) -> None:
    assert "not found" in refused(hailuo.client.get(QUERY, query_string={"task_id": "123"}), 2013)
    assert "task_id" in refused(hailuo.client.get(QUERY), 2013)


@pytest.mark.parametrize(("kind", "options", "code", "message"), [
    ("moderation", {}, 1027, "sensitive"),
    ("fail_job", {"message": "GPU on fire"}, 1000, "GPU on fire"),
])
def test_failed_jobs_report_fail_with_the_reason_in_base_resp(
    hailuo: SimEnv, kind: str, options: dict[str, Any], code: int, message: str
) -> None:
    hailuo.sim.faults.add("hailuo", "create", kind, **options)
    task_id = create(hailuo)
    hailuo.clock.advance(10)
    body = hailuo.client.get(QUERY, query_string={"task_id": task_id}).get_json()
    assert (body["status"], body["file_id"]) == ("Fail", "")
    assert body["base_resp"]["status_code"] == code and message in body["base_resp"]["status_msg"]


def test_retrieve_gives_the_file_object_and_a_working_download_url(hailuo: SimEnv) -> None:
    task_id = create(hailuo)
    hailuo.clock.advance(10)
    file_id = query(hailuo, task_id)["file_id"]
    file = ok(hailuo.client.get(RETRIEVE, query_string={"file_id": file_id}))["file"]
    size = media.video_for(task_id)[0]
    assert {k: v for k, v in file.items() if not k.endswith("download_url")} == {
        "file_id": int(file_id), "bytes": size, "created_at": 1_800_000_010, "filename": "output_aigc.mp4",
        "purpose": "video_generation"}
    video = hailuo.anonymous.get(file["download_url"])  # a signed link: no key needed
    assert video.status_code == 200 and video.headers["Content-Length"] == str(size)
    assert hashlib.sha256(video.data).hexdigest() == media.video_sha256(task_id)
    assert hailuo.anonymous.get(file["backup_download_url"]).status_code == 200


def test_result_urls_expire_and_a_fresh_retrieve_cures_it(hailuo: SimEnv) -> None:
    task_id = create(hailuo)
    hailuo.clock.advance(10)
    file_id = query(hailuo, task_id)["file_id"]
    url = ok(hailuo.client.get(RETRIEVE, query_string={"file_id": file_id}))["file"]["download_url"]
    hailuo.clock.advance(601)  # url_ttl is 600 s
    expired = hailuo.anonymous.get(url)
    assert expired.status_code == 403 and b"Request has expired" in expired.data
    fresh = ok(hailuo.client.get(RETRIEVE, query_string={"file_id": file_id}))["file"]["download_url"]
    assert hailuo.anonymous.get(fresh).status_code == 200


def test_files_are_not_found_before_success_after_the_result_ttl_or_when_unknown(hailuo: SimEnv) -> None:
    task_id = create(hailuo)
    assert "not found" in refused(hailuo.client.get(RETRIEVE, query_string={"file_id": "100000000000001"}), 2013)
    assert "file_id" in refused(hailuo.client.get(RETRIEVE, query_string={"file_id": "abc"}), 2013)
    hailuo.clock.advance(10)
    real_id = query(hailuo, task_id)["file_id"]
    ok(hailuo.client.get(RETRIEVE, query_string={"file_id": real_id}))
    hailuo.clock.advance(3600)
    assert "not found" in refused(hailuo.client.get(RETRIEVE, query_string={"file_id": real_id}), 2013)


@pytest.mark.parametrize(("kind", "options", "code"), [
    ("rate_limit", {"retry_after": 1.5}, 1002),
    ("server_error", {}, 1000),
    ("timeout", {"seconds": 5}, 1001),
])
def test_request_faults_answer_with_minimax_codes_in_http_200(
    hailuo: SimEnv, kind: str, options: dict[str, float], code: int
) -> None:
    hailuo.sim.faults.add("hailuo", "create", kind, **options)
    response = hailuo.client.post(CREATE, json={"model": "T2V-01", "prompt": "p"})
    refused(response, code)
    if kind == "rate_limit":
        assert response.headers["Retry-After"] == "2"
    if kind == "timeout":
        assert hailuo.sleeps.calls == [5.0]
    assert hailuo.sim.jobs.list("hailuo") == []  # nothing was created
    create(hailuo)  # the fault hit one request only


def test_unavailable_is_the_front_proxys_503(hailuo: SimEnv) -> None:
    hailuo.sim.faults.add("hailuo", "poll", "unavailable")
    task_id = create(hailuo)
    response = hailuo.client.get(QUERY, query_string={"task_id": task_id})
    assert response.status_code == 503 and response.mimetype == "text/html"
    query(hailuo, task_id)


def test_reset_and_malformed_faults(hailuo: SimEnv) -> None:
    hailuo.sim.faults.add("hailuo", "create", "reset")
    with pytest.raises(ConnectionResetError):
        hailuo.client.post(CREATE, json={"model": "T2V-01", "prompt": "p"})
    hailuo.sim.faults.add("hailuo", "create", "malformed")
    html = hailuo.client.post(CREATE, json={"model": "T2V-01", "prompt": "p"})
    assert html.status_code == 200 and html.mimetype == "text/html"


def test_accept_then_timeout_creates_the_job_before_the_delay(hailuo: SimEnv) -> None:
    hailuo.sim.faults.add("hailuo", "create", "accept_then_timeout", seconds=3)
    task_id = create(hailuo)
    assert hailuo.sleeps.calls == [3.0] and hailuo.sim.jobs.get("hailuo", task_id) is not None
