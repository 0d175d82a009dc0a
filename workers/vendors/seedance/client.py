"""HTTP client for Seedance on Volcengine Ark (`/api/v3/contents/generations/tasks`), Bearer authentication."""
from __future__ import annotations

from typing import Any

import requests

from app.channels import ChannelConfig
from workers.vendors.base import Download, ResultExpired, UpstreamError
from workers.vendors.http import download, json_body, send
from workers.vendors.seedance.errors import classify


def _headers(channel: ChannelConfig) -> dict[str, str]:
    return {"Authorization": f"Bearer {channel.api_key}"}


def _checked(response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise classify(response)
    return json_body(response)


def _tasks(channel: ChannelConfig) -> str:
    return f"{channel.base_url}/contents/generations/tasks"


def create(channel: ChannelConfig, body: dict[str, Any]) -> dict[str, Any]:
    return _checked(send("POST", _tasks(channel), headers=_headers(channel), json=body))


def retrieve(channel: ChannelConfig, task_id: str) -> dict[str, Any]:
    return _checked(send("GET", f"{_tasks(channel)}/{task_id}", headers=_headers(channel)))


def delete(channel: ChannelConfig, task_id: str) -> None:
    """Cancels a queued task, deletes the record of a finished one; a task already gone is fine."""
    response = send("DELETE", f"{_tasks(channel)}/{task_id}", headers=_headers(channel))
    if response.status_code >= 400 and response.status_code != 404:
        raise classify(response)


def _classify_download(response: requests.Response) -> UpstreamError:
    # TOS refuses an expired signed link with 403 (or 404 once the object is gone).
    if response.status_code in (403, 404):
        return ResultExpired()
    return classify(response)


def content(url: str) -> Download:
    """The video from its signed TOS URL: no Ark credentials go to the object store."""
    return download(url, _classify_download)
