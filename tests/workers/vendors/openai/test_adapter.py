"""OpenAI-compatible adapter: request mapping, status mapping and error classification from recorded bodies."""
from __future__ import annotations

import pytest

from app.video_request import ImageInput, VideoRequest
from tests.workers.vendors.recorded import response
from workers.vendors.base import Refusal
from workers.vendors.openai import mapping, status
from workers.vendors.openai.errors import classify


def test_create_fields_map_the_internal_request() -> None:
    request = VideoRequest(model="sora-2", prompt="p", seconds=8, aspect_ratio="9:16",
                           vendor_params={"style": "noir"})
    assert mapping.create_fields(request, "sora-2-2025-10-06") == {
        "model": "sora-2-2025-10-06", "prompt": "p", "seconds": "8", "size": "720x1280", "style": "noir"}


@pytest.mark.parametrize(("request_", "param"), [
    (VideoRequest(model="m", prompt="p", seconds=5), "seconds"),
    (VideoRequest(model="m", prompt="p", n=2), "n"),
    (VideoRequest(model="m", prompt="p", width=640, height=480), "size"),
    (VideoRequest(model="m", prompt="p", aspect_ratio="4:3"), "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", images=(ImageInput("first_frame", url="u"),
                                                  ImageInput("last_frame", url="v"))), "last_image"),
    (VideoRequest(model="m"), "prompt"),
])
def test_what_the_upstream_cannot_do_is_refused_by_field(request_: VideoRequest, param: str) -> None:
    with pytest.raises(Refusal) as refused:
        mapping.check(request_)
    assert refused.value.param == param


@pytest.mark.parametrize(("body", "state", "code"), [
    ({"status": "queued", "progress": 0}, "queued", None),
    ({"status": "in_progress", "progress": 40}, "running", None),
    ({"status": "completed", "progress": 100}, "succeeded", None),
    ({"status": "failed", "error": {"code": "moderation_blocked", "message": "no"}}, "failed", "content_policy"),
    ({"status": "failed", "error": {"code": "internal_error", "message": "x"}}, "failed", "upstream_error"),
    ({"status": "something_new"}, "running", None),
])
def test_statuses_map_to_upstream_states(body: dict[str, object], state: str, code: str | None) -> None:
    result = status.to_poll_result(body)
    assert (result.state, result.error_code) == (state, code)


def test_errors_are_classified() -> None:
    limited = classify(response(429, {"error": {"code": "rate_limit_exceeded", "message": "x"}}, {"Retry-After": "7"}))
    assert (limited.kind, limited.retry_after, limited.code) == ("rate_limited", 7.0, "rate_limited")
    quota = classify(response(429, {"error": {"code": "insufficient_quota", "message": "pay"}}))
    assert quota.kind == "terminal" and quota.code == "upstream_quota_exceeded"
    assert classify(response(503, {"error": {"message": "busy"}})).kind == "retryable"
    bad = classify(response(400, {"error": {"message": "bad size", "param": "size"}}))
    assert (bad.kind, bad.code, bad.message) == ("terminal", "invalid_request", "bad size")
    assert classify(response(401, {"error": {"message": "key"}})).code == "upstream_auth_failed"
    assert classify(response(502, b"<html>bad gateway</html>")).kind == "retryable"
