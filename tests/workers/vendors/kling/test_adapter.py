"""Kling adapter: request mapping and refusals, statuses, error codes from recorded bodies, and the JWT."""
from __future__ import annotations

import jwt
import pytest

from app.channels import ChannelConfig, ModelSpec
from app.video_request import ImageInput, VideoRequest
from tests.workers.vendors.recorded import download_error, response
from workers.vendors.base import Refusal, ResultExpired, UpstreamError
from workers.vendors.kling import adapter, client, mapping, status
from workers.vendors.kling.client import REFRESH_MARGIN, TOKEN_TTL, TokenCache
from workers.vendors.kling.errors import classify

MODEL = ModelSpec("kling-v2-5-turbo")
SK = "s" * 32  # HS256 keys shorter than 32 bytes draw a PyJWT warning


def test_text_to_video_maps_to_the_text2video_body() -> None:
    request = VideoRequest(model="kling-video", prompt="a fox", negative_prompt="blur", seconds=10,
                           aspect_ratio="9:16", resolution="1080p",
                           vendor_params={"cfg_scale": 0.4, "camera_control": {"type": "forward_up"}})
    mapping.check(request, MODEL)
    assert mapping.endpoint(request) == "text2video"
    assert mapping.create_body(request, MODEL, "key-1") == {
        "model_name": "kling-v2-5-turbo", "prompt": "a fox", "negative_prompt": "blur", "duration": "10",
        "mode": "pro", "aspect_ratio": "9:16", "cfg_scale": 0.4, "camera_control": {"type": "forward_up"},
        "external_task_id": "key-1"}


def test_frames_map_to_image2video_with_urls_and_raw_base64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mapping, "image_bytes", lambda image: b"\x89PNG\r\n\x1a\nxyz")
    request = VideoRequest(model="kling-v1", prompt="turn", mode="std", images=(
        ImageInput("first_frame", url="https://example.com/a.png"),
        ImageInput("last_frame", key="inputs/1", content_type="image/png")))
    mapping.check(request, ModelSpec("kling-v1"))
    body = mapping.create_body(request, ModelSpec("kling-v1"), "k")
    assert mapping.endpoint(request) == "image2video"
    assert body["image"] == "https://example.com/a.png"
    assert body["image_tail"] == "iVBORw0KGgp4eXo="  # no data: prefix: Kling refuses one
    assert (body["mode"], body["external_task_id"]) == ("std", "k")


def test_our_external_task_id_wins_over_a_pass_through_one() -> None:
    request = VideoRequest(model="m", prompt="p", vendor_params={"external_task_id": "client-chosen"})
    assert mapping.create_body(request, MODEL, "ours")["external_task_id"] == "ours"


@pytest.mark.parametrize(("request_", "model", "param"), [
    (VideoRequest(model="m", prompt="p", seconds=7), MODEL, "duration"),
    (VideoRequest(model="m", prompt="p", n=2), MODEL, "n"),
    (VideoRequest(model="m", prompt="p", seed=3), MODEL, "seed"),
    (VideoRequest(model="m", prompt="p", fps=30), MODEL, "fps"),
    (VideoRequest(model="m", prompt="p", width=1280, height=720), MODEL, "size"),
    (VideoRequest(model="m", prompt="p", aspect_ratio="4:3"), MODEL, "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", mode="turbo"), MODEL, "mode"),
    (VideoRequest(model="m", prompt="p", resolution="540p"), MODEL, "resolution"),
    (VideoRequest(model="m", prompt="p", mode="std", resolution="1080p"), MODEL, "resolution"),
    (VideoRequest(model="m", prompt="p", mode="std"), ModelSpec("kling-v2-6", {"mode": "pro"}), "mode"),
    (VideoRequest(model="m", prompt="p", vendor_params={"mode": "std"}), ModelSpec("x", {"mode": "pro"}), "mode"),
    (VideoRequest(model="m"), MODEL, "prompt"),
    (VideoRequest(model="m", prompt="x" * 2501), MODEL, "prompt"),
    (VideoRequest(model="m", prompt="p"), ModelSpec("kling-v2-1", {"text2video": False}), "image"),
    (VideoRequest(model="m", prompt="p", images=(ImageInput("first_frame", url="u"),), aspect_ratio="16:9"),
     MODEL, "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", images=(ImageInput("reference", url="u"), ImageInput("reference", url="v"))),
     MODEL, "reference_image_urls"),
])
def test_what_kling_cannot_do_is_refused_by_field(request_: VideoRequest, model: ModelSpec, param: str) -> None:
    with pytest.raises(Refusal) as refused:
        adapter.check(request_, model)
    assert refused.value.param == param


