"""HTTP client for Jimeng (Volcengine visual CV async API): Signature V4 signing and the two actions."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from app.channels import ChannelConfig
from workers.vendors.base import Download
from workers.vendors.http import download_link, json_object, send
from workers.vendors.jimeng.errors import AUTH_CODES, SUCCESS, classify, is_verdict

SUBMIT = "CVSync2AsyncSubmitTask"
GET_RESULT = "CVSync2AsyncGetResult"
# Channel-option defaults: the values of Volcengine's visual API in mainland China.
VERSION = "2022-08-31"
REGION = "cn-north-1"
SERVICE = "cv"
ALGORITHM = "HMAC-SHA256"
SIGNED_HEADERS = ("content-type", "host", "x-content-sha256", "x-date")
# The API lives at the root of its host; the canonical URI is the path relative to the channel's base URL.
CANONICAL_URI = "/"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def canonical_query(query: Mapping[str, str]) -> str:
    """RFC 3986 encoding of every key and value, sorted by key (also the query string we send)."""
    return "&".join(f"{quote(k, safe='-_.~')}={quote(query[k], safe='-_.~')}" for k in sorted(query))


def sign(
    access_key: str,
    secret_key: str,
    *,
    host: str,
    query: Mapping[str, str],
    body: bytes,
    x_date: str,
    content_type: str = "application/json",
    region: str = REGION,
    service: str = SERVICE,
) -> dict[str, str]:
    """The headers of a Signature V4 request (POST to the API root), Authorization included."""
    body_hash = hashlib.sha256(body).hexdigest()
    values = {"content-type": content_type, "host": host, "x-content-sha256": body_hash, "x-date": x_date}
    canonical_headers = "".join(f"{name}:{values[name].strip()}\n" for name in SIGNED_HEADERS)
    signed_headers = ";".join(SIGNED_HEADERS)
    canonical_request = "\n".join(
        ["POST", CANONICAL_URI, canonical_query(query), canonical_headers, signed_headers, body_hash]
    )
    short_date = x_date[:8]
    scope = f"{short_date}/{region}/{service}/request"
    string_to_sign = "\n".join([ALGORITHM, x_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = secret_key.encode()  # used as is: no prefix, no base64 decoding
    for part in (short_date, region, service, "request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "Host": host,
        "X-Content-Sha256": body_hash,
        "X-Date": x_date,
        "Authorization": f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed_headers}, "
                         f"Signature={signature}",
    }


def _call(channel: ChannelConfig, action: str, payload: dict[str, Any]) -> requests.Response:
    options = channel.options
    query = {"Action": action, "Version": str(options.get("version", VERSION))}
    # The exact bytes we sign are the bytes we send.
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = sign(
        channel.api_key, channel.secret_key,
        host=urlsplit(channel.base_url).netloc, query=query, body=body,
        x_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        region=str(options.get("region", REGION)), service=str(options.get("service", SERVICE)),
    )
    return send("POST", f"{channel.base_url}/?{canonical_query(query)}", data=body, headers=headers)


def _checked(channel: ChannelConfig, response: requests.Response,
             accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The body when `accept` takes it, whatever the HTTP status (Jimeng puts its verdicts in the body)."""
    body = json_object(response)
    if accept(body):
        return body
    auth_codes = channel.options.get("auth_codes")
    raise classify(response, AUTH_CODES if auth_codes is None else frozenset(int(c) for c in auth_codes))


def submit(channel: ChannelConfig, body: dict[str, Any]) -> dict[str, Any]:
    """`CVSync2AsyncSubmitTask`: the answer's `data` (with `task_id`)."""
    answer = _checked(channel, _call(channel, SUBMIT, body), lambda b: b.get("code") == SUCCESS)
    data = answer.get("data")
    return data if isinstance(data, dict) else {}


def get_result(channel: ChannelConfig, req_key: str, task_id: str) -> dict[str, Any]:
    """`CVSync2AsyncGetResult`: the whole answer, a failed task's verdict included; other errors raise."""
    return _checked(channel, _call(channel, GET_RESULT, {"req_key": req_key, "task_id": task_id}), is_verdict)


def content(url: str) -> Download:
    # A signed object-store link: it carries its own authorisation, and our signature has no business there.
    return download_link(url)
