"""Shared vendor HTTP plumbing: what a failed connection means, and fetching client images safely."""
from __future__ import annotations

import pytest
import requests
from flask import Flask, Response, redirect

from simulators.app import serve_in_thread
from tests.workers.vendors.recorded import response
from workers.vendors.base import ResultExpired, UpstreamError
from workers.vendors.http import _fetch_image, _reached, link_error, new_session, recorded, send

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def image_host() -> str:  # type: ignore[misc]
    app = Flask(__name__)
    routes = {
        "/ok.png": lambda: Response(PNG, mimetype="image/png"),
        "/big.png": lambda: Response(PNG * 1000, mimetype="image/png"),
        "/page.html": lambda: Response(b"<html></html>", mimetype="text/html"),
        "/hop": lambda: redirect("/ok.png"),
        "/to-metadata": lambda: redirect("http://169.254.169.254/latest/meta-data"),
        "/to-localhost": lambda: redirect("http://localhost:1/x.png"),
    }
    for path, view in routes.items():
        app.add_url_rule(path, endpoint=path, view_func=view)
    with serve_in_thread(app) as url:
        yield url


def test_fetches_an_image_through_allowed_redirects(image_host: str) -> None:
    allowed = (image_host.split("//")[1],)
    assert _fetch_image(f"{image_host}/ok.png", 10_000, allowed) == PNG
    assert _fetch_image(f"{image_host}/hop", 10_000, allowed) == PNG


@pytest.mark.parametrize(("path", "reason"), [("/to-metadata", "non-public"), ("/to-localhost", "non-public"),
                                              ("/big.png", "larger"), ("/page.html", "did not serve")])
def test_refuses_private_redirects_oversize_and_non_images(image_host: str, path: str, reason: str) -> None:
    with pytest.raises(UpstreamError, match=reason) as refused:
        _fetch_image(f"{image_host}{path}", 10_000, (image_host.split("//")[1],))
    assert refused.value.kind == "terminal"


def test_a_host_not_allowed_is_refused_before_any_connection() -> None:
    with pytest.raises(UpstreamError, match="non-public"):
        _fetch_image("http://127.0.0.1:9/x.png", 10_000, ())


def test_a_refused_connection_did_not_reach_the_vendor() -> None:
    with pytest.raises(UpstreamError) as error:
        send("POST", "http://127.0.0.1:9/v1/videos", json={})
    assert error.value.reached is False and error.value.kind == "retryable"
    assert _reached(requests.ReadTimeout()) is True


def test_a_failed_image_fetch_never_reached_the_vendor(app: Flask) -> None:
    from app.video_request import ImageInput
    from workers.vendors.http import image_bytes

    with pytest.raises(UpstreamError) as refused:
        image_bytes(ImageInput("first_frame", url="http://127.0.0.1:9/x.png"))
    assert refused.value.reached is False


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_refused_result_link_has_expired_and_is_polled_again(status: int) -> None:
    assert isinstance(link_error(response(status, b"<Error><Code>AccessDenied</Code></Error>")), ResultExpired)
    assert isinstance(link_error(response(status, b""), lambda answer: UpstreamError("terminal", "x")), ResultExpired)


def test_other_result_link_errors_go_by_status_or_by_the_vendor() -> None:
    busy = link_error(response(503, b"busy"))
    assert (busy.kind, busy.code, busy.status) == ("retryable", "download_failed", 503)
    assert link_error(response(400, b""), lambda answer: UpstreamError("terminal", "vendor's")).message == "vendor's"
    with pytest.raises(ResultExpired):
        recorded(None)
    assert recorded("https://store.example/v.mp4") == "https://store.example/v.mp4"


def test_a_session_reads_the_environment_once_unless_a_proxy_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme in ("http", "https", "all", "no"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/private-ca.pem")
    plain = new_session()
    assert plain.trust_env is False and plain.verify == "/etc/ssl/private-ca.pem"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert new_session().trust_env is True  # requests applies the proxy and NO_PROXY per request
