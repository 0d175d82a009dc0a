"""Kling through the gateway: real steps against the Kling simulator over HTTP, from submission to a stored file."""
from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import storage
from app.models import Task
from simulators import media
from simulators.core import Job
from tests.conftest import Sim, make_settings, prepared_app
from tests.workers.test_steps import create_video, load, run_until
from workers import steps
from workers.vendors import http

# The simulator's default secret is short; PyJWT warns about short HMAC keys, which is not under test here.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def app(tmp_path: Path, sim: Sim) -> Flask:
    """The gateway, taking example.com image URLs without resolving them (the tests have no network)."""
    allowed = f"{sim.url.split('//', 1)[1]},example.com"
    return prepared_app(make_settings(tmp_path / "instance", sim.url, VIDGATE_ALLOW_PRIVATE_HOSTS=allowed))


def generate(client: FlaskClient, auth: dict[str, str], **body: object) -> int:
    response = client.post("/v1/video/generations", json={"model": "kling-video", "prompt": "a fox", **body},
                           headers=auth)
    assert response.status_code == 200, response.json
    return load(response.json["id"]).id


def upstream_job(sim: Sim, task: Task) -> Job:
    endpoint, _, task_id = (task.upstream_id or "").partition("/")
    job = sim.state.jobs.get("kling", task_id)
    assert job is not None and job.params["endpoint"] == endpoint
    return job


def stats(sim: Sim) -> dict[str, object]:
    return sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["kling"]


def test_unified_text_to_video_ends_as_a_stored_file(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task_id = generate(client, auth, duration=10, aspect_ratio="9:16", resolution="1080p",
                       extra_body={"cfg_scale": 0.3})
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.upstream_id.startswith("text2video/")
    job = upstream_job(sim, task)
    assert task.sha256 == media.video_sha256(job.id)
    assert job.model == "kling-v2-5-turbo" and job.params["external_task_id"] == task.submit_key
    assert (job.params["duration"], job.params["aspect_ratio"], job.params["mode"]) == ("10", "9:16", "pro")
    assert job.params["extra"] == {"cfg_scale": 0.3}
    handle, size = storage.open(task.storage_key)
    with handle:
        assert size == task.size_bytes and handle.read(8)[4:8] == b"ftyp"
    shown = client.get(f"/v1/video/generations/{task.public_id}", headers=auth).json
    assert (shown["status"], shown["progress"], shown["format"]) == ("completed", 100, "mp4")


def test_openai_videos_route_reaches_kling_too(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = run_until(create_video(client, auth, model="kling-video", seconds="5"), ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(upstream_job(sim, task).id)


def test_frames_go_to_image2video_as_url_and_raw_base64(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    first = "https://example.com/head.png"
    last = "data:image/png;base64," + base64.b64encode(PNG).decode()
    task = run_until(generate(client, auth, model="kling-v2-1", image=first, last_image=last), ("completed", "failed"))
    assert task.state == "completed" and task.upstream_id.startswith("image2video/")
    job = upstream_job(sim, task)
    assert job.params["image"] == first
    assert job.params["image_tail"] == f"base64:{len(base64.b64encode(PNG))}"  # raw base64, no data: prefix
    assert task.sha256 == media.video_sha256(job.id)


def test_a_submission_rate_limited_with_1302_is_retried(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.faults.add("kling", "create", "rate_limit", retry_after=2)
    task_id = generate(client, auth)
    before = time.time()
    steps.submit(task_id)
    task = load(task_id)
    assert (task.state, task.submit_attempts, task.upstream_id) == ("pending", 1, None)
    assert task.next_action_at >= before + 2  # Retry-After honoured
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(upstream_job(sim, task).id)
    assert (stats(sim)["create_requests"], stats(sim)["submissions"]) == (2, 1)


def test_a_moderated_task_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.faults.add("kling", "create", "moderation")
    task = run_until(generate(client, auth), ("completed", "failed"))
    assert task.state == "failed" and task.error_code == "content_policy"
    assert task.error_message == "Failure to pass the risk control system"


def test_an_expired_result_url_is_polled_again(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.settings.update({"url_ttl": 0})
    task_id = generate(client, auth)
    run_until(task_id, ("downloading",))
    steps.download(task_id)
    task = load(task_id)
    assert (task.state, task.download_attempts, task.storage_key) == ("running", 1, None)
    sim.state.settings.update({"url_ttl": 3600})
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(upstream_job(sim, task).id)


def test_an_unanswered_submission_is_found_by_external_task_id(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "READ_TIMEOUT", 0.3)
    sim.state.faults.add("kling", "create", "accept_then_timeout", seconds=1)
    task_id = generate(client, auth)
    steps.submit(task_id)
    assert load(task_id).state == "submitting"  # it may have reached Kling: held, not resubmitted blindly
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and stats(sim)["submissions"] == 1 and stats(sim)["create_requests"] == 1


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
    response = client.post("/v1/video/generations", headers=auth,
                           json={"model": "kling-video", "prompt": "a fox", **body})
    assert response.status_code == 400, response.json
    assert (response.json["error"]["param"], response.json["error"]["code"]) == (param, "unsupported_value")


def test_klings_own_dialect_reaches_kling_with_our_external_task_id(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    response = client.post("/kling/v1/videos/text2video", headers=auth, json={
        "prompt": "a fox", "duration": "5", "mode": "std", "cfg_scale": 0.5, "external_task_id": "client-42"})
    assert response.status_code == 200, response.json
    task = run_until(load(response.json["data"]["task_id"]).id, ("completed", "failed"))
    job = upstream_job(sim, task)
    assert task.state == "completed" and job.model == "kling-v1"  # the dialect's default model
    assert job.params["external_task_id"] == task.submit_key != "client-42"
    assert (job.params["mode"], job.params["extra"]) == ("std", {"cfg_scale": 0.5})
