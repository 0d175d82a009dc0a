"""Alibaba Wan (DashScope) simulator: async video-synthesis tasks, `/tasks/{id}` and OSS-style links, at /wan."""

from __future__ import annotations

import hmac
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, request

from ..core import Job, Phase, Simulator
from ..vendor import FaultErrorKind, VendorSim, bearer_token, json_response

VENDOR = "wan"
API = "/api/v1"
VIDEO_GENERATION, IMAGE_TO_VIDEO = "video-generation", "image2video"

_480 = ("832*480", "480*832", "624*624")
_720 = ("1280*720", "720*1280", "960*960", "1088*832", "832*1088")
_1080 = ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632")
SIZES = {"480P": _480, "720P": _720, "1080P": _1080}


@dataclass(frozen=True)
class Model:
    path: str  # the task path the model is served on
    kind: str  # t2v, i2v or kf2v
    resolutions: tuple[str, ...]
    durations: tuple[int, ...]


MODELS: dict[str, Model] = {
    "wan2.5-t2v-preview": Model(VIDEO_GENERATION, "t2v", ("480P", "720P", "1080P"), (5, 10)),
    "wan2.5-i2v-preview": Model(VIDEO_GENERATION, "i2v", ("480P", "720P", "1080P"), (5, 10)),
    "wan2.2-t2v-plus": Model(VIDEO_GENERATION, "t2v", ("480P", "1080P"), (5,)),
    "wan2.2-i2v-plus": Model(VIDEO_GENERATION, "i2v", ("480P", "1080P"), (5,)),
    "wan2.2-i2v-flash": Model(VIDEO_GENERATION, "i2v", ("480P", "720P"), (5,)),
    "wan2.2-kf2v-flash": Model(IMAGE_TO_VIDEO, "kf2v", ("480P", "720P", "1080P"), (5,)),
    "wanx2.1-t2v-turbo": Model(VIDEO_GENERATION, "t2v", ("480P", "720P"), (5,)),
    "wanx2.1-t2v-plus": Model(VIDEO_GENERATION, "t2v", ("720P",), (5,)),
    "wanx2.1-i2v-turbo": Model(VIDEO_GENERATION, "i2v", ("480P", "720P"), (3, 4, 5)),
    "wanx2.1-i2v-plus": Model(VIDEO_GENERATION, "i2v", ("720P",), (5,)),
    "wanx2.1-kf2v-plus": Model(IMAGE_TO_VIDEO, "kf2v", ("720P",), (5,)),
}
MAX_SEED = 2**31 - 1
# DashScope reports times as Beijing wall-clock strings with milliseconds.
BEIJING = timezone(timedelta(hours=8))
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+$")

