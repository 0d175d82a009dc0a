"""Fidelity: the official google-genai SDK, in Gemini API mode, drives the Veo simulator over a real socket.

google-genai 3.x only creates videos in Vertex mode (`generate_videos` raises in Gemini API mode), so the
create goes through the SDK's own HTTP client, which still composes the URL and sends the key; operations
and file downloads run through the public SDK calls, which do support the Gemini API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from google import genai
from google.genai import errors, types

from simulators import media

if TYPE_CHECKING:
    from .conftest import LiveSim

KEY = "veo-sim-key"
MODEL = "veo-3.1-fast-generate-preview"


def _client(live: LiveSim, key: str = KEY) -> genai.Client:
    # One attempt only, so every injected fault reaches the test.
    options = types.HttpOptions(base_url=f"{live.base_url}/veo", api_version="v1beta",
                                retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture
def client(live: LiveSim) -> Iterator[genai.Client]:
    with _client(live) as sdk:
        yield sdk


def _create(client: genai.Client, body: dict[str, object]) -> types.GenerateVideosOperation:
    response = client._api_client.request("post", f"models/{MODEL}:predictLongRunning", body)
    return types.GenerateVideosOperation(name=json.loads(response.body)["name"])


def _wait(client: genai.Client, operation: types.GenerateVideosOperation) -> types.GenerateVideosOperation:
    deadline = time.monotonic() + 30
    while not operation.done:
        assert time.monotonic() < deadline, "operation never finished"
        time.sleep(0.05)
        operation = client.operations.get(operation)
    return operation


def test_the_sdk_still_refuses_to_create_videos_in_gemini_api_mode(client: genai.Client) -> None:
    with pytest.raises(ValueError, match="not in Gemini Developer API mode"):
        client.models.generate_videos(model=MODEL, source=types.GenerateVideosSource(prompt="x"))


def test_create_poll_and_download_through_the_sdk(client: genai.Client, live: LiveSim) -> None:
    operation = _create(client, {"instances": [{"prompt": "a paper boat"}],
                                 "parameters": {"aspectRatio": "9:16", "durationSeconds": 6}})
    assert operation.name is not None and operation.name.startswith(f"models/{MODEL}/operations/")
    job_id = operation.name.rsplit("/", 1)[1]
    assert live.sim.jobs.get("veo", job_id).params["aspectRatio"] == "9:16"

    done = _wait(client, operation)
    assert done.error is None and done.response is not None
    video = done.response.generated_videos[0].video
    assert video is not None and video.uri is not None and video.uri.endswith(":download?alt=media")

    # The SDK derives the file name itself only from https URIs; the simulator's are http.
    file_name = "files/" + video.uri.split("/files/", 1)[1].split(":", 1)[0]
    data = client.files.download(file=file_name)
    assert data == b"".join(media.video_for(job_id)[1]) and data[4:8] == b"ftyp"
    assert requests.get(video.uri, timeout=5).status_code == 403  # without the key
    stats = live.stats("veo")
    assert stats["served_sha256"][job_id] == [media.video_sha256(job_id)]


def test_an_rai_block_reaches_the_sdk_as_filtered_reasons(client: genai.Client, live: LiveSim) -> None:
    live.arm("veo", op="create", kind="moderation")
    done = _wait(client, _create(client, {"instances": [{"prompt": "something forbidden"}]}))
    assert done.response is not None and not done.response.generated_videos
    assert done.response.rai_media_filtered_count == 1
    assert done.response.rai_media_filtered_reasons and "Responsible AI" in done.response.rai_media_filtered_reasons[0]


def test_errors_surface_as_the_sdks_error_types(client: genai.Client, live: LiveSim) -> None:
    with pytest.raises(errors.ClientError) as bad:
        _create(client, {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 5}})
    assert (bad.value.code, bad.value.status) == (400, "INVALID_ARGUMENT")

    live.arm("veo", op="create", kind="rate_limit")
    with pytest.raises(errors.ClientError) as limited:
        _create(client, {"instances": [{"prompt": "x"}]})
    assert (limited.value.code, limited.value.status) == (429, "RESOURCE_EXHAUSTED")

    live.arm("veo", op="create", kind="unavailable")
    with pytest.raises(errors.ServerError) as unavailable:
        _create(client, {"instances": [{"prompt": "x"}]})
    assert unavailable.value.status == "UNAVAILABLE"

    with _client(live, "wrong-key") as stranger, pytest.raises(errors.ClientError) as refused:
        _create(stranger, {"instances": [{"prompt": "x"}]})
    assert refused.value.status == "INVALID_ARGUMENT" and "API key not valid" in (refused.value.message or "")
    assert live.sim.jobs.list("veo") == []
