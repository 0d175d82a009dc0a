"""Wan through the gateway: real steps against the DashScope simulator over HTTP, from submission to a stored file."""
from __future__ import annotations

import base64

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sim
from tests.workers.test_steps import create_video, run_until
from tests.workers.vendors import flow
from tests.workers.vendors.flow import ENDED, assert_completed, assert_stored

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()

WAN = flow.Upstream("wan")


def generate(client: FlaskClient, auth: dict[str, str], **body: object) -> int:
    return flow.generate(client, auth, {"prompt": "a paper crane unfolds", **body})


def test_a_unified_submission_ends_as_a_stored_file(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = run_until(generate(client, auth, model="wan2.5-t2v-preview", aspect_ratio="9:16", resolution="720p",
                              duration=10, extra_body={"prompt_extend": False}), ENDED)
    assert_completed(task, WAN)
    job = WAN.job(sim, task)
    assert (job.params["size"], job.params["duration"]) == ("720*1280", 10)
    assert_stored(task)
    status = client.get(f"/v1/video/generations/{task.public_id}", headers=auth).json
    assert status["status"] == "completed" and status["model"] == "wan2.5-t2v-preview"


def test_first_and_last_frames_go_as_a_url_and_a_data_url(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    first = f"{sim.url}/wan/first.png"  # never fetched by the gateway: Wan takes URLs as they are
    task = run_until(create_video(client, auth, model="wan2.2-kf2v-flash", image=first, last_image=DATA_URL,
                                  resolution="480p"), ENDED)
    assert_completed(task, WAN)
    job = WAN.job(sim, task)
    assert job.params["resolution"] == "480P"
    assert job.params["images"] == {"first_frame_url": first, "last_frame_url": "data-url"}


def test_a_rate_limited_submission_waits_and_completes(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    flow.rate_limited_then_recovers(sim, WAN, generate(client, auth, model="wan2.2-t2v-plus"), retry_after=30)


def test_a_moderated_output_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.moderated(sim, WAN, generate(client, auth, model="wanx2.1-t2v-turbo"))
    assert "inappropriate" in task.error_message


def test_an_expired_video_url_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    flow.expired_link_then_recovers(sim, WAN, generate(client, auth, model="wan2.5-t2v-preview"))


def test_deleting_a_queued_task_cancels_it_upstream(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.deleted_while_running(client, auth, sim, generate(client, auth, model="wan2.5-t2v-preview"))
    assert WAN.job(sim, task).cancelled


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
    assert flow.refused(client, auth, {"prompt": "p", **body})["param"] == param
    assert sim.state.jobs.list("wan") == []