def test_model_options_set_durations_and_mode() -> None:
    model = ModelSpec("kling-v2-6", {"mode": "pro", "durations": [5, 10, 15]})
    request = VideoRequest(model="m", prompt="p", seconds=15)
    adapter.check(request, model)
    assert mapping.create_body(request, model, "k")["mode"] == "pro"


# Recorded shapes from Kling's docs: the data object of a query answer.
def _task(task_status: str, **extra: object) -> dict[str, object]:
    return {"task_id": "860", "task_status": task_status, "task_status_msg": "", "created_at": 1722769557708,
            "updated_at": 1722769557708, "task_info": {"external_task_id": "k"}, **extra}


@pytest.mark.parametrize(("data", "state", "code"), [
    (_task("submitted"), "queued", None),
    (_task("processing"), "running", None),
    (_task("succeed", task_result={"videos": [{"id": "v", "url": "https://cdn/v.mp4", "duration": "5"}]}),
     "succeeded", None),
    (_task("failed", task_status_msg="Failure to pass the risk control system"), "failed", "content_policy"),
    (_task("failed", task_status_msg="internal error"), "failed", "upstream_error"),
    (_task("something_new"), "running", None),
])
def test_every_status_maps_to_an_upstream_state(data: dict[str, object], state: str, code: str | None) -> None:
    result = status.to_poll_result(data)
    assert (result.state, result.error_code) == (state, code)
    if state == "succeeded":
        assert result.result_location == "https://cdn/v.mp4"
    if state == "failed":
        assert result.error_message == data["task_status_msg"]


def test_policy_patterns_are_a_channel_option() -> None:
    data = _task("failed", task_status_msg="Nope: flagged")
    assert status.to_poll_result(data, ["flagged"]).error_code == "content_policy"
    assert status.to_poll_result(data).error_code == "upstream_error"


def test_success_without_a_url_is_a_malformed_answer() -> None:
    with pytest.raises(UpstreamError) as raised:
        status.to_poll_result(_task("succeed", task_result={"videos": []}))
    assert raised.value.kind == "retryable" and raised.value.code == "upstream_malformed"


def _error(http: int, code: int, headers: dict[str, str] | None = None) -> UpstreamError:
    return classify(response(http, {"code": code, "message": f"kling says {code}", "request_id": "r"}, headers))


@pytest.mark.parametrize(("http", "code", "kind", "gateway"), [
    (429, 1302, "rate_limited", "rate_limited"),
    (429, 1303, "rate_limited", "rate_limited"),
    (401, 1000, "terminal", "upstream_auth_failed"),
    (401, 1002, "terminal", "upstream_auth_failed"),
    (401, 1004, "retryable", "upstream_error"),
    (429, 1100, "terminal", "upstream_auth_failed"),
    (429, 1101, "terminal", "upstream_quota_exceeded"),
    (429, 1102, "terminal", "upstream_quota_exceeded"),
    (403, 1103, "terminal", "upstream_auth_failed"),
    (400, 1201, "terminal", "invalid_request"),
    (404, 1203, "terminal", "upstream_not_found"),
    (400, 1300, "terminal", "content_policy"),
    (400, 1301, "terminal", "content_policy"),
    (429, 1304, "terminal", "upstream_auth_failed"),
    (500, 5000, "retryable", "upstream_error"),
    (503, 5001, "retryable", "upstream_error"),
    (504, 5002, "retryable", "upstream_error"),
    (200, 1201, "terminal", "invalid_request"),  # an error code inside a 200 is still an error
    (502, 9999, "retryable", "upstream_error"),
])
def test_business_codes_are_classified(http: int, code: int, kind: str, gateway: str) -> None:
    error = _error(http, code)
    assert (error.kind, error.code, error.vendor_code) == (kind, gateway, str(code))
    assert error.message == f"kling says {code}"


