"""Hailuo through the gateway: the real steps against the MiniMax simulator over HTTP, submission to stored file."""
from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.extensions import storage
from simulators import media
from tests.conftest import Sim
from tests.workers.test_steps import load, make_due, run_until
from workers import steps

JPEG_DATA_URL = f"data:image/jpeg;base64,{base64.b64encode(media.THUMBNAIL_BYTES).decode()}"


def submit(client: FlaskClient, auth: dict[str, str], route: str = "/v1/video/generations", **body: Any) -> int:
    response = client.post(route, json={"model": "hailuo-video", "prompt": "a fox", **body}, headers=auth)
    assert response.status_code == 200, response.json
    return load(response.json["id"]).id


def stats(sim: Sim) -> dict[str, Any]:
    return sim.state.stats.snapshot(sim.state.jobs, sim.state.clock(), ("hailuo",))["hailuo"]


@pytest.mark.parametrize(("route", "duration"), [
    ("/v1/video/generations", {"duration": 10}),
    ("/v1/videos", {"seconds": "10"}),
])
def test_a_generation_goes_from_submission_to_a_stored_file(
    client: FlaskClient, auth: dict[str, str], sim: Sim, route: str, duration: dict[str, Any]
) -> None:
    task_id = submit(client, auth, route, **duration)
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed", task.error_message
    assert (task.vendor, task.upstream_model) == ("hailuo", "MiniMax-Hailuo-2.3")
    assert task.sha256 == media.video_sha256(task.upstream_id)
    handle, size = storage.open(task.storage_key)
    with handle:
        assert size == task.size_bytes and handle.read(8)[4:8] == b"ftyp"
    job = sim.state.jobs.get("hailuo", task.upstream_id)
    assert (job.model, job.prompt, job.params["duration"]) == ("MiniMax-Hailuo-2.3", "a fox", 10)
    assert stats(sim)["submissions"] == 1
    shown = client.get(f"/v1/video/generations/{task.public_id}", headers=auth).json
    assert shown["status"] == "completed" and shown["url"]


def test_images_reach_minimax_as_urls_or_data_urls(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    stored = run_until(submit(client, auth, model="I2V-01-live", image=JPEG_DATA_URL), ("completed", "failed"))
    assert stored.state == "completed", stored.error_message
    assert sim.state.jobs.get("hailuo", stored.upstream_id).params["first_frame_image"] == JPEG_DATA_URL
    first, last = f"{sim.url}/img/first.png", f"{sim.url}/img/last.png"
    framed = run_until(submit(client, auth, model="MiniMax-Hailuo-02", image=first, last_image=last,
                              resolution="1080p", extra_body={"prompt_optimizer": False}), ("running",))
    params = sim.state.jobs.get("hailuo", framed.upstream_id).params
    assert (params["first_frame_image"], params["last_frame_image"]) == (first, last)
    assert (params["resolution"], params["prompt_optimizer"]) == ("1080P", False)
    subject = run_until(submit(client, auth, model="S2V-01", prompt="@Image1 surfing",
                               reference_image_urls=[JPEG_DATA_URL]), ("running",))
    assert sim.state.jobs.get("hailuo", subject.upstream_id).params["subject_reference"] == [
        {"type": "character", "image": [JPEG_DATA_URL]}]


def test_a_submission_rate_limited_with_1002_is_retried_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.faults.add("hailuo", "create", "rate_limit", retry_after=2)
    task_id = submit(client, auth)
    before = time.time()
    steps.submit(task_id)
    task = load(task_id)
    assert task.state == "pending" and task.submit_attempts == 1 and task.upstream_id is None
    assert task.next_action_at >= before + 2  # Retry-After honoured
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(task.upstream_id)
    assert (stats(sim)["create_requests"], stats(sim)["submissions"]) == (2, 1)


def test_moderation_fails_the_task_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    sim.state.faults.add("hailuo", "create", "moderation")
    task = run_until(submit(client, auth), ("completed", "failed"))
    assert task.state == "failed" and task.error_code == "content_policy" and "1027" in task.error_message


def test_an_expired_download_url_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    task_id = submit(client, auth)
    run_until(task_id, ("downloading",))
    sim.state.settings.update({"url_ttl": 0})
    try:
        make_due(task_id)
        steps.download(task_id)
    finally:
        sim.state.settings.update({"url_ttl": 3600})
    task = load(task_id)
    assert task.state == "running" and task.download_attempts == 1 and task.storage_key is None
    polls_before = stats(sim)["polls"][task.upstream_id]
    task = run_until(task_id, ("completed", "failed"))
    assert task.state == "completed" and task.sha256 == media.video_sha256(task.upstream_id)
    assert stats(sim)["polls"][task.upstream_id] > polls_before  # a fresh poll, then a fresh link
    assert len(sim.state.jobs.get("hailuo", task.upstream_id).served_sha256) == 1


@pytest.mark.parametrize(("body", "param"), [
    ({"duration": 10, "resolution": "1080p"}, "seconds"),
    ({"duration": 5}, "seconds"),
    ({"resolution": "720p"}, "resolution"),
    ({"n": 2}, "n"),
    ({"size": "1280x720"}, "size"),
    ({"aspect_ratio": "16:9"}, "aspect_ratio"),
    ({"negative_prompt": "blur"}, "negative_prompt"),
    ({"fps": 24}, "fps"),
    ({"model": "T2V-01", "image": JPEG_DATA_URL}, "image"),
    ({"model": "I2V-01"}, "image"),
    ({"model": "MiniMax-Hailuo-2.3-Fast"}, "image"),
    ({"model": "MiniMax-Hailuo-2.3", "image": JPEG_DATA_URL, "last_image": JPEG_DATA_URL}, "last_image"),
    ({"model": "S2V-01"}, "reference_image_urls"),
])
def test_what_minimax_cannot_do_is_refused_at_submission(
    client: FlaskClient, auth: dict[str, str], sim: Sim, body: dict[str, Any], param: str
) -> None:
    response = client.post("/v1/video/generations", json={"model": "hailuo-video", "prompt": "a fox", **body},
                           headers=auth)
    assert response.status_code == 400, response.json
    assert response.json["error"]["param"] == param
    assert stats(sim)["create_requests"] == 0
