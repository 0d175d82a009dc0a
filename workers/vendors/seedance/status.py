"""Seedance task statuses to the gateway's upstream states; `failed`, `cancelled` and `expired` all end it."""
from __future__ import annotations

from typing import Any

from workers.vendors.base import PollResult, UpstreamState
from workers.vendors.seedance.errors import failure_code

_RUNNING: dict[str, UpstreamState] = {"queued": "queued", "running": "running"}
_ENDED = {
    "cancelled": "the task was cancelled at Ark",
    "expired": "the task ran past its execution_expires_after at Ark without finishing",
}


def to_poll_result(task: dict[str, Any]) -> PollResult:
    status = str(task.get("status") or "")
    if status == "succeeded":
        content = task.get("content") if isinstance(task.get("content"), dict) else {}
        url = content.get("video_url")
        if not url:
            return PollResult("failed", error_code="upstream_error",
                              error_message="Ark reported succeeded without content.video_url")
        return PollResult("succeeded", 100, result_location=str(url))
    if status == "failed":
        error = task.get("error") if isinstance(task.get("error"), dict) else {}
        code = error.get("code")
        message = str(error.get("message") or "generation failed") + (f" ({code})" if code else "")
        return PollResult("failed", error_code=failure_code(error), error_message=message)
    if status in _ENDED:
        return PollResult("failed", error_code="upstream_error", error_message=f"{_ENDED[status]} (status {status})")
    # A status we do not know yet means "still working": the deadline, not a guess, decides when to give up.
    return PollResult(_RUNNING.get(status, "running"))
