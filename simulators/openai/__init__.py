"""OpenAI Videos API (Sora 2) simulator: the /v1/videos protocol of the official SDK, mounted at /openai."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, request
from werkzeug.datastructures import FileStorage

from .. import media
from ..core import Job, Phase, Simulator
from ..vendor import FaultErrorKind, VendorSim, bearer_token, json_response

VENDOR = "openai"
MODELS = ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")
SECONDS = ("4", "8", "12")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
CREATE_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
# The real API also offers a spritesheet; the simulator serves its one-frame thumbnail for it.
VARIANTS = ("video", "thumbnail", "spritesheet")
DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT = 20, 100

_STATUS: dict[Phase, str] = {
    "queued": "queued",
    "running": "in_progress",
    "succeeded": "completed",
    "failed": "failed",
}
_FAILURES: dict[str, tuple[str, str]] = {
    "moderation": ("moderation_blocked", "Your request was blocked by our moderation system."),
    "fail_job": ("internal_error", "Video generation failed due to an internal error."),
}
_FAULT_ERRORS: dict[FaultErrorKind, tuple[int, str, str, str | None]] = {
    "rate_limit": (429, "Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    "server_error": (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    "unavailable": (503, "The server is overloaded or not ready yet.", "server_error", None),
    "timeout": (504, "Request timed out.", "server_error", None),
}


def error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> Response:
    """An error in OpenAI's envelope."""
    return json_response({"error": {"message": message, "type": type_, "param": param, "code": code}}, status)


def _fault_error(kind: FaultErrorKind) -> Response:
    status, message, type_, code = _FAULT_ERRORS[kind]
    return error(status, message, type_=type_, code=code)


def _invalid(param: str | None, message: str, code: str | None = "invalid_value") -> NoReturn:
    abort(error(400, message, param=param, code=code))


def _not_found(video_id: str) -> NoReturn:
    abort(error(404, f"Video with id '{video_id}' not found.", code="video_not_found"))


