"""Vidu through the gateway: seed 004's four request forms and the failure paths, real steps, simulator over HTTP."""
from __future__ import annotations

import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.channels import ChannelConfig
from tests.conftest import Sim
from tests.workers.test_steps import create_video, load, run_until, running_tasks
from tests.workers.vendors import flow
from tests.workers.vendors.flow import ENDED, assert_completed
from workers import steps
from workers.vendors.vidu import client as client_module

# Seed 004's request examples, verbatim.
TEXT = {"model": "viduq3p-720p", "prompt": " camera, and, slow camera push-in. ", "aspect_ratio": "16:9",
        "duration": 5, "extra_body": {"audio": False, "seed": 42, "bgm": False}}
SINGLE_IMAGE = {"model": "viduq3t-540p", "prompt": " camera, natural motion, camera. ",
                "image": "https://example.com/source.png", "duration": 5, "extra_body": {"seed": 42}}
FIRST_LAST = {"model": "viduq3p-1080p-offpeak", "prompt": ", keep identity stable, action. ",
              "image": "https://example.com/head.png", "last_image": "https://example.com/tail.png", "duration": 6}
REFERENCES = {"model": "viduq3p-mix-720p", "prompt": "A @Image1 walking through a beach in the visual style of @Image2",
              "reference_image_urls": ["https://example.com/ref-1.png", "https://example.com/ref-2.png"],
              "aspect_ratio": "16:9", "duration": 5, "extra_body": {"audio": False, "seed": 42}}


VIDU = flow.Upstream("vidu")


@pytest.fixture
def app(tmp_path: Path, sim: Sim) -> Flask:
    return flow.app_allowing(tmp_path, sim, "example.com")


def generate(client: FlaskClient, auth: dict[str, str], body: dict[str, Any]) -> int:
    answer = flow.submitted(client, auth, body)
    assert (answer["status"], answer["model"]) == ("queued", body["model"])
    return load(answer["id"]).id


