"""Wan adapter: request mapping and refusals, task statuses and error classification from recorded bodies."""
from __future__ import annotations

import pytest
import requests

from app.channels import ChannelConfig, ModelSpec
from app.video_request import ImageInput, VideoRequest
from tests.workers.vendors.recorded import download_error, response
from workers.vendors.base import Refusal, ResultExpired, UpstreamError
from workers.vendors.wan import adapter, client, mapping, status
from workers.vendors.wan.errors import classify

T2V = ModelSpec("wan2.5-t2v-preview")
I2V = ModelSpec("wan2.5-i2v-preview")
KF2V = ModelSpec("wan2.2-kf2v-flash")
FIRST, LAST = ImageInput("first_frame", url="https://x/a.png"), ImageInput("last_frame", key="k")


def as_url(image: ImageInput) -> str:
    return image.url or f"data:image/png;base64,<{image.key}>"


def body_for(request: VideoRequest, model: ModelSpec) -> dict[str, object]:
    return mapping.body(request, model, mapping.check(request, model), as_url)


def test_text_to_video_maps_size_duration_and_pass_through() -> None:
    request = VideoRequest(model="m", prompt="p", negative_prompt="blur", seconds=10, aspect_ratio="9:16",
                           resolution="720p", seed=7, vendor_params={"prompt_extend": False, "audio_url": "u"})
    assert body_for(request, T2V) == {
        "model": "wan2.5-t2v-preview",
        "input": {"prompt": "p", "negative_prompt": "blur", "audio_url": "u"},
        "parameters": {"size": "720*1280", "duration": 10, "seed": 7, "prompt_extend": False},
    }


@pytest.mark.parametrize(("request_", "model", "size"), [
    (VideoRequest(model="m", prompt="p", width=1632, height=1248), T2V, "1632*1248"),
    (VideoRequest(model="m", prompt="p"), T2V, "1920*1080"),  # the model's top tier, 16:9
    (VideoRequest(model="m", prompt="p", aspect_ratio="1:1"), ModelSpec("wanx2.1-t2v-turbo"), "960*960"),
    (VideoRequest(model="m", prompt="p", resolution="480p"), ModelSpec("wan2.2-t2v-plus"), "832*480"),
])
def test_sizes_come_from_dimensions_or_ratio_and_tier(request_: VideoRequest, model: ModelSpec, size: str) -> None:
    assert body_for(request_, model)["parameters"] == {"size": size}


def test_image_models_take_urls_a_resolution_and_the_right_endpoint() -> None:
    i2v = body_for(VideoRequest(model="m", prompt="p", resolution="480p", images=(FIRST,)), I2V)
    assert i2v["input"] == {"prompt": "p", "img_url": "https://x/a.png"}
    assert i2v["parameters"] == {"resolution": "480P"}
    kf2v = body_for(VideoRequest(model="m", images=(FIRST, LAST)), KF2V)
    assert kf2v["input"] == {"first_frame_url": "https://x/a.png", "last_frame_url": "data:image/png;base64,<k>"}
    assert kf2v["parameters"] == {"resolution": "1080P"}
    assert (mapping.endpoint(KF2V), mapping.endpoint(I2V), mapping.endpoint(T2V)) == (
        "image2video", "video-generation", "video-generation")


