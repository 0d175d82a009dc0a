"""OpenAI error classification: the `{"error": {...}}` envelope and HTTP statuses to gateway meaning."""
from __future__ import annotations

import requests

from workers.vendors.base import UpstreamError
from workers.vendors.http import gateway_code, json_object, retry_after, status_kind

# Codes that will not get better by waiting on this channel.
_TERMINAL_CODES = {"insufficient_quota": "upstream_quota_exceeded", "invalid_api_key": "upstream_auth_failed"}
_POLICY_CODES = {"moderation_blocked", "content_policy_violation", "content_filter"}


def classify(response: requests.Response) -> UpstreamError:
    error = json_object(response, "error")
    vendor_code = str(error.get("code") or "") or None
    message = str(error.get("message") or f"HTTP {response.status_code} from upstream")
    if vendor_code in _TERMINAL_CODES:
        return UpstreamError("terminal", message, code=_TERMINAL_CODES[vendor_code],
                             status=response.status_code, vendor_code=vendor_code)
    kind = status_kind(response.status_code)
    code = gateway_code(kind, response.status_code)
    if code == "invalid_request" and vendor_code in _POLICY_CODES:
        code = "content_policy"
    return UpstreamError(kind, message, code=code, status=response.status_code,
                         retry_after=retry_after(response), vendor_code=vendor_code)


def failure_code(error: dict[str, object] | None) -> str:
    """The gateway code for a job the vendor reports as failed."""
    vendor_code = str((error or {}).get("code") or "")
    return "content_policy" if vendor_code in _POLICY_CODES else "upstream_error"
