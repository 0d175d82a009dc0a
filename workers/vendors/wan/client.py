"""HTTP client for DashScope: Bearer key, and `X-DashScope-Async: enable` on creates (it has no sync mode)."""
from __future__ import annotations

from typing import Any

from app.channels import ChannelConfig
from workers.vendors.base import Download
from workers.vendors.http import bearer, checked, download_link, send
from workers.vendors.wan.errors import classify

# DashScope refuses to cancel a task that has left PENDING; for us that only means it is too late.
NOT_CANCELLABLE = "UnsupportedOperation"


def _headers(channel: ChannelConfig) -> dict[str, str]:
    return bearer(channel.api_key)


def create(channel: ChannelConfig, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{channel.base_url}/services/aigc/{endpoint}/video-synthesis"
    headers = {**_headers(channel), "X-DashScope-Async": "enable"}
    return checked(send("POST", url, headers=headers, json=body), classify)


def task(channel: ChannelConfig, task_id: str) -> dict[str, Any]:
    return checked(send("GET", f"{channel.base_url}/tasks/{task_id}", headers=_headers(channel)), classify)


def cancel(channel: ChannelConfig, task_id: str) -> None:
    response = send("POST", f"{channel.base_url}/tasks/{task_id}/cancel", headers=_headers(channel))
    if response.status_code >= 400:
        error = classify(response)
        if error.vendor_code != NOT_CANCELLABLE:
            raise error


def video(url: str) -> Download:
    # A signed OSS link: it carries its own authorisation, and must not be sent our key.
    return download_link(url)
