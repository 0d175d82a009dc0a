"""Seedance on Volcengine Ark simulator: `/api/v3/contents/generations/tasks`, Bearer auth, mounted at /seedance."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import random
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, request

from ..core import Job, Simulator
from ..vendor import FaultErrorKind, VendorSim, bearer_token, json_response, positive_arg

VENDOR = "seedance"
TASKS = "/api/v3/contents/generations/tasks"
FPS = 24
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
SERVICE_TIERS = ("default", "flex")
EXECUTION_EXPIRES = (3600, 259200)
DEFAULT_EXECUTION_EXPIRES = 172800
LIST_WINDOW = 7 * 86400  # Ark lists the last seven days' tasks only
MAX_PAGE_SIZE = 100  # the largest page in the samples we have of Ark's list; its documented limit is not known here
ROLES = ("first_frame", "last_frame", "reference_image")
BOOLEANS = ("camera_fixed", "watermark", "generate_audio", "return_last_frame", "draft")


@dataclass(frozen=True)
class Model:
    durations: range
    roles: frozenset[str]
    requires_image: bool = False
    max_references: int = 4
    resolutions: tuple[str, ...] = ("480p", "720p", "1080p")
    default_resolution: str = "720p"


_FRAMES = frozenset({"first_frame", "last_frame"})
_ALL = frozenset(ROLES)
MODELS: dict[str, Model] = {
    "doubao-seedance-1-0-lite-t2v-250428": Model(range(5, 11, 5), frozenset()),
    "doubao-seedance-1-0-lite-i2v-250428": Model(range(5, 11, 5), _ALL, requires_image=True),
    "doubao-seedance-1-0-pro-250528": Model(range(5, 11, 5), _FRAMES, default_resolution="1080p"),
    "doubao-seedance-1-0-pro-fast-251015": Model(range(2, 13), frozenset({"first_frame"}), default_resolution="1080p"),
    "doubao-seedance-1-5-pro-251215": Model(range(4, 13), _FRAMES),
    "doubao-seedance-2-0-260128": Model(range(4, 16), _ALL, max_references=9),
    "doubao-seedance-2-0-fast-260128": Model(range(4, 16), _ALL, max_references=9),
}

_TYPES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests",
          500: "InternalServerError", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
_FAULT_ERRORS: dict[FaultErrorKind, tuple[int, str, str]] = {
    "rate_limit": (429, "RateLimitExceeded.EndpointRPMExceeded",
                   "The request has exceeded the rate limit of requests per minute (RPM) of the endpoint."),
    "server_error": (500, "InternalServiceError", "The service encountered an unexpected internal error."),
    "unavailable": (503, "ServiceUnavailable", "The service is temporarily unavailable. Please retry later."),
    "timeout": (504, "RequestTimeout", "The request timed out."),
}
_FAILURES: dict[str, tuple[str, str]] = {
    "moderation": ("OutputVideoSensitiveContentDetected",
                   "The request failed because the output video may contain sensitive information."),
    "fail_job": ("InternalServiceError", "The service encountered an unexpected internal error."),
}


def error(status: int, code: str, message: str, param: str = "") -> Response:
    """An error in Ark's envelope; Ark ends every message with the request id."""
    request_id = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10)
    body = {"code": code, "message": f"{message} Request id: {request_id}", "param": param, "type": _TYPES[status]}
    return json_response({"error": body}, status)


def _fault_error(kind: FaultErrorKind) -> Response:
    return error(*_FAULT_ERRORS[kind])


def _invalid(param: str, message: str, code: str = "InvalidParameter") -> NoReturn:
    abort(error(400, code, message, param))