def test_seed_004_forms_reach_their_create_paths_and_end_stored(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    # Submitted together so the simulated jobs overlap and the test stays short.
    task_ids = [generate(client, auth, body) for body in (TEXT, SINGLE_IMAGE, FIRST_LAST, REFERENCES)]
    tasks = [run_until(task_id, ENDED) for task_id in task_ids]
    assert [task.state for task in tasks] == ["completed"] * 4
    for task in tasks:
        assert_completed(task, VIDU)
    jobs = [VIDU.job(sim, task) for task in tasks]
    text, single, first_last, references = (job.params for job in jobs)
    assert [params["path"] for params in (text, single, first_last, references)] == [
        "text2video", "img2video", "start-end2video", "reference2video"]
    assert (jobs[0].model, text["resolution"], text["aspect_ratio"], text["duration"]) == (
        "viduq3-pro", "720p", "16:9", 5)
    assert (text["seed"], text["audio"], text["bgm"]) == (42, False, False)
    assert (jobs[1].model, single["resolution"], single["images"]) == (
        "viduq3-turbo", "540p", [{"url": "https://example.com/source.png"}])
    assert (first_last["resolution"], first_last["off_peak"], first_last["duration"]) == ("1080p", True, 6)
    assert first_last["images"] == [{"url": "https://example.com/head.png"}, {"url": "https://example.com/tail.png"}]
    assert references["images"] == [{"url": "https://example.com/ref-1.png"}, {"url": "https://example.com/ref-2.png"}]
    assert jobs[3].prompt == REFERENCES["prompt"] and references["resolution"] == "720p"
    shown = client.get(f"/v1/video/generations/{tasks[0].public_id}", headers=auth).json
    assert (shown["status"], shown["progress"], shown["format"]) == ("completed", 100, "mp4")


def test_openai_videos_route_reaches_vidu_with_a_stored_image(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    response = client.post("/v1/videos", headers=auth, data={
        "model": "viduq3-turbo", "prompt": "waves", "seconds": "4",
        "input_reference": (io.BytesIO(png), "frame.png", "image/png")})
    assert response.status_code == 200, response.json
    task = run_until(load(response.json["id"]).id, ENDED)
    assert_completed(task, VIDU)
    job = VIDU.job(sim, task)
    assert job.params["path"] == "img2video"
    assert job.params["images"] == [{"content_type": "image/png", "bytes": len(png)}]  # a data: URL, as Vidu wants
    text = run_until(create_video(client, auth, model="viduq3-turbo", seconds="4"), ENDED)
    assert text.state == "completed" and VIDU.job(sim, text).params["path"] == "text2video"


def test_a_submission_rate_limited_by_vidu_is_retried(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    flow.rate_limited_then_recovers(sim, VIDU, generate(client, auth, TEXT), retry_after=2)


def test_a_moderated_task_fails_with_content_policy(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.moderated(sim, VIDU, generate(client, auth, TEXT))
    assert "CreationPolicyViolation" in task.error_message


def test_an_expired_creation_url_is_polled_again(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    flow.expired_link_then_recovers(sim, VIDU, generate(client, auth, SINGLE_IMAGE))


def test_deleting_a_running_task_cancels_it_at_vidu(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    task = flow.deleted_while_running(client, auth, sim, generate(client, auth, TEXT))
    assert VIDU.job(sim, task).cancelled


@pytest.mark.parametrize(("body", "param"), [
    ({**TEXT, "resolution": "1080p"}, "resolution"),  # the model is 720p
    ({**TEXT, "duration": 17}, "duration"),
    ({**TEXT, "n": 2}, "n"),
    ({**TEXT, "negative_prompt": "blur"}, "negative_prompt"),
    ({**SINGLE_IMAGE, "aspect_ratio": "16:9"}, "aspect_ratio"),
    ({**TEXT, "reference_image_urls": REFERENCES["reference_image_urls"]}, "reference_image_urls"),
    ({**REFERENCES, "reference_image_urls": None}, "reference_image_urls"),
    ({**FIRST_LAST, "extra_body": {"audio": True}}, "audio"),  # off-peak makes no audio
    ({**FIRST_LAST, "extra_body": {"off_peak": False}}, "off_peak"),
])
def test_what_vidu_cannot_do_is_a_400_naming_the_field(client: FlaskClient, auth: dict[str, str],
                                                       body: dict[str, Any], param: str) -> None:
    error = flow.refused(client, auth, {k: v for k, v in body.items() if v is not None})
    assert (error["param"], error["code"]) == (param, "unsupported_value")


# --- polling several tasks with one call of the task list ---------------------------------------------------


def accepted(client: FlaskClient, auth: dict[str, str], count: int) -> list[int]:
    """`count` tasks Vidu accepted, due for their first poll."""
    return running_tasks(client, auth, count, lambda client, auth: generate(client, auth, TEXT))


def test_a_poll_batch_asks_vidu_about_all_its_tasks_in_one_list_call(
    client: FlaskClient, auth: dict[str, str], sim: Sim
) -> None:
    flow.listed_in_one_call(sim, VIDU, accepted(client, auth, 3))


def test_a_listed_task_shaped_otherwise_than_expected_is_read_on_its_own(
    client: FlaskClient, auth: dict[str, str], sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = accepted(client, auth, 4)
    stateless, unknown_state, without_url = (load(i).upstream_id for i in ids[:3])
    real_list = client_module.list_by_ids

    def list_by_ids(channel: ChannelConfig, task_ids: Sequence[str]) -> list[Any]:
        tasks = real_list(channel, task_ids)
        for task in tasks:  # would read as still running, or as a success with nothing to download
            if task["id"] == stateless:
                del task["state"]
            elif task["id"] == unknown_state:
                task["state"] = "archived"
            elif task["id"] == without_url:
                task["creations"] = []
        return tasks

    monkeypatch.setattr(client_module, "list_by_ids", list_by_ids)
    time.sleep(0.6)
    steps.poll(ids)
    assert [load(i).state for i in ids] == ["downloading"] * 4
    stats = VIDU.stats(sim)
    assert stats["list_requests"] == 1
    assert [stats["polls"][load(i).upstream_id] for i in ids] == [2, 2, 2, 1]  # listed, then read on their own


def test_a_failing_list_falls_back_to_one_call_per_task(client: FlaskClient, auth: dict[str, str], sim: Sim) -> None:
    flow.failing_list_falls_back_to_one_call_per_task(sim, VIDU, accepted(client, auth, 3))
