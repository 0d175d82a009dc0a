"""Vidu adapter: the four create paths, refusals, states, error bodies from recorded shapes, and the Token header."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from app.channels import ChannelConfig, ModelSpec
from app.video_request import ImageInput, VideoRequest
from tests.workers.vendors.recorded import download_error, response
from workers.vendors.base import Refusal, ResultExpired, UpstreamError
from workers.vendors.vidu import adapter, client, mapping, status
from workers.vendors.vidu.errors import classify

PRO_720 = ModelSpec("viduq3-pro", {"resolution": "720p"})
PRO_1080_OFFPEAK = ModelSpec("viduq3-pro", {"resolution": "1080p", "off_peak": True})
MIX_720 = ModelSpec("viduq3-pro", {"resolution": "720p", "mode": "reference"})
CHANNEL = ChannelConfig(name="c", vendor="vidu", base_url="http://vidu/ent/v2", models={}, api_key="vk")


def first(url: str = "https://example.com/head.png") -> ImageInput:
    return ImageInput("first_frame", url=url)


def test_text_to_video_from_seed_004() -> None:
    request = VideoRequest(model="viduq3p-720p", prompt="push-in", aspect_ratio="16:9", seconds=5,
                           vendor_params={"audio": False, "seed": 42, "bgm": False})
    adapter.check(request, PRO_720)
    assert mapping.path_for(request, PRO_720) == "text2video"
    assert mapping.create_body(request, PRO_720) == {
        "model": "viduq3-pro", "prompt": "push-in", "duration": 5, "aspect_ratio": "16:9", "resolution": "720p",
        "audio": False, "seed": 42, "bgm": False}


def test_single_image_first_and_last_frame_and_references_pick_their_paths() -> None:
    single = VideoRequest(model="m", prompt="p", images=(first(),), seconds=5, vendor_params={"seed": 42})
    assert mapping.path_for(single, PRO_720) == "img2video"
    assert mapping.create_body(single, PRO_720)["images"] == ["https://example.com/head.png"]
    both = VideoRequest(model="m", prompt="p", seconds=6,
                        images=(ImageInput("last_frame", url="https://t/tail.png"), first()))
    adapter.check(both, PRO_1080_OFFPEAK)
    body = mapping.create_body(both, PRO_1080_OFFPEAK)
    assert mapping.path_for(both, PRO_1080_OFFPEAK) == "start-end2video"
    assert body["images"] == ["https://example.com/head.png", "https://t/tail.png"]  # first, then last
    assert (body["resolution"], body["off_peak"], body["duration"]) == ("1080p", True, 6)
    refs = VideoRequest(model="m", prompt="A @Image1 in the style of @Image2", aspect_ratio="16:9", images=(
        ImageInput("reference", url="https://r/1.png"), ImageInput("reference", url="https://r/2.png")))
    adapter.check(refs, MIX_720)
    assert mapping.path_for(refs, MIX_720) == "reference2video"
    assert mapping.create_body(refs, MIX_720)["images"] == ["https://r/1.png", "https://r/2.png"]


def test_stored_images_go_as_data_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping, "image_data_url", lambda image: f"data:{image.content_type};base64,QUJD")
    stored = ImageInput("first_frame", key="k", content_type="image/png")
    request = VideoRequest(model="m", prompt="p", images=(stored,))
    assert mapping.create_body(request, PRO_720)["images"] == ["data:image/png;base64,QUJD"]


def test_a_size_becomes_resolution_and_aspect_ratio() -> None:
    request = VideoRequest(model="m", prompt="p", width=720, height=1280)
    body = mapping.create_body(request, ModelSpec("viduq3-turbo"))
    assert (body["resolution"], body["aspect_ratio"]) == ("720p", "9:16")


@pytest.mark.parametrize(("request_", "model", "param"), [
    (VideoRequest(model="m", prompt="p", resolution="1080p"), PRO_720, "resolution"),
    (VideoRequest(model="m", prompt="p", resolution="480p"), ModelSpec("viduq3-pro"), "resolution"),
    (VideoRequest(model="m", prompt="p", width=1920, height=1080), PRO_720, "size"),
    (VideoRequest(model="m", prompt="p", width=1000, height=700), ModelSpec("viduq3-pro"), "size"),
    (VideoRequest(model="m", prompt="p", seconds=17), PRO_720, "duration"),
    (VideoRequest(model="m", prompt="p", seconds=11), ModelSpec("viduq2-pro", {"duration_range": [1, 10]}),
     "duration"),
    (VideoRequest(model="m", prompt="p", n=2), PRO_720, "n"),
    (VideoRequest(model="m", prompt="p", negative_prompt="x"), PRO_720, "negative_prompt"),
    (VideoRequest(model="m", prompt="p", fps=24), PRO_720, "fps"),
    (VideoRequest(model="m", prompt="p", mode="reference"), PRO_720, "mode"),
    (VideoRequest(model="m"), PRO_720, "prompt"),
    (VideoRequest(model="m", prompt="x" * 2001), PRO_720, "prompt"),
    (VideoRequest(model="m", prompt="p", aspect_ratio="21:9"), PRO_720, "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", aspect_ratio="16:9", images=(first(),)), PRO_720, "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", images=(ImageInput("reference", url="u"), ImageInput("reference", url="v"))),
     PRO_720, "reference_image_urls"),
    (VideoRequest(model="m", prompt="p"), MIX_720, "reference_image_urls"),
    (VideoRequest(model="m", prompt="p", images=(first(),)), MIX_720, "image"),
    (VideoRequest(model="m", prompt="p", images=tuple(ImageInput("reference", url=f"u{i}") for i in range(8))),
     MIX_720, "reference_image_urls"),
    (VideoRequest(model="m", prompt="p", vendor_params={"resolution": "540p"}), PRO_720, "resolution"),
    (VideoRequest(model="m", prompt="p", vendor_params={"off_peak": False}), PRO_1080_OFFPEAK, "off_peak"),
    (VideoRequest(model="m", prompt="p", vendor_params={"audio": True}), PRO_1080_OFFPEAK, "audio"),
])
def test_what_vidu_cannot_do_is_refused_by_field(request_: VideoRequest, model: ModelSpec, param: str) -> None:
    with pytest.raises(Refusal) as refused:
        adapter.check(request_, model)
    assert refused.value.param == param


# Recorded shape of GET /tasks/{id}/creations (ComfyUI / new-api notes).
def _task(state: str, **extra: Any) -> dict[str, Any]:
    return {"id": "9001", "state": state, "err_code": "", "credits": 60, "payload": "", "progress": 0,
            "creations": [], **extra}


@pytest.mark.parametrize(("task", "state", "code"), [
    (_task("created"), "queued", None),
    (_task("queueing"), "queued", None),
    (_task("processing", progress=40), "running", None),
    (_task("success", progress=100, creations=[{"id": "c", "url": "https://s3/v.mp4", "cover_url": "https://s3/c",
                                                "watermarked_url": "https://s3/w.mp4"}]), "succeeded", None),
    (_task("failed", err_code="CreationPolicyViolation"), "failed", "content_policy"),
    (_task("failed", err_code="TaskPromptPolicyViolation"), "failed", "content_policy"),
    (_task("failed", err_code="ImageFormatInvalid"), "failed", "invalid_request"),
    (_task("failed", err_code="InternalServiceFailure"), "failed", "upstream_error"),
    (_task("failed", err_code="UserCancelled"), "failed", "upstream_error"),
    (_task("brand_new"), "running", None),
])
def test_every_state_maps_to_an_upstream_state(task: dict[str, Any], state: str, code: str | None) -> None:
    result = status.to_poll_result(task, {})
    assert (result.state, result.error_code) == (state, code)
    if state == "succeeded":
        assert result.result_location == "https://s3/v.mp4"
    if state == "running" and task["state"] == "processing":
        assert result.progress == 40
    if state == "failed":
        assert task["err_code"] in (result.error_message or "")


def test_the_task_list_is_asked_by_id_and_only_tasks_it_answers_fully_for_are_taken(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    listed = [
        _task("processing", progress=30, id=9001),  # a number: ids are compared as text
        _task("failed", err_code="CreationPolicyViolation", id="9002"),
        # Left to their own reads: a failure without its err_code, no state, a state Vidu is not known to send,
        # a success without a URL, no id, not a task.
        {"id": "9003", "state": "failed"}, {"id": "9004"}, _task("archived", id="9005"), _task("success", id="9006"),
        {"state": "processing", "err_code": ""}, "9007",
    ]

    def send(method: str, url: str, **kwargs: Any) -> requests.Response:
        sent.append({"method": method, "url": url, **kwargs})
        return response(200, {"tasks": listed, "next_page_token": ""})

    monkeypatch.setattr(client, "send", send)
    results = adapter.poll_list(CHANNEL, ["9001", "9002", "9003"])
    assert {key: (r.state, r.progress, r.error_code) for key, r in results.items()} == {
        "9001": ("running", 30, None), "9002": ("failed", 0, "content_policy")}
    assert (sent[0]["method"], sent[0]["url"]) == ("GET", "http://vidu/ent/v2/tasks")
    assert sent[0]["params"] == {"task_ids": ["9001", "9002", "9003"], "pager.pagesz": 3}
    assert sent[0]["headers"] == {"Authorization": "Token vk"}
    monkeypatch.setattr(client, "send", lambda *args, **kwargs: response(200, {"data": []}))
    with pytest.raises(UpstreamError) as raised:
        adapter.poll_list(CHANNEL, ["9001", "9002"])
    assert (raised.value.kind, raised.value.code) == ("retryable", "upstream_malformed")


def _error(http: int, reason: str, options: dict[str, Any] | None = None, **headers: str) -> UpstreamError:
    body = {"code": http, "reason": reason, "message": f"vidu says {reason}", "metadata": {"trace_id": "t"}}
    return classify(response(http, body, headers), options or {})


@pytest.mark.parametrize(("http", "reason", "kind", "gateway"), [
    (429, "TooManyRequests", "rate_limited", "rate_limited"),
    (429, "QuotaExceeded", "rate_limited", "rate_limited"),
    (400, "SystemThrottling", "rate_limited", "rate_limited"),  # by its reason, whatever the status
    (429, "Whatever", "rate_limited", "rate_limited"),  # 429 always is
    (403, "CreditInsufficient", "terminal", "upstream_quota_exceeded"),
    (401, "Unauthorized", "terminal", "upstream_auth_failed"),
    (403, "Forbidden", "terminal", "upstream_auth_failed"),
    (400, "TaskPromptPolicyViolation", "terminal", "content_policy"),
    (400, "FieldInvalid", "terminal", "invalid_request"),
    (404, "TaskNotFound", "terminal", "upstream_not_found"),
    (500, "InternalServiceFailure", "retryable", "upstream_error"),
    (503, "ServiceUnavailable", "retryable", "upstream_error"),
])
def test_error_reasons_are_classified(http: int, reason: str, kind: str, gateway: str) -> None:
    error = _error(http, reason)
    assert (error.kind, error.code, error.vendor_code, error.message) == (kind, gateway, reason, f"vidu says {reason}")


def test_rate_limit_codes_are_a_channel_option_and_retry_after_is_honoured() -> None:
    assert _error(400, "Slow", {"rate_limit_codes": ["Slow"]}).kind == "rate_limited"
    assert _error(400, "QuotaExceeded", {"rate_limit_codes": ["Slow"]}).kind == "terminal"
    assert _error(429, "TooManyRequests", **{"Retry-After": "9"}).retry_after == 9.0
    assert classify(response(502, b"<html>bad gateway</html>"), {}).kind == "retryable"
    assert classify(response(400, {"err_code": "FieldLacking"}), {}).vendor_code == "FieldLacking"


def test_an_expired_result_link_asks_for_a_fresh_poll() -> None:
    assert isinstance(download_error(client.result, response(403, b"<Error/>")), ResultExpired)
    assert download_error(client.result, response(503, b"")).kind == "retryable"


def test_requests_carry_the_token_scheme_and_a_refusal_at_submit_is_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    def send(method: str, url: str, **kwargs: Any) -> requests.Response:
        sent.append({"method": method, "url": url, **kwargs})
        return response(200, {"task_id": "", "state": "failed", "err_code": "TaskPromptPolicyViolation",
                              "created_at": "2025-01-01T15:41:31.968916Z"})

    monkeypatch.setattr(client, "send", send)
    request = VideoRequest(model="m", prompt="p")
    with pytest.raises(UpstreamError) as raised:
        adapter.submit(CHANNEL, request, PRO_720, "key")
    assert (raised.value.kind, raised.value.code) == ("terminal", "content_policy")
    assert sent[0]["url"] == "http://vidu/ent/v2/text2video"
    assert sent[0]["headers"] == {"Authorization": "Token vk"}


def test_an_error_envelope_inside_a_200_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"code": 429, "reason": "QuotaExceeded", "message": "over the concurrency limit", "metadata": {}}
    monkeypatch.setattr(client, "send", lambda *args, **kwargs: response(200, body))
    with pytest.raises(UpstreamError) as raised:
        adapter.poll(CHANNEL, "9001")
    assert (raised.value.kind, raised.value.vendor_code) == ("rate_limited", "QuotaExceeded")


def test_cancel_posts_to_the_task_and_ignores_an_unknown_one(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def send(method: str, url: str, **kwargs: Any) -> requests.Response:
        calls.append(f"{method} {url}")
        return response(404, {"code": 404, "reason": "TaskNotFound", "message": "gone"})

    monkeypatch.setattr(client, "send", send)
    adapter.cancel(CHANNEL, "9001")
    assert calls == ["POST http://vidu/ent/v2/tasks/9001/cancel"]
