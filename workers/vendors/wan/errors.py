"""DashScope error classification: `{"request_id", "code", "message"}` and HTTP statuses to gateway meaning."""
from __future__ import annotations

import requests

from workers.vendors.base import UpstreamError
from workers.vendors.http import gateway_code, json_object, retry_after, status_kind

# DashScope's rate-limit codes all start with "Throttling" (RateQuota, AllocationQuota, BurstRate...).
_RATE_PREFIX = "Throttling"
_POLICY_CODES = {"DataInspectionFailed", "DataInspection", "IPInfringementSuspect"}
_QUOTA_CODES = {"Arrearage"}
_AUTH_CODES = {"InvalidApiKey", "AccessDenied.Unpurchased"}


def classify(response: requests.Response) -> UpstreamError:
    body = json_object(response)
    vendor_code = str(body.get("code") or "") or None
    message = str(body.get("message") or f"HTTP {response.status_code} from DashScope")
    http = response.status_code
    if (vendor_code or "").startswith(_RATE_PREFIX) or http == 429:
        return UpstreamError("rate_limited", message, code="rate_limited", status=http,
                             retry_after=retry_after(response), vendor_code=vendor_code)
    if vendor_code in _POLICY_CODES:
        return UpstreamError("terminal", message, code="content_policy", status=http, vendor_code=vendor_code)
    if vendor_code in _QUOTA_CODES:
        return UpstreamError("terminal", message, code="upstream_quota_exceeded", status=http, vendor_code=vendor_code)
    if vendor_code in _AUTH_CODES or http == 401:
        return UpstreamError("terminal", message, code="upstream_auth_failed", status=http, vendor_code=vendor_code)
    kind = status_kind(http)
    if kind != "terminal":
        return UpstreamError(kind, message, code="upstream_error", status=http, retry_after=retry_after(response),
                             vendor_code=vendor_code)
    return UpstreamError("terminal", message, code=gateway_code(kind, http), status=http, vendor_code=vendor_code)


def failure_code(vendor_code: str | None) -> str:
    """The gateway code for a task that ended FAILED with `output.code`."""
    if vendor_code in _POLICY_CODES:
        return "content_policy"
    if (vendor_code or "").startswith("InvalidParameter"):
        return "invalid_request"
    return "upstream_error"