def _image(part: dict[str, Any]) -> dict[str, Any]:
    """An image_url part, validated; what it referenced, recorded so tests can check what a gateway sent."""
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str) or not url:
        _invalid("content.image_url.url", "The parameter `content.image_url.url` is missing or not valid.")
    role = part.get("role") or "first_frame"
    if role not in ROLES:
        _invalid("content.role", f"The parameter `content.role` specified in the request is not valid: {role}.")
    if url.startswith(("http://", "https://")):
        return {"role": role, "url": url}
    header, _, payload = url.partition(",")
    if not (header.startswith("data:image/") and header.endswith(";base64")):
        _invalid("content.image_url.url", "The image url must be an http(s) URL or a base64 data URL.")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        _invalid("content.image_url.url", "The image data in the base64 data URL cannot be decoded.")
    return {"role": role, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _content(fields: dict[str, Any], model: Model) -> tuple[str, list[dict[str, Any]]]:
    content = fields.get("content")
    if not isinstance(content, list) or not content:
        _invalid("content", "The required parameter `content` is missing or empty.", "MissingParameter")
    texts, images = [], []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url":
            images.append(_image(part))
        else:
            _invalid("content.type", f"The content type `{kind}` is not supported by this model.")
    if len(texts) > 1:
        _invalid("content", "At most one text content item is allowed.")
    roles = [image["role"] for image in images]
    if any(role not in model.roles for role in roles):
        _invalid("content.role", "The model does not support the image role in the request.")
    if model.requires_image and not images:
        _invalid("content", "The model requires an image input.", "MissingParameter")
    if roles.count("first_frame") > 1 or roles.count("last_frame") > 1:
        _invalid("content.role", "At most one first_frame and one last_frame image are allowed.")
    if "last_frame" in roles and "first_frame" not in roles:
        _invalid("content.role", "A last_frame image needs a first_frame image.")
    if "reference_image" in roles and len(set(roles)) > 1:
        _invalid("content.role", "reference_image cannot be combined with first_frame or last_frame.")
    if roles.count("reference_image") > model.max_references:
        _invalid("content", f"At most {model.max_references} reference images are allowed.")
    if not texts and not images:
        _invalid("content", "A text prompt is required for text to video.", "MissingParameter")
    return (texts[0] if texts else ""), images


def _positive(name: str, default: int) -> int:
    """A positive integer query parameter."""
    value = positive_arg(name, default)
    if value is None:
        _invalid(name, f"The parameter `{name}` specified in the request is not valid: {request.args[name]}.")
    return value


def _choice(fields: dict[str, Any], name: str, allowed: tuple[Any, ...] | range, default: Any) -> Any:
    value = fields.get(name, default)
    if isinstance(value, bool) or value not in allowed:
        _invalid(name, f"The parameter `{name}` specified in the request is not valid: {value}.")
    return value


def _params(fields: dict[str, Any], model: Model, images: list[dict[str, Any]]) -> dict[str, Any]:
    for name in BOOLEANS:
        if name in fields and not isinstance(fields[name], bool):
            _invalid(name, f"The parameter `{name}` must be a boolean.")
    seed = fields.get("seed", -1)
    if isinstance(seed, bool) or not isinstance(seed, int) or not -1 <= seed < 2**32:
        _invalid("seed", f"The parameter `seed` specified in the request is not valid: {seed}.")
    return {
        "resolution": _choice(fields, "resolution", model.resolutions, model.default_resolution),
        # Ark's default ratio follows the first frame when there is one.
        "ratio": _choice(fields, "ratio", RATIOS, "adaptive" if images else "16:9"),
        "duration": _choice(fields, "duration", model.durations, 5),
        "seed": seed if seed != -1 else random.randrange(2**31),
        "service_tier": _choice(fields, "service_tier", SERVICE_TIERS, "default"),
        "execution_expires_after": _choice(fields, "execution_expires_after", range(*EXECUTION_EXPIRES),
                                           DEFAULT_EXECUTION_EXPIRES),
        "generate_audio": fields.get("generate_audio", False),
        "draft": fields.get("draft", False),
        "camera_fixed": fields.get("camera_fixed", False),
        "watermark": fields.get("watermark", False),
        "images": images,
    }


def create_blueprint(sim: Simulator) -> Blueprint:
    """The Ark content-generation task routes (`/api/v3/contents/generations/tasks...`) and result files."""
    api_key = os.environ.get("VIDGATE_SIM_SEEDANCE_KEY", "ark-sim-key")

    def new_id() -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(sim.clock()))
        return f"cgt-{stamp}-{''.join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5))}"

    vendor = VendorSim(sim, VENDOR, _fault_error, new_id)
    bp = Blueprint(VENDOR, __name__)
    vendor.add_file_route(bp)
    deleted: set[str] = set()  # tasks whose record was deleted (cancelled ones stay readable)

    @bp.before_request
    def authenticate() -> Response | None:
        if request.endpoint == f"{bp.name}.result_file":  # signed object-store links carry no key
            return None
        token = bearer_token()
        if token is not None and hmac.compare_digest(token.encode(), api_key.encode()):
            return None
        return error(401, "AuthenticationError", "The API key or AK/SK in the request is missing or invalid.")

    def require(task_id: str) -> Job:
        job = sim.jobs.get(VENDOR, task_id)
        if job is None or task_id in deleted:
            abort(error(404, "ResourceNotFound", f"The specified task {task_id} is not found.", "task_id"))
        return job

    def status_of(job: Job, now: float) -> str:
        phase = job.phase(now)
        if phase in ("queued", "running") and now - job.created_at >= job.params["execution_expires_after"]:
            return "expired"
        return phase

    def task(job: Job, now: float) -> dict[str, Any]:
        status = status_of(job, now)
        updated = {"queued": job.created_at, "expired": job.created_at + job.params["execution_expires_after"],
                   "running": job.created_at + job.duration * 0.1, "cancelled": job.cancelled_at or now}
        params = job.params
        body: dict[str, Any] = {
            "id": job.id, "model": job.model, "status": status,
            "created_at": int(job.created_at), "updated_at": int(updated.get(status, job.ended_at)),
            "seed": params["seed"], "resolution": params["resolution"], "ratio": params["ratio"],
            "duration": params["duration"], "framespersecond": FPS, "service_tier": params["service_tier"],
            "execution_expires_after": params["execution_expires_after"],
            "generate_audio": params["generate_audio"], "draft": params["draft"],
        }
        if status == "succeeded":
            # Each read hands out a fresh signed TOS link, valid for url_ttl (about 24 h at Ark).
            body["content"] = {"video_url": vendor.file_url(job)}
            tokens = params["duration"] * 21780
            body["usage"] = {"completion_tokens": tokens, "total_tokens": tokens}
        elif status == "failed":
            code, message = _FAILURES[job.outcome or "fail_job"]
            body["error"] = {"code": code, "message": job.failure_message or message}
        return body

    @bp.post(TASKS)
    def create_task() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            _invalid("", "The request body is not a valid JSON object.")
        # The official SDK sends every optional field, unset ones as null: null means absent.
        fields = {k: v for k, v in body.items() if v is not None}
        name = fields.get("model")
        if not isinstance(name, str) or not name:
            _invalid("model", "The required parameter `model` is missing.", "MissingParameter")
        model = MODELS.get(name)
        if model is None:
            abort(error(404, "InvalidEndpointOrModel.NotFound",
                        f"The model or endpoint {name} does not exist or you do not have access to it."))
        prompt, images = _content(fields, model)
        params = _params(fields, model, images)
        fault = vendor.gate("create")
        job = vendor.create_job(model=name, prompt=prompt, params=params, fault=fault)
        return json_response({"id": job.id})

    @bp.get(TASKS)
    def list_tasks() -> Response:
        """Ark's task list, newest first: `page_num`, `page_size` (at most MAX_PAGE_SIZE), `filter.status`,
        `filter.model` and `filter.task_ids` (repeated), over the last LIST_WINDOW. Each task listed counts as a
        status read of it."""
        page_num, page_size = _positive("page_num", 1), _positive("page_size", 10)
        if page_size > MAX_PAGE_SIZE:
            _invalid("page_size", f"The parameter `page_size` must be at most {MAX_PAGE_SIZE}.")
        sim.stats.incr(VENDOR, "list_requests")
        vendor.gate("poll")
        ids = set(request.args.getlist("filter.task_ids"))
        status, model, now = request.args.get("filter.status"), request.args.get("filter.model"), vendor.now()
        jobs = [job for job in sim.jobs.list(VENDOR) if job.id not in deleted and (not ids or job.id in ids)
                and now - job.created_at <= LIST_WINDOW and (model is None or job.model == model)
                and (status is None or status_of(job, now) == status)]
        jobs = sorted(reversed(jobs), key=lambda job: job.created_at, reverse=True)  # ties: the later created first
        page = jobs[(page_num - 1) * page_size:page_num * page_size]
        sim.stats.incr(VENDOR, "listed", len(page))
        for job in page:
            sim.stats.poll(VENDOR, job.id)
        return json_response({"items": [task(job, now) for job in page], "total": len(jobs)})

    @bp.get(f"{TASKS}/<task_id>")
    def get_task(task_id: str) -> Response:
        vendor.gate("poll", task_id)
        return json_response(task(require(task_id), vendor.now()))

    @bp.delete(f"{TASKS}/<task_id>")
    def delete_task(task_id: str) -> Response:
        vendor.gate("cancel")
        job, now = require(task_id), vendor.now()
        status = status_of(job, now)
        if status == "running":
            abort(error(403, "OperationDenied.InvalidState",
                        f"Operation is denied because the specified task is in invalid state: {status}.", "task_id"))
        sim.jobs.cancel(job, now)
        if status != "queued":  # a queued task is cancelled and stays readable; a finished one is deleted
            deleted.add(task_id)
        return json_response({})

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def invalid_url(unknown: str) -> Response:
        return error(404, "NotFound", f"The requested path /{unknown} does not exist.")

    return bp
