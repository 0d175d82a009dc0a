"""HTTP plumbing shared by every vendor client: pooled sessions, timeouts, transport-error meaning."""
from __future__ import annotations

import base64
import email.utils
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from app.netguard import UnsafeURL, check_public_url
from app.normalize import sniff_image
from app.video_request import ImageInput
from workers.vendors.base import Download, ResultExpired, UpstreamError

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
DOWNLOAD_READ_TIMEOUT = 60.0  # between two chunks of a download, not for the whole file
CHUNK_SIZE = 256 * 1024
MAX_REDIRECTS = 3
# How an object store answers a signed result link that has expired (or whose object is gone).
EXPIRED_LINK_STATUSES = frozenset({403, 404, 410})

Classifier = Callable[[requests.Response], UpstreamError]

_local = threading.local()


def configure(read_timeout: float, download_read_timeout: float) -> None:
    """Set the timeouts from settings, once per worker process (module values so tests can patch them)."""
    global READ_TIMEOUT, DOWNLOAD_READ_TIMEOUT
    READ_TIMEOUT, DOWNLOAD_READ_TIMEOUT = read_timeout, download_read_timeout


def session() -> requests.Session:
    """One pooled session per thread: connections to a vendor are reused across polls."""
    if not hasattr(_local, "session"):
        _local.session = new_session()
    return _local.session


def new_session() -> requests.Session:
    """A session that reads the environment once instead of on every request: requests otherwise scans
    os.environ for proxies and looks for ~/.netrc on each call, about a tenth of a polling worker's CPU.
    With no proxy configured it stops consulting the environment, keeping the CA bundle it names; with one,
    requests goes on applying the proxies and NO_PROXY per request."""
    new = requests.Session()
    if not urllib.request.getproxies():
        new.trust_env = False
        new.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return new


def _reached(exc: requests.RequestException) -> bool:
    """Could the vendor have received the request? Only a failure to connect proves it did not."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return not isinstance(reason, NewConnectionError | NameResolutionError)
    return True


def send(method: str, url: str, *, timeout: float | None = None, **kwargs: Any) -> requests.Response:
    """Send one request; transport failures become retryable UpstreamErrors that say if it reached."""
    read_timeout = READ_TIMEOUT if timeout is None else timeout
    try:
        return session().request(method, url, timeout=(CONNECT_TIMEOUT, read_timeout), **kwargs)
    except requests.RequestException as exc:
        raise UpstreamError(
            "retryable", f"{method} {_host(url)}: {type(exc).__name__}", code="upstream_unreachable",
            reached=_reached(exc),
        ) from exc


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a vendor that takes its key (or a token) as a Bearer credential."""
    return {"Authorization": f"Bearer {token}"}


def checked(response: requests.Response, classify: Classifier) -> dict[str, Any]:
    """The JSON object of a successful answer; an error status raises the vendor's classification of it."""
    if response.status_code >= 400:
        raise classify(response)
    return json_body(response)


def done_or_gone(response: requests.Response, classify: Classifier) -> None:
    """The answer to a cancel or delete: a 404 means the job is already gone, which is what was asked."""
    if response.status_code >= 400 and response.status_code != 404:
        raise classify(response)


