"""HTTP client for OpenAI-compatible `/v1/videos` upstreams (Sora, or another Vidgate)."""
from __future__ import annotations

import json
from typing import Any

import requests

from app.channels import ChannelConfig
from app.video_request import VideoRequest
from workers.vendors.base import Download
from workers.vendors.http import download, image_bytes, json_body, send
from workers.vendors.openai.errors import classify


def _headers(channel: ChannelConfig, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {channel.api_key}", **extra}


def _checked(response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise classify(response)
    return json_body(response)


def create(channel: ChannelConfig, request: VideoRequest, fields: dict[str, Any], submit_key: str) -> dict[str, Any]:
    url = f"{channel.base_url}/videos"
    headers = _headers(channel, **{"Idempotency-Key": submit_key})
    image = next(iter(request.images_with("first_frame")), None)
    if image is not None and image.key:
        # Multipart, as the official SDK sends it: nested values travel as JSON strings.
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        files = {"input_reference": ("input", image_bytes(image), image.content_type or "image/png")}
        return _checked(send("POST", url, headers=headers, data=form, files=files))
    if image is not None:
        fields = {**fields, "input_reference": {"image_url": image.url}}
    return _checked(send("POST", url, headers=headers, json=fields))


def remix(channel: ChannelConfig, upstream_id: str, prompt: str, submit_key: str) -> dict[str, Any]:
    url = f"{channel.base_url}/videos/{upstream_id}/remix"
    return _checked(send("POST", url, headers=_headers(channel, **{"Idempotency-Key": submit_key}),
                         json={"prompt": prompt}))


def retrieve(channel: ChannelConfig, upstream_id: str) -> dict[str, Any]:
    return _checked(send("GET", f"{channel.base_url}/videos/{upstream_id}", headers=_headers(channel)))


def content(channel: ChannelConfig, upstream_id: str, variant: str = "video") -> Download:
    return download(f"{channel.base_url}/videos/{upstream_id}/content", classify, params={"variant": variant},
                    headers=_headers(channel, Accept="application/binary"))


def delete(channel: ChannelConfig, upstream_id: str) -> None:
    response = send("DELETE", f"{channel.base_url}/videos/{upstream_id}", headers=_headers(channel))
    if response.status_code >= 400 and response.status_code != 404:
        raise classify(response)
