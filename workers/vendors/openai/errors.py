"""OpenAI error classification: the `{"error": {...}}` envelope and HTTP statuses to gateway meaning."""
from __future__ import annotations

import requests

from workers.vendors.base import UpstreamError
from workers.vendors.http import retry_after, status_kind

# Codes that will not get better by waiting on this channel.
_TERMINAL_CODES = {"insufficient_quota": "upstream_quota_exceeded", "invalid_api_key": "upstream_auth_failed"}
_POLICY_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}


def classify(response: requests.Response) -> UpstreamError:
    try:
        body = response.json()
        error = body.get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    vendor_code = str(error.get("code") or "") or None
    message = str(error.get("message") or f"HTTP {response.status_code} from upstream")
    if vendor_code in _TERMINAL_CODES:
        return UpstreamError("terminal", message, code=_TERMINAL_CODES[vendor_code],
                             status=response.status_code, vendor_code=vendor_code)
    kind = status_kind(response.status_code)
    if kind == "terminal":
        code = "content_policy" if vendor_code in _POLICY_CODES else "invalid_request"
        if response.status_code in (401, 403):
            code = "upstream_auth_failed"
        elif response.status_code == 404:
            code = "upstream_not_found"
    else:
        code = "rate_limited" if kind == "rate_limited" else "upstream_error"
    return UpstreamError(kind, message, code=code, status=response.status_code,
                         retry_after=retry_after(response), vendor_code=vendor_code)


def failure_code(error: dict[str, object] | None) -> str:
    """The gateway code for a job the vendor reports as failed."""
    vendor_code = str((error or {}).get("code") or "")
    return "content_policy" if vendor_code in _POLICY_CODES else "upstream_error"