@pytest.mark.parametrize(("request_", "model", "param"), [
    (VideoRequest(model="m", prompt="p", n=2), T2V, "n"),
    (VideoRequest(model="m", prompt="p", fps=24), T2V, "fps"),
    (VideoRequest(model="m", prompt="p", mode="pro"), T2V, "mode"),
    (VideoRequest(model="m", prompt="p", seed=-1), T2V, "seed"),
    (VideoRequest(model="m", prompt="p", seconds=8), T2V, "seconds"),
    (VideoRequest(model="m", prompt="p", seconds=10), ModelSpec("wan2.2-t2v-plus"), "seconds"),
    (VideoRequest(model="m"), T2V, "prompt"),
    (VideoRequest(model="m", prompt="p", width=1280, height=720), ModelSpec("wan2.2-t2v-plus"), "size"),
    (VideoRequest(model="m", prompt="p", width=1000, height=1000), T2V, "size"),
    (VideoRequest(model="m", prompt="p", width=1280, height=720, resolution="1080p"), T2V, "resolution"),
    (VideoRequest(model="m", prompt="p", aspect_ratio="21:9"), T2V, "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", aspect_ratio="4:3", resolution="480p"), T2V, "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", resolution="720p"), ModelSpec("wanx2.1-t2v-plus", {"resolution": "720P"}),
     None),
    (VideoRequest(model="m", prompt="p", resolution="480p"), ModelSpec("wanx2.1-t2v-turbo", {"resolution": "720P"}),
     "resolution"),
    (VideoRequest(model="m", prompt="p", images=(FIRST,)), T2V, "image"),
    (VideoRequest(model="m", prompt="p"), I2V, "image"),
    (VideoRequest(model="m", prompt="p", images=(FIRST, LAST)), I2V, "last_image"),
    (VideoRequest(model="m", prompt="p", images=(ImageInput("reference", url="u"),)), T2V, "reference_image_urls"),
    (VideoRequest(model="m", prompt="p", images=(FIRST,), aspect_ratio="16:9"), I2V, "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", images=(FIRST,), width=1280, height=720), I2V, "size"),
    (VideoRequest(model="m", prompt="p", images=(FIRST,), resolution="1080p"), ModelSpec("wan2.2-i2v-flash"),
     "resolution"),
    (VideoRequest(model="m", images=(FIRST, LAST)), ModelSpec("wan2.2-kf2v-flash", {"image_data_urls": False}),
     "last_image"),
])
def test_what_wan_cannot_do_is_refused_by_field(request_: VideoRequest, model: ModelSpec, param: str | None) -> None:
    if param is None:
        mapping.check(request_, model)
        return
    with pytest.raises(Refusal) as refused:
        mapping.check(request_, model)
    assert refused.value.param == param


def test_model_options_override_the_tables() -> None:
    custom = ModelSpec("wan2.9-t2v-next", {"durations": [5, 15], "resolutions": ["720P"]})
    assert body_for(VideoRequest(model="m", prompt="p", seconds=15), custom)["parameters"] == {
        "size": "1280*720", "duration": 15}
    assert mapping.capabilities(ModelSpec("wan3-kf2v-x")).kind == "kf2v"
    assert mapping.capabilities(ModelSpec("odd-name", {"kind": "i2v"})).kind == "i2v"


@pytest.mark.parametrize(("output", "state", "code", "location"), [
    ({"task_id": "t", "task_status": "PENDING"}, "queued", None, None),
    ({"task_id": "t", "task_status": "RUNNING"}, "running", None, None),
    ({"task_id": "t", "task_status": "SUCCEEDED", "video_url": "https://oss/v.mp4"}, "succeeded", None,
     "https://oss/v.mp4"),
    ({"task_id": "t", "task_status": "SUCCEEDED"}, "failed", "upstream_error", None),
    ({"task_id": "t", "task_status": "FAILED", "code": "DataInspectionFailed",
      "message": "Output data may contain inappropriate content."}, "failed", "content_policy", None),
    ({"task_id": "t", "task_status": "FAILED", "code": "InvalidParameter.DataInspection", "message": "bad"},
     "failed", "invalid_request", None),
    ({"task_id": "t", "task_status": "FAILED", "code": "InternalError", "message": "x"}, "failed", "upstream_error",
     None),
    ({"task_id": "t", "task_status": "CANCELED"}, "failed", "upstream_error", None),
    ({"task_id": "t", "task_status": "UNKNOWN"}, "failed", "upstream_error", None),
    ({"task_id": "t", "task_status": "SUSPENDED"}, "running", None, None),
])
def test_statuses_map_to_upstream_states(output: dict[str, str], state: str, code: str | None,
                                         location: str | None) -> None:
    result = status.to_poll_result({"request_id": "r", "output": output})
    assert (result.state, result.error_code, result.result_location) == (state, code, location)
    if state == "failed":
        assert result.error_message


