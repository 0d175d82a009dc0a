"""HTTP client for OpenAI-compatible `/v1/videos` upstreams (Sora, or another Vidgate)."""
from __future__ import annotations

import json
from typing import Any

from app.channels import ChannelConfig
from app.video_request import VideoRequest
from workers.vendors.base import Download
from workers.vendors.http import bearer, checked, done_or_gone, download, image_bytes, send
from workers.vendors.openai.errors import classify


def _headers(channel: ChannelConfig, **extra: str) -> dict[str, str]:
    return {**bearer(channel.api_key), **extra}


def create(channel: ChannelConfig, request: VideoRequest, fields: dict[str, Any], submit_key: str) -> dict[str, Any]:
    url = f"{channel.base_url}/videos"
    headers = _headers(channel, **{"Idempotency-Key": submit_key})
    image = next(iter(request.images_with("first_frame")), None)
    if image is not None and image.key:
        # Multipart, as the official SDK sends it: nested values travel as JSON strings.
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        files = {"input_reference": ("input", image_bytes(image), image.content_type or "image/png")}
        return checked(send("POST", url, headers=headers, data=form, files=files), classify)
    if image is not None:
        fields = {**fields, "input_reference": {"image_url": image.url}}
    return checked(send("POST", url, headers=headers, json=fields), classify)


def remix(channel: ChannelConfig, upstream_id: str, prompt: str, submit_key: str) -> dict[str, Any]:
    url = f"{channel.base_url}/videos/{upstream_id}/remix"
    headers = _headers(channel, **{"Idempotency-Key": submit_key})
    return checked(send("POST", url, headers=headers, json={"prompt": prompt}), classify)


def retrieve(channel: ChannelConfig, upstream_id: str) -> dict[str, Any]:
    return checked(send("GET", f"{channel.base_url}/videos/{upstream_id}", headers=_headers(channel)), classify)


def content(channel: ChannelConfig, upstream_id: str, variant: str = "video") -> Download:
    return download(f"{channel.base_url}/videos/{upstream_id}/content", classify, params={"variant": variant},
                    headers=_headers(channel, Accept="application/binary"))


def delete(channel: ChannelConfig, upstream_id: str) -> None:
    done_or_gone(send("DELETE", f"{channel.base_url}/videos/{upstream_id}", headers=_headers(channel)), classify)
