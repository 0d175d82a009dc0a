"""Jimeng through the gateway: the real steps against the signed Jimeng simulator over HTTP, to a stored file."""
from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Sim
from tests.workers.test_steps import load, run_until
from tests.workers.vendors import flow
from tests.workers.vendors.flow import ENDED, GENERATIONS, assert_completed, assert_stored

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_DATA_URL = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"


def job_id(upstream_id: str | None) -> str:
    """The simulator's task id: the upstream id is `<req_key>:<task_id>`."""
    return (upstream_id or "").partition(":")[2]


JIMENG = flow.Upstream("jimeng", job_id=job_id)


def submit(client: FlaskClient, auth: dict[str, str], route: str = GENERATIONS, **body: Any) -> int:
    return flow.generate(client, auth, {"model": "jimeng-video-3.0", "prompt": "a fox", **body}, route)


@pytest.mark.parametrize(("route", "fields", "req_key", "frames"), [
    ("/v1/video/generations", {"duration": 10, "aspect_ratio": "21:9"}, "jimeng_t2v_v30", 241),
    ("/v1/videos", {"model": "jimeng-video-3.0-1080p", "seconds": "5", "size": "1920x1080"},
     "jimeng_t2v_v30_1080p", 121),
])
def test_a_generation_goes_from_submission_to_a_stored_file(
    client: FlaskClient, auth: dict[str, str], sim: Sim, route: str, fields: dict[str, Any], req_key: str, frames: int
) -> None:
    task = run_until(submit(client, auth, route, **fields), ENDED)
    assert_completed(task, JIMENG)
    assert task.vendor == "jimeng" and task.upstream_id.startswith(f"{req_key}:")
    assert_stored(task)
    job = JIMENG.job(sim, task)
    assert (job.model, job.prompt, job.params["frames"]) == (req_key, "a fox", frames)
    assert JIMENG.stats(sim)["submissions"] == 1


def test_images_pick_the_req_key_and_travel_as_urls_or_bytes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    first, last = f"{sim.url}/img/first.png", f"{sim.url}/img/last.png"
    by_url = run_until(submit(client, auth, image=first, last_image=last), ("running", "failed"))
    assert by_url.upstream_id.startswith("jimeng_i2v_first_tail_v30:")
    assert JIMENG.job(sim, by_url).params["images"] == [{"url": first}, {"url": last}]
    by_bytes = run_until(submit(client, auth, model="jimeng-video-3.0-pro", image=PNG_DATA_URL), ENDED)
    assert by_bytes.state == "completed", by_bytes.error_message
    assert by_bytes.upstream_id.startswith("jimeng_ti2v_v30_pro:")
    images = JIMENG.job(sim, by_bytes).params["images"]
    assert [image["bytes"] for image in images] == [len(PNG)]


def test_the_jimeng_dialect_routes_a_req_key_to_jimeng(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    response = client.post("/jimeng/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31", headers=auth,
                           json={"req_key": "jimeng_i2v_first_v30", "image_urls": [f"{sim.url}/img/a.png"],
                                 "frames": 241})
    assert response.status_code == 200, response.json
    task = run_until(load(response.json["data"]["task_id"]).id, ENDED)
    assert task.state == "completed" and task.upstream_id.startswith("jimeng_i2v_first_v30:")
    assert JIMENG.job(sim, task).params["frames"] == 241


def test_a_submission_rate_limited_with_50429_is_retried_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    flow.rate_limited_then_recovers(sim, JIMENG, submit(client, auth), retry_after=2)


def test_a_moderated_output_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.moderated(sim, JIMENG, submit(client, auth))
    assert "Post Video Risk Not Pass" in task.error_message and "50516" in task.error_message


def test_an_expired_result_link_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    task = flow.expired_link_then_recovers(sim, JIMENG, submit(client, auth))
    assert JIMENG.stats(sim)["polls"][job_id(task.upstream_id)] >= 2


@pytest.mark.parametrize(("fields", "param"), [
    ({"duration": 7}, "seconds"),
    ({"negative_prompt": "blurry"}, "negative_prompt"),
    ({"n": 2}, "n"),
    ({"image": PNG_DATA_URL, "aspect_ratio": "16:9"}, "aspect_ratio"),
    ({"reference_image_urls": [PNG_DATA_URL, PNG_DATA_URL]}, "reference_image_urls"),
    ({"model": "jimeng-video-3.0-1080p", "resolution": "720p"}, "resolution"),
    ({"model": "jimeng_t2v_v30", "image": PNG_DATA_URL}, "image"),
])
def test_what_jimeng_cannot_do_is_refused_at_submission(
    client: FlaskClient, auth: dict[str, str], sim: Sim, fields: dict[str, Any], param: str
) -> None:
    assert flow.refused(client, auth, {"model": "jimeng-video-3.0", "prompt": "a fox", **fields})["param"] == param
    assert JIMENG.stats(sim)["create_requests"] == 0