_STATUS: dict[Phase, str] = {
    "queued": "PENDING",
    "running": "RUNNING",
    "succeeded": "SUCCEEDED",
    "failed": "FAILED",
    "cancelled": "CANCELED",
}
_FAILURES = {
    "moderation": ("DataInspectionFailed", "Output data may contain inappropriate content."),
    "fail_job": ("InternalError", "An internal error has occured, please try again later or contact service "
                 "support."),
}
_FAULT_ERRORS: dict[FaultErrorKind, tuple[int, str, str]] = {
    "rate_limit": (429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
    "server_error": (500, "InternalError", "An internal error has occured, please try again later or contact "
                     "service support."),
    "unavailable": (503, "ServiceUnavailable", "The service is temporarily unavailable, please try again later."),
    "timeout": (504, "RequestTimeOut", "Request timed out, please try again later."),
}


def error(status: int, code: str, message: str) -> Response:
    """An error in DashScope's envelope."""
    return json_response({"request_id": str(uuid.uuid4()), "code": code, "message": message}, status)


def _fault_error(kind: FaultErrorKind) -> Response:
    return error(*_FAULT_ERRORS[kind])


def _invalid(message: str) -> NoReturn:
    abort(error(400, "InvalidParameter", message))


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _image_url(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        _invalid(f"Field required: input.{name}")
    if not (value.startswith(("http://", "https://", "oss://")) or _DATA_URL.match(value)):
        _invalid(f"The input.{name} is not a valid URL or base64 image.")
    return "data-url" if value.startswith("data:") else value


def _validate(body: dict[str, Any], path: str) -> tuple[str, str, dict[str, Any]]:
    """The model, prompt and recorded parameters of a create, or a 400 InvalidParameter."""
    name = body.get("model")
    model = MODELS.get(name) if isinstance(name, str) else None
    if model is None:
        _invalid("Model not exist.")
    if model.path != path:
        _invalid(f"Model {name} is not served on the {path} path; use {model.path}.")
    data = body.get("input")
    if not isinstance(data, dict):
        _invalid("Field required: input")
    prompt = data.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        _invalid("The input.prompt must be a string.")
    if model.kind == "t2v" and not prompt:
        _invalid("Field required: input.prompt")
    images: dict[str, str] = {}
    if model.kind == "i2v":
        images["img_url"] = _image_url(data.get("img_url"), "img_url")
    elif model.kind == "kf2v":
        images["first_frame_url"] = _image_url(data.get("first_frame_url"), "first_frame_url")
        if "last_frame_url" in data:
            images["last_frame_url"] = _image_url(data["last_frame_url"], "last_frame_url")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        _invalid("The parameters must be an object.")
    params: dict[str, Any] = {"images": images, "negative_prompt": data.get("negative_prompt")}
    if model.kind == "t2v":
        size = parameters.get("size", SIZES[model.resolutions[-1]][0])
        allowed = [s for tier in model.resolutions for s in SIZES[tier]]
        if size not in allowed:
            _invalid(f"The size is invalid, supported sizes: {', '.join(allowed)}.")
        params["size"] = size
    else:
        resolution = parameters.get("resolution", model.resolutions[-1])
        if resolution not in model.resolutions:
            _invalid(f"The resolution is invalid, supported values: {', '.join(model.resolutions)}.")
        params["resolution"] = resolution
    duration = parameters.get("duration", model.durations[0])
    if isinstance(duration, bool) or not isinstance(duration, int) or duration not in model.durations:
        _invalid(f"The duration is invalid, supported values: {', '.join(map(str, model.durations))}.")
    seed = parameters.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        _invalid(f"The seed must be an integer in [0, {MAX_SEED}].")
    for flag in ("prompt_extend", "watermark", "audio"):
        if flag in parameters and not isinstance(parameters[flag], bool):
            _invalid(f"The parameters.{flag} must be a boolean.")
    params.update(duration=duration, seed=seed, watermark=parameters.get("watermark", False))
    return name, prompt or "", params


def create_blueprint(sim: Simulator) -> Blueprint:
    """DashScope's video-synthesis and task routes (`/api/v1/...`) over the shared simulator state."""
    api_key = os.environ.get("VIDGATE_SIM_WAN_KEY", "dashscope-sim-key")
    vendor = VendorSim(sim, VENDOR, _fault_error, lambda: str(uuid.uuid4()))
    bp = Blueprint(VENDOR, __name__)
    vendor.add_file_route(bp)

    @bp.before_request
    def authenticate() -> Response | None:
        if request.endpoint == f"{VENDOR}.result_file":
            return None  # the object store: its links are signed, no key
        token = bearer_token()
        if token is not None and hmac.compare_digest(token.encode(), api_key.encode()):
            return None
        return error(401, "InvalidApiKey", "No API-key provided." if token is None else "Invalid API-key provided.")

    def task_body(job: Job) -> dict[str, Any]:
        now = vendor.now()
        phase = job.phase(now)
        output: dict[str, Any] = {"task_id": job.id, "task_status": _STATUS[phase],
                                  "submit_time": _timestamp(job.created_at)}
        if phase != "queued":
            output["scheduled_time"] = _timestamp(job.created_at + job.duration * 0.1)
        body: dict[str, Any] = {"request_id": str(uuid.uuid4()), "output": output}
        if phase == "succeeded":
            output.update(end_time=_timestamp(job.ended_at), orig_prompt=job.prompt, actual_prompt=job.prompt,
                          video_url=vendor.file_url(job))
            ratio = job.params.get("size") or job.params["resolution"]
            body["usage"] = {"video_duration": job.params["duration"], "video_ratio": ratio, "video_count": 1}
        elif phase == "failed" and job.outcome is not None:
            code, message = _FAILURES[job.outcome]
            output.update(end_time=_timestamp(job.ended_at), code=code, message=job.failure_message or message)
        elif phase == "cancelled" and job.cancelled_at is not None:
            output["end_time"] = _timestamp(job.cancelled_at)
        return body

    def create(path: str) -> Response:
        if request.headers.get("X-DashScope-Async") != "enable":
            return error(403, "AccessDenied", "current user api does not support synchronous calls")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            _invalid("The request body is not a valid JSON object.")
        model, prompt, params = _validate(body, path)
        fault = vendor.gate("create")
        job = vendor.create_job(model=model, prompt=prompt, params=params, fault=fault)
        return json_response({"output": {"task_status": "PENDING", "task_id": job.id},
                              "request_id": str(uuid.uuid4())})

    @bp.post(f"{API}/services/aigc/{VIDEO_GENERATION}/video-synthesis")
    def video_synthesis() -> Response:
        return create(VIDEO_GENERATION)

    @bp.post(f"{API}/services/aigc/{IMAGE_TO_VIDEO}/video-synthesis")
    def image_to_video() -> Response:
        return create(IMAGE_TO_VIDEO)

    @bp.get(f"{API}/tasks/<task_id>")
    def get_task(task_id: str) -> Response:
        vendor.gate("poll", task_id)
        job = sim.jobs.get(VENDOR, task_id)
        if job is None or job.is_expired(vendor.now()):
            # DashScope answers an id it does not (or no longer) know with 200 and UNKNOWN.
            return json_response({"request_id": str(uuid.uuid4()),
                                  "output": {"task_id": task_id, "task_status": "UNKNOWN"}})
        return json_response(task_body(job))

    @bp.post(f"{API}/tasks/<task_id>/cancel")
    def cancel_task(task_id: str) -> Response:
        vendor.gate("cancel", task_id)
        job = sim.jobs.get(VENDOR, task_id)
        if job is None:
            return error(404, "NotFound", f"The task {task_id} does not exist.")
        if job.phase(vendor.now()) != "queued":
            return error(400, "UnsupportedOperation",
                         "Failed to cancel the task, please confirm if the task is in PENDING status.")
        sim.jobs.cancel(job, vendor.now())
        return json_response({"request_id": str(uuid.uuid4())})

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def invalid_url(unknown: str) -> Response:
        return error(404, "NotFound", f"The requested URL /{unknown} was not found.")

    return bp
