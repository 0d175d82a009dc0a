"""Veo long-running operations to the gateway's upstream states (Veo has no status word, only `done`)."""
from __future__ import annotations

from typing import Any

from workers.vendors.base import PollResult
from workers.vendors.veo.errors import failure_code


def _video_response(operation: dict[str, Any]) -> dict[str, Any]:
    response = operation.get("response")
    found = response.get("generateVideoResponse") if isinstance(response, dict) else None
    return found if isinstance(found, dict) else {}


def first_video(operation: dict[str, Any]) -> dict[str, Any] | None:
    """The first generated sample's `video` ({uri} or {encodedVideo, encoding}), if there is one."""
    samples = _video_response(operation).get("generatedSamples")
    if not isinstance(samples, list) or not samples or not isinstance(samples[0], dict):
        return None
    video = samples[0].get("video")
    return video if isinstance(video, dict) and (video.get("uri") or video.get("encodedVideo")) else None


def to_poll_result(operation: dict[str, Any]) -> PollResult:
    if operation.get("done") is not True:
        # No queued/running distinction and no progress figure: "done" absent or false is all Veo says.
        return PollResult("running")
    error = operation.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or f"Veo operation failed with code {error.get('code')}")
        return PollResult("failed", error_code=failure_code(error), error_message=message)
    video = first_video(operation)
    if video is not None:
        # An inline `encodedVideo` has no location: open_result reads the operation again for the bytes.
        return PollResult("succeeded", 100, result_location=video.get("uri"))
    filtered = _video_response(operation)
    reasons = filtered.get("raiMediaFilteredReasons")
    if reasons or filtered.get("raiMediaFilteredCount"):
        text = "; ".join(map(str, reasons)) if isinstance(reasons, list) and reasons else "no reason given"
        return PollResult("failed", error_code="content_policy",
                          error_message=f"Veo's safety filters removed the video: {text}")
    return PollResult("failed", error_code="upstream_error", error_message="Veo finished without a video")
