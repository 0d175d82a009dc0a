"""Kling error classification: the `{"code","message","request_id"}` body's business code to gateway meaning."""
from __future__ import annotations

import requests

from workers.vendors.base import UpstreamError
from workers.vendors.http import gateway_code, json_object, retry_after, status_kind

# Kling's documented business codes (the HTTP status only backs them up).
RATE_LIMIT_CODES = {1302, 1303}  # requests too frequent; parallel tasks over the resource pack's limit
TOKEN_TIME_CODES = {1003, 1004}  # token not yet valid / expired: a fresh token cures it, so retry
_TERMINAL: dict[int, str] = {
    1000: "upstream_auth_failed",
    1001: "upstream_auth_failed",
    1002: "upstream_auth_failed",
    1100: "upstream_auth_failed",  # account exception
    1101: "upstream_quota_exceeded",  # account in arrears
    1102: "upstream_quota_exceeded",  # resource pack depleted or expired
    1103: "upstream_auth_failed",  # no permission for this resource or model
    1200: "invalid_request",
    1201: "invalid_request",
    1202: "upstream_not_found",  # invalid method or path
    1203: "upstream_not_found",  # requested resource (model, task) does not exist
    1300: "content_policy",
    1301: "content_policy",
    1304: "upstream_auth_failed",  # IP whitelist policy
}
_RETRYABLE_CODES = {5000, 5001, 5002} | TOKEN_TIME_CODES


def business_code(body: object) -> int | None:
    """The `code` of a Kling body; 0 means success."""
    code = body.get("code") if isinstance(body, dict) else None
    if isinstance(code, bool):
        return None
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def classify(response: requests.Response) -> UpstreamError:
    """What to do about a Kling answer that is an error, by HTTP status or by a non-zero `code` in a 200."""
    body = json_object(response)
    status, wait = response.status_code, retry_after(response)
    code = business_code(body)
    message = str(body.get("message") or f"HTTP {status} from Kling")
    vendor_code = str(code) if code is not None else None
    if code in RATE_LIMIT_CODES:
        return UpstreamError("rate_limited", message, code="rate_limited", status=status, retry_after=wait,
                             vendor_code=vendor_code)
    if code in _RETRYABLE_CODES:
        return UpstreamError("retryable", message, code="upstream_error", status=status, retry_after=wait,
                             vendor_code=vendor_code)
    if code in _TERMINAL:
        return UpstreamError("terminal", message, code=_TERMINAL[code], status=status, vendor_code=vendor_code)
    # A code we do not know: the HTTP status decides; an error code inside a 200 is not worth repeating.
    kind = status_kind(status) if status >= 400 else "terminal"
    return UpstreamError(kind, message, code=gateway_code(kind, status), status=status, retry_after=wait,
                         vendor_code=vendor_code)
