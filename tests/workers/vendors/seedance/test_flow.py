"""Seedance through the gateway: the real steps against the Ark simulator over HTTP, submission to stored file."""
from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from app.channels import ChannelConfig
from app.extensions import db
from app.models import Task
from tests.conftest import Sim
from tests.workers.test_steps import load, run_until, running_tasks
from tests.workers.vendors import flow
from tests.workers.vendors.flow import ENDED, GENERATIONS, assert_completed, assert_stored
from workers import schedule, steps
from workers.vendors import get_adapter
from workers.vendors.base import PollResult

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PNG_DATA_URL = f"data:image/png;base64,{base64.b64encode(PNG).decode()}"
PRO = "doubao-seedance-1-0-pro-250528"

SEEDANCE = flow.Upstream("seedance")


def submit(client: FlaskClient, auth: dict[str, str], route: str = GENERATIONS, **body: Any) -> int:
    return flow.generate(client, auth, {"model": PRO, "prompt": "a fox", **body}, route)


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
    task = run_until(submit(client, auth, route, **fields), ENDED)
    assert_completed(task, SEEDANCE)
    assert (task.vendor, task.upstream_model) == ("seedance", PRO)
    assert_stored(task)
    job = SEEDANCE.job(sim, task)
    assert (job.model, job.prompt) == (PRO, "a fox")
    assert {key: job.params[key] for key in expected} == expected
    assert SEEDANCE.stats(sim)["submissions"] == 1


def test_frames_and_reference_images_reach_ark_as_content_parts(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    first = f"{sim.url}/img/head.png"
    framed = run_until(submit(client, auth, image=first, last_image=PNG_DATA_URL), ("running", "failed"))
    images = SEEDANCE.job(sim, framed).params["images"]
    assert images[0] == {"role": "first_frame", "url": first}
    assert (images[1]["role"], images[1]["bytes"]) == ("last_frame", len(PNG))
    refs = [f"{sim.url}/img/ref-1.png", f"{sim.url}/img/ref-2.png"]
    referenced = run_until(submit(client, auth, model="doubao-seedance-1-0-lite-i2v-250428",
                                  prompt="A @Image1 walking in the style of @Image2", reference_image_urls=refs),
                           ENDED)
    assert referenced.state == "completed", referenced.error_message
    params = SEEDANCE.job(sim, referenced).params
    assert params["images"] == [{"role": "reference_image", "url": url} for url in refs]


def test_a_submission_rate_limited_by_ark_is_retried_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    flow.rate_limited_then_recovers(sim, SEEDANCE, submit(client, auth), retry_after=2)


def test_a_moderated_output_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.moderated(sim, SEEDANCE, submit(client, auth))
    assert "OutputVideoSensitiveContentDetected" in task.error_message


def test_an_expired_result_link_is_polled_again_and_completes(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    flow.expired_link_then_recovers(sim, SEEDANCE, submit(client, auth))


def test_deleting_a_queued_task_cancels_it_at_ark(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.deleted_while_running(client, auth, sim, submit(client, auth))  # 60 s jobs: queued for 6 s
    assert SEEDANCE.job(sim, task).cancelled and SEEDANCE.stats(sim)["in_flight"] == 0


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
    assert flow.refused(client, auth, {"model": PRO, "prompt": "a fox", **fields}, "/v1/videos")["param"] == param
    assert SEEDANCE.stats(sim)["create_requests"] == 0


# --- polling several tasks with one call of Ark's task list ---------------------------------------------


def accepted(client: FlaskClient, auth: dict[str, str], count: int) -> list[int]:
    """`count` tasks Ark accepted, due for their first poll."""
    return running_tasks(client, auth, count, submit)


def test_a_poll_batch_asks_ark_about_all_its_tasks_in_one_list_call(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    flow.listed_in_one_call(sim, SEEDANCE, accepted(client, auth, 3))


def test_a_task_the_list_leaves_out_is_polled_on_its_own(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    ids = accepted(client, auth, 3)
    left_out = load(ids[0]).upstream_id
    adapter, real_list = get_adapter("seedance"), get_adapter("seedance").poll_list

    def poll_list(channel: ChannelConfig, upstream_ids: Sequence[str]) -> dict[str, PollResult]:
        return {k: v for k, v in real_list(channel, upstream_ids).items() if k != left_out}  # past its window, say

    monkeypatch.setattr(adapter, "poll_list", poll_list)
    steps.poll(ids)
    assert [(load(i).state, load(i).polls) for i in ids] == [("running", 1)] * 3
    stats = SEEDANCE.stats(sim)
    assert stats["list_requests"] == 1 and stats["polls"][left_out] == 2  # listed, then read on its own


def test_a_rate_limited_list_holds_its_tasks_without_asking_one_by_one(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    ids = accepted(client, auth, 3)
    sim.state.faults.add("seedance", "poll", "rate_limit", retry_after=30)
    steps.poll(ids)
    stats = SEEDANCE.stats(sim)
    assert stats["list_requests"] == 1 and stats["polls_total"] == 0
    tasks = [load(i) for i in ids]
    assert all(t.state == "running" and t.polls == 1 and t.next_action_at >= time.time() + 29 for t in tasks)


def test_a_failing_list_falls_back_to_one_call_per_task(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    flow.failing_list_falls_back_to_one_call_per_task(sim, SEEDANCE, accepted(client, auth, 3))


def test_a_channel_s_tasks_are_listed_in_chunks_of_the_list_size(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.state.settings.update({"job_seconds": "60"})
    monkeypatch.setattr(get_adapter("seedance"), "poll_list_size", 2)
    ids = accepted(client, auth, 5)
    steps.poll(ids)
    assert [load(i).polls for i in ids] == [1] * 5
    stats = SEEDANCE.stats(sim)
    assert stats["list_requests"] == 3 and stats["polls_total"] == 5  # 2 + 2 + 1


def test_a_job_asked_about_in_a_list_is_asked_again_sooner_than_one_asked_alone(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    sim.state.settings.update({"job_seconds": "600"})
    ids = accepted(client, auth, 3)
    with db.transaction() as session:  # running for 100 s: Ark gives no progress, so the age sets the pace
        session.execute(update(Task).where(Task.id.in_(ids)).values(submitted_at=time.time() - 100))
    steps.poll(ids[:2])
    steps.poll(ids[2:])
    assert SEEDANCE.stats(sim)["list_requests"] == 1
    at = time.time()
    assert [load(i).next_action_at - at <= schedule.MAX_LISTED_POLL for i in ids[:2]] == [True, True]
    assert load(ids[2]).next_action_at - at >= schedule.MAX_POLL - 2
