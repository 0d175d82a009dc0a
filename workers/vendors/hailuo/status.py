"""MiniMax task statuses (`/v1/query/video_generation`) to the gateway's upstream states."""
from __future__ import annotations

from typing import Any

from workers.vendors.base import PollResult, UpstreamError, UpstreamState
from workers.vendors.hailuo.errors import failure_code

_STATES: dict[str, UpstreamState] = {
    "Preparing": "queued",
    "Queueing": "queued",
    "Processing": "running",
    "Success": "succeeded",
    "Fail": "failed",
}


def to_poll_result(body: dict[str, Any]) -> PollResult:
    # MiniMax reports no progress. A status we do not know means "still working": the deadline, not a
    # guess, decides when to give up.
    status = str(body.get("status"))
    state = _STATES.get(status, "running")
    if state == "failed":
        base = body.get("base_resp") if isinstance(body.get("base_resp"), dict) else {}
        try:
            code = int(base.get("status_code") or 0)
        except (TypeError, ValueError):
            code = 0
        reason = str(base.get("status_msg") or "") if code else ""
        message = f"MiniMax error {code}: {reason}" if reason else "MiniMax reports the task as Fail"
        return PollResult("failed", error_code=failure_code(code), error_message=message)
    if state == "succeeded":
        file_id = body.get("file_id")
        if not file_id:
            raise UpstreamError("retryable", "MiniMax reported Success without a file_id", code="upstream_malformed")
        # The file id is all open_result needs to ask for a (fresh) download URL.
        return PollResult("succeeded", 100, result_location=str(file_id))
    return PollResult(state)
