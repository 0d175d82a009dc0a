"""Jimeng adapter: Signature V4, req_key choice and refusals, GetResult statuses and error classification."""
from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from app.channels import ChannelConfig, ModelSpec
from app.video_request import ImageInput, VideoRequest
from tests.workers.vendors.recorded import download_error, response
from workers.vendors.base import Refusal, ResultExpired, UpstreamError
from workers.vendors.jimeng import client, mapping, status
from workers.vendors.jimeng.errors import classify

FAMILY = ModelSpec("jimeng_v30")
FAMILY_1080P = ModelSpec("jimeng_v30", {"resolution": "1080p"})
FIRST = ImageInput("first_frame", url="https://img.example/first.png")
LAST = ImageInput("last_frame", url="https://img.example/last.png")


def _answer(code: int, data: dict[str, object] | None, message: str = "Success") -> dict[str, object]:
    return {"code": code, "data": data, "message": message, "request_id": "2025", "status": code,
            "time_elapsed": "57.35ms"}


def test_signature_reproduces_the_reference_test_vector_byte_for_byte() -> None:
    headers = client.sign(
        "AKTEST", "SKTEST", host="visual.volcengineapi.com",
        query={"Action": "CVSync2AsyncGetResult", "Version": "2022-08-31"},
        body=b'{"req_key":"jimeng_vgfm_t2v_l20","task_id":"abc"}', x_date="20240115T120000Z",
    )
    assert headers["X-Content-Sha256"] == "2e83d6a6ed2aef0fb0dd7125abe5bad97718ec9bd6be63d52418921ea3133955"
    assert headers["Authorization"] == (
        "HMAC-SHA256 Credential=AKTEST/20240115/cn-north-1/cv/request, "
        "SignedHeaders=content-type;host;x-content-sha256;x-date, "
        "Signature=5cbe194cc35a9fe8a0dcf34cbfc8f10d2c989caa3059aa6fe4f186977c0fef7a"
    )
    assert (headers["Host"], headers["X-Date"], headers["Content-Type"]) == (
        "visual.volcengineapi.com", "20240115T120000Z", "application/json")


def test_calls_are_signed_for_the_path_relative_to_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: dict[str, Any] = {}

    def capture(method: str, url: str, **kwargs: Any) -> requests.Response:
        sent.update(method=method, url=url, **kwargs)
        return response(200, _answer(10000, {"task_id": "739261633651961"}))

    monkeypatch.setattr(client, "send", capture)
    channel = ChannelConfig("c", "jimeng", "http://127.0.0.1:9100/jimeng", {}, api_key="AK", secret_key="SK")
    assert client.submit(channel, {"req_key": "jimeng_t2v_v30", "prompt": "a fox"}) == {"task_id": "739261633651961"}
    assert (sent["method"], sent["url"]) == (
        "POST", "http://127.0.0.1:9100/jimeng/?Action=CVSync2AsyncSubmitTask&Version=2022-08-31")
    assert sent["data"] == b'{"req_key":"jimeng_t2v_v30","prompt":"a fox"}'
    headers = sent["headers"]
    assert headers == client.sign("AK", "SK", host="127.0.0.1:9100", body=sent["data"], x_date=headers["X-Date"],
                                  query={"Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31"})


def test_the_query_is_encoded_as_rfc3986_and_sorted() -> None:
    assert client.canonical_query({"Version": "2022-08-31", "Action": "A b/c"}) == "Action=A%20b%2Fc&Version=2022-08-31"


@pytest.mark.parametrize(("model", "images", "resolution", "req_key"), [
    (FAMILY, (), None, "jimeng_t2v_v30"),
    (FAMILY, (FIRST,), None, "jimeng_i2v_first_v30"),
    (FAMILY, (FIRST, LAST), None, "jimeng_i2v_first_tail_v30"),
    (FAMILY, (), "1080p", "jimeng_t2v_v30_1080p"),
    (FAMILY_1080P, (FIRST,), None, "jimeng_i2v_first_v30_1080"),
    (FAMILY_1080P, (FIRST, LAST), "1080p", "jimeng_i2v_first_tail_v30_1080"),
    (ModelSpec("jimeng_ti2v_v30_pro"), (FIRST,), None, "jimeng_ti2v_v30_pro"),
    (ModelSpec("jimeng_some_future_key"), (FIRST, LAST), None, "jimeng_some_future_key"),
])
def test_a_family_picks_the_req_key_from_images_and_resolution(
    model: ModelSpec, images: tuple[ImageInput, ...], resolution: str | None, req_key: str
) -> None:
    request = VideoRequest(model="m", prompt="p", images=images, resolution=resolution)
    assert mapping.fields(request, model)["req_key"] == req_key


def test_the_body_maps_duration_ratio_seed_and_pass_through() -> None:
    request = VideoRequest(model="m", prompt="a fox", seconds=10, aspect_ratio="7:3", seed=7,
                           vendor_params={"req_json": "{}"})
    assert mapping.create_body(request, FAMILY) == {
        "req_key": "jimeng_t2v_v30", "prompt": "a fox", "seed": 7, "frames": 241, "aspect_ratio": "21:9",
        "req_json": "{}"}