def json_body(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a vendor answer; anything else is a retryable malformed answer."""
    try:
        body = response.json()
    except ValueError as exc:
        raise UpstreamError("retryable", f"malformed body from vendor (HTTP {response.status_code})",
                            code="upstream_malformed", status=response.status_code) from exc
    if not isinstance(body, dict):
        raise UpstreamError("retryable", "malformed body from vendor: not an object",
                            code="upstream_malformed", status=response.status_code)
    return body


def json_object(response: requests.Response, key: str | None = None) -> dict[str, Any]:
    """The answer's JSON object (or its `key` member), {} when there is none: error answers are often an HTML
    page or empty, and classifying them must not fail on that."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if key is not None:
        body = body.get(key) if isinstance(body, dict) else None
    return body if isinstance(body, dict) else {}


def retry_after(response: requests.Response) -> float | None:
    """Seconds from a Retry-After header, in either of its two forms."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def status_kind(status: int) -> str:
    """The default meaning of an HTTP status when the vendor's body says nothing more specific."""
    if status == 429:
        return "rate_limited"
    if status >= 500 or status in (408, 409):
        return "retryable"
    return "terminal"


def gateway_code(kind: str, status: int) -> str:
    """The gateway code of an error known only by its kind and HTTP status (an error inside a 2xx included)."""
    if kind == "rate_limited":
        return "rate_limited"
    if kind == "retryable" or status < 400:
        return "upstream_error"
    if status in (401, 403):
        return "upstream_auth_failed"
    return "upstream_not_found" if status == 404 else "invalid_request"


def download(url: str, classify: Classifier, **kwargs: Any) -> Download:
    """GET a file as a stream: a Download, or the vendor's error for a non-2xx answer."""
    response = send("GET", url, stream=True, timeout=DOWNLOAD_READ_TIMEOUT, **kwargs)
    if response.status_code >= 400:
        try:
            raise classify(response)
        finally:
            response.close()
    length = response.headers.get("Content-Length")

    def chunks() -> Any:
        try:
            yield from response.iter_content(CHUNK_SIZE)
        except requests.RequestException as exc:
            raise UpstreamError("retryable", f"download interrupted: {type(exc).__name__}",
                                code="download_interrupted") from exc

    return Download(
        chunks=chunks(),
        close=response.close,
        content_type=response.headers.get("Content-Type", "video/mp4").split(";")[0],
        size=int(length) if length and length.isdigit() else None,
    )


def recorded(location: str | None) -> str:
    """The result location the last poll recorded; without one, polling again hands out a fresh one."""
    if not location:
        raise ResultExpired("no result location recorded; polling again hands out a fresh one")
    return location


def link_error(response: requests.Response, classify: Classifier | None = None) -> UpstreamError:
    """The error of a signed result link's answer: an expired link is ResultExpired (the core polls again for
    a fresh one); anything else is `classify`'s, or by default the HTTP status's."""
    status = response.status_code
    if status in EXPIRED_LINK_STATUSES:
        return ResultExpired(f"the result link answered HTTP {status}: it has expired")
    if classify is not None:
        return classify(response)
    return UpstreamError(status_kind(status), f"the result link answered HTTP {status}", code="download_failed",
                         status=status)


def download_link(url: str, classify: Classifier | None = None, **kwargs: Any) -> Download:
    """GET a finished video from a signed link on a CDN or object store (sent no vendor credentials): an
    expired link raises ResultExpired, any other error `classify`'s (see `link_error`)."""
    return download(url, lambda response: link_error(response, classify), **kwargs)


def image_bytes(image: ImageInput) -> bytes:
    """The bytes of a client image: from storage, or fetched from the client's URL for vendors that take
    bytes only. A fetch is guarded against SSRF at every redirect hop, and limited in size and type."""
    from app.extensions import settings, storage

    if image.key is not None:
        handle, _ = storage.open(image.key)
        with handle:
            return handle.read()
    if image.url is None:
        raise ValueError("image has neither stored bytes nor a URL")
    config = settings()
    try:
        return _fetch_image(image.url, config.max_image_bytes, config.allowed_private_hosts)
    except UpstreamError as error:
        error.reached = False  # whatever went wrong, it went wrong before the vendor was asked anything
        raise


def _fetch_image(url: str, max_bytes: int, allowed_hosts: tuple[str, ...]) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_public_url(url, allowed_hosts)
        except UnsafeURL as exc:
            raise UpstreamError("terminal", f"image URL refused: {exc}", code="invalid_request") from exc
        response = send("GET", url, stream=True, allow_redirects=False)
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status_code >= 400:
                raise UpstreamError(status_kind(response.status_code), f"image URL answered HTTP "
                                    f"{response.status_code}", code="invalid_request", status=response.status_code)
            data = bytearray()
            try:
                for chunk in response.iter_content(CHUNK_SIZE):
                    data += chunk
                    if len(data) > max_bytes:
                        raise UpstreamError("terminal", f"image at URL is larger than {max_bytes} bytes",
                                            code="invalid_request")
            except requests.RequestException as exc:
                # A cut transfer is worth another try, like a refused connection.
                raise UpstreamError("retryable", f"image download interrupted: {type(exc).__name__}",
                                    code="upstream_unreachable") from exc
            if sniff_image(data) is None:
                raise UpstreamError("terminal", "the image URL did not serve a PNG, JPEG, WebP or GIF",
                                    code="invalid_request")
            return bytes(data)
    raise UpstreamError("terminal", "image URL redirected too many times", code="invalid_request")


def image_data_url(image: ImageInput) -> str:
    """A URL for the image: the client's own, or a data: URL built from the stored bytes."""
    if image.url:
        return image.url
    encoded = base64.b64encode(image_bytes(image)).decode()
    return f"data:{image.content_type or 'image/png'};base64,{encoded}"


def _host(url: str) -> str:
    return url.split("/")[2] if "://" in url else url
