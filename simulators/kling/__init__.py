"""Kling simulator: `/v1/videos/{text2video|image2video}` with JWT auth, Kling's envelope and codes, at /kling."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import uuid
from typing import Any, NoReturn

import jwt
from flask import Blueprint, Response, abort, request

from ..core import QUEUED_FRACTION, Job, Phase, Simulator
from ..vendor import FaultErrorKind, VendorSim, bearer_token, json_response

VENDOR = "kling"
ENDPOINTS = ("text2video", "image2video")
# Per Kling's docs, kling-v1-5 and kling-v2-1 make videos from images only.
MODELS = {
    "text2video": ("kling-v1", "kling-v1-6", "kling-v2-master", "kling-v2-1-master", "kling-v2-5-turbo", "kling-v2-6"),
    "image2video": ("kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1", "kling-v2-1-master",
                    "kling-v2-5-turbo", "kling-v2-6"),
}
DURATIONS = ("5", "10")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MODES = ("std", "pro")
MAX_PROMPT = 2500
MAX_PAGE_NUM, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE = 1000, 500, 30

_STATUS: dict[Phase, str] = {"queued": "submitted", "running": "processing", "succeeded": "succeed", "failed": "failed"}
_FAILURES = {
    "moderation": "Failure to pass the risk control system",
    "fail_job": "Task failed due to an internal error, please try again later",
}
_FAULT_ERRORS: dict[FaultErrorKind, tuple[int, int, str]] = {
    "rate_limit": (429, 1302, "API request too frequent, please reduce the request frequency"),
    "server_error": (500, 5000, "Server internal error"),
    "unavailable": (503, 5001, "Server temporarily unavailable, usually due to maintenance"),
    "timeout": (504, 5002, "Server internal timeout, usually due to a backlog"),
}


def error(status: int, code: int, message: str) -> Response:
    """An error in Kling's envelope."""
    return json_response({"code": code, "message": message, "request_id": str(uuid.uuid4())}, status)


