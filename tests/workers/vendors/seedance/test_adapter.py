"""Seedance (Ark) adapter: request mapping and refusals per model, task statuses and error classification."""
from __future__ import annotations

import pytest
import requests

from app.channels import ChannelConfig, ModelSpec
from app.video_request import ImageInput, VideoRequest
from tests.workers.vendors.recorded import download_error, response
from workers.vendors.base import Refusal, ResultExpired
from workers.vendors.seedance import client, mapping, status
from workers.vendors.seedance.errors import classify

PRO = ModelSpec("doubao-seedance-1-0-pro-250528")
LITE_T2V = ModelSpec("doubao-seedance-1-0-lite-t2v-250428")
LITE_I2V = ModelSpec("doubao-seedance-1-0-lite-i2v-250428")
PRO_FAST = ModelSpec("doubao-seedance-1-0-pro-fast-251015")
V2 = ModelSpec("doubao-seedance-2-0-260128")
FIRST = ImageInput("first_frame", url="https://img.example/first.png")
LAST = ImageInput("last_frame", url="https://img.example/last.png")


def ref(n: int) -> ImageInput:
    return ImageInput("reference", url=f"https://img.example/ref{n}.png")


def test_the_create_body_has_typed_content_parts_and_the_mapped_fields() -> None:
    request = VideoRequest(model="m", prompt="a fox", images=(FIRST, LAST), seconds=10, aspect_ratio="7:3",
                           resolution="1080p", seed=11, vendor_params={"camera_fixed": True})
    assert mapping.create_body(request, PRO) == {
        "model": "doubao-seedance-1-0-pro-250528",
        "content": [
            {"type": "text", "text": "a fox"},
            {"type": "image_url", "image_url": {"url": FIRST.url}, "role": "first_frame"},
            {"type": "image_url", "image_url": {"url": LAST.url}, "role": "last_frame"},
        ],
        "resolution": "1080p", "ratio": "21:9", "duration": 10, "seed": 11, "camera_fixed": True,
    }


def test_stored_images_go_as_data_urls_and_references_keep_their_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping, "image_data_url", lambda image: image.url or f"data:image/png;base64,{image.key}")
    stored = ImageInput("reference", key="aW1n", content_type="image/png")
    body = mapping.create_body(VideoRequest(model="m", prompt="@Image1 and @Image2", images=(stored, ref(2))), V2)
    assert body["content"][1:] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,aW1n"}, "role": "reference_image"},
        {"type": "image_url", "image_url": {"url": ref(2).url}, "role": "reference_image"},
    ]


def test_a_pixel_size_becomes_ratio_and_resolution() -> None:
    assert mapping.fields(VideoRequest(model="m", prompt="p", width=864, height=480), PRO) == {
        "ratio": "16:9", "resolution": "480p"}
    assert mapping.fields(VideoRequest(model="m", prompt="p", width=1080, height=1920), PRO) == {
        "ratio": "9:16", "resolution": "1080p"}


@pytest.mark.parametrize(("model", "request_", "param"), [
    (PRO, VideoRequest(model="m", prompt="p", seconds=7), "seconds"),
    (PRO_FAST, VideoRequest(model="m", prompt="p", seconds=13), "seconds"),
    (PRO, VideoRequest(model="m", prompt="p", n=2), "n"),
    (PRO, VideoRequest(model="m", prompt="p", negative_prompt="blur"), "negative_prompt"),
    (PRO, VideoRequest(model="m", prompt="p", fps=30), "fps"),
    (PRO, VideoRequest(model="m", prompt="p", mode="std"), "mode"),
    (PRO, VideoRequest(model="m", prompt="p", seed=2**32), "seed"),
    (PRO, VideoRequest(model="m"), "prompt"),
    (PRO, VideoRequest(model="m", prompt="p", aspect_ratio="2:1"), "aspect_ratio"),
    (PRO, VideoRequest(model="m", prompt="p", resolution="4k"), "resolution"),
    (PRO, VideoRequest(model="m", prompt="p", width=640, height=100), "size"),
    (PRO, VideoRequest(model="m", prompt="p", images=(ref(1),)), "reference_image_urls"),
    (PRO_FAST, VideoRequest(model="m", prompt="p", images=(FIRST, LAST)), "last_image"),
    (LITE_T2V, VideoRequest(model="m", prompt="p", images=(FIRST,)), "image"),
    (LITE_I2V, VideoRequest(model="m", prompt="p"), "image"),
    (LITE_I2V, VideoRequest(model="m", prompt="p", images=(FIRST, ref(1))), "reference_image_urls"),
    (LITE_I2V, VideoRequest(model="m", prompt="p", images=tuple(ref(n) for n in range(5))), "reference_image_urls"),
    (ModelSpec("doubao-seedance-1-0-pro-250528", {"resolutions": ["720p"]}),
     VideoRequest(model="m", prompt="p", resolution="1080p"), "resolution"),
    (ModelSpec("doubao-seedance-1-0-pro-250528", {"resolution": "1080p"}),
     VideoRequest(model="m", prompt="p", resolution="720p"), "resolution"),
    (ModelSpec("doubao-seedance-1-0-pro-250528", {"watermark": False}),
     VideoRequest(model="m", prompt="p", vendor_params={"watermark": True}), "watermark"),
])
def test_what_the_model_cannot_do_is_refused_by_field(model: ModelSpec, request_: VideoRequest, param: str) -> None:
    with pytest.raises(Refusal) as refused:
        mapping.check(request_, model)
    assert refused.value.param == param


