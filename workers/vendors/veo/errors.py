"""Veo error classification: Google's RPC error envelope and HTTP statuses to gateway meaning."""
from __future__ import annotations

from typing import Any

import requests

from workers.vendors.base import UpstreamError
from workers.vendors.http import json_object, link_error, retry_after, status_kind

_AUTH_STATUSES = {"UNAUTHENTICATED", "PERMISSION_DENIED"}
# Google answers a wrong key with 400 INVALID_ARGUMENT and this reason in the details, not with a 401.
_KEY_REASONS = {"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"}
_RETRYABLE_STATUSES = {"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED"}
# google.rpc.Code numbers that an operation's `error.code` carries: the request itself was refused.
_INVALID_RPC_CODES = {3, 9, 11}  # INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE


def _details(error: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(kind)]


def _retry_delay(error: dict[str, Any]) -> float | None:
    """Seconds from a google.rpc.RetryInfo detail ("37s"), which Google sends with quota errors."""
    for info in _details(error, "google.rpc.RetryInfo"):
        delay = str(info.get("retryDelay", ""))
        try:
            return max(0.0, float(delay.removesuffix("s")))
        except ValueError:
            continue
    return None


def _key_reason(error: dict[str, Any]) -> str | None:
    """The ErrorInfo reason saying the API key is wrong or blocked, if Google gave one."""
    reasons = {str(info.get("reason")) for info in _details(error, "google.rpc.ErrorInfo")}
    return next(iter(reasons & _KEY_REASONS), None)


def classify(response: requests.Response) -> UpstreamError:
    error = json_object(response, "error")
    status_word = str(error.get("status") or "")
    key_reason = _key_reason(error)
    vendor_code = key_reason or status_word or None
    message = str(error.get("message") or f"HTTP {response.status_code} from Veo")
    http = response.status_code
    if key_reason or status_word in _AUTH_STATUSES or http in (401, 403):
        return UpstreamError("terminal", message, code="upstream_auth_failed", status=http, vendor_code=vendor_code)
    if status_word == "RESOURCE_EXHAUSTED" or http == 429:
        # Google uses RESOURCE_EXHAUSTED for per-minute limits and daily quotas alike; both pass with time.
        wait = retry_after(response)
        return UpstreamError("rate_limited", message, code="rate_limited", status=http,
                             retry_after=wait if wait is not None else _retry_delay(error), vendor_code=vendor_code)
    if status_word in _RETRYABLE_STATUSES or status_kind(http) == "retryable":
        return UpstreamError("retryable", message, code="upstream_error", status=http,
                             retry_after=retry_after(response), vendor_code=vendor_code)
    code = "upstream_not_found" if status_word == "NOT_FOUND" or http == 404 else "invalid_request"
    return UpstreamError("terminal", message, code=code, status=http, vendor_code=vendor_code)


def classify_download(response: requests.Response) -> UpstreamError:
    """A file URI that answers 403/404 has expired or was deleted: poll again for a fresh one. Not when Google
    says our key is wrong, though: the file URI may be on the API's own origin, which we send the key to."""
    if _key_reason(json_object(response, "error")):
        return classify(response)
    return link_error(response, classify)


def failure_code(error: dict[str, Any]) -> str:
    """The gateway code for an operation that ended with `error` (a google.rpc.Status)."""
    return "invalid_request" if error.get("code") in _INVALID_RPC_CODES else "upstream_error"
