"""OpenAI Video object statuses to the gateway's upstream states."""
from __future__ import annotations

from typing import Any

from workers.vendors.base import PollResult, UpstreamState
from workers.vendors.openai.errors import failure_code

_STATES: dict[str, UpstreamState] = {
    "queued": "queued",
    "pending": "queued",
    "in_progress": "running",
    "processing": "running",
    "completed": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
}


def to_poll_result(video: dict[str, Any]) -> PollResult:
    # A status we do not know yet (another gateway's extension) means "still working": the deadline,
    # not a guess, decides when to give up.
    state = _STATES.get(str(video.get("status")), "running")
    progress = video.get("progress")
    progress = int(progress) if isinstance(progress, int | float) else None
    if state == "failed":
        error = video.get("error") if isinstance(video.get("error"), dict) else None
        message = str((error or {}).get("message") or f"upstream reports status {video.get('status')}")
        return PollResult("failed", progress, error_code=failure_code(error), error_message=message)
    return PollResult(state, progress)
