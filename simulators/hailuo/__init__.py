"""MiniMax Hailuo video simulator: create, status query and file retrieve of the v1 API, mounted at /hailuo.

MiniMax answers errors with HTTP 200 and a non-zero `base_resp.status_code`; only the front proxy's 503
(the `unavailable` fault) is an HTTP error.
"""

from __future__ import annotations

import functools
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, request

from .. import media
from ..core import QUEUED_FRACTION, Job, Simulator
from ..vendor import FaultErrorKind, VendorSim, bearer_token, json_response

VENDOR = "hailuo"
MAX_PROMPT = 2000
DEFAULT_DURATION = 6
IMAGE_PREFIXES = ("http://", "https://", "data:image/jpeg;base64,", "data:image/jpg;base64,",
                  "data:image/png;base64,", "data:image/webp;base64,")
FLAGS = ("prompt_optimizer", "fast_pretreatment", "aigc_watermark")


@dataclass(frozen=True)
class _Model:
    """What MiniMax accepts for one model: resolution -> durations, and which inputs it takes."""

    durations: dict[str, tuple[int, ...]]
    default_resolution: str
    text: bool = False
    first_frame: bool = False
    last_frame: bool = False
    subject: bool = False
    image_only: frozenset[str] = frozenset()  # resolutions needing a lone first frame (Hailuo-02's 512P)


_HAILUO = {"768P": (6, 10), "1080P": (6,)}
_V01 = {"720P": (6,)}
MODELS: dict[str, _Model] = {
    "MiniMax-Hailuo-2.3": _Model(_HAILUO, "768P", text=True, first_frame=True),
    "MiniMax-Hailuo-2.3-Fast": _Model(_HAILUO, "768P", first_frame=True),
    "MiniMax-Hailuo-02": _Model({"512P": (6, 10), **_HAILUO}, "768P", text=True, first_frame=True, last_frame=True,
                                image_only=frozenset({"512P"})),
    "T2V-01": _Model(_V01, "720P", text=True),
    "T2V-01-Director": _Model(_V01, "720P", text=True),
    "I2V-01": _Model(_V01, "720P", first_frame=True),
    "I2V-01-Director": _Model(_V01, "720P", first_frame=True),
    "I2V-01-live": _Model(_V01, "720P", first_frame=True),
    "S2V-01": _Model(_V01, "720P", subject=True),
}
# Frame size per resolution for a 16:9 output (the real service follows the first frame's ratio).
DIMENSIONS = {"512P": (912, 512), "720P": (1280, 720), "768P": (1366, 768), "1080P": (1920, 1080)}

_OK = {"status_code": 0, "status_msg": "success"}
_FAILURES = {
    "moderation": (1027, "output new_sensitive: the generated video may contain sensitive content"),
    "fail_job": (1000, "unknown error: video generation failed"),
}
_FAULT_CODES: dict[FaultErrorKind, tuple[int, str]] = {
    "rate_limit": (1002, "rate limit exceeded(RPM)"),
    "server_error": (1000, "unknown error"),
    "timeout": (1001, "request timeout"),
}
_PROXY_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)


def base_error(code: int, message: str, **fields: Any) -> Response:
    """An error the MiniMax way: HTTP 200, the code in base_resp."""
    return json_response({**fields, "base_resp": {"status_code": code, "status_msg": message}})


def _fault_error(kind: FaultErrorKind) -> Response:
    if kind == "unavailable":
        return Response(_PROXY_503, status=503, mimetype="text/html")
    return base_error(*_FAULT_CODES[kind])


def _invalid(message: str) -> NoReturn:
    abort(base_error(2013, f"invalid params, {message}"))


def _new_number() -> str:
    """MiniMax ids are int64 decimals (task ids as strings, file ids as numbers)."""
    return str(secrets.randbelow(9 * 10**14) + 10**14)


def _is_image(value: object) -> bool:
    return isinstance(value, str) and value.startswith(IMAGE_PREFIXES)


def _image(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not _is_image(value):
        _invalid(f"{name} must be a public URL or a base64 data URL (jpeg, png, webp)")
    return value


def _check_subject_reference(value: object) -> None:
    """S2V-01 takes one character with one image (the documented limit)."""
    if not (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], dict)
        and value[0].get("type") == "character"
        and isinstance(value[0].get("image"), list)
        and len(value[0]["image"]) == 1
        and _is_image(value[0]["image"][0])
    ):
        _invalid("subject_reference must be [{type: character, image: [one image]}]")


