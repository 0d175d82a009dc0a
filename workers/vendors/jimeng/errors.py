"""Jimeng error classification: Volcengine's gateway envelope, the 50xxx business codes, HTTP statuses."""
from __future__ import annotations

from typing import Any

import requests

from workers.vendors.base import UpstreamError
from workers.vendors.http import json_object, retry_after, status_kind

SUCCESS = 10000
RATE_LIMIT_CODES = frozenset({50429, 50430})  # QPS limit, concurrency limit
TRANSIENT_CODES = frozenset({50500, 50501})  # internal error, internal RPC error
# Moderation of the generated output: the table says a new submission may pass.
RETRYABLE_RISK_CODES = frozenset({50511, 50516, 50517, 50519})
RISK_CODES = frozenset({50411, 50412, 50413, 50512, 50518, 50520, 50521, 50522}) | RETRYABLE_RISK_CODES
# UNVERIFIED (third-party captures only): "Access Denied" and "NoFeatAuth" (the service is not enabled for
# the account); the channel option `auth_codes` replaces this list.
AUTH_CODES = frozenset({50400, 30403})
# Volcengine gateway (ResponseMetadata.Error.Code) refusals of the credentials or the signature.
GATEWAY_AUTH_CODES = frozenset({
    "MissingAuthenticationToken", "MissingSignature", "InvalidTimestamp", "InvalidAccessKey",
    "SignatureDoesNotMatch", "LackPolicy", "AccessDenied",
})


def is_verdict(body: dict[str, Any]) -> bool:
    """A GetResult answer that says how the task stands: success, a status, or why the task failed.

    A failed task is `done` with a code other than 10000; a moderation code is the task's verdict too,
    even when Jimeng sends it with `data: null`."""
    code = body.get("code")
    data = body.get("data")
    return code == SUCCESS or code in RISK_CODES or (isinstance(data, dict) and data.get("status") == "done")


def failure_code(code: object) -> str:
    """The gateway code for a task Jimeng reports as failed with business code `code`."""
    return "content_policy" if code in RISK_CODES else "upstream_error"


def business_error(code: int, message: str, status: int, retry: float | None = None,
                   auth_codes: frozenset[int] = AUTH_CODES) -> UpstreamError:
    """What the gateway should do about a call answered with business code `code` (not 10000)."""
    text = f"{message} (Jimeng code {code})"
    if code in RATE_LIMIT_CODES:
        return UpstreamError("rate_limited", text, code="rate_limited", status=status, retry_after=retry,
                             vendor_code=str(code))
    if code in TRANSIENT_CODES:
        return UpstreamError("retryable", text, status=status, retry_after=retry, vendor_code=str(code))
    if code in RETRYABLE_RISK_CODES:
        return UpstreamError("retryable", text, code="content_policy", status=status, vendor_code=str(code))
    if code in RISK_CODES:
        return UpstreamError("terminal", text, code="content_policy", status=status, vendor_code=str(code))
    if code in auth_codes:
        return UpstreamError("terminal", text, code="upstream_auth_failed", status=status, vendor_code=str(code))
    # Undocumented codes: the HTTP status says what kind; an error inside HTTP 200 is a refusal.
    kind = _kind(status)
    return UpstreamError(kind, text, code=_code_for(kind, status), status=status, retry_after=retry,
                         vendor_code=str(code))


def classify(response: requests.Response, auth_codes: frozenset[int] = AUTH_CODES) -> UpstreamError:
    body = json_object(response)
    status = response.status_code
    metadata = body.get("ResponseMetadata")
    error = metadata.get("Error") if isinstance(metadata, dict) else None
    if isinstance(error, dict):
        # The Volcengine gateway refused the call before Jimeng saw it (signature, credentials, routing).
        vendor_code = str(error.get("Code") or "") or None
        message = f"{error.get('Message') or 'refused'} ({vendor_code or 'Volcengine gateway'})"
        if vendor_code in GATEWAY_AUTH_CODES:
            return UpstreamError("terminal", message, code="upstream_auth_failed", status=status,
                                 vendor_code=vendor_code)
        kind = _kind(status)
        return UpstreamError(kind, message, code=_code_for(kind, status), status=status,
                             retry_after=retry_after(response), vendor_code=vendor_code)
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code != SUCCESS:
        return business_error(code, str(body.get("message") or "refused"), status, retry_after(response), auth_codes)
    if status < 400:
        return UpstreamError("retryable", f"malformed answer from Jimeng (HTTP {status})", code="upstream_malformed",
                             status=status)
    kind = _kind(status)
    return UpstreamError(kind, f"HTTP {status} from Jimeng", code=_code_for(kind, status), status=status,
                         retry_after=retry_after(response))


def _kind(status: int) -> str:
    """An error inside an HTTP 200 is a refusal; otherwise the status decides."""
    return status_kind(status) if status >= 400 else "terminal"


def _code_for(kind: str, status: int) -> str:
    if kind == "rate_limited":
        return "rate_limited"
    if kind == "retryable":
        return "upstream_error"
    if status in (401, 403):
        return "upstream_auth_failed"
    return "invalid_request" if 400 <= status < 500 else "upstream_error"
