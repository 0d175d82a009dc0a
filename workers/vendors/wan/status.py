"""DashScope task statuses (upper-case) to the gateway's upstream states."""
from __future__ import annotations

from typing import Any

from workers.vendors.base import PollResult, UpstreamState
from workers.vendors.wan.errors import failure_code

_STATES: dict[str, UpstreamState] = {
    "PENDING": "queued",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "CANCELED": "failed",
}
# What UNKNOWN means (task missing or expired) is not documented: a channel's `unknown_status` option
# says how to read it, "failed" (as new-api does) unless set to "running".
UNKNOWN_STATUS_OPTION = "unknown_status"


def to_poll_result(task: dict[str, Any], unknown_status: UpstreamState = "failed") -> PollResult:
    output = task.get("output") if isinstance(task.get("output"), dict) else {}
    word = str(output.get("task_status") or "")
    # A status we do not know yet means "still working": the deadline, not a guess, ends the wait.
    state = unknown_status if word == "UNKNOWN" else _STATES.get(word, "running")
    if state == "succeeded":
        url = output.get("video_url")
        if not isinstance(url, str) or not url:
            return PollResult("failed", error_code="upstream_error", error_message="Wan succeeded without a video_url")
        return PollResult("succeeded", 100, result_location=url)
    if state == "failed":
        vendor_code = str(output.get("code") or "") or None
        if word == "CANCELED":
            return PollResult("failed", error_code="upstream_error", error_message="the Wan task was canceled")
        if word == "UNKNOWN":
            return PollResult("failed", error_code="upstream_error",
                              error_message="DashScope no longer knows the task (missing or expired)")
        message = str(output.get("message") or f"Wan task failed ({vendor_code or 'no code'})")
        return PollResult("failed", error_code=failure_code(vendor_code), error_message=message)
    return PollResult(state)
