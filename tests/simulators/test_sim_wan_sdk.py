"""Fidelity: the official dashscope SDK, unchanged, drives the Wan simulator over a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING

import dashscope
import pytest
import requests
from dashscope import VideoSynthesis

from simulators import media

if TYPE_CHECKING:
    from .conftest import LiveSim

KEY = "dashscope-sim-key"


@pytest.fixture
def sdk(live: LiveSim, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The SDK pointed at the simulator through its documented global; restored afterwards."""
    monkeypatch.setattr(dashscope, "base_http_api_url", f"{live.base_url}/wan/api/v1")
    yield



def test_text_to_video_through_the_sdk(sdk: None, live: LiveSim) -> None:
    created = VideoSynthesis.async_call(model="wan2.5-t2v-preview", prompt="a koi pond", api_key=KEY,
                                        size="1280*720", duration=10, seed=42, prompt_extend=False)
    assert created.status_code == HTTPStatus.OK and created.output.task_status == "PENDING"
    task_id = created.output.task_id
    job = live.sim.jobs.get("wan", task_id)
    assert job is not None and (job.params["size"], job.params["duration"], job.params["seed"]) == (
        "1280*720", 10, 42)

    done = VideoSynthesis.wait(created, api_key=KEY)
    assert done.status_code == HTTPStatus.OK and done.output.task_status == "SUCCEEDED"
    assert done.usage.video_duration == 10 and done.usage.video_ratio == "1280*720"
    fetched = VideoSynthesis.fetch(task_id, api_key=KEY)
    assert fetched.output.task_status == "SUCCEEDED"

    video = requests.get(done.output.video_url, timeout=5)
    assert video.status_code == 200 and video.content == b"".join(media.video_for(task_id)[1])
    stats = live.stats("wan")
    assert stats["served_sha256"][task_id] == [media.video_sha256(task_id)]


def test_first_and_last_frame_models_go_to_image2video(sdk: None, live: LiveSim) -> None:
    created = VideoSynthesis.async_call(model="wan2.2-kf2v-flash", prompt="bloom", api_key=KEY,
                                        first_frame_url="https://example.com/bud.png",
                                        last_frame_url="https://example.com/flower.png", resolution="720P")
    assert created.status_code == HTTPStatus.OK, created.message
    job = live.sim.jobs.get("wan", created.output.task_id)
    assert job is not None and job.params["resolution"] == "720P"
    assert job.params["images"] == {"first_frame_url": "https://example.com/bud.png",
                                    "last_frame_url": "https://example.com/flower.png"}
    assert VideoSynthesis.cancel(created, api_key=KEY).status_code == HTTPStatus.OK
    canceled = VideoSynthesis.wait(created, api_key=KEY)
    assert canceled.output.task_status == "CANCELED"


def test_failures_and_errors_reach_the_sdk(sdk: None, live: LiveSim) -> None:
    live.arm("wan", op="create", kind="moderation")
    failed = VideoSynthesis.call(model="wan2.2-t2v-plus", prompt="something forbidden", api_key=KEY)
    assert failed.output.task_status == "FAILED" and failed.output.code == "DataInspectionFailed"

    live.arm("wan", op="create", kind="rate_limit")
    limited = VideoSynthesis.async_call(model="wan2.2-t2v-plus", prompt="x", api_key=KEY)
    assert (limited.status_code, limited.code) == (429, "Throttling.RateQuota")

    invalid = VideoSynthesis.async_call(model="wan2.2-t2v-plus", prompt="x", api_key=KEY, size="1280*720")
    assert (invalid.status_code, invalid.code) == (400, "InvalidParameter")

    refused = VideoSynthesis.async_call(model="wan2.2-t2v-plus", prompt="x", api_key="sk-wrong")
    assert (refused.status_code, refused.code) == (401, "InvalidApiKey")
    assert len(live.sim.jobs.list("wan")) == 1  # the moderated one only
