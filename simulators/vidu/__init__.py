"""Vidu simulator: `/ent/v2` create paths, creations, task list and cancel with `Token` auth, mounted at /vidu.

Vidu's error envelope is not documented publicly; this one follows what third-party clients record:
`{"code": <HTTP status>, "reason": "<Name>", "message", "metadata": {"trace_id"}}`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from datetime import UTC, datetime
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, request

from .. import media
from ..core import Job, Phase, Simulator
from ..vendor import FaultErrorKind, VendorSim, json_response, positive_arg

VENDOR = "vidu"
PATHS = ("text2video", "img2video", "start-end2video", "reference2video")
MODELS = ("viduq3-pro", "viduq3-turbo", "viduq2-pro", "viduq2-turbo", "viduq2-pro-fast", "viduq2", "viduq1",
          "viduq1-classic", "vidu2.0", "vidu1.5")
# How many images each path takes (reference2video may give them as subjects instead).
IMAGE_COUNTS = {"text2video": (0, 0), "img2video": (1, 1), "start-end2video": (2, 2), "reference2video": (1, 7)}
RESOLUTIONS = ("360p", "540p", "720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1")
AMPLITUDES = ("auto", "small", "medium", "large")
STYLES = ("general", "anime")
DURATION_RANGE = (1, 16)
# The task list's page size: 20 unless `pager.pagesz` says otherwise, at most 100 (a third-party gateway's
# emulation of the list, the only description of it we have; Vidu's own limits are not published).
LIST_PAGE_SIZE, MAX_LIST_PAGE_SIZE = 20, 100
MAX_PROMPT, MAX_PAYLOAD = 2000, 1_048_576
FIELDS = frozenset({"model", "prompt", "images", "subjects", "duration", "seed", "aspect_ratio", "resolution",
                    "movement_amplitude", "bgm", "audio", "voice_id", "is_rec", "payload", "off_peak", "watermark",
                    "wm_position", "wm_url", "meta_data", "callback_url", "style"})
_BOOLEANS = ("bgm", "audio", "is_rec", "off_peak", "watermark")
_STRINGS = ("voice_id", "wm_url", "meta_data", "callback_url")

_STATE: dict[Phase, str] = {"queued": "queueing", "running": "processing", "succeeded": "success",
                            "failed": "failed", "cancelled": "failed"}
_ERR_CODES = {"moderation": "CreationPolicyViolation", "fail_job": "InternalServiceFailure"}
_FAULT_ERRORS: dict[FaultErrorKind, tuple[int, str, str]] = {
    "rate_limit": (429, "TooManyRequests", "too many requests, please slow down"),
    "server_error": (500, "InternalServiceFailure", "internal service failure, please retry later"),
    "unavailable": (503, "InternalServiceFailure", "service temporarily unavailable"),
    "timeout": (504, "InternalServiceFailure", "upstream request timeout"),
}


def error(status: int, reason: str, message: str) -> Response:
    """An error in the (assumed) Vidu envelope."""
    body = {"code": status, "reason": reason, "message": message, "metadata": {"trace_id": secrets.token_hex(8)}}
    return json_response(body, status)


def _fault_error(kind: FaultErrorKind) -> Response:
    return error(*_FAULT_ERRORS[kind])


def _invalid(reason: str, message: str) -> NoReturn:
    abort(error(400, reason, message))


def _positive(name: str, default: int) -> int:
    """A positive integer query parameter."""
    value = positive_arg(name, default)
    if value is None:
        _invalid("BadRequest", f"{name} must be a positive integer, not {request.args[name]!r}")
    return value


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _image(value: object) -> dict[str, Any]:
    """A URL, or base64 with its data: prefix (Vidu needs the content type); recorded for tests to inspect."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return {"url": value}
    if isinstance(value, str) and value.startswith("data:image/") and ";base64," in value:
        header, _, payload = value.partition(",")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            _invalid("ImageFormatInvalid", "image base64 is not valid")
        return {"content_type": header[5:].split(";")[0], "bytes": len(data)}
    _invalid("ImageFormatInvalid", "images must be URLs or base64 with a data:image/...;base64, prefix")


