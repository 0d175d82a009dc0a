"""HTTP client for Kling's `/v1/videos` API, authenticated with a cached HS256 JWT per channel."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from app.channels import ChannelConfig
from workers.vendors.base import Download, UpstreamError
from workers.vendors.http import bearer, download_link, json_body, send
from workers.vendors.kling.errors import TOKEN_TIME_CODES, business_code, classify

TOKEN_TTL = 1800  # seconds, as Kling's own examples sign them
NOT_BEFORE_SLACK = 5  # nbf a little in the past, so a vendor clock slightly behind ours still accepts it
REFRESH_MARGIN = 120  # replace a cached token this long before it expires, so no request carries a dying one


class TokenCache:
    """One signed token per key pair, shared by every thread of the process and renewed near expiry."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[str, int]] = {}

    def token(self, access_key: str, secret_key: str) -> str:
        now = int(self.clock())
        with self._lock:
            cached = self._tokens.get((access_key, secret_key))
            if cached and cached[1] - REFRESH_MARGIN > now:
                return cached[0]
            expires = now + TOKEN_TTL
            payload = {"iss": access_key, "exp": expires, "nbf": now - NOT_BEFORE_SLACK}
            token = jwt.encode(payload, secret_key, algorithm="HS256", headers={"typ": "JWT"})
            self._tokens[(access_key, secret_key)] = (token, expires)
            return token

    def forget(self, access_key: str, secret_key: str) -> None:
        """Drop a token Kling called expired or not yet valid, so the retry signs a fresh one."""
        with self._lock:
            self._tokens.pop((access_key, secret_key), None)


tokens = TokenCache()


def _headers(channel: ChannelConfig) -> dict[str, str]:
    return bearer(tokens.token(channel.api_key, channel.secret_key))


def _checked(channel: ChannelConfig, response: requests.Response) -> Any:
    """The `data` of a successful answer; errors (a non-2xx status or a non-zero code) are raised classified."""
    body = json_body(response) if response.status_code < 400 else None
    if body is None or business_code(body) != 0:
        error = classify(response)
        if error.vendor_code and int(error.vendor_code) in TOKEN_TIME_CODES:
            tokens.forget(channel.api_key, channel.secret_key)
        raise error
    return body.get("data")


def _data_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not data.get("task_id"):
        raise UpstreamError("retryable", "Kling answered without a task", code="upstream_malformed")
    return data


def create(channel: ChannelConfig, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    response = send("POST", f"{channel.base_url}/v1/videos/{endpoint}", headers=_headers(channel), json=body)
    return _data_object(_checked(channel, response))


def retrieve(channel: ChannelConfig, endpoint: str, task_id: str) -> dict[str, Any]:
    response = send("GET", f"{channel.base_url}/v1/videos/{endpoint}/{task_id}", headers=_headers(channel))
    return _data_object(_checked(channel, response))


def list_tasks(channel: ChannelConfig, endpoint: str, page: int, size: int) -> list[dict[str, Any]]:
    response = send("GET", f"{channel.base_url}/v1/videos/{endpoint}", headers=_headers(channel),
                    params={"pageNum": page, "pageSize": size})
    data = _checked(channel, response)
    if not isinstance(data, list):
        raise UpstreamError("retryable", "Kling's task list is not a list", code="upstream_malformed")
    return [task for task in data if isinstance(task, dict)]


def result(url: str) -> Download:
    # A CDN link: signed in its query, so our token stays off a host that is not Kling's API.
    return download_link(url)
