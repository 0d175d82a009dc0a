"""Seedance (Volcengine Ark) error classification: the `{"error": {code, message, param, type}}` envelope."""
from __future__ import annotations

import requests

from workers.vendors.base import UpstreamError
from workers.vendors.http import gateway_code, json_object, retry_after, status_kind

# Ark's own throttling codes (429, ServerOverloaded too): waiting helps.
RATE_LIMIT_CODES = frozenset({
    "ModelAccountRpmRateLimitExceeded", "ModelAccountTpmRateLimitExceeded", "APIAccountRpmRateLimitExceeded",
    "AccountRateLimitExceeded", "InflightBatchsizeExceeded", "RequestBurstTooFast", "ServerOverloaded",
})
# Also HTTP 429, but spending limits the account set or ran into: waiting does not help.
QUOTA_CODES = frozenset({"QuotaExceeded", "SetLimitExceeded", "AccountOverdueError"})
AUTH_CODES = frozenset({"AuthenticationError", "AccessDenied"})
INVALID_CODES = ("InvalidParameter", "MissingParameter")


def is_policy(code: str) -> bool:
    """Input or output moderation: `InputTextSensitiveContentDetected`, `OutputVideoSensitiveContentDetected`..."""
    return "SensitiveContentDetected" in code or "RiskDetection" in code


def _is_rate_limit(code: str) -> bool:
    return code in RATE_LIMIT_CODES or code.startswith("RateLimitExceeded")


def classify(response: requests.Response) -> UpstreamError:
    error = json_object(response, "error")
    status = response.status_code
    vendor_code = str(error.get("code") or "")
    message = str(error.get("message") or f"HTTP {status} from Ark")
    if vendor_code:
        message = f"{message} ({vendor_code})"
    if vendor_code in QUOTA_CODES:
        return UpstreamError("terminal", message, code="upstream_quota_exceeded", status=status,
                             vendor_code=vendor_code)
    if is_policy(vendor_code):
        return UpstreamError("terminal", message, code="content_policy", status=status, vendor_code=vendor_code)
    kind = "rate_limited" if _is_rate_limit(vendor_code) else status_kind(status)
    code = gateway_code(kind, status)
    if kind == "terminal" and vendor_code in AUTH_CODES:
        code = "upstream_auth_failed"
    return UpstreamError(kind, message, code=code, status=status, retry_after=retry_after(response),
                         vendor_code=vendor_code or None)


def failure_code(error: object) -> str:
    """The gateway code for a task Ark reports as failed with `error`."""
    vendor_code = str(error.get("code") or "") if isinstance(error, dict) else ""
    if is_policy(vendor_code):
        return "content_policy"
    return "invalid_request" if vendor_code.startswith(INVALID_CODES) else "upstream_error"
