"""Seedance through the gateway: the real steps against the Ark simulator over HTTP, submission to stored file."""
from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.extensions import storage
from simulators import media
from tests.conftest import Sim
from tests.workers.test_steps import load, run_until
from workers import steps

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_DATA_URL = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
PRO = "doubao-seedance-1-0-pro-250528"


def submit(client: FlaskClient, auth: dict[str, str], route: str = "/v1/video/generations", **body: Any) -> int:
    response = client.post(route, json={"model": PRO, "prompt": "a fox", **body}, headers=auth)
    assert response.status_code == 200, response.json
    return load(response.json["id"]).id


def stats(sim: Sim) -> dict[str, Any]:
    return sim.state.stats.snapshot(sim.state.jobs, sim.state.clock(), ("seedance",))["seedance"]


@pytest.mark.parametrize(("route", "fields", "expected"), [
    ("/v1/video/generations", {"duration": 10, "aspect_ratio": "21:9", "resolution": "1080p", "seed": 3},
     {"duration": 10, "ratio": "21:9", "resolution": "1080p", "seed": 3}),
    ("/v1/videos", {"seconds": "5", "size": "1280x720", "metadata": {"camera_fixed": True}},
     {"duration": 5, "ratio": "16:9", "resolution": "720p", "camera_fixed": True}),
])
def test_a_generation_goes_from_submission_to_a_stored_file(
    client: FlaskClient, auth: dict[str, str], sim: Sim, route: str, fields: dict[str, Any],
    expected: dict[str, Any]
) -> None:
    task = run_until(submit(client, auth, route, **fields), ("completed", "failed"))
    assert task.state == "completed", task.error_message
    assert (task.vendor, task.upstream_model) == ("seedance", PRO)
    assert task.sha256 == media.video_sha256(task.upstream_id)
    handle, size = storage.open(task.storage_key)
    with handle:
        assert size == task.size_bytes and handle.read(8)[4:8] == b"ftyp"
    job = sim.state.jobs.get("seedance", task.upstream_id)
    assert (job.model, job.prompt) == (PRO, "a fox")
    assert {key: job.params[key] for key in expected} == expected
    assert stats(sim)["submissions"] == 1


def test_frames_and_reference_images_reach_ark_as_content_parts(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    first = f"{sim.url}/img/head.png"
    framed = run_until(submit(client, auth, image=first, last_image=PNG_DATA_URL), ("running", "failed"))
    images = sim.state.jobs.get("seedance", framed.upstream_id).params["images"]
    assert images[0] == {"role": "first_frame", "url": first}
    assert (images[1]["role"], images[1]["bytes"]) == ("last_frame", len(PNG))
    refs = [f"{sim.url}/img/ref-1.png", f"{sim.url}/img/ref-2.png"]
    referenced = run_until(submit(client, auth, model="doubao-seedance-1-0-lite-i2v-250428",
                                  prompt="A @Image1 walking in the style of @Image2", reference_image_urls=refs),
                           ("completed", "failed"))
    assert referenced.state == "completed", referenced.error_message
    params = sim.state.jobs.get("seedance", referenced.upstream_id).params
    assert params["images"] == [{"role": "reference_image", "url": url} for url in refs]


def test_a_submission_rate_limited_by_ark_is_retried_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.faults.add("seedance", "create", "rate_limit", retry_after=2)
    task_id = submit(client, auth)
    before = time.time()
    steps.submit(task_id)
    task = load(task_id)
    assert task.state == "pending" and task.submit_attempts == 1 and task.upstream_id is None
    assert task.next_action_at >= before + 2  # Retry-After honoured
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(task.upstream_id)
    assert (stats(sim)["create_requests"], stats(sim)["submissions"]) == (2, 1)


def test_a_moderated_output_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.faults.add("seedance", "create", "moderation")
    task = run_until(submit(client, auth), ("completed", "failed"))
    assert (task.state, task.error_code) == ("failed", "content_policy")
    assert "OutputVideoSensitiveContentDetected" in task.error_message


def test_an_expired_result_link_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.settings.update({"url_ttl": 0})  # the link handed out by the next poll is already dead
    task_id = submit(client, auth)
    run_until(task_id, ("downloading",))
    sim.state.settings.update({"url_ttl": 3600})
    steps.download(task_id)
    task = load(task_id)
    assert task.state == "running" and task.download_attempts == 1 and task.storage_key is None
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(task.upstream_id)


def test_deleting_a_queued_task_cancels_it_at_ark(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.settings.update({"job_seconds": "60"})  # queued for the first 6 s
    task = run_until(submit(client, auth), ("running",))
    assert client.delete(f"/v1/videos/{task.public_id}", headers=auth).status_code == 200
    steps.cleanup(task.id)
    answer = sim.state.jobs.get("seedance", task.upstream_id)
    assert answer.cancelled and stats(sim)["in_flight"] == 0


@pytest.mark.parametrize(("fields", "param"), [
    ({"duration": 7}, "seconds"),
    ({"negative_prompt": "blurry"}, "negative_prompt"),
    ({"n": 2}, "n"),
    ({"resolution": "4k"}, "resolution"),
    ({"size": "640x100"}, "size"),
    ({"model": "doubao-seedance-1-0-lite-t2v-250428", "image": PNG_DATA_URL}, "image"),
    ({"model": "doubao-seedance-1-0-lite-i2v-250428"}, "image"),
    ({"model": "doubao-seedance-1-0-pro-fast-251015", "image": PNG_DATA_URL, "last_image": PNG_DATA_URL},
     "last_image"),
    ({"reference_image_urls": [PNG_DATA_URL, PNG_DATA_URL]}, "reference_image_urls"),
])
def test_what_the_model_cannot_do_is_refused_at_submission(
    client: FlaskClient, auth: dict[str, str], sim: Sim, fields: dict[str, Any], param: str
) -> None:
    response = client.post("/v1/videos", json={"model": PRO, "prompt": "a fox", **fields}, headers=auth)
    assert response.status_code == 400, response.json
    assert response.json["error"]["param"] == param
    assert stats(sim)["create_requests"] == 0