def test_a_pixel_size_becomes_ratio_and_resolution() -> None:
    body = mapping.fields(VideoRequest(model="m", prompt="p", width=1920, height=1080), FAMILY)
    assert (body["req_key"], body["aspect_ratio"]) == ("jimeng_t2v_v30_1080p", "16:9")
    assert mapping.fields(VideoRequest(model="m", prompt="p", width=960, height=960), FAMILY)["aspect_ratio"] == "1:1"


def test_images_go_as_urls_or_all_as_base64(monkeypatch: pytest.MonkeyPatch) -> None:
    urls = mapping.create_body(VideoRequest(model="m", images=(FIRST, LAST)), FAMILY)
    assert urls["image_urls"] == [FIRST.url, LAST.url] and "binary_data_base64" not in urls
    monkeypatch.setattr(mapping, "image_bytes", lambda image: f"bytes of {image.key or image.url}".encode())
    stored = ImageInput("first_frame", key="inputs/0", content_type="image/png")
    body = mapping.create_body(VideoRequest(model="m", images=(stored, LAST)), FAMILY)
    decoded = [base64.b64decode(b) for b in body["binary_data_base64"]]
    assert decoded == [b"bytes of inputs/0", f"bytes of {LAST.url}".encode()]
    assert "image_urls" not in body


@pytest.mark.parametrize(("model", "request_", "param"), [
    (FAMILY, VideoRequest(model="m", prompt="p", seconds=7), "seconds"),
    (FAMILY, VideoRequest(model="m", prompt="p", n=2), "n"),
    (FAMILY, VideoRequest(model="m", prompt="p", negative_prompt="blur"), "negative_prompt"),
    (FAMILY, VideoRequest(model="m", prompt="p", fps=30), "fps"),
    (FAMILY, VideoRequest(model="m", prompt="p", mode="pro"), "mode"),
    (FAMILY, VideoRequest(model="m"), "prompt"),
    (FAMILY, VideoRequest(model="m", prompt="p", aspect_ratio="2:1"), "aspect_ratio"),
    (FAMILY, VideoRequest(model="m", prompt="p", images=(FIRST,), aspect_ratio="16:9"), "aspect_ratio"),
    (FAMILY, VideoRequest(model="m", prompt="p", width=640, height=480), "size"),
    (FAMILY, VideoRequest(model="m", prompt="p", resolution="480p"), "resolution"),
    (FAMILY, VideoRequest(model="m", prompt="p", images=(ImageInput("reference", url="u"),)), "reference_image_urls"),
    (FAMILY_1080P, VideoRequest(model="m", prompt="p", resolution="720p"), "resolution"),
    (FAMILY_1080P, VideoRequest(model="m", prompt="p", width=1280, height=720), "size"),
    (ModelSpec("jimeng_t2v_v30"), VideoRequest(model="m", prompt="p", images=(FIRST,)), "image"),
    (ModelSpec("jimeng_i2v_first_v30"), VideoRequest(model="m", prompt="p"), "image"),
    (ModelSpec("jimeng_i2v_first_v30"), VideoRequest(model="m", images=(FIRST, LAST)), "last_image"),
    (ModelSpec("jimeng_i2v_first_tail_v30"), VideoRequest(model="m", images=(FIRST,)), "last_image"),
    (ModelSpec("jimeng_ti2v_v30_pro"), VideoRequest(model="m", images=(FIRST, LAST)), "last_image"),
    (ModelSpec("jimeng_t2v_v30"), VideoRequest(model="m", prompt="p", resolution="1080p"), "resolution"),
    (ModelSpec("jimeng_v30", {"durations": [5]}), VideoRequest(model="m", prompt="p", seconds=10), "seconds"),
    (ModelSpec("jimeng_v30", {"aspect_ratio": "9:16"}), VideoRequest(model="m", prompt="p", aspect_ratio="16:9"),
     "aspect_ratio"),
    (ModelSpec("jimeng_v30", {"seed": 1}), VideoRequest(model="m", prompt="p", vendor_params={"seed": 2}), "seed"),
])
def test_what_jimeng_cannot_do_is_refused_by_field(model: ModelSpec, request_: VideoRequest, param: str) -> None:
    with pytest.raises(Refusal) as refused:
        mapping.check(request_, model)
    assert refused.value.param == param


def test_model_options_fill_the_body() -> None:
    model = ModelSpec("jimeng_v30", {"aspect_ratio": "9:16", "durations": [5]})
    assert mapping.fields(VideoRequest(model="m", prompt="p"), model) == {
        "req_key": "jimeng_t2v_v30", "prompt": "p", "aspect_ratio": "9:16"}


