"""Hailuo through the gateway: the real steps against the MiniMax simulator over HTTP, submission to stored file."""
from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient

from simulators import media
from tests.conftest import Sim
from tests.workers.test_steps import run_until
from tests.workers.vendors import flow
from tests.workers.vendors.flow import ENDED, GENERATIONS, assert_completed, assert_stored

JPEG_DATA_URL = f"data:image/jpeg;base64,{base64.b64encode(media.THUMBNAIL_BYTES).decode()}"

HAILUO = flow.Upstream("hailuo")


def submit(client: FlaskClient, auth: dict[str, str], route: str = GENERATIONS, **body: Any) -> int:
    return flow.generate(client, auth, {"model": "hailuo-video", "prompt": "a fox", **body}, route)


@pytest.mark.parametrize(("route", "duration"), [
    ("/v1/video/generations", {"duration": 10}),
    ("/v1/videos", {"seconds": "10"}),
])
def test_a_generation_goes_from_submission_to_a_stored_file(
    client: FlaskClient, auth: dict[str, str], sim: Sim, route: str, duration: dict[str, Any]
) -> None:
    task_id = submit(client, auth, route, **duration)
    task = run_until(task_id, ENDED)
    assert_completed(task, HAILUO)
    assert (task.vendor, task.upstream_model) == ("hailuo", "MiniMax-Hailuo-2.3")
    assert_stored(task)
    job = HAILUO.job(sim, task)
    assert (job.model, job.prompt, job.params["duration"]) == ("MiniMax-Hailuo-2.3", "a fox", 10)
    assert HAILUO.stats(sim)["submissions"] == 1
    shown = client.get(f"/v1/video/generations/{task.public_id}", headers=auth).json
    assert shown["status"] == "completed" and shown["url"]


def test_images_reach_minimax_as_urls_or_data_urls(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    stored = run_until(submit(client, auth, model="I2V-01-live", image=JPEG_DATA_URL), ENDED)
    assert stored.state == "completed", stored.error_message
    assert HAILUO.job(sim, stored).params["first_frame_image"] == JPEG_DATA_URL
    first, last = f"{sim.url}/img/first.png", f"{sim.url}/img/last.png"
    framed = run_until(submit(client, auth, model="MiniMax-Hailuo-02", image=first, last_image=last,
                              resolution="1080p", extra_body={"prompt_optimizer": False}), ("running",))
    params = HAILUO.job(sim, framed).params
    assert (params["first_frame_image"], params["last_frame_image"]) == (first, last)
    assert (params["resolution"], params["prompt_optimizer"]) == ("1080P", False)
    subject = run_until(submit(client, auth, model="S2V-01", prompt="@Image1 surfing",
                               reference_image_urls=[JPEG_DATA_URL]), ("running",))
    assert HAILUO.job(sim, subject).params["subject_reference"] == [
        {"type": "character", "image": [JPEG_DATA_URL]}]


def test_a_submission_rate_limited_with_1002_is_retried_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    flow.rate_limited_then_recovers(sim, HAILUO, submit(client, auth), retry_after=2)


def test_moderation_fails_the_task_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.moderated(sim, HAILUO, submit(client, auth))
    assert "1027" in task.error_message


def test_an_expired_download_url_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    # MiniMax's link is made when the download asks for it, so it is that link which has expired.
    task = flow.expired_link_then_recovers(sim, HAILUO, submit(client, auth))
    assert len(HAILUO.job(sim, task).served_sha256) == 1


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
    assert flow.refused(client, auth, {"model": "hailuo-video", "prompt": "a fox", **body})["param"] == param
    assert HAILUO.stats(sim)["create_requests"] == 0
