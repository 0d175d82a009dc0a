"""HTTP client for Seedance on Volcengine Ark (`/api/v3/contents/generations/tasks`), Bearer authentication."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.channels import ChannelConfig
from workers.vendors.base import Download, UpstreamError
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


def list_by_ids(channel: ChannelConfig, task_ids: Sequence[str]) -> list[Any]:
    """One page of Ark's task list filtered by id (`filter.task_ids` repeated, as Ark's samples send it)."""
    params = {"page_num": 1, "page_size": len(task_ids), "filter.task_ids": list(task_ids)}
    body = checked(send("GET", _tasks(channel), headers=_headers(channel), params=params), classify)
    items = body.get("items")
    if not isinstance(items, list):
        raise UpstreamError("retryable", "Ark's task list sent no items", code="upstream_malformed")
    return items


def delete(channel: ChannelConfig, task_id: str) -> None:
    """Cancels a queued task, deletes the record of a finished one; a task already gone is fine."""
    done_or_gone(send("DELETE", f"{_tasks(channel)}/{task_id}", headers=_headers(channel)), classify)


def content(url: str) -> Download:
    """The video from its signed TOS URL: no Ark credentials go to the object store."""
    return download_link(url, classify)
