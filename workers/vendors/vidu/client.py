"""HTTP client for Vidu's `/ent/v2` API (`Authorization: Token <key>`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests

from app.channels import ChannelConfig
from workers.vendors.base import Download, UpstreamError
from workers.vendors.http import done_or_gone, download_link, json_body, send
from workers.vendors.vidu.errors import classify


def _headers(channel: ChannelConfig) -> dict[str, str]:
    return {"Authorization": f"Token {channel.api_key}"}  # the word Token: Vidu refuses Bearer


def _checked(channel: ChannelConfig, response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise classify(response, channel.options)
    body = json_body(response)
    if "reason" in body and "code" in body:
        raise classify(response, channel.options)  # the error envelope inside a 200, should Vidu send one
    return body


def create(channel: ChannelConfig, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return _checked(channel, send("POST", f"{channel.base_url}/{path}", headers=_headers(channel), json=body))


def creations(channel: ChannelConfig, task_id: str) -> dict[str, Any]:
    return _checked(channel, send("GET", f"{channel.base_url}/tasks/{task_id}/creations", headers=_headers(channel)))


def list_by_ids(channel: ChannelConfig, task_ids: Sequence[str]) -> list[Any]:
    """One page of the task list filtered by id (`task_ids` repeated), a page as large as the ids asked about."""
    params = {"task_ids": list(task_ids), "pager.pagesz": len(task_ids)}
    body = _checked(channel, send("GET", f"{channel.base_url}/tasks", headers=_headers(channel), params=params))
    tasks = body.get("tasks")
    if not isinstance(tasks, list):
        raise UpstreamError("retryable", "Vidu's task list sent no tasks", code="upstream_malformed")
    return tasks


def cancel(channel: ChannelConfig, task_id: str) -> None:
    response = send("POST", f"{channel.base_url}/tasks/{task_id}/cancel", headers=_headers(channel),
                    json={"id": task_id})
    done_or_gone(response, lambda answer: classify(answer, channel.options))


def result(url: str) -> Download:
    # A signed store link: our key stays off a host that is not Vidu's API.
    return download_link(url)
