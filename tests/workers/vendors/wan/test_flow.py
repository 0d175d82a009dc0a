"""Wan through the gateway: real steps against the DashScope simulator over HTTP, from submission to a stored file."""
from __future__ import annotations

import base64
import time

import pytest
from flask.testing import FlaskClient

from app.extensions import storage
from simulators import media
from tests.conftest import Sim
from tests.workers.test_steps import create_video, load, run_until
from workers import steps

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def generate(client: FlaskClient, auth: dict[str, str], **body: object) -> int:
    response = client.post("/v1/video/generations", json={"prompt": "a paper crane unfolds", **body}, headers=auth)
    assert response.status_code == 200, response.json
    return load(response.json["id"]).id


def test_a_unified_submission_ends_as_a_stored_file(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = run_until(generate(client, auth, model="wan2.5-t2v-preview", aspect_ratio="9:16", resolution="720p",
                              duration=10, extra_body={"prompt_extend": False}), ("completed", "failed"))
    assert task.state == "completed", task.error_message
    job = sim.state.jobs.get("wan", task.upstream_id)
    assert job is not None and (job.params["size"], job.params["duration"]) == ("720*1280", 10)
    assert task.sha256 == media.video_sha256(job.id)
    handle, size = storage.open(task.storage_key)
    with handle:
        assert size == task.size_bytes and handle.read(8)[4:8] == b"ftyp"
    status = client.get(f"/v1/video/generations/{task.public_id}", headers=auth).json
    assert status["status"] == "completed" and status["model"] == "wan2.5-t2v-preview"


def test_first_and_last_frames_go_as_a_url_and_a_data_url(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    first = f"{sim.url}/wan/first.png"  # never fetched by the gateway: Wan takes URLs as they are
    task = run_until(create_video(client, auth, model="wan2.2-kf2v-flash", image=first, last_image=DATA_URL,
                                  resolution="480p"), ("completed", "failed"))
    assert task.state == "completed", task.error_message
    job = sim.state.jobs.get("wan", task.upstream_id)
    assert job is not None and job.params["resolution"] == "480P"
    assert job.params["images"] == {"first_frame_url": first, "last_frame_url": "data-url"}
    assert task.sha256 == media.video_sha256(job.id)


def test_a_rate_limited_submission_waits_and_completes(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.faults.add("wan", "create", "rate_limit", retry_after=30)
    task_id = generate(client, auth, model="wan2.2-t2v-plus")
    before = time.time()
    steps.submit(task_id)
    task = load(task_id)
    assert task.state == "pending" and task.upstream_id is None and task.next_action_at >= before + 29
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(task.upstream_id)
    assert sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["wan"]["create_requests"] == 2


def test_a_moderated_output_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.faults.add("wan", "create", "moderation")
    task = run_until(generate(client, auth, model="wanx2.1-t2v-turbo"), ("completed", "failed"))
    assert task.state == "failed" and task.error_code == "content_policy"
    assert "inappropriate" in task.error_message


def test_an_expired_video_url_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    task_id = generate(client, auth, model="wan2.5-t2v-preview")
    sim.state.settings.update({"url_ttl": 0})
    try:
        run_until(task_id, ("downloading",))  # the poll that ended it handed out an already expired link
    finally:
        sim.state.settings.update({"url_ttl": 3600})
    steps.download(task_id)
    task = load(task_id)
    assert task.state == "running" and task.download_attempts == 1 and task.storage_key is None
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(task.upstream_id)


def test_deleting_a_queued_task_cancels_it_upstream(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    task = run_until(generate(client, auth, model="wan2.5-t2v-preview"), ("running",))
    assert client.delete(f"/v1/videos/{task.public_id}", headers=auth).status_code == 200
    steps.cleanup(task.id)
    job = sim.state.jobs.get("wan", task.upstream_id)
    assert job is not None and job.cancelled


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "wan2.2-t2v-plus", "duration": 10}, "seconds"),
    ({"model": "wan2.2-t2v-plus", "size": "1280x720"}, "size"),
    ({"model": "wan2.5-t2v-preview", "image": DATA_URL}, "image"),
    ({"model": "wan2.5-i2v-preview"}, "image"),
    ({"model": "wan2.5-i2v-preview", "image": DATA_URL, "aspect_ratio": "16:9"}, "aspect_ratio"),
    ({"model": "wan2.2-i2v-flash", "image": DATA_URL, "last_image": DATA_URL}, "last_image"),
    ({"model": "wan2.5-t2v-preview", "n": 2}, "n"),
])
def test_what_wan_cannot_do_is_refused_at_submission(
    client: FlaskClient, auth: dict[str, str], sim: Sim, body: dict[str, object], param: str
) -> None:
    response = client.post("/v1/video/generations", json={"prompt": "p", **body}, headers=auth)
    assert response.status_code == 400, response.json
    assert response.json["error"]["param"] == param
    assert sim.state.jobs.list("wan") == []
