"""Protocol tests for the Vidu simulator through the Flask test client, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from simulators import media
from simulators.app import create_app
from simulators.core import Simulator

from .conftest import FakeClock, SleepRecorder, sim_env

BASE = "/vidu/ent/v2"
KEY = "vidu-sim-key"
PNG_DATA_URL = "data:image/png;base64,iVBORw0KGgo="


class ViduEnv:
    def __init__(self, sim: Simulator, clock: FakeClock, sleeps: SleepRecorder, client: FlaskClient) -> None:
        self.sim, self.clock, self.sleeps, self.client = sim, clock, sleeps, client

    def post(self, path: str, body: Any) -> TestResponse:
        return self.client.post(f"{BASE}/{path}", json=body, headers={"Authorization": f"Token {KEY}"})

    def creations(self, task_id: str) -> TestResponse:
        return self.client.get(f"{BASE}/tasks/{task_id}/creations", headers={"Authorization": f"Token {KEY}"})

    def create(self, path: str = "text2video", **body: Any) -> dict[str, Any]:
        response = self.post(path, {"model": "viduq3-pro", "prompt": "a slow push-in", **body})
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@pytest.fixture
def env() -> ViduEnv:
    # 10 s jobs: queueing for [0, 1), processing for [1, 10), terminal from 10 on; results kept a day,
    # each link handed out valid for an hour.
    base = sim_env(result_ttl=86400.0, url_ttl=3600.0)
    return ViduEnv(base.sim, base.clock, base.sleeps, base.anonymous)


def _error(response: TestResponse, status: int, reason: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"code", "reason", "message", "metadata"}
    assert (body["code"], body["reason"]) == (status, reason)
    return body["message"]


def test_only_the_token_scheme_with_the_right_key_is_accepted(env: ViduEnv) -> None:
    body = {"model": "viduq3-pro", "prompt": "p"}
    for headers in ({}, {"Authorization": f"Bearer {KEY}"}, {"Authorization": "Token wrong"},
                    {"Authorization": f"token {KEY}"}):
        _error(env.client.post(f"{BASE}/text2video", json=body, headers=headers), 401, "Unauthorized")
    assert env.sim.jobs.list("vidu") == []


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, env: ViduEnv) -> None:
    monkeypatch.setenv("VIDGATE_SIM_VIDU_KEY", "custom")
    client = create_app(env.sim).test_client()
    body = {"model": "viduq3-pro", "prompt": "p"}
    assert client.post(f"{BASE}/text2video", json=body, headers={"Authorization": f"Token {KEY}"}).status_code == 401
    assert client.post(f"{BASE}/text2video", json=body, headers={"Authorization": "Token custom"}).status_code == 200


def test_submit_echoes_the_task_with_an_iso_created_at(env: ViduEnv) -> None:
    task = env.create(duration=8, seed=42, aspect_ratio="9:16", resolution="1080p", bgm=True, payload="mine")
    assert task["task_id"].isdigit() and task["state"] == "created"
    assert {k: task[k] for k in ("model", "duration", "seed", "aspect_ratio", "resolution", "bgm", "payload",
                                 "off_peak")} == {
        "model": "viduq3-pro", "duration": 8, "seed": 42, "aspect_ratio": "9:16", "resolution": "1080p",
        "bgm": True, "payload": "mine", "off_peak": False}
    assert datetime.strptime(task["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() == \
        env.clock()
    assert task["credits"] > 0


def test_each_path_takes_its_images(env: ViduEnv) -> None:
    single = env.create("img2video", images=["https://example.com/a.png"])
    pair = env.create("start-end2video", images=[PNG_DATA_URL, "https://example.com/b.png"], off_peak=True)
    refs = env.create("reference2video", images=["https://r/1.png", "https://r/2.png"])
    jobs = {task["task_id"]: env.sim.jobs.get("vidu", task["task_id"]) for task in (single, pair, refs)}
    assert jobs[single["task_id"]].params["path"] == "img2video"
    assert jobs[pair["task_id"]].params["images"] == [{"content_type": "image/png", "bytes": 8},
                                                      {"url": "https://example.com/b.png"}]
    assert jobs[pair["task_id"]].params["off_peak"] is True
    assert len(jobs[refs["task_id"]].params["images"]) == 2 and refs["aspect_ratio"] == "16:9"
    subjects = env.create("reference2video", subjects=[{"id": "1", "images": ["https://r/1.png"], "voice_id": ""}])
    assert env.sim.jobs.get("vidu", subjects["task_id"]).params["images"] == [{"url": "https://r/1.png"}]


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("text2video", {"prompt": "p"}, "FieldLacking"),
    ("text2video", {"model": "vidu9", "prompt": "p"}, "ModelUnavailable"),
    ("text2video", {"model": "viduq3-pro"}, "FieldLacking"),
    ("text2video", {"model": "viduq3-pro", "prompt": "p", "style_x": 1}, "FieldUnwanted"),
    ("text2video", {"model": "viduq3-pro", "prompt": "p", "duration": "5"}, "FieldInvalid"),
    ("text2video", {"model": "viduq3-pro", "prompt": "p", "duration": 17}, "FieldInvalid"),
    ("text2video", {"model": "viduq3-pro", "prompt": "p", "resolution": "4k"}, "FieldInvalid"),
    ("text2video", {"model": "viduq3-pro", "prompt": "p", "bgm": "yes"}, "FieldInvalid"),
    ("text2video", {"model": "viduq3-pro", "prompt": "p", "audio": True, "off_peak": True}, "FieldInvalid"),
    ("text2video", {"model": "viduq3-pro", "prompt": "p", "images": ["https://a"]}, "FieldItemCountOutOfRange"),
    ("img2video", {"model": "viduq3-pro", "images": []}, "FieldItemCountOutOfRange"),
    ("start-end2video", {"model": "viduq3-pro", "images": ["https://a"]}, "FieldItemCountOutOfRange"),
    ("reference2video", {"model": "viduq3-pro", "prompt": "p", "images": ["https://a"] * 8},
     "FieldItemCountOutOfRange"),
    ("img2video", {"model": "viduq3-pro", "images": ["iVBORw0KGgo="]}, "ImageFormatInvalid"),  # no data: prefix
    ("text2video", {"model": "viduq3-pro", "prompt": "p", "subjects": [{"id": "1", "images": []}]}, "FieldUnwanted"),
])
def test_invalid_bodies_are_refused_with_vidu_reasons(env: ViduEnv, path: str, body: dict[str, Any],
                                                      reason: str) -> None:
    _error(env.post(path, body), 400, reason)
    assert env.sim.jobs.list("vidu") == []


def test_states_progress_to_success_with_a_one_hour_creation_url(env: ViduEnv) -> None:
    task_id = env.create()["task_id"]
    assert env.creations(task_id).get_json()["state"] == "queueing"
    env.clock.advance(5.5)
    running = env.creations(task_id).get_json()
    assert running["state"] == "processing" and 0 < running["progress"] < 100 and running["creations"] == []
    env.clock.advance(4.5)
    done = env.creations(task_id).get_json()
    [creation] = done["creations"]
    assert (done["state"], done["err_code"], done["progress"]) == ("success", "", 100)
    assert creation["url"] == creation["watermarked_url"] and "/vidu/_files/" in creation["url"]
    video = env.client.get(creation["url"])  # a signed store link: no key needed
    assert video.status_code == 200 and video.data == b"".join(media.video_for(task_id)[1])
    assert env.client.get(creation["cover_url"]).data == media.thumbnail_for(task_id)
    env.clock.advance(3601)  # url_ttl: an hour, as Vidu's links
    assert env.client.get(creation["url"]).status_code == 403
    assert env.client.get(env.creations(task_id).get_json()["creations"][0]["url"]).status_code == 200
    _error(env.creations("404404"), 404, "TaskNotFound")


@pytest.mark.parametrize(("kind", "err_code"), [("moderation", "CreationPolicyViolation"),
                                                 ("fail_job", "InternalServiceFailure")])
def test_failed_tasks_carry_an_err_code(env: ViduEnv, kind: str, err_code: str) -> None:
    env.sim.faults.add("vidu", "create", kind)
    task_id = env.create()["task_id"]
    env.clock.advance(10)
    body = env.creations(task_id).get_json()
    assert (body["state"], body["err_code"], body["creations"]) == ("failed", err_code, [])


def test_cancel_stops_a_running_task(env: ViduEnv) -> None:
    task_id = env.create()["task_id"]
    headers = {"Authorization": f"Token {KEY}"}
    assert env.client.post(f"{BASE}/tasks/{task_id}/cancel", json={"id": task_id}, headers=headers).get_json() == {}
    body = env.creations(task_id).get_json()
    assert (body["state"], body["err_code"]) == ("failed", "UserCancelled")
    _error(env.client.post(f"{BASE}/tasks/{task_id}/cancel", json={}, headers=headers), 400, "BadRequest")
    _error(env.client.post(f"{BASE}/tasks/1/cancel", json={}, headers=headers), 404, "TaskNotFound")


def listed(env: ViduEnv, query: str) -> dict[str, Any]:
    response = env.client.get(f"{BASE}/tasks?{query}", headers={"Authorization": f"Token {KEY}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_task_list_filters_by_ids_newest_first_with_the_creations_read_s_fields(env: ViduEnv) -> None:
    first, second, third = (env.create()["task_id"] for _ in range(3))
    env.clock.advance(12)
    both = listed(env, f"task_ids={first}&task_ids={third}&pager.pagesz=10")
    assert [task["id"] for task in both["tasks"]] == [third, first] and both["next_page_token"] == ""
    assert both["tasks"][1]["state"] == "success"
    single = env.creations(first).get_json()
    for task in (single, both["tasks"][1]):
        del task["creations"]  # each read signs a fresh link
    assert both["tasks"][1] == single
    assert [task["id"] for task in listed(env, f"task_ids={first},{second}")["tasks"]] == [second, first]
    page = listed(env, "pager.pagesz=2")  # pages of everything, newest first
    assert ([task["id"] for task in page["tasks"]], page["next_page_token"]) == ([third, second], "2")
    assert [task["id"] for task in listed(env, "pager.pagesz=2&pager.page=2")["tasks"]] == [first]
    stats = env.sim.stats.snapshot(env.sim.jobs, env.clock.now)["vidu"]
    assert (stats["list_requests"], stats["listed"]) == (4, 7)
    assert stats["polls"] == {first: 4, second: 2, third: 2}  # three listed reads and the single one


def test_the_task_list_refuses_bad_pages_and_takes_poll_faults(env: ViduEnv) -> None:
    headers = {"Authorization": f"Token {KEY}"}
    for query in ("pager.pagesz=0", "pager.pagesz=101", "pager.page=x"):
        _error(env.client.get(f"{BASE}/tasks?{query}", headers=headers), 400, "BadRequest")
    env.sim.faults.add("vidu", "poll", "rate_limit")
    _error(env.client.get(f"{BASE}/tasks?task_ids=1", headers=headers), 429, "TooManyRequests")


@pytest.mark.parametrize(("kind", "status", "reason"), [
    ("rate_limit", 429, "TooManyRequests"), ("server_error", 500, "InternalServiceFailure"),
    ("unavailable", 503, "InternalServiceFailure"), ("timeout", 504, "InternalServiceFailure")])
def test_request_faults_answer_in_the_vidu_envelope(env: ViduEnv, kind: str, status: int, reason: str) -> None:
    env.sim.faults.add("vidu", "any", kind, **({"retry_after": 2} if kind == "rate_limit" else {}))
    response = env.post("text2video", {"model": "viduq3-pro", "prompt": "p"})
    _error(response, status, reason)
    if kind == "rate_limit":
        assert response.headers["Retry-After"] == "2"
    if kind == "timeout":
        assert env.sleeps.calls == [30.0]
    assert env.sim.jobs.list("vidu") == []


def test_poll_faults_and_an_expired_fault(env: ViduEnv) -> None:
    task_id = env.create()["task_id"]
    env.clock.advance(10)
    env.sim.faults.add("vidu", "poll", "malformed", json=True)
    assert "state" not in env.creations(task_id).get_json()
    url = env.creations(task_id).get_json()["creations"][0]["url"]
    env.sim.faults.add("vidu", "content", "expired")
    assert env.client.get(url).status_code == 403
