"""Vidu error classification: error bodies and task `err_code`s to gateway meaning, tunable per channel.

UNVERIFIED: Vidu's error envelope. Third-party clients show `{"code": <HTTP status>, "reason": "<Name>",
"message", "metadata"}` with reasons such as `CreditInsufficient` or `TooManyRequests`; an `err_code` field
(as on failed tasks) is read too. The reason lists are channel options (names below), HTTP 429 is always a
rate limit and 5xx always retryable, whatever the body says.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from workers.vendors.base import UpstreamError
from workers.vendors.http import json_object, retry_after, status_kind

# Channel option `rate_limit_codes`: too many requests, over the concurrency quota, resources throttled.
RATE_LIMIT_CODES = ("TooManyRequests", "QuotaExceeded", "SystemThrottling")
# Channel option `content_policy_codes`: prompt or input refused by moderation, output refused by it.
CONTENT_POLICY_CODES = ("TaskPromptPolicyViolation", "CreationPolicyViolation", "AuditSubmitIllegal")
# Channel option `invalid_request_codes`: the request (or an image in it) is not acceptable.
INVALID_REQUEST_CODES = ("BadRequest", "FieldLacking", "FieldUnwanted", "FieldInvalid", "FieldItemCountOutOfRange",
                         "PageSizeOutOfRange", "ImageFormatInvalid", "ImageSizeInvalid", "ImageDownloadFailure",
                         "ModelUnavailable")
_TERMINAL = {"CreditInsufficient": "upstream_quota_exceeded", "Unauthorized": "upstream_auth_failed",
             "Forbidden": "upstream_auth_failed"}
_RETRYABLE = {"InternalServiceFailure", "OperationInProcess"}


def _option(options: Mapping[str, Any], name: str, default: tuple[str, ...]) -> set[str]:
    return set(options.get(name, default))


def failure_code(err_code: str, options: Mapping[str, Any]) -> str:
    """The gateway code for a task Vidu reports as failed (or refused at submission) with `err_code`."""
    if err_code in _option(options, "content_policy_codes", CONTENT_POLICY_CODES):
        return "content_policy"
    if err_code in _option(options, "invalid_request_codes", INVALID_REQUEST_CODES):
        return "invalid_request"
    return "upstream_error"


def classify(response: requests.Response, options: Mapping[str, Any]) -> UpstreamError:
    body = json_object(response)
    status, wait = response.status_code, retry_after(response)
    reason = str(body.get("reason") or body.get("err_code") or "") or None
    message = str(body.get("message") or reason or f"HTTP {status} from Vidu")
    if status == 429 or reason in _option(options, "rate_limit_codes", RATE_LIMIT_CODES):
        return UpstreamError("rate_limited", message, code="rate_limited", status=status, retry_after=wait,
                             vendor_code=reason)
    if status >= 500 or reason in _RETRYABLE:
        return UpstreamError("retryable", message, code="upstream_error", status=status, retry_after=wait,
                             vendor_code=reason)
    if reason in _TERMINAL:
        code = _TERMINAL[reason]
    elif status in (401, 403):
        code = "upstream_auth_failed"
    elif status == 404:
        code = "upstream_not_found"
    elif reason in _option(options, "content_policy_codes", CONTENT_POLICY_CODES):
        code = "content_policy"
    else:
        code = "invalid_request"
    return UpstreamError(status_kind(status), message, code=code, status=status, retry_after=wait,
                         vendor_code=reason)
