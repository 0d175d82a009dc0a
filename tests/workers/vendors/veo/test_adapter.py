"""Veo adapter: request mapping and refusals, operation states and error classification from recorded bodies."""
from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import requests

from app.channels import ChannelConfig, ModelSpec
from app.video_request import ImageInput, VideoRequest
from tests.workers.vendors.recorded import response
from workers.vendors.base import Refusal, ResultExpired, UpstreamError
from workers.vendors.veo import client, mapping, status
from workers.vendors.veo.errors import classify, classify_download

V31 = ModelSpec("veo-3.1-generate-preview")
V30 = ModelSpec("veo-3.0-generate-001")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


def inline(image: ImageInput) -> dict[str, str]:
    return {"bytesBase64Encoded": f"<{image.url or image.key}>", "mimeType": "image/png"}


def body_for(request: VideoRequest, model: ModelSpec = V31) -> dict[str, object]:
    return mapping.body(request, mapping.check(request, model), inline)


def test_text_to_video_maps_to_an_instance_and_parameters() -> None:
    request = VideoRequest(model="veo3.1", prompt="p", negative_prompt="fog", seconds=6, aspect_ratio="9:16",
                           vendor_params={"personGeneration": "allow_all", "video": {"uri": "u"}})
    assert body_for(request) == {
        "instances": [{"prompt": "p", "video": {"uri": "u"}}],
        "parameters": {"aspectRatio": "9:16", "durationSeconds": 6, "negativePrompt": "fog",
                       "personGeneration": "allow_all"},
    }


def test_sizes_become_aspect_ratio_and_resolution_and_high_resolutions_take_8_seconds() -> None:
    request = VideoRequest(model="m", prompt="p", width=1080, height=1920)
    assert body_for(request)["parameters"] == {"aspectRatio": "9:16", "resolution": "1080p", "durationSeconds": 8}
    fixed = ModelSpec("veo-3.1-generate-preview", {"resolution": "4k"})
    assert body_for(VideoRequest(model="m", prompt="p"), fixed)["parameters"] == {
        "resolution": "4k", "durationSeconds": 8}


def test_frames_and_reference_images_are_sent_inline() -> None:
    first, last = ImageInput("first_frame", key="k1"), ImageInput("last_frame", url="https://x/l.png")
    frames = body_for(VideoRequest(model="m", prompt="p", images=(first, last)))
    assert frames["instances"] == [{"prompt": "p", "image": inline(first), "lastFrame": inline(last)}]
    refs = (ImageInput("reference", url="https://x/a.png"), ImageInput("reference", key="k2"))
    components = ModelSpec("veo-3.1-generate-preview", {"components": True})
    sent = body_for(VideoRequest(model="m", prompt="@Image1 in @Image2", images=refs), components)
    assert sent["instances"][0]["referenceImages"] == [
        {"image": inline(refs[0]), "referenceType": "asset"}, {"image": inline(refs[1]), "referenceType": "asset"}]
    assert sent["parameters"] == {"durationSeconds": 8}


@pytest.mark.parametrize(("request_", "model", "param"), [
    (VideoRequest(model="m", prompt="p", n=2), V31, "n"),
    (VideoRequest(model="m", prompt="p", fps=30), V31, "fps"),
    (VideoRequest(model="m", prompt="p", seed=7), V31, "seed"),
    (VideoRequest(model="m", prompt="p", mode="std"), V31, "mode"),
    (VideoRequest(model="m"), V31, "prompt"),
    (VideoRequest(model="m", prompt="p", seconds=5), V31, "seconds"),
    (VideoRequest(model="m", prompt="p", seconds=4, resolution="1080p"), V31, "seconds"),
    (VideoRequest(model="m", prompt="p", aspect_ratio="1:1"), V31, "aspect_ratio"),
    (VideoRequest(model="m", prompt="p", width=640, height=480), V31, "size"),
    (VideoRequest(model="m", prompt="p", width=1280, height=720, resolution="1080p"), V31, "resolution"),
    (VideoRequest(model="m", prompt="p", resolution="4k"), V30, "resolution"),
    (VideoRequest(model="m", prompt="p", resolution="720p"), ModelSpec("veo-3.1-generate-preview",
                                                                       {"resolution": "4k"}), "resolution"),
    (VideoRequest(model="m", prompt="p", width=1280, height=720), ModelSpec("veo-3.0-generate-001",
                                                                            {"resolution": "1080p"}), "size"),
    (VideoRequest(model="m", prompt="p", images=(ImageInput("first_frame", url="u"),
                                                  ImageInput("last_frame", url="v"))), V30, "last_image"),
    (VideoRequest(model="m", prompt="p", images=(ImageInput("reference", url="u"),)), V30, "reference_image_urls"),
    (VideoRequest(model="m", prompt="p", images=tuple(ImageInput("reference", url=str(i)) for i in range(4))),
     V31, "reference_image_urls"),
    (VideoRequest(model="m", prompt="p", images=(ImageInput("first_frame", url="u"),
                                                  ImageInput("reference", url="v"))), V31, "reference_image_urls"),
    (VideoRequest(model="m", prompt="p", aspect_ratio="9:16", images=(ImageInput("reference", url="v"),)), V31,
     "aspect_ratio"),
    (VideoRequest(model="m", prompt="p"), ModelSpec("veo-3.0-generate-001", {"frames": True}), "image"),
    (VideoRequest(model="m", prompt="p"), ModelSpec("veo-3.1-generate-preview", {"components": True}),
     "reference_image_urls"),
    (VideoRequest(model="m", prompt="p", negative_prompt="x"), ModelSpec("veo-3.1-lite", {"negative_prompt": False}),
     "negative_prompt"),
])
def test_what_veo_cannot_do_is_refused_by_field(request_: VideoRequest, model: ModelSpec, param: str) -> None:
    with pytest.raises(Refusal) as refused:
        mapping.check(request_, model)
    assert refused.value.param == param


