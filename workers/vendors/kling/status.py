"""Kling task statuses (`submitted`, `processing`, `succeed`, `failed`) to the gateway's upstream states."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from workers.vendors.base import PollResult, UpstreamError, UpstreamState

_STATES: dict[str, UpstreamState] = {
    "submitted": "queued",
    "processing": "running",
    "succeed": "succeeded",  # Kling's spelling
    "failed": "failed",
}
# UNVERIFIED: Kling reports why a task failed only as free text in `task_status_msg`; these words mark a
# moderation refusal. Channel option `policy_failure_patterns`.
POLICY_FAILURE_PATTERNS = ("risk", "policy", "sensitive", "security", "moderation", "violat")


def to_poll_result(data: dict[str, Any], policy_patterns: Iterable[str] = POLICY_FAILURE_PATTERNS) -> PollResult:
    status = str(data.get("task_status"))
    # A status Kling adds later means "still working": the deadline, not a guess, decides when to give up.
    state = _STATES.get(status, "running")
    if state == "failed":
        message = str(data.get("task_status_msg") or "Kling reports the task failed")
        lowered = message.lower()
        policy = any(pattern.lower() in lowered for pattern in policy_patterns)
        return PollResult("failed", error_code="content_policy" if policy else "upstream_error",
                          error_message=message)
    if state == "succeeded":
        videos = (data.get("task_result") or {}).get("videos") or []
        url = videos[0].get("url") if videos and isinstance(videos[0], dict) else None
        if not url:
            raise UpstreamError("retryable", "Kling reports success but sends no video URL", code="upstream_malformed")
        return PollResult("succeeded", 100, result_location=str(url))
    return PollResult(state)