def test_rate_limits_honour_retry_after_and_odd_bodies_fall_back_to_the_status() -> None:
    assert _error(429, 1302, {"Retry-After": "12"}).retry_after == 12.0
    assert classify(response(502, b"<html>bad gateway</html>")).kind == "retryable"
    assert classify(response(401, b"nope")).code == "upstream_auth_failed"


def test_an_expired_result_link_asks_for_a_fresh_poll() -> None:
    expired = response(403, b"<Error><Code>AccessDenied</Code></Error>")
    assert isinstance(download_error(client.result, expired), ResultExpired)
    assert download_error(client.result, response(500, b"")).kind == "retryable"


def test_the_jwt_carries_klings_claims_and_header() -> None:
    cache = TokenCache(clock=lambda: 1_800_000_000.0)
    token = cache.token("ak", SK)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SK, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})
    assert claims == {"iss": "ak", "exp": 1_800_000_000 + TOKEN_TTL, "nbf": 1_800_000_000 - 5}


def test_the_jwt_is_reused_until_shortly_before_it_expires() -> None:
    now = [1_800_000_000.0]
    cache = TokenCache(clock=lambda: now[0])
    first = cache.token("ak", SK)
    now[0] += TOKEN_TTL - REFRESH_MARGIN - 1
    assert cache.token("ak", SK) == first
    assert cache.token("ak", "o" * 32) != first  # per key pair, i.e. per channel
    now[0] += 2
    fresh = cache.token("ak", SK)
    assert fresh != first and jwt.decode(fresh, SK, algorithms=["HS256"], options={"verify_exp": False,
                                         "verify_nbf": False})["exp"] == int(now[0]) + TOKEN_TTL
    cache.forget("ak", SK)
    now[0] += 1
    assert cache.token("ak", SK) != fresh


def test_a_token_kling_calls_expired_is_dropped_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    channel = ChannelConfig(name="c", vendor="kling", base_url="http://kling", models={}, api_key="ak",
                            secret_key=SK)
    forgotten: list[tuple[str, str]] = []
    monkeypatch.setattr(client.tokens, "forget", lambda ak, sk: forgotten.append((ak, sk)))
    monkeypatch.setattr(client, "send", lambda *a, **k: response(401, {"code": 1004, "message": "expired"}))
    with pytest.raises(UpstreamError) as raised:
        adapter.poll(channel, "text2video/860")
    assert raised.value.kind == "retryable" and forgotten == [("ak", SK)]


def test_find_scans_the_list_for_our_external_task_id(monkeypatch: pytest.MonkeyPatch) -> None:
    channel = ChannelConfig(name="c", vendor="kling", base_url="http://kling", models={}, options={"find_pages": 2})
    pages = {1: [{"task_id": str(i), "task_info": {"external_task_id": f"other-{i}"}} for i in range(100)],
             2: [{"task_id": "77", "task_info": {"external_task_id": "ours"}}]}
    seen: list[tuple[str, int]] = []

    def list_tasks(channel: ChannelConfig, endpoint: str, page: int, size: int) -> list[dict[str, object]]:
        seen.append((endpoint, page))
        return pages.get(page, [])

    monkeypatch.setattr(client, "list_tasks", list_tasks)
    request = VideoRequest(model="m", prompt="p")
    assert adapter.find(channel, request, MODEL, "ours") == "text2video/77"
    assert adapter.find(channel, request, MODEL, "missing") is None
    assert seen == [("text2video", 1), ("text2video", 2)] * 2


def test_upstream_ids_carry_the_endpoint() -> None:
    with pytest.raises(UpstreamError):
        adapter.poll(ChannelConfig(name="c", vendor="kling", base_url="http://k", models={}), "lipsync/1")
