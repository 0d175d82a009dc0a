"""MiniMax error classification: `base_resp.status_code` (sent inside HTTP 200 answers) first, then the HTTP status."""
from __future__ import annotations

from collections.abc import Iterable

import requests

from app.channels import ChannelConfig
from workers.vendors.base import UpstreamError
from workers.vendors.http import json_object, retry_after, status_kind

RATE_LIMIT_CODE = 1002
# TPM (1039) and concurrency (1041) limits come from third-party classifiers only (UNVERIFIED), so a channel
# can replace this list with its `rate_limit_codes` option; 1002 is documented and always a rate limit.
DEFAULT_EXTRA_RATE_LIMIT_CODES = (1039, 1041)
_RETRYABLE_CODES = {1000, 1001}  # unknown error, timeout: the same call may well succeed later
_TERMINAL_CODES = {
    1004: "upstream_auth_failed",
    2049: "upstream_auth_failed",
    1008: "upstream_quota_exceeded",
    1026: "content_policy",  # sensitive input
    1027: "content_policy",  # sensitive output
    2013: "invalid_request",
}


def rate_limit_codes(channel: ChannelConfig) -> frozenset[int]:
    """The body codes that mean "slow down" on this channel."""
    extra: Iterable[int] = channel.options.get("rate_limit_codes", DEFAULT_EXTRA_RATE_LIMIT_CODES)
    return frozenset({RATE_LIMIT_CODE, *(int(code) for code in extra)})


def base_resp(response: requests.Response) -> tuple[int, str]:
    """`(status_code, status_msg)` of the answer's base_resp; (0, "") when it has none (or is not JSON)."""
    base = json_object(response, "base_resp")
    try:
        code = int(base.get("status_code") or 0)
    except (TypeError, ValueError):
        code = 0
    return code, str(base.get("status_msg") or "")


def classify(response: requests.Response, rate_codes: frozenset[int] = frozenset({RATE_LIMIT_CODE})) -> UpstreamError:
    """The error of an unsuccessful MiniMax answer: by its body code when it has one, else by HTTP status."""
    code, message = base_resp(response)
    if code:
        message = f"MiniMax error {code}: {message or 'no message'}"
        if code in rate_codes:
            kind, gateway_code = "rate_limited", "rate_limited"
        elif code in _RETRYABLE_CODES:
            kind, gateway_code = "retryable", "upstream_error"
        else:
            kind, gateway_code = "terminal", _TERMINAL_CODES.get(code, "upstream_error")
        return UpstreamError(kind, message, code=gateway_code, status=response.status_code,
                             retry_after=retry_after(response), vendor_code=str(code))
    kind = status_kind(response.status_code)
    if kind == "terminal":
        gateway_code = "upstream_auth_failed" if response.status_code in (401, 403) else "invalid_request"
    else:
        gateway_code = "rate_limited" if kind == "rate_limited" else "upstream_error"
    return UpstreamError(kind, f"HTTP {response.status_code} from MiniMax", code=gateway_code,
                         status=response.status_code, retry_after=retry_after(response))


def failure_code(code: int) -> str:
    """The gateway code for a task MiniMax reports as `Fail` with this base_resp code."""
    gateway_code = _TERMINAL_CODES.get(code, "upstream_error")
    # Only moderation and bad parameters say something about the task itself worth a stable code.
    return gateway_code if gateway_code in ("content_policy", "invalid_request") else "upstream_error"
