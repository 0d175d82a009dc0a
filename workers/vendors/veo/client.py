"""HTTP client for Veo on the Gemini API: `x-goog-api-key` on every call, the file download included."""
from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from app.channels import ChannelConfig
from app.normalize import sniff_image
from app.video_request import ImageInput
from workers.vendors.base import Download
from workers.vendors.http import checked, download, image_bytes, send
from workers.vendors.veo.errors import classify, classify_download


def _headers(channel: ChannelConfig) -> dict[str, str]:
    return {"x-goog-api-key": channel.api_key}


def create(channel: ChannelConfig, upstream_model: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{channel.base_url}/models/{upstream_model}:predictLongRunning"
    return checked(send("POST", url, headers=_headers(channel), json=body), classify)


def operation(channel: ChannelConfig, name: str) -> dict[str, Any]:
    return checked(send("GET", f"{channel.base_url}/{name}", headers=_headers(channel)), classify)


def video_file(channel: ChannelConfig, uri: str) -> Download:
    # The key goes only to the API's own origin: a file URI elsewhere must not learn it.
    headers = _headers(channel) if _origin(uri) == _origin(channel.base_url) else {}
    return download(uri, classify_download, headers=headers)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def inline_image(image: ImageInput) -> dict[str, str]:
    """Veo takes images inline only: our stored bytes, or the client's URL fetched here (by `image_bytes`)."""
    data = image_bytes(image)
    # A stored image's type was checked when it arrived; a fetched one's is what its bytes say.
    mime_type = (image.content_type if image.key else sniff_image(data)) or "image/png"
    return {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": mime_type}
