"""Jimeng GetResult answers to the gateway's upstream states: `done` only succeeds with code 10000."""
from __future__ import annotations

from typing import Any

from workers.vendors.base import PollResult, UpstreamState
from workers.vendors.jimeng.errors import SUCCESS, failure_code

_RUNNING: dict[str, UpstreamState] = {"in_queue": "queued", "generating": "running"}
_GONE = {
    "not_found": "Jimeng does not know this task (unknown, or older than its 12 h retention)",
    "expired": "the task expired at Jimeng and would have to be submitted again",
}


def to_poll_result(answer: dict[str, Any]) -> PollResult:
    code = answer.get("code")
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    status = str(data.get("status") or "")
    if code != SUCCESS:
        # `done` (or a moderation verdict) with another code: the task failed, the reason is in `message`.
        message = f"{answer.get('message') or 'generation failed'} (Jimeng code {code})"
        return PollResult("failed", error_code=failure_code(code), error_message=message)
    if status == "done":
        url = data.get("video_url")
        if not url:
            return PollResult("failed", error_code="upstream_error",
                              error_message="Jimeng reported done without a video_url")
        return PollResult("succeeded", 100, result_location=str(url))
    if status in _GONE:
        return PollResult("failed", error_code="upstream_error", error_message=f"{_GONE[status]} (status {status})")
    # A status we do not know yet means "still working": the deadline, not a guess, decides when to give up.
    return PollResult(_RUNNING.get(status, "running"))
