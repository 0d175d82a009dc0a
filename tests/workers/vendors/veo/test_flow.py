"""Veo through the gateway: real steps against the Veo simulator over HTTP, from submission to a stored file."""
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
    response = client.post("/v1/video/generations", json={"prompt": "a heron takes off", **body}, headers=auth)
    assert response.status_code == 200, response.json
    return load(response.json["id"]).id


def job_of(upstream_id: str | None) -> str:
    assert upstream_id and "/operations/" in upstream_id
    return upstream_id.rsplit("/", 1)[1]


def test_a_unified_submission_ends_as_a_stored_file(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = run_until(generate(client, auth, model="veo3.1-pro", aspect_ratio="9:16"), ("completed", "failed"))
    assert task.state == "completed", task.error_message
    assert task.upstream_id.startswith("models/veo-3.1-generate-preview/operations/")
    job = sim.state.jobs.get("veo", job_of(task.upstream_id))
    assert job is not None
    assert (job.params["aspectRatio"], job.params["resolution"], job.params["durationSeconds"]) == ("9:16", "1080p", 8)
    assert task.sha256 == media.video_sha256(job.id)
    handle, size = storage.open(task.storage_key)
    with handle:
        assert size == task.size_bytes and handle.read(8)[4:8] == b"ftyp"
    status = client.get(f"/v1/video/generations/{task.public_id}", headers=auth).json
    assert status["status"] == "completed" and status["model"] == "veo3.1-pro"


def test_an_openai_dialect_submission_sends_its_image_inline(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    task = run_until(create_video(client, auth, model="veo3-fast-frames", seconds="6", input_reference=DATA_URL),
                     ("completed", "failed"))
    assert task.state == "completed", task.error_message
    job = sim.state.jobs.get("veo", job_of(task.upstream_id))
    assert job is not None and job.model == "veo-3.0-fast-generate-001"
    assert job.params["images"] == {"image": {"mimeType": "image/png", "bytes": len(PNG)}}
    assert job.params["durationSeconds"] == 6 and job.prompt == "a fox"
    assert task.sha256 == media.video_sha256(job.id)


def test_a_rate_limited_submission_waits_and_completes(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.faults.add("veo", "create", "rate_limit", retry_after=30)
    task_id = generate(client, auth, model="veo3")
    before = time.time()
    steps.submit(task_id)
    task = load(task_id)
    assert task.state == "pending" and task.upstream_id is None and task.next_action_at >= before + 29
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(job_of(task.upstream_id))
    assert sim.state.stats.snapshot(sim.state.jobs, sim.state.clock())["veo"]["create_requests"] == 2


def test_an_rai_block_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.faults.add("veo", "create", "moderation")
    task = run_until(generate(client, auth, model="veo3.1-fast"), ("completed", "failed"))
    assert task.state == "failed" and task.error_code == "content_policy"
    assert "Responsible AI" in task.error_message


def test_an_expired_file_uri_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    task_id = generate(client, auth, model="veo3")
    sim.state.settings.update({"url_ttl": 0})
    try:
        run_until(task_id, ("downloading",))  # the poll that ended it handed out an already expired URI
    finally:
        sim.state.settings.update({"url_ttl": 3600})
    steps.download(task_id)
    task = load(task_id)
    assert task.state == "running" and task.download_attempts == 1 and task.storage_key is None
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(job_of(task.upstream_id))


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "veo3", "duration": 5}, "seconds"),
    ({"model": "veo3", "image": DATA_URL, "last_image": DATA_URL}, "last_image"),
    ({"model": "veo3-frames"}, "image"),
    ({"model": "veo3.1-components"}, "reference_image_urls"),
    ({"model": "veo3.1-4k", "resolution": "1080p"}, "resolution"),
    ({"model": "veo3.1", "size": "1:1"}, "aspect_ratio"),
    ({"model": "veo3.1", "n": 2}, "n"),
    ({"model": "veo3.1", "seed": 42}, "seed"),
])
def test_what_veo_cannot_do_is_refused_at_submission(
    client: FlaskClient, auth: dict[str, str], sim: Sim, body: dict[str, object], param: str
) -> None:
    response = client.post("/v1/video/generations", json={"prompt": "p", **body}, headers=auth)
    assert response.status_code == 400, response.json
    assert response.json["error"]["param"] == param
    assert sim.state.jobs.list("veo") == []
