"""HTTP client for Seedance on Volcengine Ark (`/api/v3/contents/generations/tasks`), Bearer authentication."""
from __future__ import annotations

from typing import Any

from app.channels import ChannelConfig
from workers.vendors.base import Download
from workers.vendors.http import bearer, checked, done_or_gone, download_link, send
from workers.vendors.seedance.errors import classify


def _headers(channel: ChannelConfig) -> dict[str, str]:
    return bearer(channel.api_key)


def _tasks(channel: ChannelConfig) -> str:
    return f"{channel.base_url}/contents/generations/tasks"


def create(channel: ChannelConfig, body: dict[str, Any]) -> dict[str, Any]:
    return checked(send("POST", _tasks(channel), headers=_headers(channel), json=body), classify)


def retrieve(channel: ChannelConfig, task_id: str) -> dict[str, Any]:
    return checked(send("GET", f"{_tasks(channel)}/{task_id}", headers=_headers(channel)), classify)


def delete(channel: ChannelConfig, task_id: str) -> None:
    """Cancels a queued task, deletes the record of a finished one; a task already gone is fine."""
    done_or_gone(send("DELETE", f"{_tasks(channel)}/{task_id}", headers=_headers(channel)), classify)


def content(url: str) -> Download:
    """The video from its signed TOS URL: no Ark credentials go to the object store."""
    return download_link(url, classify)