def _validated(path: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The body checked as Vidu checks it; returns what the job records of it."""
    unwanted = sorted(set(fields) - FIELDS)
    if unwanted:
        _invalid("FieldUnwanted", f"unwanted field: {unwanted[0]}")
    model = fields.get("model")
    if not model:
        _invalid("FieldLacking", "model is required")
    if model not in MODELS:
        _invalid("ModelUnavailable", f"model {model} is not supported")
    prompt = fields.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or len(prompt) > MAX_PROMPT):
        _invalid("FieldInvalid", f"prompt must be a string of at most {MAX_PROMPT} characters")
    if path in ("text2video", "reference2video") and not prompt:
        _invalid("FieldLacking", "prompt is required")
    images = fields.get("images")
    subjects = fields.get("subjects")
    if subjects is not None and path != "reference2video":
        _invalid("FieldUnwanted", "subjects is only for reference2video")
    if subjects is not None:
        if not isinstance(subjects, list) or not all(isinstance(s, dict) and s.get("id") for s in subjects):
            _invalid("FieldInvalid", "subjects must be a list of {id, images, voice_id}")
        images = [image for subject in subjects for image in subject.get("images") or []]
    elif images is not None and not isinstance(images, list):
        _invalid("FieldInvalid", "images must be a list")
    images = images or []
    low, high = IMAGE_COUNTS[path]
    if not low <= len(images) <= high:
        expected = f"{low}" if low == high else f"{low} to {high}"
        _invalid("FieldItemCountOutOfRange", f"{path} takes {expected} images, got {len(images)}")
    duration, (shortest, longest) = fields.get("duration", 5), DURATION_RANGE
    if isinstance(duration, bool) or not isinstance(duration, int) or not shortest <= duration <= longest:
        _invalid("FieldInvalid", f"duration must be an integer from {shortest} to {longest}")
    seed = fields.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        _invalid("FieldInvalid", "seed must be an integer")
    for name, allowed in (("resolution", RESOLUTIONS), ("aspect_ratio", ASPECT_RATIOS),
                          ("movement_amplitude", AMPLITUDES), ("style", STYLES)):
        if name in fields and fields[name] not in allowed:
            _invalid("FieldInvalid", f"{name} must be one of {', '.join(allowed)}")
    for name in _BOOLEANS:
        if name in fields and not isinstance(fields[name], bool):
            _invalid("FieldInvalid", f"{name} must be true or false")
    for name in _STRINGS:
        if name in fields and not isinstance(fields[name], str):
            _invalid("FieldInvalid", f"{name} must be a string")
    payload = fields.get("payload", "")
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD:
        _invalid("FieldInvalid", f"payload must be a string of at most {MAX_PAYLOAD} characters")
    if fields.get("audio") and fields.get("off_peak"):
        _invalid("FieldInvalid", "off_peak is not supported with audio")
    return {
        "path": path,
        "images": [_image(image) for image in images],
        "duration": duration,
        "seed": seed or secrets.randbelow(2**31),  # 0 or absent: Vidu draws one
        "aspect_ratio": fields.get("aspect_ratio", "16:9"),
        "resolution": fields.get("resolution", "720p"),
        "movement_amplitude": fields.get("movement_amplitude", "auto"),
        "bgm": fields.get("bgm", False),
        "audio": fields.get("audio", False),
        "off_peak": fields.get("off_peak", False),
        "payload": payload,
        "watermark": fields.get("watermark", False),
        "callback_url": fields.get("callback_url"),
    }


def _credits(params: dict[str, Any]) -> int:
    per_second = {"360p": 2, "540p": 3, "720p": 5, "1080p": 10}[params["resolution"]]
    total = per_second * params["duration"]
    return total // 2 if params["off_peak"] else total


def create_blueprint(sim: Simulator) -> Blueprint:
    """Vidu's `/ent/v2` routes over the shared simulator state; the key comes from VIDGATE_SIM_VIDU_KEY."""
    api_key = os.environ.get("VIDGATE_SIM_VIDU_KEY", "vidu-sim-key")
    vendor = VendorSim(sim, VENDOR, _fault_error, lambda: str(2_000_000_000_000_000 + secrets.randbelow(10**15)))
    bp = Blueprint(VENDOR, __name__)

    def existing(task_id: str) -> Job:
        # Cancelled jobs stay readable: Vidu reports them failed with UserCancelled.
        job = sim.jobs.get(VENDOR, task_id)
        if job is None:
            abort(error(404, "TaskNotFound", f"task {task_id} not found"))
        return job

    def creations(job: Job) -> dict[str, Any]:
        now = vendor.now()
        phase = job.phase(now)
        body: dict[str, Any] = {"id": job.id, "state": _STATE[phase], "err_code": "", "credits": _credits(job.params),
                                "payload": job.params["payload"], "progress": job.progress(now), "creations": []}
        if phase == "cancelled":
            body["err_code"] = "UserCancelled"
        elif phase == "failed" and job.outcome is not None:
            body["err_code"] = job.failure_message or _ERR_CODES[job.outcome]
        elif phase == "succeeded":
            url = vendor.file_url(job)
            body["creations"] = [{"id": f"{job.id}1", "url": url, "watermarked_url": url,
                                  "cover_url": f"{request.host_url}{VENDOR}/_covers/{job.id}.jpeg"}]
        return body

    @bp.before_request
    def authenticate() -> Response | None:
        if request.endpoint in (f"{VENDOR}.result_file", f"{VENDOR}.cover"):
            return None  # result links are signed store URLs, fetched without the API key
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Token" and hmac.compare_digest(token.strip().encode(), api_key.encode()):
            return None
        return error(401, "Unauthorized", "invalid or missing API key; send Authorization: Token <key>")

    @bp.post("/ent/v2/<any(text2video, img2video, \"start-end2video\", reference2video):path>")
    def create_task(path: str) -> Response:
        fields = request.get_json(silent=True)
        if not isinstance(fields, dict):
            _invalid("BadRequest", "the request body must be a JSON object")
        params = _validated(path, fields)
        fault = vendor.gate("create")
        job = vendor.create_job(model=fields["model"], prompt=fields.get("prompt") or "", params=params, fault=fault)
        body = {"task_id": job.id, "state": "created", "model": job.model, "prompt": job.prompt,
                **{k: params[k] for k in ("duration", "seed", "resolution", "movement_amplitude", "bgm", "payload",
                                          "off_peak")},
                "credits": _credits(params), "created_at": _iso(job.created_at)}
        if path != "text2video":
            body["images"] = fields.get("images") or []
        if path in ("text2video", "reference2video"):
            body["aspect_ratio"] = params["aspect_ratio"]
        return json_response(body)

    @bp.get("/ent/v2/tasks/<task_id>/creations")
    def get_creations(task_id: str) -> Response:
        vendor.gate("poll", task_id)
        return json_response(creations(existing(task_id)))

    @bp.get("/ent/v2/tasks")
    def list_tasks() -> Response:
        """The task list, newest first: `task_ids` (repeated or comma-separated), `pager.page` and
        `pager.pagesz`; each task as its creations read has it. Each task listed counts as a status read of it."""
        page, size = _positive("pager.page", 1), _positive("pager.pagesz", LIST_PAGE_SIZE)
        if size > MAX_LIST_PAGE_SIZE:
            _invalid("BadRequest", f"pager.pagesz must be at most {MAX_LIST_PAGE_SIZE}")
        sim.stats.incr(VENDOR, "list_requests")
        vendor.gate("poll")
        ids = {task_id for value in request.args.getlist("task_ids") for task_id in value.split(",") if task_id}
        jobs = [job for job in reversed(sim.jobs.list(VENDOR)) if not ids or job.id in ids]
        listed = jobs[(page - 1) * size:page * size]
        sim.stats.incr(VENDOR, "listed", len(listed))
        for job in listed:
            sim.stats.poll(VENDOR, job.id)
        more = len(jobs) > page * size
        return json_response({"tasks": [creations(job) for job in listed],
                              "next_page_token": str(page + 1) if more else ""})

    @bp.post("/ent/v2/tasks/<task_id>/cancel")
    def cancel_task(task_id: str) -> Response:
        vendor.gate("cancel")
        job = existing(task_id)
        if job.phase(vendor.now()) not in ("queued", "running"):
            _invalid("BadRequest", f"task {task_id} has already ended")
        sim.jobs.cancel(job, vendor.now())
        return json_response({})

    vendor.add_file_route(bp)

    @bp.get("/_covers/<job_id>.jpeg")
    def cover(job_id: str) -> Response:
        job = vendor.find(job_id)
        if job is None or job.phase(vendor.now()) != "succeeded":
            abort(error(404, "CreationNotFound", "no such cover"))
        return vendor.stream_bytes(media.thumbnail_for(job.id), "image/jpeg", None)

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def not_found(unknown: str) -> Response:
        return error(404, "NotFound", f"no route for {request.method} /{unknown}")

    return bp
