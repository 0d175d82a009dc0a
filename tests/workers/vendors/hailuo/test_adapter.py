"""MiniMax Hailuo adapter: request mapping and refusals, statuses and errors from recorded bodies, auth on the wire."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.channels import ChannelConfig, ModelSpec
from app.video_request import ImageInput, VideoRequest
from simulators import media
from simulators.app import create_app, serve_in_thread
from simulators.core import Settings, Simulator
from tests.workers.vendors.recorded import download_error, response
from workers.vendors.base import Refusal, ResultExpired, UpstreamError
from workers.vendors.hailuo import adapter, client, mapping, status
from workers.vendors.hailuo.errors import classify, rate_limit_codes

FIRST = ImageInput("first_frame", url="https://img.example/first.png")
LAST = ImageInput("last_frame", url="https://img.example/last.png")
FACE = ImageInput("reference", url="https://img.example/face.png")


def base(code: int, message: str = "x", **fields: object) -> dict[str, object]:
    return {**fields, "base_resp": {"status_code": code, "status_msg": message}}


def channel(url: str = "http://sim", **options: object) -> ChannelConfig:
    return ChannelConfig(name="t", vendor="hailuo", base_url=f"{url}/hailuo", models={}, api_key="minimax-sim-key",
                         options=options)


# --- request mapping -----------------------------------------------------------------------------------


def test_the_body_carries_every_mapped_field() -> None:
    request = VideoRequest(model="hailuo-video", prompt="a fox", seconds=10, resolution="768p", images=(FIRST,),
                           vendor_params={"prompt_optimizer": False, "aigc_watermark": True}, user="u1")
    assert mapping.create_body(request, ModelSpec("MiniMax-Hailuo-2.3")) == {
        "model": "MiniMax-Hailuo-2.3", "prompt": "a fox", "duration": 10, "resolution": "768P",
        "first_frame_image": FIRST.url, "prompt_optimizer": False, "aigc_watermark": True}


def test_defaults_are_left_to_minimax_and_text_only_sends_no_image() -> None:
    body = mapping.create_body(VideoRequest(model="T2V-01", prompt="a fox"), ModelSpec("T2V-01"))
    assert body == {"model": "T2V-01", "prompt": "a fox"}


def test_first_and_last_frame_and_subject_reference() -> None:
    both = mapping.create_body(VideoRequest(model="m", prompt="p", images=(FIRST, LAST), resolution="1080p"),
                               ModelSpec("MiniMax-Hailuo-02"))
    assert (both["first_frame_image"], both["last_frame_image"], both["resolution"]) == (FIRST.url, LAST.url, "1080P")
    subject = mapping.create_body(VideoRequest(model="m", prompt="@Image1 waves", images=(FACE,)), ModelSpec("S2V-01"))
    assert subject["subject_reference"] == [{"type": "character", "image": [FACE.url]}]
    assert "first_frame_image" not in subject


def test_model_options_are_defaults_and_contradicting_them_is_refused() -> None:
    spec = ModelSpec("MiniMax-Hailuo-02", {"resolution": "1080p", "duration": 6, "prompt_optimizer": False})
    body = mapping.create_body(VideoRequest(model="m", prompt="p", resolution="1080P"), spec)
    assert (body["resolution"], body["duration"], body["prompt_optimizer"]) == ("1080P", 6, False)
    for request, param in [
        (VideoRequest(model="m", prompt="p", resolution="768p"), "resolution"),
        (VideoRequest(model="m", prompt="p", seconds=10), "seconds"),
        (VideoRequest(model="m", prompt="p", vendor_params={"prompt_optimizer": True}), "prompt_optimizer"),
        (VideoRequest(model="m", prompt="p", vendor_params={"duration": 10}), "duration"),
    ]:
        with pytest.raises(Refusal) as refused:
            mapping.check(request, spec)
        assert refused.value.param == param


def test_pass_through_resolution_and_duration_are_checked_and_normalised() -> None:
    request = VideoRequest(model="m", prompt="p", vendor_params={"resolution": "512p", "duration": "10"},
                           images=(FIRST,))
    body = mapping.create_body(request, ModelSpec("MiniMax-Hailuo-02"))
    assert (body["resolution"], body["duration"]) == ("512P", 10)


@pytest.mark.parametrize(("upstream", "request_", "param"), [
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", n=2), "n"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", width=1280, height=720), "size"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", aspect_ratio="16:9"), "aspect_ratio"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", fps=24), "fps"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", negative_prompt="blur"), "negative_prompt"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", seed=1), "seed"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="x" * 2001), "prompt"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m"), "prompt"),
    # Durations and resolutions per model: 10 s only below 1080P; 720P only on the 01 series.
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", seconds=10, resolution="1080p"), "seconds"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", seconds=5), "seconds"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", resolution="720p"), "resolution"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", resolution="512p", images=(FIRST,)), "resolution"),
    ("MiniMax-Hailuo-02", VideoRequest(model="m", prompt="p", resolution="512p"), "resolution"),
    ("MiniMax-Hailuo-02", VideoRequest(model="m", prompt="p", resolution="512p", images=(FIRST, LAST)), "resolution"),
    ("MiniMax-Hailuo-02", VideoRequest(model="m", prompt="p", resolution="4k"), "resolution"),
    ("T2V-01", VideoRequest(model="m", prompt="p", seconds=10), "seconds"),
    ("T2V-01", VideoRequest(model="m", prompt="p", resolution="1080p"), "resolution"),
    # Image modes per model.
    ("T2V-01-Director", VideoRequest(model="m", prompt="p", images=(FIRST,)), "image"),
    ("I2V-01", VideoRequest(model="m", prompt="p"), "image"),
    ("MiniMax-Hailuo-2.3-Fast", VideoRequest(model="m", prompt="p"), "image"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", images=(FIRST, LAST)), "last_image"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", images=(FACE, FACE)), "reference_image_urls"),
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", images=(FIRST, FIRST)), "images"),
    ("S2V-01", VideoRequest(model="m", prompt="p"), "reference_image_urls"),
    ("S2V-01", VideoRequest(model="m", prompt="p", images=(FACE, FACE)), "reference_image_urls"),
    ("S2V-01", VideoRequest(model="m", prompt="p", images=(FIRST, FACE)), "image"),
])
def test_what_minimax_cannot_do_is_refused_by_field(upstream: str, request_: VideoRequest, param: str) -> None:
    with pytest.raises(Refusal) as refused:
        adapter.check(request_, ModelSpec(upstream))
    assert refused.value.param == param


@pytest.mark.parametrize(("upstream", "request_"), [
    ("MiniMax-Hailuo-2.3", VideoRequest(model="m", prompt="p", seconds=10)),  # default 768P offers 10 s
    ("MiniMax-Hailuo-2.3-Fast", VideoRequest(model="m", images=(FIRST,), resolution="1080p", seconds=6)),
    ("MiniMax-Hailuo-02", VideoRequest(model="m", prompt="p", images=(FIRST,), resolution="512p", seconds=10)),
    ("MiniMax-Hailuo-02", VideoRequest(model="m", prompt="p", images=(FIRST, LAST), seconds=10)),
    ("I2V-01-live", VideoRequest(model="m", images=(FIRST,), resolution="720p", seconds=6)),
    ("S2V-01", VideoRequest(model="m", prompt="p", images=(FACE,))),
    ("MiniMax-Hailuo-03", VideoRequest(model="m", prompt="p", seconds=15)),  # unknown model: MiniMax decides
])
def test_what_minimax_offers_is_accepted(upstream: str, request_: VideoRequest) -> None:
    adapter.check(request_, ModelSpec(upstream))


# --- statuses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "state", "location", "code"), [
    (base(0, "success", task_id="1", status="Preparing", file_id=""), "queued", None, None),
    (base(0, "success", task_id="1", status="Queueing", file_id=""), "queued", None, None),
    (base(0, "success", task_id="1", status="Processing", file_id=""), "running", None, None),
    (base(0, "success", task_id="1", status="Success", file_id="241342648594580", video_width=1366,
          video_height=768), "succeeded", "241342648594580", None),
    (base(1027, "output new_sensitive", task_id="1", status="Fail", file_id=""), "failed", None, "content_policy"),
    (base(1026, "input new_sensitive", task_id="1", status="Fail"), "failed", None, "content_policy"),
    (base(2013, "invalid params", task_id="1", status="Fail"), "failed", None, "invalid_request"),
    (base(1000, "unknown error", task_id="1", status="Fail"), "failed", None, "upstream_error"),
    (base(0, "success", task_id="1", status="Fail"), "failed", None, "upstream_error"),
    (base(0, "success", task_id="1", status="Rendering"), "running", None, None),
])
def test_every_status_maps(body: dict[str, Any], state: str, location: str | None, code: str | None) -> None:
    result = status.to_poll_result(body)
    assert (result.state, result.result_location, result.error_code) == (state, location, code)
    if state == "failed":
        assert result.error_message


def test_success_without_a_file_id_is_malformed() -> None:
    with pytest.raises(UpstreamError) as error:
        status.to_poll_result(base(0, task_id="1", status="Success", file_id=""))
    assert (error.value.kind, error.value.code) == ("retryable", "upstream_malformed")


# --- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "kind", "gateway_code"), [
    (1002, "rate_limited", "rate_limited"),
    (1039, "rate_limited", "rate_limited"),
    (1041, "rate_limited", "rate_limited"),
    (1000, "retryable", "upstream_error"),
    (1001, "retryable", "upstream_error"),
    (1004, "terminal", "upstream_auth_failed"),
    (2049, "terminal", "upstream_auth_failed"),
    (1008, "terminal", "upstream_quota_exceeded"),
    (1026, "terminal", "content_policy"),
    (1027, "terminal", "content_policy"),
    (2013, "terminal", "invalid_request"),
    (1234, "terminal", "upstream_error"),
])
def test_body_codes_inside_http_200_are_classified(code: int, kind: str, gateway_code: str) -> None:
    error = classify(response(200, base(code, "why", task_id="")), rate_limit_codes(channel()))
    assert (error.kind, error.code, error.vendor_code, error.status) == (kind, gateway_code, str(code), 200)
    assert "why" in error.message


def test_rate_limits_honour_retry_after_and_the_channel_code_list() -> None:
    limited = classify(response(200, base(1002), {"Retry-After": "7"}), rate_limit_codes(channel()))
    assert (limited.kind, limited.retry_after) == ("rate_limited", 7.0)
    strict = rate_limit_codes(channel(rate_limit_codes=[]))
    assert classify(response(200, base(1039)), strict).kind == "terminal"
    assert classify(response(200, base(1002)), strict).kind == "rate_limited"


def test_the_body_code_wins_over_the_http_status_and_bare_statuses_still_classify() -> None:
    assert classify(response(500, base(2013))).kind == "terminal"
    assert classify(response(503, b"<html>503 Service Temporarily Unavailable</html>")).kind == "retryable"
    assert classify(response(429, b"")).kind == "rate_limited"
    assert classify(response(401, b"")).code == "upstream_auth_failed"
    assert classify(response(400, {"unexpected": True})).code == "invalid_request"


def test_an_object_store_refusal_means_the_link_expired() -> None:
    expired = response(403, b"<Error><Code>AccessDenied</Code></Error>")
    assert isinstance(download_error(client.content, expired), ResultExpired)
    assert isinstance(download_error(client.content, response(404, b"")), ResultExpired)
    assert download_error(client.content, response(502, b"")).kind == "retryable"


# --- on the wire, against the simulator -----------------------------------------------------------------


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Simulator]]:
    monkeypatch.delenv("VIDGATE_SIM_HAILUO_KEY", raising=False)
    monkeypatch.setenv("VIDGATE_SIM_HAILUO_GROUP_ID", "1900000000000")
    sim = Simulator(Settings(job_seconds=(0.2, 0.2)))
    with serve_in_thread(create_app(sim)) as url:
        yield url, sim


def _poll_until_done(account: ChannelConfig, task_id: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = adapter.poll(account, task_id)
        if result.state == "succeeded":
            assert result.result_location
            return result.result_location
        time.sleep(0.05)
    raise AssertionError("the simulated job never finished")


def test_bearer_key_and_group_id_are_sent_and_a_wrong_one_is_refused(live: tuple[str, Simulator]) -> None:
    url, _ = live
    request, spec = VideoRequest(model="hailuo-video", prompt="a fox"), ModelSpec("MiniMax-Hailuo-2.3")
    wrong_key = ChannelConfig(name="t", vendor="hailuo", base_url=f"{url}/hailuo", models={}, api_key="nope",
                              options={"group_id": "1900000000000"})
    for account in (wrong_key, channel(url)):  # wrong key; right key without the GroupId this account needs
        with pytest.raises(UpstreamError) as refused:
            adapter.submit(account, request, spec, "key")
        assert (refused.value.kind, refused.value.code, refused.value.vendor_code) == (
            "terminal", "upstream_auth_failed", "1004")
        assert refused.value.status == 200  # MiniMax's errors come inside HTTP 200
    assert adapter.submit(channel(url, group_id="1900000000000"), request, spec, "key").isdigit()


def test_two_step_result_streams_the_file_and_an_expired_link_is_reported(live: tuple[str, Simulator]) -> None:
    url, sim = live
    account = channel(url, group_id="1900000000000")
    task_id = adapter.submit(account, VideoRequest(model="m", prompt="a fox"), ModelSpec("MiniMax-Hailuo-2.3"), "k")
    file_id = _poll_until_done(account, task_id)
    result = adapter.open_result(account, task_id, file_id)
    try:
        data = b"".join(result.chunks)
    finally:
        result.close()
    assert hashlib.sha256(data).hexdigest() == media.video_sha256(task_id) and result.size == len(data)
    sim.settings.update({"url_ttl": 0})
    with pytest.raises(ResultExpired):
        adapter.open_result(account, task_id, file_id)


def test_a_rate_limited_poll_is_retried_later_not_failed(live: tuple[str, Simulator]) -> None:
    url, sim = live
    account = channel(url, group_id="1900000000000")
    task_id = adapter.submit(account, VideoRequest(model="m", prompt="a fox"), ModelSpec("MiniMax-Hailuo-2.3"), "k")
    sim.faults.add("hailuo", "poll", "rate_limit", retry_after=3)
    with pytest.raises(UpstreamError) as limited:
        adapter.poll(account, task_id)
    assert (limited.value.kind, limited.value.vendor_code, limited.value.retry_after) == ("rate_limited", "1002", 3.0)
    sim.faults.add("hailuo", "poll", "unavailable")
    with pytest.raises(UpstreamError) as unavailable:
        adapter.poll(account, task_id)
    assert (unavailable.value.kind, unavailable.value.status) == ("retryable", 503)
