"""Jimeng (Volcengine visual CV async API) simulator: Signature V4 checked, `POST /?Action=...`, mounted at /jimeng."""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import os
import secrets
import time
from typing import Any, NoReturn
from urllib.parse import quote

from flask import Blueprint, Response, abort, request

from ..core import Job, Simulator
from ..vendor import FaultErrorKind, VendorSim, json_response

VENDOR = "jimeng"
VERSION = "2022-08-31"
SUBMIT, GET_RESULT = "CVSync2AsyncSubmitTask", "CVSync2AsyncGetResult"
REGION, SERVICE = "cn-north-1", "cv"
SUCCESS = 10000
# Simulator choice: Jimeng's table documents no code for a malformed request, so one code stands for all.
INVALID_REQUEST = 50200
MAX_CLOCK_SKEW = 15 * 60  # how far X-Date may be from the server's clock
TASK_RETENTION = 12 * 3600  # after this GetResult answers not_found
# How many images each req_key takes.
REQ_KEYS: dict[str, tuple[int, ...]] = {
    "jimeng_t2v_v30": (0,),
    "jimeng_t2v_v30_1080p": (0,),
    "jimeng_i2v_first_v30": (1,),
    "jimeng_i2v_first_v30_1080": (1,),
    "jimeng_i2v_first_tail_v30": (2,),
    "jimeng_i2v_first_tail_v30_1080": (2,),
    "jimeng_i2v_recamera_v30": (1,),
    "jimeng_ti2v_v30_pro": (0, 1),
    "jimeng_vgfm_t2v_l20": (0,),
    "jimeng_vgfm_i2v_l20": (1,),
}
FRAMES = (121, 241)
ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9")

# (HTTP status, business code, message) of a task that ended failed, answered by GetResult with `done`.
_FAILURES: dict[str, tuple[int, int, str]] = {
    "moderation": (400, 50516, "Post Video Risk Not Pass"),
    "fail_job": (500, 50500, "Internal Error"),
}
_FAULT_ERRORS: dict[FaultErrorKind, tuple[int, int, str]] = {
    "rate_limit": (429, 50429, "Request Has Reached API Limit, Please Try Later"),
    "server_error": (500, 50500, "Internal Error"),
    "unavailable": (503, 50501, "Internal RPC Error"),
    "timeout": (504, 50500, "Internal Error: request timed out"),
}


def _request_id() -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()


def business(code: int, message: str, data: dict[str, Any] | None, status: int = 200) -> Response:
    """An answer in the service's envelope; `status` mirrors `code`."""
    elapsed = f"{secrets.randbelow(20000) / 100 + 20:.2f}ms"
    return json_response({"code": code, "data": data, "message": message, "request_id": _request_id(),
                          "status": code, "time_elapsed": elapsed}, status)


def gateway_error(status: int, code_n: int, code: str, message: str) -> Response:
    """A refusal by the Volcengine gateway, before the service sees the request."""
    return json_response({"ResponseMetadata": {
        "RequestId": _request_id(), "Action": request.args.get("Action", ""),
        "Version": request.args.get("Version", ""), "Service": SERVICE, "Region": REGION,
        "Error": {"CodeN": code_n, "Code": code, "Message": message},
    }}, status)


def _fault_error(kind: FaultErrorKind) -> Response:
    status, code, message = _FAULT_ERRORS[kind]
    return business(code, message, None, status)


def _invalid(message: str) -> NoReturn:
    abort(business(INVALID_REQUEST, f"Invalid Request: {message}", None, 400))


def _canonical_query() -> str:
    pairs = sorted((key, value) for key, values in request.args.lists() for value in values)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def _signature_refused() -> Response:
    return gateway_error(401, 100010, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                         "the signature you provided. Check your Secret Access Key and signing method. Consult the "
                         "service documentation for details.")


def _x_date_seconds(value: str) -> float | None:
    try:
        return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return None


