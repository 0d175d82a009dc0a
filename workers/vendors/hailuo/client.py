"""HTTP client for the MiniMax video API: Bearer key, optional GroupId, errors inside HTTP 200 bodies."""
from __future__ import annotations

from typing import Any

import requests

from app.channels import ChannelConfig
from workers.vendors.base import Download, UpstreamError
from workers.vendors.hailuo import errors
from workers.vendors.http import bearer, download_link, json_body, send


def _headers(channel: ChannelConfig) -> dict[str, str]:
    return bearer(channel.api_key)


def _params(channel: ChannelConfig, **params: str) -> dict[str, str]:
    # Older MiniMax docs require the account's GroupId on every call (UNVERIFIED for today's API): sent
    # only when the channel's `group_id` option is set.
    group_id = channel.options.get("group_id")
    return {**params, "GroupId": str(group_id)} if group_id else params


def _answer(channel: ChannelConfig, response: requests.Response) -> dict[str, Any]:
    """The body of a successful call. MiniMax answers most errors with HTTP 200 and a non-zero
    `base_resp.status_code`, so the body's code is looked at before the HTTP status."""
    code, _ = errors.base_resp(response)
    if code or response.status_code >= 400:
        raise errors.classify(response, errors.rate_limit_codes(channel))
    return json_body(response)


def create(channel: ChannelConfig, body: dict[str, Any]) -> dict[str, Any]:
    response = send("POST", f"{channel.base_url}/v1/video_generation", headers=_headers(channel),
                    params=_params(channel), json=body)
    return _answer(channel, response)


def query(channel: ChannelConfig, task_id: str) -> dict[str, Any]:
    response = send("GET", f"{channel.base_url}/v1/query/video_generation", headers=_headers(channel),
                    params=_params(channel, task_id=task_id))
    if response.status_code == 200:
        body = json_body(response)
        if body.get("status") == "Fail":
            return body  # a failed task's reason rides in base_resp: the task's outcome, not this call's error
    return _answer(channel, response)


def download_url(channel: ChannelConfig, file_id: str) -> str:
    """A fresh download URL for a finished video's file (`GET /v1/files/retrieve`)."""
    response = send("GET", f"{channel.base_url}/v1/files/retrieve", headers=_headers(channel),
                    params=_params(channel, file_id=file_id))
    file = _answer(channel, response).get("file")
    url = file.get("download_url") if isinstance(file, dict) else None
    if not url:
        raise UpstreamError("retryable", "MiniMax retrieved the file without a download_url",
                            code="upstream_malformed", status=response.status_code)
    return str(url)


def content(url: str) -> Download:
    # A signed object-store link: MiniMax's key is not sent there.
    return download_link(url, errors.classify)