def test_capabilities_default_per_family_and_options_override_them() -> None:
    assert mapping.capabilities(PRO).durations == (5, 10)
    assert mapping.capabilities(ModelSpec("doubao-seedance-1-5-pro-251215")).durations == tuple(range(4, 13))
    assert mapping.capabilities(ModelSpec("dreamina-seedance-2-0-260128")).max_reference_images == 9
    options = {"durations": "2-12", "image_roles": ["first_frame"], "requires_image": True}
    caps = mapping.capabilities(ModelSpec("doubao-seedance-1-0-pro-250528", options))
    assert (caps.durations, caps.image_roles, caps.requires_image) == (tuple(range(2, 13)), {"first_frame"}, True)
    assert mapping.fields(VideoRequest(model="m", images=(FIRST,), seconds=3),
                          ModelSpec("doubao-seedance-1-0-pro-250528", options)) == {"duration": 3}


def test_model_options_fill_the_body() -> None:
    model = ModelSpec("doubao-seedance-1-0-pro-250528", {"watermark": False, "resolution": "1080p"})
    assert mapping.fields(VideoRequest(model="m", prompt="p", resolution="1080p"), model) == {
        "watermark": False, "resolution": "1080p"}


def _task(status_: str, **extra: object) -> dict[str, object]:
    return {"id": "cgt-2025", "model": "doubao-seedance-1-0-pro-250528", "status": status_,
            "created_at": 1743414619, "updated_at": 1743414673, "seed": 10, "resolution": "720p", "ratio": "16:9",
            "duration": 5, "framespersecond": 24, "service_tier": "default", "execution_expires_after": 172800,
            **extra}


@pytest.mark.parametrize(("task", "state", "code"), [
    (_task("queued"), "queued", None),
    (_task("running"), "running", None),
    (_task("succeeded", content={"video_url": "https://tos.example/v.mp4"},
           usage={"completion_tokens": 108900, "total_tokens": 108900}), "succeeded", None),
    (_task("succeeded", content={}), "failed", "upstream_error"),
    (_task("failed", error={"code": "OutputVideoSensitiveContentDetected", "message": "sensitive"}),
     "failed", "content_policy"),
    (_task("failed", error={"code": "InputImageSensitiveContentDetected.PrivacyInformation", "message": "face"}),
     "failed", "content_policy"),
    (_task("failed", error={"code": "InvalidParameter", "message": "bad ratio"}), "failed", "invalid_request"),
    (_task("failed", error={"code": "InternalServiceError", "message": "oops"}), "failed", "upstream_error"),
    (_task("cancelled"), "failed", "upstream_error"),
    (_task("expired"), "failed", "upstream_error"),
    (_task("something_new"), "running", None),
])
def test_every_status_maps_to_an_upstream_state(task: dict[str, object], state: str, code: str | None) -> None:
    result = status.to_poll_result(task)
    assert (result.state, result.error_code) == (state, code)
    if state == "succeeded":
        assert result.result_location == "https://tos.example/v.mp4"
    if code:
        assert result.error_message


def _error(status_code: int, code: str, type_: str, headers: dict[str, str] | None = None) -> requests.Response:
    return response(status_code, {"error": {"code": code, "message": f"{code} happened. Request id: 2025",
                                            "param": "", "type": type_}}, headers)


def test_errors_are_classified() -> None:
    rpm = classify(_error(429, "RateLimitExceeded.EndpointRPMExceeded", "TooManyRequests", {"Retry-After": "4"}))
    assert (rpm.kind, rpm.code, rpm.retry_after, rpm.vendor_code) == (
        "rate_limited", "rate_limited", 4.0, "RateLimitExceeded.EndpointRPMExceeded")
    for code in ("ModelAccountRpmRateLimitExceeded", "RequestBurstTooFast", "ServerOverloaded"):
        assert classify(_error(429, code, "TooManyRequests")).kind == "rate_limited"
    for code in ("QuotaExceeded", "SetLimitExceeded"):
        quota = classify(_error(429, code, "TooManyRequests"))
        assert (quota.kind, quota.code) == ("terminal", "upstream_quota_exceeded")
    overdue = classify(_error(403, "AccountOverdueError", "Forbidden"))
    assert overdue.code == "upstream_quota_exceeded"
    auth = classify(_error(401, "AuthenticationError", "Unauthorized"))
    assert (auth.kind, auth.code) == ("terminal", "upstream_auth_failed")
    for code in ("InvalidParameter", "MissingParameter"):
        bad = classify(_error(400, code, "BadRequest"))
        assert (bad.kind, bad.code) == ("terminal", "invalid_request") and code in bad.message
    policy = classify(_error(400, "InputTextSensitiveContentDetected", "BadRequest"))
    assert (policy.kind, policy.code) == ("terminal", "content_policy")
    assert classify(_error(404, "InvalidEndpointOrModel.NotFound", "NotFound")).code == "upstream_not_found"
    assert classify(_error(500, "InternalServiceError", "InternalServerError")).kind == "retryable"
    assert classify(response(502, b"<html>bad gateway</html>")).kind == "retryable"


def test_requests_carry_the_ark_key_as_bearer() -> None:
    channel = ChannelConfig("c", "seedance", "https://ark.cn-beijing.volces.com/api/v3", {}, api_key="ark-k")
    assert client._headers(channel) == {"Authorization": "Bearer ark-k"}
    assert client._tasks(channel) == "https://ark.cn-beijing.volces.com/api/v3/contents/generations/tasks"


def test_an_expired_result_link_asks_for_a_fresh_poll() -> None:
    assert isinstance(download_error(client.content, response(403, b"<Error><Code>AccessDenied</Code></Error>")),
                      ResultExpired)
    assert download_error(client.content, response(500, b"oops")).kind == "retryable"
