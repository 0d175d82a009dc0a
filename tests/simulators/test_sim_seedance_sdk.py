"""Fidelity: the official Ark SDK (volcenginesdkarkruntime), unchanged, drives the Seedance simulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from volcenginesdkarkruntime import Ark
from volcenginesdkarkruntime._exceptions import (
    ArkAuthenticationError,
    ArkBadRequestError,
    ArkNotFoundError,
    ArkRateLimitError,
)
from volcenginesdkarkruntime.types.content_generation.content_generation_task import ContentGenerationTask

from simulators import media

if TYPE_CHECKING:
    from .conftest import LiveSim

MODEL = "doubao-seedance-1-0-pro-250528"


@pytest.fixture
def ark(live: LiveSim) -> Iterator[Ark]:
    """An SDK client that never retries, so every injected fault reaches the test."""
    yield Ark(base_url=f"{live.base_url}/seedance/api/v3", api_key="ark-sim-key", max_retries=0, timeout=5)


def wait(ark: Ark, task_id: str) -> ContentGenerationTask:
    for _ in range(50):
        task = ark.content_generation.tasks.get(task_id=task_id)
        if task.status not in ("queued", "running"):
            return task
        time.sleep(0.05)
    raise AssertionError("the task never finished")


def test_create_poll_and_download_through_the_sdk(ark: Ark, live: LiveSim) -> None:
    created = ark.content_generation.tasks.create(
        model=MODEL,
        content=[{"type": "text", "text": "a paper boat"},
                 {"type": "image_url", "image_url": {"url": "https://img.example/boat.png"}, "role": "first_frame"}],
        duration=10, ratio="adaptive", resolution="720p", seed=7, watermark=False,
    )
    assert created.id.startswith("cgt-")
    task = wait(ark, created.id)
    assert (task.status, task.model, task.duration, task.ratio, task.resolution, task.seed) == (
        "succeeded", MODEL, 10, "adaptive", "720p", 7)
    assert task.framespersecond == 24 and task.usage.completion_tokens > 0 and task.updated_at >= task.created_at
    video = requests.get(task.content.video_url, timeout=5)
    assert video.status_code == 200 and video.content == b"".join(media.video_for(created.id)[1])

    ark.content_generation.tasks.delete(created.id)  # a finished task's record is deleted
    with pytest.raises(ArkNotFoundError):
        ark.content_generation.tasks.get(task_id=created.id)


def test_a_moderated_task_reports_its_error_through_the_sdk(ark: Ark, live: LiveSim) -> None:
    live.sim.faults.add("seedance", "create", "moderation")
    created = ark.content_generation.tasks.create(model=MODEL, content=[{"type": "text", "text": "forbidden"}])
    task = wait(ark, created.id)
    assert task.status == "failed" and task.error.code == "OutputVideoSensitiveContentDetected"


def test_sdk_errors_map_to_the_sdk_exception_types(ark: Ark, live: LiveSim) -> None:
    with pytest.raises(ArkBadRequestError) as bad:
        ark.content_generation.tasks.create(model=MODEL, content=[{"type": "text", "text": "x"}], duration=7)
    assert bad.value.status_code == 400
    live.sim.faults.add("seedance", "create", "rate_limit", retry_after=1)
    with pytest.raises(ArkRateLimitError) as limited:
        ark.content_generation.tasks.create(model=MODEL, content=[{"type": "text", "text": "x"}])
    assert limited.value.response.headers["retry-after"] == "1"
    stranger = Ark(base_url=f"{live.base_url}/seedance/api/v3", api_key="wrong", max_retries=0, timeout=5)
    with pytest.raises(ArkAuthenticationError):
        stranger.content_generation.tasks.create(model=MODEL, content=[{"type": "text", "text": "x"}])
    assert live.sim.jobs.list("seedance") == []
