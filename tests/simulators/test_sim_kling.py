"""Protocol tests for the Kling simulator through the Flask test client, on a fake clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from simulators import media
from simulators.app import create_app
from simulators.core import Simulator

from .conftest import FakeClock, SleepRecorder, sim_env

# The simulator's default keys are short; PyJWT warns about short HMAC keys, which is not under test here.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

ACCESS_KEY, SECRET_KEY = "ak-sim-kling", "sk-sim-kling-secret-key-0123456789ab"
T2V, I2V = "/kling/v1/videos/text2video", "/kling/v1/videos/image2video"


@dataclass
class KlingEnv:
    sim: Simulator
    clock: FakeClock
    sleeps: SleepRecorder
    client: FlaskClient

    def token(self, secret: str = SECRET_KEY, *, iss: str = ACCESS_KEY, nbf: float = -5, exp: float = 1800,
              headers: dict[str, str] | None = None) -> str:
        now = int(self.clock())
        return jwt.encode({"iss": iss, "nbf": now + int(nbf), "exp": now + int(exp)}, secret, algorithm="HS256",
                          headers=headers if headers is not None else {"typ": "JWT"})

    def auth(self, **token: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**token)}"}

    def post(self, path: str, body: Any) -> TestResponse:
        return self.client.post(path, json=body, headers=self.auth())

    def get(self, path: str, **query: Any) -> TestResponse:
        return self.client.get(path, query_string=query, headers=self.auth())

    def create(self, path: str = T2V, **body: Any) -> dict[str, Any]:
        response = self.post(path, {"prompt": "a fox in the snow", **body})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"]


@pytest.fixture
def env() -> KlingEnv:
    # 10 s jobs: submitted for [0, 1), processing for [1, 10), terminal from 10 on.
    base = sim_env()
    return KlingEnv(base.sim, base.clock, base.sleeps, base.anonymous)


def _error(response: TestResponse, status: int, code: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"code", "message", "request_id"} and body["code"] == code and body["request_id"]
    return body["message"]


def test_the_jwt_is_checked_as_kling_does(env: KlingEnv) -> None:
    cases = [
        ({}, 1001),
        ({"Authorization": "Bearer not-a-jwt"}, 1002),
        ({"Authorization": f"Token {env.token()}"}, 1001),
        (env.auth(secret="the-wrong-secret"), 1000),
        (env.auth(iss="someone-else"), 1000),
        (env.auth(headers={"typ": None}), 1002),  # no typ: JWT
        (env.auth(nbf=60, exp=1800), 1003),
        (env.auth(nbf=-1800, exp=-1), 1004),
    ]
    for headers, code in cases:
        _error(env.client.post(T2V, json={"prompt": "p"}, headers=headers), 401, code)
    assert env.sim.jobs.list("kling") == []
    assert env.get(T2V).status_code == 200


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, env: KlingEnv) -> None:
    monkeypatch.setenv("VIDGATE_SIM_KLING_ACCESS_KEY", "ak-custom")
    monkeypatch.setenv("VIDGATE_SIM_KLING_SECRET_KEY", "sk-custom")
    client = create_app(env.sim).test_client()
    custom = {"Authorization": f"Bearer {env.token('sk-custom', iss='ak-custom')}"}
    assert client.get(T2V, headers=env.auth()).status_code == 401
    assert client.get(T2V, headers=custom).status_code == 200


def test_a_task_goes_submitted_processing_succeed_with_ms_timestamps(env: KlingEnv) -> None:
    created = env.create(model_name="kling-v2-5-turbo", duration="10", mode="pro", aspect_ratio="9:16",
                         external_task_id="ext-1", cfg_scale=0.5)
    start_ms = int(env.clock() * 1000)
    assert created == {"task_id": created["task_id"], "task_status": "submitted", "task_status_msg": "",
                       "task_info": {"external_task_id": "ext-1"}, "created_at": start_ms, "updated_at": start_ms}
    path = f"{T2V}/{created['task_id']}"
    env.clock.advance(2)
    body = env.get(path).get_json()
    assert (body["code"], body["message"]) == (0, "SUCCEED")
    assert body["data"]["task_status"] == "processing" and body["data"]["updated_at"] == start_ms + 1000
    env.clock.advance(8)
    data = env.get(path).get_json()["data"]
    [video] = data["task_result"]["videos"]
    assert data["task_status"] == "succeed" and data["updated_at"] == start_ms + 10_000
    assert video["duration"] == "10" and "/kling/_files/" in video["url"]
    job = env.sim.jobs.get("kling", created["task_id"])
    assert (job.model, job.params["mode"], job.params["aspect_ratio"]) == ("kling-v2-5-turbo", "pro", "9:16")
    content = env.client.get(video["url"])  # the CDN link needs no token
    assert content.status_code == 200 and content.data == b"".join(media.video_for(job.id)[1])


def test_image2video_takes_a_url_or_raw_base64_and_is_polled_on_its_own_path(env: KlingEnv) -> None:
    created = env.create(I2V, model_name="kling-v2-1", image="https://example.com/a.png", image_tail="iVBORw0KGgo=")
    job = env.sim.jobs.get("kling", created["task_id"])
    assert (job.params["image"], job.params["image_tail"]) == ("https://example.com/a.png", "base64:12")
    assert env.get(f"{I2V}/{created['task_id']}").status_code == 200
    _error(env.get(f"{T2V}/{created['task_id']}"), 404, 1203)
    _error(env.get(f"{T2V}/123"), 404, 1203)


@pytest.mark.parametrize(("path", "body", "needle"), [
    (T2V, {"prompt": "p", "duration": 5}, "duration"),  # a number: Kling wants the string "5"
    (T2V, {"prompt": "p", "duration": "7"}, "duration"),
    (T2V, {"prompt": "p", "aspect_ratio": "4:3"}, "aspect_ratio"),
    (T2V, {"prompt": "p", "mode": "fast"}, "mode"),
    (T2V, {"prompt": "p", "model_name": "kling-v2-1"}, "model_name"),  # an image-only model
    (T2V, {"prompt": "p", "cfg_scale": 2}, "cfg_scale"),
    (T2V, {}, "prompt"),
    (T2V, {"prompt": "x" * 2501}, "prompt"),
    (I2V, {"prompt": "p"}, "image"),
    (I2V, {"image": "data:image/png;base64,iVBORw0KGgo="}, "data:"),
    (I2V, {"image": "%%%"}, "image"),
])
def test_invalid_bodies_are_refused_with_1201(env: KlingEnv, path: str, body: dict[str, Any], needle: str) -> None:
    assert needle in _error(env.post(path, body), 400, 1201)
    assert env.sim.jobs.list("kling") == []


def test_a_body_that_is_not_json_is_refused_with_1200(env: KlingEnv) -> None:
    _error(env.client.post(T2V, data="prompt=p", headers=env.auth()), 400, 1200)


def test_a_repeated_external_task_id_is_refused_and_the_list_finds_the_first(env: KlingEnv) -> None:
    first = env.create(external_task_id="same")
    assert "already exists" in _error(env.post(T2V, {"prompt": "again", "external_task_id": "same"}), 400, 1201)
    others = [env.create()["task_id"] for _ in range(3)]
    env.create(I2V, image="https://example.com/a.png")
    page = env.get(T2V, pageNum=1, pageSize=2).get_json()["data"]
    assert [task["task_id"] for task in page] == others[:-3:-1]  # newest first, text2video only
    rest = env.get(T2V, pageNum=2, pageSize=2).get_json()["data"]
    assert [task["task_info"] for task in rest] == [{}, {"external_task_id": "same"}]
    assert rest[1]["task_id"] == first["task_id"]
    assert env.get(T2V, pageNum=3, pageSize=2).get_json()["data"] == []
    _error(env.get(T2V, pageSize=501), 400, 1201)


def test_parallel_tasks_over_the_resource_pack_get_1303(monkeypatch: pytest.MonkeyPatch, env: KlingEnv) -> None:
    monkeypatch.setenv("VIDGATE_SIM_KLING_CONCURRENCY", "1")
    client = create_app(env.sim).test_client()
    assert client.post(T2V, json={"prompt": "p"}, headers=env.auth()).status_code == 200
    assert "parallel task" in _error(client.post(T2V, json={"prompt": "q"}, headers=env.auth()), 429, 1303)
    env.clock.advance(10)  # the first one ends and frees its slot
    assert client.post(T2V, json={"prompt": "q"}, headers=env.auth()).status_code == 200


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("rate_limit", 429, 1302), ("server_error", 500, 5000), ("unavailable", 503, 5001), ("timeout", 504, 5002)])
def test_request_faults_answer_with_klings_codes(env: KlingEnv, kind: str, status: int, code: int) -> None:
    env.sim.faults.add("kling", "create", kind, **({"retry_after": 3} if kind == "rate_limit" else {}))
    response = env.post(T2V, {"prompt": "p"})
    _error(response, status, code)
    if kind == "rate_limit":
        assert response.headers["Retry-After"] == "3"
    if kind == "timeout":
        assert env.sleeps.calls == [30.0]
    assert env.sim.jobs.list("kling") == [] and env.create()["task_status"] == "submitted"


def test_poll_faults_and_malformed_answers(env: KlingEnv) -> None:
    task_id = env.create()["task_id"]
    env.sim.faults.add("kling", "poll", "rate_limit")
    env.sim.faults.add("kling", "poll", "malformed")
    _error(env.get(f"{T2V}/{task_id}"), 429, 1302)
    assert env.get(f"{T2V}/{task_id}").headers["Content-Type"].startswith("text/html")
    assert env.get(f"{T2V}/{task_id}").get_json()["code"] == 0


@pytest.mark.parametrize(("kind", "message"), [
    ("moderation", "Failure to pass the risk control system"), ("fail_job", "internal error")])
def test_failed_tasks_carry_task_status_msg(env: KlingEnv, kind: str, message: str) -> None:
    env.sim.faults.add("kling", "create", kind)
    task_id = env.create()["task_id"]
    env.clock.advance(10)
    data = env.get(f"{T2V}/{task_id}").get_json()["data"]
    assert data["task_status"] == "failed" and message in data["task_status_msg"] and "task_result" not in data


def test_result_urls_expire_and_a_fresh_poll_renews_them(env: KlingEnv) -> None:
    env.sim.settings.update({"url_ttl": 60})
    task_id = env.create()["task_id"]
    env.clock.advance(10)
    url = env.get(f"{T2V}/{task_id}").get_json()["data"]["task_result"]["videos"][0]["url"]
    env.clock.advance(61)
    expired = env.client.get(url)
    assert expired.status_code == 403 and b"expired" in expired.data
    fresh = env.get(f"{T2V}/{task_id}").get_json()["data"]["task_result"]["videos"][0]["url"]
    assert env.client.get(fresh).status_code == 200
    forged = fresh.replace("sig=", "sig=0")
    assert env.client.get(forged).status_code == 403


def test_unknown_paths_answer_in_klings_envelope(env: KlingEnv) -> None:
    _error(env.post("/kling/v1/videos/lipsync", {}), 404, 1202)
