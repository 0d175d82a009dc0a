"""HTTP client for Vidu's `/ent/v2` API (`Authorization: Token <key>`)."""
from __future__ import annotations

from typing import Any

import requests

from app.channels import ChannelConfig
from workers.vendors.base import Download
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


def cancel(channel: ChannelConfig, task_id: str) -> None:
    response = send("POST", f"{channel.base_url}/tasks/{task_id}/cancel", headers=_headers(channel),
                    json={"id": task_id})
    done_or_gone(response, lambda answer: classify(answer, channel.options))


def result(url: str) -> Download:
    # A signed store link: our key stays off a host that is not Vidu's API.
    return download_link(url)
