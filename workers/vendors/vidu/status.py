"""Vidu task states (`created`, `queueing`, `processing`, `success`, `failed`) to the gateway's upstream states."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.vendors.base import PollResult, UpstreamError, UpstreamState
from workers.vendors.vidu.errors import failure_code

_STATES: dict[str, UpstreamState] = {
    "created": "queued",
    "queueing": "queued",
    "scheduling": "queued",  # seen in older clients of the API, between created and queueing
    "processing": "running",
    "success": "succeeded",
    "failed": "failed",
}


def answers_fully(task: dict[str, Any]) -> bool:
    """Whether a task as the task list gives it says what its own read would: a known state and, for a failure,
    the `err_code` that classifies it."""
    state = task.get("state")
    return state in _STATES and (state != "failed" or "err_code" in task)


def to_poll_result(task: dict[str, Any], options: Mapping[str, Any]) -> PollResult:
    # A state Vidu adds later means "still working": the deadline, not a guess, decides when to give up.
    state = _STATES.get(str(task.get("state")), "running")
    progress = task.get("progress")
    progress = int(progress) if isinstance(progress, int | float) and not isinstance(progress, bool) else None
    if state == "failed":
        err_code = str(task.get("err_code") or "")
        message = f"Vidu task failed: {err_code}" if err_code else "Vidu reports the task failed"
        return PollResult("failed", progress, error_code=failure_code(err_code, options), error_message=message)
    if state == "succeeded":
        creations = task.get("creations") or []
        url = creations[0].get("url") if creations and isinstance(creations[0], dict) else None
        if not url:
            raise UpstreamError("retryable", "Vidu reports success but sends no creation URL",
                                code="upstream_malformed")
        return PollResult("succeeded", 100, result_location=str(url))
    return PollResult(state, progress)