def _ok(data: Any) -> Response:
    return json_response({"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data})


def _fault_error(kind: FaultErrorKind) -> Response:
    return error(*_FAULT_ERRORS[kind])


def _invalid(message: str) -> NoReturn:
    abort(error(400, 1201, message))


def _text(fields: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            _invalid(f"{name} is required")
        return None
    if not isinstance(value, str):
        _invalid(f"{name} must be a string")
    if len(value) > MAX_PROMPT:
        _invalid(f"{name} must be at most {MAX_PROMPT} characters")
    return value


def _choice(fields: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = fields.get(name, allowed[0])  # each list starts with Kling's default
    if not isinstance(value, str):
        _invalid(f"{name} must be a string, one of {', '.join(allowed)}")  # e.g. "duration": 5 is refused
    if value not in allowed:
        _invalid(f"{name} must be one of {', '.join(allowed)}")
    return value


def _image(fields: dict[str, Any], name: str) -> str | None:
    """An image as a URL or raw base64; Kling refuses the `data:` prefix."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        _invalid(f"{name} must be a URL or a base64 string")
    if value.startswith(("http://", "https://")):
        return value
    if value.startswith("data:"):
        _invalid(f"{name} must be raw base64 without a data: prefix")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        _invalid(f"{name} is neither a URL nor valid base64")
    return f"base64:{len(value)}"


def _cfg_scale(fields: dict[str, Any]) -> None:
    value = fields.get("cfg_scale")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1):
        _invalid("cfg_scale must be a number from 0 to 1")


def _page(name: str, default: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        _invalid(f"{name} must be an integer from 1 to {high}")
    return int(raw)


def _updated_at(job: Job, now: float) -> float:
    """When the task last changed status: creation, start of processing, or its end."""
    started = job.created_at + job.duration * QUEUED_FRACTION
    if now >= job.ended_at:
        return job.ended_at
    return started if now >= started else job.created_at


def create_blueprint(sim: Simulator) -> Blueprint:
    """Kling's video routes over the shared simulator state; keys from VIDGATE_SIM_KLING_ACCESS_KEY/_SECRET_KEY."""
    access_key = os.environ.get("VIDGATE_SIM_KLING_ACCESS_KEY", "ak-sim-kling")
    secret_key = os.environ.get("VIDGATE_SIM_KLING_SECRET_KEY", "sk-sim-kling-secret-key-0123456789ab")
    # The account's resource pack: parallel tasks beyond it are refused with 1303.
    concurrency = int(os.environ.get("VIDGATE_SIM_KLING_CONCURRENCY", "100"))
    vendor = VendorSim(sim, VENDOR, _fault_error, lambda: str(800_000_000_000_000_000 + secrets.randbelow(10**17)))
    bp = Blueprint(VENDOR, __name__)

    def task(job: Job) -> dict[str, Any]:
        now = vendor.now()
        phase = job.phase(now)
        external = job.params["external_task_id"]
        data: dict[str, Any] = {
            "task_id": job.id,
            "task_status": _STATUS[phase],
            "task_status_msg": "",
            "task_info": {"external_task_id": external} if external else {},
            "created_at": int(job.created_at * 1000),
            "updated_at": int(_updated_at(job, now) * 1000),
        }
        if phase == "failed" and job.outcome is not None:
            data["task_status_msg"] = job.failure_message or _FAILURES[job.outcome]
        if phase == "succeeded":
            data["final_unit_deduction"] = "1" if job.params["duration"] == "5" else "2"
            data["task_result"] = {"videos": [{"id": f"{job.id}-0", "url": vendor.file_url(job),
                                               "duration": job.params["duration"]}]}
        return data

    @bp.before_request
    def authenticate() -> Response | None:
        if request.endpoint == f"{VENDOR}.result_file":
            return None  # result links are signed CDN URLs, fetched without the API token
        token = bearer_token()
        if token is None:
            return error(401, 1001, "Authorization is empty")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, secret_key, algorithms=["HS256"],
                                options={"verify_exp": False, "verify_nbf": False, "require": ["iss", "exp", "nbf"]})
        except jwt.InvalidSignatureError:
            return error(401, 1000, "Authentication failed: signature mismatch")
        except jwt.InvalidTokenError:
            return error(401, 1002, "Authorization is invalid")
        if header.get("typ") != "JWT" or not isinstance(claims["exp"], int) or not isinstance(claims["nbf"], int):
            return error(401, 1002, "Authorization is invalid")
        if claims["iss"] != access_key:
            return error(401, 1000, "Authentication failed: unknown access key")
        now = vendor.now()
        if claims["nbf"] > now:
            return error(401, 1003, "Authorization is not yet valid")
        if claims["exp"] <= now:
            return error(401, 1004, "Authorization has expired")
        return None

    @bp.post("/v1/videos/<any(text2video, image2video):endpoint>")
    def create_task(endpoint: str) -> Response:
        fields = request.get_json(silent=True)
        if not isinstance(fields, dict):
            abort(error(400, 1200, "The request body must be a JSON object"))
        model = _choice(fields, "model_name", MODELS[endpoint])
        prompt = _text(fields, "prompt", required=endpoint == "text2video")
        _text(fields, "negative_prompt")
        params: dict[str, Any] = {
            "endpoint": endpoint,
            "model_name": model,
            "mode": _choice(fields, "mode", MODES),
            "duration": _choice(fields, "duration", DURATIONS),
            "aspect_ratio": _choice(fields, "aspect_ratio", ASPECT_RATIOS) if endpoint == "text2video" else None,
            "negative_prompt": fields.get("negative_prompt"),
            "image": _image(fields, "image") if endpoint == "image2video" else None,
            "image_tail": _image(fields, "image_tail") if endpoint == "image2video" else None,
            "external_task_id": _text(fields, "external_task_id"),
            "extra": {k: v for k, v in fields.items() if k in ("cfg_scale", "camera_control", "sound")},
        }
        _cfg_scale(fields)
        if endpoint == "image2video" and not (params["image"] or params["image_tail"]):
            _invalid("image or image_tail is required")
        external = params["external_task_id"]
        if external and any(job.params["external_task_id"] == external for job in sim.jobs.list(VENDOR)):
            _invalid(f"external_task_id {external} already exists")
        if sim.jobs.in_flight(VENDOR, vendor.now()) >= concurrency:
            abort(error(429, 1303, "parallel task over resource pack limit"))
        # Faults only meet valid requests, so an armed fail_job is never wasted on a refusal.
        fault = vendor.gate("create")
        return _ok(task(vendor.create_job(model=model, prompt=prompt or "", params=params, fault=fault)))

    @bp.get("/v1/videos/<any(text2video, image2video):endpoint>")
    def list_tasks(endpoint: str) -> Response:
        page, size = _page("pageNum", 1, MAX_PAGE_NUM), _page("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        vendor.gate("poll")
        jobs = [job for job in reversed(sim.jobs.list(VENDOR)) if job.params["endpoint"] == endpoint]
        return _ok([task(job) for job in jobs[(page - 1) * size : page * size]])

    @bp.get("/v1/videos/<any(text2video, image2video):endpoint>/<task_id>")
    def query_task(endpoint: str, task_id: str) -> Response:
        vendor.gate("poll", task_id)
        job = vendor.find(task_id)
        if job is None or job.params["endpoint"] != endpoint:
            abort(error(404, 1203, f"task {task_id} not found"))
        return _ok(task(job))

    vendor.add_file_route(bp)

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def invalid_path(unknown: str) -> Response:
        return error(404, 1202, f"Invalid request method or path: {request.method} /{unknown}")

    return bp