@pytest.mark.parametrize(("answer", "state", "code"), [
    (_answer(10000, {"status": "in_queue", "video_url": ""}), "queued", None),
    (_answer(10000, {"status": "generating", "video_url": ""}), "running", None),
    (_answer(10000, {"aigc_meta_tagged": True, "status": "done", "video_url": "https://x/v.mp4"}), "succeeded", None),
    (_answer(10000, {"status": "done", "video_url": ""}), "failed", "upstream_error"),
    (_answer(50516, {"status": "done", "video_url": ""}, "Post Video Risk Not Pass"), "failed", "content_policy"),
    (_answer(50413, None, "Post Text Risk Not Pass"), "failed", "content_policy"),
    (_answer(50500, {"status": "done", "video_url": ""}, "Internal Error"), "failed", "upstream_error"),
    (_answer(10000, {"status": "not_found", "video_url": ""}), "failed", "upstream_error"),
    (_answer(10000, {"status": "expired", "video_url": ""}), "failed", "upstream_error"),
    (_answer(10000, {"status": "something_new"}), "running", None),
])
def test_every_status_maps_to_an_upstream_state(answer: dict[str, object], state: str, code: str | None) -> None:
    result = status.to_poll_result(answer)
    assert (result.state, result.error_code) == (state, code)
    if state == "succeeded":
        assert result.result_location == "https://x/v.mp4"
    if code:
        assert result.error_message


def test_a_failed_task_verdict_is_read_whatever_the_http_status() -> None:
    channel = ChannelConfig("c", "jimeng", "https://visual.volcengineapi.com", {})
    verdict = _answer(50516, {"status": "done", "video_url": ""}, "Post Video Risk Not Pass")
    assert client._checked(channel, response(400, verdict), client.is_verdict) == verdict
    with pytest.raises(UpstreamError) as limited:
        client._checked(channel, response(429, _answer(50429, None, "API Limit")), client.is_verdict)
    assert limited.value.kind == "rate_limited"


def test_the_unverified_auth_codes_come_from_the_channel() -> None:
    no_feature = response(200, _answer(30403, None, "NoFeatAuth"))
    default = ChannelConfig("c", "jimeng", "https://visual.volcengineapi.com", {})
    with pytest.raises(UpstreamError) as denied:
        client._checked(default, no_feature, client.is_verdict)
    assert denied.value.code == "upstream_auth_failed"
    configured = ChannelConfig("c", "jimeng", "https://visual.volcengineapi.com", {}, options={"auth_codes": []})
    with pytest.raises(UpstreamError) as refused:
        client._checked(configured, no_feature, client.is_verdict)
    assert refused.value.code == "upstream_error"


def test_business_codes_are_classified() -> None:
    qps = classify(response(429, _answer(50429, None, "Request Has Reached API Limit, Please Try Later"),
                            {"Retry-After": "3"}))
    assert (qps.kind, qps.code, qps.retry_after, qps.vendor_code) == ("rate_limited", "rate_limited", 3.0, "50429")
    concurrency = classify(response(429, _answer(50430, None, "Request Has Reached API Concurrent Limit")))
    assert (concurrency.kind, concurrency.code) == ("rate_limited", "rate_limited")
    in_200 = classify(response(200, _answer(50430, None, "Request Has Reached API Concurrent Limit")))
    assert in_200.kind == "rate_limited"
    for code in (50500, 50501):
        assert classify(response(500, _answer(code, None, "Internal Error"))).kind == "retryable"
    for code in (50511, 50516, 50517, 50519):
        retryable_risk = classify(response(400, _answer(code, None, "Post Img Risk Not Pass")))
        assert (retryable_risk.kind, retryable_risk.code) == ("retryable", "content_policy")
    for code in (50411, 50412, 50413, 50512, 50518, 50520):
        risk = classify(response(400, _answer(code, None, "Text Risk Not Pass")))
        assert (risk.kind, risk.code) == ("terminal", "content_policy")
    denied = classify(response(200, _answer(30403, None, "NoFeatAuth")))
    assert (denied.kind, denied.code) == ("terminal", "upstream_auth_failed")
    unknown = classify(response(400, _answer(50200, None, "Invalid Request")))
    assert (unknown.kind, unknown.code, unknown.message) == ("terminal", "invalid_request",
                                                             "Invalid Request (Jimeng code 50200)")


def test_gateway_refusals_and_malformed_answers_are_classified() -> None:
    signature = classify(response(401, {"ResponseMetadata": {
        "RequestId": "r", "Action": "CVSync2AsyncSubmitTask", "Version": "2022-08-31", "Service": "cv",
        "Region": "cn-north-1", "Error": {"CodeN": 100010, "Code": "SignatureDoesNotMatch", "Message": "no match"}}}))
    assert (signature.kind, signature.code, signature.vendor_code) == (
        "terminal", "upstream_auth_failed", "SignatureDoesNotMatch")
    throttled = classify(response(429, {"ResponseMetadata": {"Error": {"CodeN": 100018, "Code": "FlowLimitExceeded",
                                                                        "Message": "slow down"}}}))
    assert throttled.kind == "rate_limited"
    assert classify(response(200, {"result": "unexpected"})).code == "upstream_malformed"
    assert classify(response(502, b"<html>bad gateway</html>")).kind == "retryable"


def test_an_expired_result_link_asks_for_a_fresh_poll() -> None:
    assert isinstance(download_error(client.content, response(403, b"<Error><Code>AccessDenied</Code></Error>")),
                      ResultExpired)
    assert download_error(client.content, response(503, b"busy")).kind == "retryable"