def verify_signature(access_key: str, secret_key: str, now: float) -> Response | None:
    """Recompute the Signature V4 of this request; the gateway's refusal, or None when it matches.

    The canonical URI is the path relative to where the API is mounted: `/`, as on the real host."""
    authorization = request.headers.get("Authorization", "")
    if not authorization:
        return gateway_error(401, 100003, "MissingAuthenticationToken", "Request is missing Authentication Token.")
    algorithm, _, rest = authorization.partition(" ")
    parts = dict(item.strip().partition("=")[::2] for item in rest.split(","))
    if algorithm != "HMAC-SHA256" or not parts.get("Signature"):
        return gateway_error(401, 100005, "MissingSignature", "The request is missing signature.")
    credential = parts.get("Credential", "").split("/")
    if len(credential) != 5 or credential[0] != access_key:
        return gateway_error(401, 100009, "InvalidAccessKey",
                             f"The accesskey [{credential[0]}] included in the request is invalid.")
    x_date = request.headers.get("X-Date", "")
    signed_at = _x_date_seconds(x_date)
    if signed_at is None or abs(now - signed_at) > MAX_CLOCK_SKEW:
        return gateway_error(400, 100006, "InvalidTimestamp", "The signature of the request is expired.")
    short_date, region, service, terminator = credential[1:]
    signed_headers = parts.get("SignedHeaders", "").split(";")
    if (short_date, region, service, terminator) != (x_date[:8], REGION, SERVICE, "request") or not {
        "host", "x-date"} <= set(signed_headers):
        return _signature_refused()
    body = request.get_data()
    body_hash = hashlib.sha256(body).hexdigest()
    if request.headers.get("X-Content-Sha256", body_hash) != body_hash:
        return _signature_refused()
    canonical_headers = "".join(f"{name}:{request.headers.get(name, '').strip()}\n" for name in signed_headers)
    canonical_request = "\n".join(
        [request.method, "/", _canonical_query(), canonical_headers, ";".join(signed_headers), body_hash]
    )
    scope = "/".join(credential[1:])
    string_to_sign = "\n".join(["HMAC-SHA256", x_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = secret_key.encode()
    for part in (short_date, region, service, "request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, parts["Signature"]) else _signature_refused()


def _images(body: dict[str, Any]) -> list[dict[str, Any]]:
    """What the request sent as images, recorded in the job so tests can check what a gateway passed on."""
    encoded, urls = body.get("binary_data_base64"), body.get("image_urls")
    if encoded and urls:
        _invalid("send binary_data_base64 or image_urls, not both")
    images: list[dict[str, Any]] = []
    for name, values in (("binary_data_base64", encoded), ("image_urls", urls)):
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            _invalid(f"{name} must be an array of strings")
        for value in values:
            if name == "image_urls":
                if not value.startswith(("http://", "https://")):
                    _invalid(f"image_urls must be http(s) URLs: {value[:60]}")
                images.append({"url": value})
                continue
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                _invalid("binary_data_base64 must be base64")
            images.append({"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return images


def _submission(body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(req_key, prompt, job params) of a valid submission; a 400 in the service's envelope otherwise."""
    req_key = body.get("req_key")
    if not isinstance(req_key, str) or not req_key:
        _invalid("req_key is required")
    if req_key not in REQ_KEYS:
        _invalid(f"unknown req_key {req_key}")
    images = _images(body)
    if len(images) not in REQ_KEYS[req_key]:
        _invalid(f"req_key {req_key} takes {' or '.join(map(str, REQ_KEYS[req_key]))} images, got {len(images)}")
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str) or (not prompt and not images):
        _invalid("prompt is required for text to video")
    seed = body.get("seed", -1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        _invalid("seed must be an integer")
    frames = body.get("frames", FRAMES[0])
    if isinstance(frames, bool) or frames not in FRAMES:
        _invalid(f"frames must be one of {', '.join(map(str, FRAMES))}")
    aspect_ratio = body.get("aspect_ratio", ASPECT_RATIOS[0])
    if aspect_ratio not in ASPECT_RATIOS:
        _invalid(f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}")
    params = {
        "frames": frames, "seed": seed, "aspect_ratio": aspect_ratio, "images": images,
        # Everything else the request carried (req_json, template_id, ...): Jimeng ignores what it does not know.
        "extra": sorted(set(body) - {"req_key", "prompt", "binary_data_base64", "image_urls", "seed", "frames",
                                     "aspect_ratio"}),
    }
    return req_key, prompt, params


def create_blueprint(sim: Simulator) -> Blueprint:
    """The visual API root (`POST /?Action=<A>&Version=2022-08-31`) and its result files."""
    access_key = os.environ.get("VIDGATE_SIM_JIMENG_ACCESS_KEY", "AKSIMJIMENG")
    secret_key = os.environ.get("VIDGATE_SIM_JIMENG_SECRET_KEY", "SKSIMJIMENG")
    # Jimeng task ids are 19-digit decimal strings.
    vendor = VendorSim(sim, VENDOR, _fault_error, lambda: str(10**18 + secrets.randbelow(9 * 10**18)))
    bp = Blueprint(VENDOR, __name__)
    vendor.add_file_route(bp)

    def result(body: dict[str, Any]) -> Response:
        req_key, task_id = body.get("req_key"), body.get("task_id")
        if not isinstance(req_key, str) or not req_key or not isinstance(task_id, str) or not task_id:
            _invalid("req_key and task_id are required")
        vendor.gate("poll", task_id)
        job, now = vendor.find(task_id), vendor.now()
        # A task belongs to its req_key, and is forgotten 12 h after submission.
        if job is None or job.model != req_key or now - job.created_at >= TASK_RETENTION:
            return business(SUCCESS, "Success", {"status": "not_found", "video_url": ""})
        return answer_for(job, now)

    def answer_for(job: Job, now: float) -> Response:
        phase = job.phase(now)
        if phase == "queued":
            return business(SUCCESS, "Success", {"status": "in_queue", "video_url": ""})
        if phase == "running":
            return business(SUCCESS, "Success", {"status": "generating", "video_url": ""})
        if phase == "failed":
            status, code, message = _FAILURES[job.outcome or "fail_job"]
            return business(code, job.failure_message or message, {"status": "done", "video_url": ""}, status)
        if job.is_expired(now):
            return business(SUCCESS, "Success", {"status": "expired", "video_url": ""})
        # Each poll hands out a fresh signed link, valid for url_ttl (an hour at Jimeng).
        return business(SUCCESS, "Success", {"status": "done", "video_url": vendor.file_url(job)})

    @bp.post("/")
    def api() -> Response:
        action, version = request.args.get("Action"), request.args.get("Version")
        if not action or not version:
            missing = "Action" if not action else "Version"
            return gateway_error(400, 100002, "MissingParameter", f"The request is missing {missing} parameter.")
        if action not in (SUBMIT, GET_RESULT) or version != VERSION:
            return gateway_error(404, 100008, "InvalidActionOrVersion",
                                 f"Could not find operation {action} for version {version}.")
        refused = verify_signature(access_key, secret_key, vendor.now())
        if refused is not None:
            return refused
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            _invalid("the body must be a JSON object")
        if action == GET_RESULT:
            return result(body)
        req_key, prompt, params = _submission(body)
        # Faults only meet valid requests, so an armed fail_job is never wasted on a 400.
        fault = vendor.gate("create")
        job = vendor.create_job(model=req_key, prompt=prompt, params=params, fault=fault)
        return business(SUCCESS, "Success", {"task_id": job.id})

    return bp
