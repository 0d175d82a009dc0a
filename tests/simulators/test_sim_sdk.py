"""Fidelity: the official openai SDK, unchanged, drives the OpenAI simulator over a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import openai
import pytest
import requests

from simulators import media
from simulators.app import serve_in_thread

if TYPE_CHECKING:
    from .conftest import LiveSim

# The SDK marks every Videos method deprecated (the API shuts down 2026-09-24); that is not under test here.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning")


@pytest.fixture
def client(live: LiveSim) -> Iterator[openai.OpenAI]:
    """An SDK client that never retries, so every injected fault reaches the test."""
    with openai.OpenAI(api_key="sk-sim-openai", base_url=live.openai_base, max_retries=0, timeout=5) as sdk:
        yield sdk



def test_full_lifecycle_through_the_sdk(client: openai.OpenAI, live: LiveSim) -> None:
    created = client.videos.create(model="sora-2", prompt="a paper boat", seconds="4")
    assert (created.object, created.status, created.model, created.seconds) == ("video", "queued", "sora-2", "4")

    raw = client.videos.with_raw_response.retrieve(created.id)
    assert int(raw.headers["openai-poll-after-ms"]) >= 100
    # poll() sleeps for the server's openai-poll-after-ms between retrieves.
    done = client.videos.poll(created.id)
    assert done.status == "completed" and done.progress == 100 and done.expires_at is not None

    content = client.videos.download_content(created.id).read()
    assert content == b"".join(media.video_for(created.id)[1])
    assert content[4:8] == b"ftyp"
    thumbnail = client.videos.download_content(created.id, variant="thumbnail").read()
    assert thumbnail == media.thumbnail_for(created.id)

    remix = client.videos.remix(created.id, prompt="a paper boat at dusk")
    assert remix.remixed_from_video_id == created.id and remix.id != created.id

    listed = [video.id for video in client.videos.list(limit=1)]  # auto-paging follows last_id/has_more
    assert listed == [remix.id, created.id]

    deleted = client.videos.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(created.id)

    stats = live.stats("openai")
    assert stats["submissions"] == 2 and stats["content_downloads"] == 1
    assert stats["served_sha256"][created.id] == [media.video_sha256(created.id)]


def test_create_and_poll_with_an_uploaded_reference(client: openai.OpenAI, live: LiveSim) -> None:
    image = b"\x89PNG\r\n\x1a\nreference"
    video = client.videos.create_and_poll(
        prompt="animate this", input_reference=("ref.png", image, "image/png"), size="1280x720"
    )
    assert video.status == "completed" and video.size == "1280x720"
    job = live.sim.jobs.get("openai", video.id)
    assert job is not None and job.params["input_reference"]["bytes"] == len(image)


def test_sdk_errors_map_to_the_sdk_exception_types(client: openai.OpenAI, live: LiveSim) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.videos.create(prompt="x", seconds="5")  # type: ignore[arg-type]
    assert bad.value.param == "seconds" and bad.value.code == "invalid_value"

    live.arm("openai", op="create", kind="rate_limit", retry_after=1)
    with pytest.raises(openai.RateLimitError) as limited:
        client.videos.create(prompt="x")
    assert limited.value.code == "rate_limit_exceeded" and limited.value.response.headers["retry-after"] == "1"

    live.arm("openai", op="create", kind="server_error")
    with pytest.raises(openai.InternalServerError):
        client.videos.create(prompt="x")

    live.arm("openai", op="create", kind="reset")
    with pytest.raises(openai.APIConnectionError):
        client.videos.create(prompt="x")

    live.arm("openai", op="poll", kind="timeout", seconds=0.6)
    with pytest.raises(openai.APITimeoutError):
        client.videos.list(timeout=0.2)

    stranger = openai.OpenAI(api_key="sk-wrong", base_url=live.openai_base, max_retries=0)
    with stranger, pytest.raises(openai.AuthenticationError) as refused:
        stranger.videos.list()
    assert refused.value.code == "invalid_api_key"
    assert live.sim.jobs.list("openai") == []


def test_failed_video_reports_its_error_through_the_sdk(client: openai.OpenAI, live: LiveSim) -> None:
    live.arm("openai", op="create", kind="moderation")
    video = client.videos.create_and_poll(prompt="something forbidden")
    assert video.status == "failed"
    assert video.error is not None and video.error.code == "moderation_blocked"


def test_serve_in_thread_binds_the_requested_host_and_stops_cleanly() -> None:
    with serve_in_thread() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert requests.get(f"{base_url}/_sim/healthz", timeout=5).json()["ok"] is True
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/_sim/healthz", timeout=1)
