"""HTTP client for Veo on the Gemini API: `x-goog-api-key` on every call, the file download included."""
from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from app.channels import ChannelConfig
from app.netguard import UnsafeURL, check_public_url
from app.normalize import sniff_image
from app.video_request import ImageInput
from workers.vendors.base import Download, ErrorKind, UpstreamError
from workers.vendors.http import CHUNK_SIZE, download, image_bytes, json_body, send
from workers.vendors.veo.errors import classify, classify_download

MAX_REDIRECTS = 3


def _headers(channel: ChannelConfig) -> dict[str, str]:
    return {"x-goog-api-key": channel.api_key}


def _checked(response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise classify(response)
    return json_body(response)


def create(channel: ChannelConfig, upstream_model: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{channel.base_url}/models/{upstream_model}:predictLongRunning"
    return _checked(send("POST", url, headers=_headers(channel), json=body))


def operation(channel: ChannelConfig, name: str) -> dict[str, Any]:
    return _checked(send("GET", f"{channel.base_url}/{name}", headers=_headers(channel)))


def video_file(channel: ChannelConfig, uri: str) -> Download:
    # The key goes only to the API's own origin: a file URI elsewhere must not learn it.
    headers = _headers(channel) if _origin(uri) == _origin(channel.base_url) else {}
    return download(uri, classify_download, headers=headers)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def inline_image(image: ImageInput) -> dict[str, str]:
    """Veo takes images inline only: our stored bytes, or the client's URL fetched here."""
    if image.key:
        data, mime_type = image_bytes(image), image.content_type or "image/png"
    else:
        from app.extensions import settings  # late, as http.image_bytes imports storage: no app at import time

        config = settings()
        data = fetch_image(image.url or "", config.max_image_bytes, config.allowed_private_hosts)
        mime_type = sniff_image(data) or "image/png"
    return {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": mime_type}


def fetch_image(url: str, max_bytes: int, allowed_hosts: tuple[str, ...]) -> bytes:
    """The bytes of a client's image URL, checked again here (and at every redirect) against private
    addresses, since DNS may have changed since submission."""
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_public_url(url, allowed_hosts)
        except UnsafeURL as exc:
            raise _image_error("terminal", f"image URL {exc}") from exc
        try:
            response = send("GET", url, stream=True, allow_redirects=False)
        except UpstreamError as exc:
            raise _image_error("retryable", f"could not fetch the image: {exc.message}") from exc
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status_code >= 400:
                kind = "retryable" if response.status_code >= 500 else "terminal"
                raise _image_error(kind, f"could not fetch the image: HTTP {response.status_code}")
            data = _read(response, max_bytes)
        if sniff_image(data) is None:
            raise _image_error("terminal", "image URL did not return a PNG, JPEG, WebP or GIF image")
        return data
    raise _image_error("terminal", f"image URL redirected more than {MAX_REDIRECTS} times")


def _read(response: requests.Response, max_bytes: int) -> bytes:
    data = bytearray()
    try:
        for chunk in response.iter_content(CHUNK_SIZE):
            data += chunk
            if len(data) > max_bytes:
                raise _image_error("terminal", f"image is larger than {max_bytes} bytes")
    except requests.RequestException as exc:
        raise _image_error("retryable", f"image download interrupted: {type(exc).__name__}") from exc
    return bytes(data)


def _image_error(kind: ErrorKind, message: str) -> UpstreamError:
    # Veo was not contacted yet: `reached=False` lets the core retry the submission without fearing a duplicate.
    return UpstreamError(kind, message, code="invalid_request" if kind == "terminal" else "upstream_error",
                         reached=False)
