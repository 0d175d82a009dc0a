"""Veo through the gateway: real steps against the Veo simulator over HTTP, from submission to a stored file."""
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


def job_of(upstream_id: str | None) -> str:
    """The simulator's job id: the upstream id is the operation's name, `models/{model}/operations/{id}`."""
    assert upstream_id and "/operations/" in upstream_id
    return upstream_id.rsplit("/", 1)[1]


VEO = flow.Upstream("veo", job_id=job_of)


def generate(client: FlaskClient, auth: dict[str, str], **body: object) -> int:
    return flow.generate(client, auth, {"prompt": "a heron takes off", **body})


def test_a_unified_submission_ends_as_a_stored_file(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = run_until(generate(client, auth, model="veo3.1-pro", aspect_ratio="9:16"), ENDED)
    assert_completed(task, VEO)
    assert task.upstream_id.startswith("models/veo-3.1-generate-preview/operations/")
    job = VEO.job(sim, task)
    assert (job.params["aspectRatio"], job.params["resolution"], job.params["durationSeconds"]) == ("9:16", "1080p", 8)
    assert_stored(task)
    status = client.get(f"/v1/video/generations/{task.public_id}", headers=auth).json
    assert status["status"] == "completed" and status["model"] == "veo3.1-pro"


def test_an_openai_dialect_submission_sends_its_image_inline(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    task = run_until(create_video(client, auth, model="veo3-fast-frames", seconds="6", input_reference=DATA_URL),
                     ENDED)
    assert_completed(task, VEO)
    job = VEO.job(sim, task)
    assert job.model == "veo-3.0-fast-generate-001"
    assert job.params["images"] == {"image": {"mimeType": "image/png", "bytes": len(PNG)}}
    assert job.params["durationSeconds"] == 6 and job.prompt == "a fox"


def test_a_rate_limited_submission_waits_and_completes(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    flow.rate_limited_then_recovers(sim, VEO, generate(client, auth, model="veo3"), retry_after=30)


def test_an_rai_block_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.moderated(sim, VEO, generate(client, auth, model="veo3.1-fast"))
    assert "Responsible AI" in task.error_message


def test_an_expired_file_uri_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    flow.expired_link_then_recovers(sim, VEO, generate(client, auth, model="veo3"))


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
    assert flow.refused(client, auth, {"prompt": "p", **body})["param"] == param
    assert sim.state.jobs.list("veo") == []