def _validate(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(model, prompt, recorded params) of a valid create body; a 2013 answer otherwise."""
    name = body.get("model")
    model = MODELS.get(name) if isinstance(name, str) else None
    if model is None:
        _invalid(f"model {name!r} is not supported; use one of {', '.join(MODELS)}")
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT:
        _invalid(f"prompt must be a string of at most {MAX_PROMPT} characters")
    first, last = _image(body, "first_frame_image"), _image(body, "last_frame_image")
    subject = body.get("subject_reference")
    if first and not model.first_frame:
        _invalid(f"{name} does not support first_frame_image")
    if not first and model.first_frame and not model.text:
        _invalid(f"first_frame_image is required for {name}")
    if last and not (model.last_frame and first):
        _invalid(f"last_frame_image needs first_frame_image and model MiniMax-Hailuo-02, not {name}")
    if model.subject:
        _check_subject_reference(subject)
    elif subject is not None:
        _invalid(f"{name} does not support subject_reference")
    if not prompt and not first:
        _invalid("prompt is required")
    resolution = body.get("resolution", model.default_resolution)
    if not isinstance(resolution, str) or resolution not in model.durations:
        _invalid(f"resolution {resolution!r} is not supported by {name}; use one of {', '.join(model.durations)}")
    if resolution in model.image_only and (not first or last):
        _invalid(f"resolution {resolution} of {name} is only for image-to-video from a first frame")
    duration = body.get("duration", DEFAULT_DURATION)
    if isinstance(duration, bool) or duration not in model.durations[resolution]:
        _invalid(f"duration {duration!r} is not supported by {name} at {resolution}")
    for flag in FLAGS:
        if flag in body and not isinstance(body[flag], bool):
            _invalid(f"{flag} must be a boolean")
    if "callback_url" in body and not isinstance(body["callback_url"], str):
        _invalid("callback_url must be a string")
    params = {k: v for k, v in body.items() if k not in ("model", "prompt")}
    return name, prompt, {**params, "resolution": resolution, "duration": duration}


def _status(job: Job, now: float) -> str:
    phase = job.phase(now)
    if phase == "queued":
        # The queued stage is MiniMax's Preparing then Queueing, half each.
        return "Preparing" if now - job.created_at < job.duration * QUEUED_FRACTION / 2 else "Queueing"
    return {"running": "Processing", "succeeded": "Success"}.get(phase, "Fail")


def create_blueprint(sim: Simulator) -> Blueprint:
    """The MiniMax v1 video routes over the shared simulator state, plus the signed file links."""
    api_key = os.environ.get("VIDGATE_SIM_HAILUO_KEY", "minimax-sim-key")
    # Old MiniMax docs require a GroupId query parameter; checked only when one is configured.
    group_id = os.environ.get("VIDGATE_SIM_HAILUO_GROUP_ID") or None
    vendor = VendorSim(sim, VENDOR, _fault_error, _new_number)
    bp = Blueprint(VENDOR, __name__)
    file_jobs: dict[str, str] = {}  # file_id -> job id, filled as jobs are created
    file_ids: dict[str, str] = {}  # job id -> file_id
    lock = threading.Lock()

    def authenticated(view: Callable[[], Response]) -> Callable[[], Response]:
        """MiniMax refuses a missing or wrong key with HTTP 200 and code 1004 (the file links need none)."""

        @functools.wraps(view)
        def checked() -> Response:
            token = bearer_token()
            if token is None:
                return base_error(1004, "login fail: Please carry the API secret key in the 'Authorization' field "
                                        "of the request header")
            if not hmac.compare_digest(token.encode(), api_key.encode()):
                return base_error(1004, "login fail: invalid API secret key")
            if group_id is not None and request.args.get("GroupId") != group_id:
                return base_error(1004, "login fail: GroupId does not match the API secret key")
            return view()

        return checked

    @bp.post("/v1/video_generation")
    @authenticated
    def create() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            _invalid("the body must be a JSON object")
        model, prompt, params = _validate(body)
        fault = vendor.gate("create")
        job = vendor.create_job(model=model, prompt=prompt, params=params, fault=fault)
        with lock:
            file_id = _new_number()
            file_jobs[file_id], file_ids[job.id] = job.id, file_id
        return json_response({"task_id": job.id, "base_resp": _OK})

    @bp.get("/v1/query/video_generation")
    @authenticated
    def query() -> Response:
        task_id = request.args.get("task_id", "")
        if not task_id:
            _invalid("task_id is required")
        vendor.gate("poll", task_id)
        job = vendor.find(task_id)
        if job is None:
            _invalid(f"task {task_id} not found")
        now = vendor.now()
        status = _status(job, now)
        answer: dict[str, Any] = {"task_id": job.id, "status": status, "file_id": "", "video_width": 0,
                                  "video_height": 0, "base_resp": _OK}
        if status == "Success":
            width, height = DIMENSIONS[job.params["resolution"]]
            answer.update(file_id=file_ids[job.id], video_width=width, video_height=height)
        elif status == "Fail" and job.outcome is not None:
            code, message = _FAILURES[job.outcome]
            answer["base_resp"] = {"status_code": code, "status_msg": job.failure_message or message}
        return json_response(answer)

    @bp.get("/v1/files/retrieve")
    @authenticated
    def retrieve() -> Response:
        file_id = request.args.get("file_id", "")
        if not file_id.isdigit():
            _invalid("file_id must be an integer")
        vendor.gate("poll")  # a metadata read: content faults are left for the download itself
        job = vendor.find(file_jobs.get(file_id, ""))
        now = vendor.now()
        if job is None or job.phase(now) != "succeeded" or job.is_expired(now):
            _invalid(f"file {file_id} not found")
        size, _ = media.video_for(job.id, job.pad_bytes)
        return json_response({
            "file": {
                "file_id": int(file_id),
                "bytes": size,
                "created_at": int(job.ended_at),
                "filename": "output_aigc.mp4",
                "purpose": "video_generation",
                "download_url": vendor.file_url(job),
                "backup_download_url": vendor.file_url(job),
            },
            "base_resp": _OK,
        })

    vendor.add_file_route(bp)
    return bp