def test_unknown_is_read_as_the_channel_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "task", lambda channel, task_id: {"output": {"task_status": "UNKNOWN"}})
    default = ChannelConfig("c", "wan", "https://ds/api/v1", {})
    patient = ChannelConfig("c", "wan", "https://ds/api/v1", {}, options={"unknown_status": "running"})
    assert adapter.poll(default, "t").state == "failed"
    assert adapter.poll(patient, "t").state == "running"


def test_errors_are_classified() -> None:
    for code in ("Throttling", "Throttling.RateQuota", "Throttling.AllocationQuota"):
        limited = classify(response(429, {"request_id": "r", "code": code, "message": "slow down"},
                                    {"Retry-After": "4"}))
        assert (limited.kind, limited.code, limited.retry_after, limited.vendor_code) == (
            "rate_limited", "rate_limited", 4.0, code)
    cases = {
        (400, "DataInspectionFailed"): ("terminal", "content_policy"),
        (400, "Arrearage"): ("terminal", "upstream_quota_exceeded"),
        (401, "InvalidApiKey"): ("terminal", "upstream_auth_failed"),
        (403, "AccessDenied"): ("terminal", "upstream_auth_failed"),
        (400, "InvalidParameter"): ("terminal", "invalid_request"),
        (500, "InternalError"): ("retryable", "upstream_error"),
        (503, "ServiceUnavailable"): ("retryable", "upstream_error"),
        (504, "RequestTimeOut"): ("retryable", "upstream_error"),
    }
    for (http, code), expected in cases.items():
        error = classify(response(http, {"request_id": "r", "code": code, "message": f"{code} happened"}))
        assert (error.kind, error.code) == expected, code
        assert error.message == f"{code} happened"
    assert classify(response(502, b"<html>bad gateway</html>")).kind == "retryable"


def test_an_expired_oss_link_is_re_polled() -> None:
    xml = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    assert isinstance(download_error(client.video, response(403, xml)), ResultExpired)
    assert isinstance(download_error(client.video, response(404, xml)), ResultExpired)
    assert download_error(client.video, response(500, b"")).kind == "retryable"


def test_creates_are_async_and_only_pending_tasks_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str, dict[str, str]]] = []
    answers = iter([
        response(200, {"output": {"task_status": "PENDING", "task_id": "t1"}, "request_id": "r"}),
        response(400, {"request_id": "r", "code": "UnsupportedOperation", "message": "not PENDING"}),
        response(401, {"request_id": "r", "code": "InvalidApiKey", "message": "bad key"}),
    ])

    def fake_send(method: str, url: str, **kwargs: object) -> requests.Response:
        sent.append((method, url, dict(kwargs.get("headers") or {})))  # type: ignore[call-overload]
        return next(answers)

    monkeypatch.setattr(client, "send", fake_send)
    channel = ChannelConfig("c", "wan", "https://ds/api/v1", {"wan2.2-kf2v-flash": KF2V}, api_key="sk")
    task_id = adapter.submit(channel, VideoRequest(model="m", images=(FIRST,)), KF2V, "key")
    assert task_id == "t1"
    adapter.cancel(channel, "t1")  # too late to cancel: not an error
    with pytest.raises(UpstreamError, match="bad key"):
        adapter.cancel(channel, "t1")
    assert sent[0][:2] == ("POST", "https://ds/api/v1/services/aigc/image2video/video-synthesis")
    assert sent[0][2] == {"Authorization": "Bearer sk", "X-DashScope-Async": "enable"}
    assert sent[1][:2] == ("POST", "https://ds/api/v1/tasks/t1/cancel") and "X-DashScope-Async" not in sent[1][2]
