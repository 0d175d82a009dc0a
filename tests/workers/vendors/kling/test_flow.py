"""Kling through the gateway: real steps against the Kling simulator over HTTP, from submission to a stored file."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.models import Task
from simulators.core import Job
from tests.conftest import Sim
from tests.workers.test_steps import create_video, load, run_until
from tests.workers.vendors import flow
from tests.workers.vendors.flow import ENDED, assert_completed, assert_stored
from workers import steps
from workers.vendors import http

# The simulator's default secret is short; PyJWT warns about short HMAC keys, which is not under test here.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


# Our upstream id is "<endpoint>/<task_id>": the simulator knows the job by its task id.
KLING = flow.Upstream("kling", job_id=lambda upstream_id: upstream_id.partition("/")[2])


@pytest.fixture
def app(tmp_path: Path, sim: Sim) -> Flask:
    return flow.app_allowing(tmp_path, sim, "example.com")


def generate(client: FlaskClient, auth: dict[str, str], **body: object) -> int:
    return flow.generate(client, auth, {"model": "kling-video", "prompt": "a fox", **body})


def upstream_job(sim: Sim, task: Task) -> Job:
    job = KLING.job(sim, task)
    assert job.params["endpoint"] == (task.upstream_id or "").partition("/")[0]
    return job


def test_unified_text_to_video_ends_as_a_stored_file(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task_id = generate(client, auth, duration=10, aspect_ratio="9:16", resolution="1080p",
                       extra_body={"cfg_scale": 0.3})
    task = run_until(task_id, ENDED)
    assert_completed(task, KLING)
    assert task.upstream_id.startswith("text2video/")
    job = upstream_job(sim, task)
    assert job.model == "kling-v2-5-turbo" and job.params["external_task_id"] == task.submit_key
    assert (job.params["duration"], job.params["aspect_ratio"], job.params["mode"]) == ("10", "9:16", "pro")
    assert job.params["extra"] == {"cfg_scale": 0.3}
    assert_stored(task)
    shown = client.get(f"/v1/video/generations/{task.public_id}", headers=auth).json
    assert (shown["status"], shown["progress"], shown["format"]) == ("completed", 100, "mp4")


def test_openai_videos_route_reaches_kling_too(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = run_until(create_video(client, auth, model="kling-video", seconds="5"), ENDED)
    assert_completed(task, KLING)
    upstream_job(sim, task)  # made on the endpoint its id names


def test_frames_go_to_image2video_as_url_and_raw_base64(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    first = "https://example.com/head.png"
    last = "data:image/png;base64," + base64.b64encode(PNG).decode()
    task = run_until(generate(client, auth, model="kling-v2-1", image=first, last_image=last), ENDED)
    assert_completed(task, KLING)
    assert task.upstream_id.startswith("image2video/")
    job = upstream_job(sim, task)
    assert job.params["image"] == first
    assert job.params["image_tail"] == f"base64:{len(base64.b64encode(PNG))}"  # raw base64, no data: prefix


def test_a_submission_rate_limited_with_1302_is_retried(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.rate_limited_then_recovers(sim, KLING, generate(client, auth), retry_after=2)
    upstream_job(sim, task)  # made on the endpoint its id names


def test_a_moderated_task_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.moderated(sim, KLING, generate(client, auth))
    assert task.error_message == "Failure to pass the risk control system"


def test_an_expired_result_url_is_polled_again(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.expired_link_then_recovers(sim, KLING, generate(client, auth))
    upstream_job(sim, task)  # made on the endpoint its id names


def test_an_unanswered_submission_is_found_by_external_task_id(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "READ_TIMEOUT", 0.3)
    sim.state.faults.add("kling", "create", "accept_then_timeout", seconds=1)
    task_id = generate(client, auth)
    steps.submit([task_id])
    assert load(task_id).state == "submitting"  # it may have reached Kling: held, not resubmitted blindly
    task = run_until(task_id, ENDED)
    stats = KLING.stats(sim)
    assert task.state == "completed" and stats["submissions"] == 1 and stats["create_requests"] == 1


@pytest.mark.parametrize(("body", "param"), [
    ({"duration": 7}, "duration"),
    ({"n": 2}, "n"),
    ({"seed": 1}, "seed"),
    ({"aspect_ratio": "4:3"}, "aspect_ratio"),
    ({"model": "kling-v2-1"}, "image"),  # image-to-video only
    ({"reference_image_urls": ["https://example.com/a.png"]}, "reference_image_urls"),
])
def test_what_kling_cannot_do_is_a_400_naming_the_field(client: FlaskClient, auth: dict[str, str],
                                                        body: dict[str, object], param: str) -> None:
    error = flow.refused(client, auth, {"model": "kling-video", "prompt": "a fox", **body})
    assert (error["param"], error["code"]) == (param, "unsupported_value")


def test_klings_own_dialect_reaches_kling_with_our_external_task_id(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    response = client.post("/kling/v1/videos/text2video", headers=auth, json={
        "prompt": "a fox", "duration": "5", "mode": "std", "cfg_scale": 0.5, "external_task_id": "client-42"})
    assert response.status_code == 200, response.json
    task = run_until(load(response.json["data"]["task_id"]).id, ENDED)
    job = upstream_job(sim, task)
    assert task.state == "completed" and job.model == "kling-v1"  # the dialect's default model
    assert job.params["external_task_id"] == task.submit_key != "client-42"
    assert (job.params["mode"], job.params["extra"]) == ("std", {"cfg_scale": 0.5})