def _listing(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def _request_fields() -> dict[str, Any]:
    """The body as a dict, from JSON or from form fields plus file parts (what the SDK sends)."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            _invalid(None, "We could not parse the JSON body of your request. Expected a JSON object.", None)
        return body
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        message = f"Unsupported content type: '{request.mimetype}'. Send JSON or multipart/form-data."
        _invalid(None, message, None)
    fields: dict[str, Any] = {}
    nested: dict[str, dict[str, str]] = {}
    for key, value in request.form.items():
        outer, bracket, inner = key.partition("[")
        # The SDK flattens objects in multipart bodies: {image_url} becomes input_reference[image_url].
        if bracket and inner.endswith("]"):
            nested.setdefault(outer, {})[inner[:-1]] = value
        else:
            fields[key] = value
    for outer, value in nested.items():
        if outer in fields:
            _invalid(outer, f"'{outer}' was given both as a value and as an object.")
        fields[outer] = value
    fields.update(request.files.to_dict())
    return fields


def _reject_unknown(fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        _invalid(unknown[0], f"Unknown parameter: '{unknown[0]}'.", "unknown_parameter")


def _prompt(fields: dict[str, Any]) -> str:
    prompt = fields.get("prompt")
    if prompt is None or prompt == "":
        _invalid("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter")
    if not isinstance(prompt, str):
        _invalid("prompt", "Invalid type for 'prompt': expected a string.", "invalid_type")
    return prompt


def _choice(fields: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = fields.get(name)
    if value is None:
        return allowed[0]  # each list starts with the API's default
    if not isinstance(value, str):
        # The API types these as strings ("seconds": "4"), so a JSON number is refused, as upstream does.
        _invalid(name, f"Invalid type for '{name}': expected one of {_listing(allowed)}.", "invalid_type")
    if value not in allowed:
        _invalid(name, f"Invalid value: '{value}'. Supported values are: {_listing(allowed)}.")
    return value


def _input_reference(value: object) -> dict[str, Any] | None:
    """What the request referenced, recorded in the job so tests can check what a gateway passed on."""
    if value is None:
        return None
    if isinstance(value, FileStorage):
        data = value.read()
        return {
            "filename": value.filename,
            "content_type": value.mimetype,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    if (
        isinstance(value, dict)
        and len(value) == 1
        and set(value) <= {"image_url", "file_id"}
        and all(isinstance(v, str) and v for v in value.values())
    ):
        return dict(value)
    _invalid("input_reference", "'input_reference' must be a file or an {image_url} or {file_id} object.")


def _video(job: Job, now: float) -> dict[str, Any]:
    """The Video object for `job` as seen at `now`."""
    phase = job.phase(now)
    failure = None
    if phase == "failed" and job.outcome is not None:
        code, message = _FAILURES[job.outcome]
        failure = {"code": code, "message": job.failure_message or message}
    return {
        "id": job.id,
        "object": "video",
        "model": job.model,
        "status": _STATUS[phase],
        "progress": job.progress(now),
        "created_at": int(job.created_at),
        "completed_at": int(job.ended_at) if phase in ("succeeded", "failed") else None,
        "expires_at": int(job.expires_at) if phase == "succeeded" else None,
        "seconds": job.params["seconds"],
        "size": job.params["size"],
        "prompt": job.prompt,
        "remixed_from_video_id": job.params["remixed_from_video_id"],
        "error": failure,
    }


def _video_response(job: Job, now: float) -> Response:
    response = json_response(_video(job, now))
    # About ten polls per job, kept within what the SDK's poll helper would sensibly wait.
    response.headers["openai-poll-after-ms"] = str(max(100, min(2000, int(job.duration * 100))))
    return response


def _list_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIST_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST_LIMIT:
        _invalid("limit", f"Invalid value: '{raw}'. 'limit' must be an integer from 1 to {MAX_LIST_LIMIT}.")
    return int(raw)


def create_blueprint(sim: Simulator) -> Blueprint:
    """The OpenAI Videos routes (`/v1/videos...`) over the shared simulator state."""
    api_key = os.environ.get("VIDGATE_SIM_OPENAI_KEY", "sk-sim-openai")
    vendor = VendorSim(sim, VENDOR, _fault_error, lambda: f"video_{secrets.token_hex(16)}")
    bp = Blueprint(VENDOR, __name__)

    def require(video_id: str) -> Job:
        job = vendor.find(video_id)
        if job is None:
            _not_found(video_id)
        return job

    @bp.before_request
    def authenticate() -> Response | None:
        token = bearer_token()
        if token is not None and hmac.compare_digest(token.encode(), api_key.encode()):
            return None
        if token is None:
            message = "You didn't provide an API key. Provide it in an Authorization header (Bearer auth)."
        else:
            message = "Incorrect API key provided."
        return error(401, message, code="invalid_api_key")

    @bp.post("/v1/videos")
    def create_video() -> Response:
        fields = _request_fields()
        _reject_unknown(fields, CREATE_FIELDS)
        prompt = _prompt(fields)
        model = _choice(fields, "model", MODELS)
        params = {
            "seconds": _choice(fields, "seconds", SECONDS),
            "size": _choice(fields, "size", SIZES),
            "input_reference": _input_reference(fields.get("input_reference")),
            "remixed_from_video_id": None,
        }
        # Faults only meet valid requests, so an armed fail_job is never wasted on a 400.
        fault = vendor.gate("create")
        job = vendor.create_job(
            model=model,
            prompt=prompt,
            params=params,
            fault=fault,
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return _video_response(job, vendor.now())

    @bp.get("/v1/videos")
    def list_videos() -> Response:
        order = request.args.get("order", "desc")
        if order not in ("asc", "desc"):
            _invalid("order", f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.")
        limit = _list_limit(request.args.get("limit"))
        after = request.args.get("after")
        vendor.gate("poll")
        # Deleted jobs stay in the ordering so a cursor pointing at one still pages on correctly.
        jobs = sim.jobs.list(VENDOR)
        if order == "desc":
            jobs.reverse()
        if after:
            ids = [job.id for job in jobs]
            if after not in ids:
                _invalid("after", f"Invalid value: '{after}'. 'after' must be the id of a listed video.")
            jobs = jobs[ids.index(after) + 1 :]
        remaining = [job for job in jobs if not job.cancelled]
        page = remaining[:limit]
        now = vendor.now()
        return json_response(
            {
                "object": "list",
                "data": [_video(job, now) for job in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(remaining) > limit,
            }
        )

    @bp.get("/v1/videos/<video_id>")
    def retrieve_video(video_id: str) -> Response:
        vendor.gate("poll", video_id)
        return _video_response(require(video_id), vendor.now())

    @bp.delete("/v1/videos/<video_id>")
    def delete_video(video_id: str) -> Response:
        vendor.gate("cancel")
        job = require(video_id)
        sim.jobs.cancel(job, vendor.now())
        return json_response({"id": job.id, "object": "video.deleted", "deleted": True})

    @bp.post("/v1/videos/<video_id>/remix")
    def remix_video(video_id: str) -> Response:
        fields = _request_fields()
        _reject_unknown(fields, frozenset({"prompt"}))
        prompt = _prompt(fields)
        source = require(video_id)
        if source.phase(vendor.now()) != "succeeded":
            _invalid(None, f"Video '{video_id}' is not completed; only completed videos can be remixed.")
        fault = vendor.gate("create")
        job = vendor.create_job(
            model=source.model,
            prompt=prompt,
            params={
                "seconds": source.params["seconds"],
                "size": source.params["size"],
                "input_reference": None,
                "remixed_from_video_id": source.id,
            },
            fault=fault,
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        return _video_response(job, vendor.now())

    @bp.get("/v1/videos/<video_id>/content")
    def download_content(video_id: str) -> Response:
        variant = request.args.get("variant", "video")
        if variant not in VARIANTS:
            _invalid("variant", f"Invalid value: '{variant}'. Supported values are: {_listing(VARIANTS)}.")
        fault = vendor.gate("content", video_id)
        job = require(video_id)
        now = vendor.now()
        phase = job.phase(now)
        if phase != "succeeded":
            message = f"Video '{video_id}' is not ready for download; its status is '{_STATUS[phase]}'."
            abort(error(404, message, code="video_not_ready"))
        if job.is_expired(now):
            abort(error(404, f"The content of video '{video_id}' has expired.", code="video_expired"))
        if variant == "video":
            return vendor.stream_video(job, fault)
        return vendor.stream_bytes(media.thumbnail_for(job.id), "image/jpeg", fault)

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def invalid_url(unknown: str) -> Response:
        # Only reached when no route above matches; OpenAI answers unknown paths and wrong methods with a JSON 404.
        return error(404, f"Invalid URL ({request.method} /{unknown})")

    return bp