def test_model_options_override_what_a_family_offers() -> None:
    lenient = ModelSpec("veo-3.0-generate-001", {"durations": [4, 5, 6, 8], "seed": True, "last_frame": True})
    request = VideoRequest(model="m", prompt="p", seconds=5, seed=3,
                           images=(ImageInput("first_frame", url="u"), ImageInput("last_frame", url="v")))
    assert body_for(request, lenient)["parameters"] == {"durationSeconds": 5, "seed": 3}
    assert mapping.capabilities(ModelSpec("veo-2.0-generate-001")).durations == (5, 6, 7, 8)
    assert mapping.capabilities(ModelSpec("veo-4.0-preview")) == mapping.capabilities(V31)


NAME = "models/veo-3.1-generate-preview/operations/abc123"
URI = "https://generativelanguage.googleapis.com/v1beta/files/f1:download?alt=media"


@pytest.mark.parametrize(("operation", "state", "code", "location"), [
    ({"name": NAME}, "running", None, None),
    ({"name": NAME, "done": False, "metadata": {}}, "running", None, None),
    ({"name": NAME, "done": True, "response": {"generateVideoResponse": {
        "generatedSamples": [{"video": {"uri": URI}}], "raiMediaFilteredCount": 0, "raiMediaFilteredReasons": []}}},
     "succeeded", None, URI),
    ({"name": NAME, "done": True, "response": {"@type": "type.googleapis.com/x", "generateVideoResponse": {
        "generatedSamples": [{"video": {"encodedVideo": "AAAA", "encoding": "video/mp4"}}]}}}, "succeeded", None, None),
    ({"name": NAME, "done": True, "response": {"generateVideoResponse": {
        "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": ["Unable to generate: celebrity likeness"]}}},
     "failed", "content_policy", None),
    ({"name": NAME, "done": True, "error": {"code": 13, "message": "internal"}}, "failed", "upstream_error", None),
    ({"name": NAME, "done": True, "error": {"code": 3, "message": "bad image"}}, "failed", "invalid_request", None),
    ({"name": NAME, "done": True, "response": {"generateVideoResponse": {}}}, "failed", "upstream_error", None),
])
def test_operations_map_to_upstream_states(operation: dict[str, object], state: str, code: str | None,
                                          location: str | None) -> None:
    result = status.to_poll_result(operation)
    assert (result.state, result.error_code, result.result_location) == (state, code, location)
    if state == "failed":
        assert result.error_message


def test_errors_are_classified() -> None:
    limited = classify(response(429, {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
                                                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                             "retryDelay": "37s"}]}}))
    assert (limited.kind, limited.code, limited.retry_after, limited.vendor_code) == (
        "rate_limited", "rate_limited", 37.0, "RESOURCE_EXHAUSTED")
    header = classify(response(429, {"error": {"status": "RESOURCE_EXHAUSTED"}}, {"Retry-After": "5"}))
    assert header.retry_after == 5.0
    wrong_key = classify(response(400, {"error": {"code": 400, "message": "API key not valid.", "status":
                                                  "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}))
    assert (wrong_key.kind, wrong_key.code, wrong_key.vendor_code) == ("terminal", "upstream_auth_failed",
                                                                        "API_KEY_INVALID")
    no_key = classify(response(403, {"error": {"code": 403, "message": "unregistered", "status": "PERMISSION_DENIED"}}))
    assert no_key.code == "upstream_auth_failed"
    bad = classify(response(400, {"error": {"code": 400, "message": "durationSeconds out of bound",
                                            "status": "INVALID_ARGUMENT"}}))
    assert (bad.kind, bad.code, bad.message) == ("terminal", "invalid_request", "durationSeconds out of bound")
    for code, word in ((500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")):
        assert classify(response(code, {"error": {"code": code, "status": word}})).kind == "retryable"
    assert classify(response(502, b"<html>bad gateway</html>")).kind == "retryable"
    assert classify(response(404, {"error": {"code": 404, "status": "NOT_FOUND"}})).code == "upstream_not_found"


def test_an_expired_file_is_re_polled_but_a_bad_key_is_not() -> None:
    assert isinstance(classify_download(response(404, {"error": {"status": "NOT_FOUND"}})), ResultExpired)
    assert isinstance(classify_download(response(403, b"<Error/>")), ResultExpired)
    refused = classify_download(response(400, {"error": {"status": "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}))
    assert not isinstance(refused, ResultExpired) and refused.code == "upstream_auth_failed"


def test_the_key_goes_on_every_call_and_only_to_the_apis_own_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str, dict[str, str]]] = []

    def fake_send(method: str, url: str, **kwargs: object) -> requests.Response:
        sent.append((method, url, dict(kwargs.get("headers") or {})))  # type: ignore[call-overload]
        return response(200, {"name": NAME})

    monkeypatch.setattr(client, "send", fake_send)
    monkeypatch.setattr("workers.vendors.http.send", fake_send)
    channel = ChannelConfig("c", "veo", "https://api.example/v1beta", {}, api_key="k")
    client.create(channel, "veo-3.1-generate-preview", {"instances": [{}]})
    client.operation(channel, NAME)
    client.video_file(channel, "https://api.example/v1beta/files/f:download?alt=media")
    client.video_file(channel, "https://cdn.elsewhere/f.mp4")
    assert [(m, u) for m, u, _ in sent] == [
        ("POST", "https://api.example/v1beta/models/veo-3.1-generate-preview:predictLongRunning"),
        ("GET", f"https://api.example/v1beta/{NAME}"),
        ("GET", "https://api.example/v1beta/files/f:download?alt=media"),
        ("GET", "https://cdn.elsewhere/f.mp4"),
    ]
    assert [h.get("x-goog-api-key") for _, _, h in sent] == ["k", "k", "k", None]


@pytest.fixture
def image_server() -> Iterator[str]:
    """A loopback server: /png is an image, /hop redirects to it, /html is not an image, /big is too large."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            routes = {"/png": (200, PNG), "/html": (200, b"<html></html>"), "/big": (200, PNG + b"\x00" * 4096),
                      "/gone": (404, b""), "/boom": (503, b"")}
            if self.path == "/hop":
                self.send_response(302)
                self.send_header("Location", "/png")
                self.end_headers()
                return
            code, data = routes[self.path]
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def fetch_image(monkeypatch: pytest.MonkeyPatch, url: str, max_bytes: int, allowed: tuple[str, ...]) -> bytes:
    """A client's image URL as Veo's client inlines it, under these image limits."""
    limits = SimpleNamespace(max_image_bytes=max_bytes, allowed_private_hosts=allowed)
    monkeypatch.setattr("app.extensions.settings", lambda: limits)
    inlined = client.inline_image(ImageInput("first_frame", url=url))
    assert inlined["mimeType"] == "image/png"
    return base64.b64decode(inlined["bytesBase64Encoded"])


def test_image_urls_are_fetched_checked_and_inlined(image_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = (image_server.split("//")[1],)
    assert fetch_image(monkeypatch, f"{image_server}/hop", 1024, allowed) == PNG
    for path, fragment in (("/html", "did not serve"), ("/big", "larger than"), ("/gone", "HTTP 404")):
        with pytest.raises(UpstreamError, match=fragment) as refused:
            fetch_image(monkeypatch, f"{image_server}{path}", 1024, allowed)
        assert (refused.value.kind, refused.value.code) == ("terminal", "invalid_request")
    with pytest.raises(UpstreamError, match="non-public"):
        fetch_image(monkeypatch, f"{image_server}/png", 1024, ())
    # Veo was not contacted: a failed image fetch must never look like a submission that may have arrived.
    with pytest.raises(UpstreamError, match="HTTP 503") as busy:
        fetch_image(monkeypatch, f"{image_server}/boom", 1024, allowed)
    assert (busy.value.kind, busy.value.reached) == ("retryable", False)


def test_stored_images_are_inlined_with_their_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "image_bytes", lambda image: PNG)
    assert client.inline_image(ImageInput("first_frame", key="k", content_type="image/png")) == {
        "bytesBase64Encoded": base64.b64encode(PNG).decode(), "mimeType": "image/png"}
