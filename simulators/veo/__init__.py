"""Google Veo (Gemini API) simulator: `predictLongRunning`, operations and keyed file downloads, at /veo."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import threading
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, request

from ..core import Job, Simulator
from ..vendor import FaultErrorKind, VendorSim, json_response

VENDOR = "veo"
API = "/v1beta"


@dataclass(frozen=True)
class Model:
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    last_frame: bool
    reference_images: int
    max_samples: int


_VEO_3 = Model((4, 6, 8), ("720p", "1080p"), last_frame=False, reference_images=0, max_samples=1)
_VEO_31 = Model((4, 6, 8), ("720p", "1080p", "4k"), last_frame=True, reference_images=3, max_samples=1)
MODELS: dict[str, Model] = {
    "veo-2.0-generate-001": Model((5, 6, 7, 8), ("720p",), last_frame=False, reference_images=0, max_samples=2),
    "veo-3.0-generate-001": _VEO_3,
    "veo-3.0-fast-generate-001": _VEO_3,
    "veo-3.1-generate-preview": _VEO_31,
    "veo-3.1-fast-generate-preview": _VEO_31,
}
ASPECT_RATIOS = ("16:9", "9:16")
PERSON_GENERATION = ("allow_all", "allow_adult", "dont_allow")
INSTANCE_FIELDS = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
PARAMETER_FIELDS = frozenset(
    {"aspectRatio", "durationSeconds", "negativePrompt", "resolution", "personGeneration", "sampleCount",
     "enhancePrompt", "generateAudio"}
)
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"

RPC_INTERNAL = 13  # google.rpc.Code of a failed operation's error
_FAULT_ERRORS: dict[FaultErrorKind, tuple[int, str, str]] = {
    "rate_limit": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    "server_error": (500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                     "https://developers.generativeai.google/guide/troubleshooting"),
    "unavailable": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "timeout": (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
_FAILURES = {
    "moderation": "Unable to generate videos because the prompt or the generated content could violate "
    "Google's Responsible AI practices. Try rephrasing the prompt.",
    "fail_job": "Video generation failed due to an internal error. Please try again.",
}


def error(status: int, status_word: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    """An error in Google's RPC envelope."""
    body: dict[str, Any] = {"code": status, "message": message, "status": status_word}
    if details:
        body["details"] = details
    return json_response({"error": body}, status)


def _fault_error(kind: FaultErrorKind) -> Response:
    return error(*_FAULT_ERRORS[kind])


def _invalid(message: str) -> NoReturn:
    abort(error(400, "INVALID_ARGUMENT", message))


def _not_found(message: str) -> NoReturn:
    abort(error(404, "NOT_FOUND", message))


def _image(value: object, where: str) -> dict[str, Any]:
    """An inline image as Gemini takes it; records its size and type for tests to check."""
    if not isinstance(value, dict):
        _invalid(f"Invalid value at '{where}': expected an image object.")
    if "gcsUri" in value:
        _invalid("gcsUri isn't supported by this model. Please remove it or refer to the Gemini API "
                 "documentation for supported usage.")
    data, mime_type = value.get("bytesBase64Encoded"), value.get("mimeType")
    if not isinstance(data, str) or not isinstance(mime_type, str) or not mime_type.startswith("image/"):
        _invalid(f"Invalid value at '{where}': bytesBase64Encoded and an image mimeType are required.")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        _invalid(f"Invalid value at '{where}.bytesBase64Encoded': Base64 decoding failed.")
    return {"mimeType": mime_type, "bytes": len(decoded)}


def _instance(body: dict[str, Any], model: Model) -> tuple[str, dict[str, Any]]:
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        _invalid("* instances: exactly one instance is required.")
    instance = instances[0]
    for name in instance:
        if name not in INSTANCE_FIELDS:
            _invalid(f"`{name}` isn't supported by this model. Please remove it or refer to the Gemini API "
                     "documentation for supported usage.")
    prompt = instance.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        _invalid("Invalid value at 'instances[0].prompt': expected a string.")
    images: dict[str, Any] = {}
    if "image" in instance:
        images["image"] = _image(instance["image"], "instances[0].image")
    if not prompt and "image" not in instance:
        _invalid("* instances[0].prompt: a prompt is required unless an image is given.")
    if "lastFrame" in instance:
        if not model.last_frame:
            _invalid("`lastFrame` isn't supported by this model.")
        if "image" not in instance:
            _invalid("* instances[0].lastFrame: a first frame image is required with lastFrame.")
        images["lastFrame"] = _image(instance["lastFrame"], "instances[0].lastFrame")
    if "referenceImages" in instance:
        references = instance["referenceImages"]
        if not model.reference_images:
            _invalid("`referenceImages` isn't supported by this model.")
        if not isinstance(references, list) or not 1 <= len(references) <= model.reference_images:
            _invalid(f"* instances[0].referenceImages: between 1 and {model.reference_images} images are allowed.")
        recorded = []
        for index, reference in enumerate(references):
            where = f"instances[0].referenceImages[{index}]"
            if not isinstance(reference, dict) or reference.get("referenceType") not in ("asset", "style"):
                _invalid(f"Invalid value at '{where}.referenceType': expected asset or style.")
            recorded.append(_image(reference.get("image"), f"{where}.image"))
        images["referenceImages"] = recorded
    return prompt or "", images


def _parameters(body: dict[str, Any], model: Model, references: bool) -> dict[str, Any]:
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        _invalid("Invalid value at 'parameters': expected an object.")
    for name in parameters:
        if name not in PARAMETER_FIELDS:
            _invalid(f"`{name}` isn't supported by this model. Please remove it or refer to the Gemini API "
                     "documentation for supported usage.")
    aspect = parameters.get("aspectRatio", "16:9")
    if aspect not in ASPECT_RATIOS:
        _invalid(f"Unsupported aspect ratio: {aspect}. Supported values are 16:9 and 9:16.")
    if references and aspect != "16:9":
        _invalid("Reference images are only supported with aspect ratio 16:9.")
    resolution = parameters.get("resolution", "720p")
    if resolution not in model.resolutions:
        _invalid(f"Unsupported resolution: {resolution}. Supported values are {', '.join(model.resolutions)}.")
    duration = parameters.get("durationSeconds", 8 if 8 in model.durations else model.durations[-1])
    if isinstance(duration, bool) or not isinstance(duration, int) or duration not in model.durations:
        _invalid(f"The number value for `durationSeconds` is out of bound. Please provide a value in "
                 f"{', '.join(map(str, model.durations))}.")
    if (resolution != "720p" or references) and duration != 8 and 8 in model.durations:
        _invalid("Video duration must be 8 seconds for 1080p, 4k and reference-image videos.")
    samples = parameters.get("sampleCount", 1)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= model.max_samples:
        _invalid(f"sampleCount must be between 1 and {model.max_samples} for this model.")
    person = parameters.get("personGeneration")
    if person is not None and person not in PERSON_GENERATION:
        _invalid(f"Unsupported personGeneration: {person}.")
    negative = parameters.get("negativePrompt")
    if negative is not None and not isinstance(negative, str):
        _invalid("Invalid value at 'parameters.negativePrompt': expected a string.")
    return {"aspectRatio": aspect, "resolution": resolution, "durationSeconds": duration, "sampleCount": samples,
            "personGeneration": person, "negativePrompt": negative}


class _Files:
    """Generated files: each sample's file id, and until when a poll's hand-out of its URI stays good."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, str] = {}  # file id -> job id
        self._valid_until: dict[str, float] = {}

    def register(self, file_ids: list[str], job_id: str) -> None:
        with self._lock:
            self._jobs.update(dict.fromkeys(file_ids, job_id))

    def hand_out(self, file_id: str, until: float) -> None:
        with self._lock:
            self._valid_until[file_id] = until

    def job_id(self, file_id: str) -> str | None:
        return self._jobs.get(file_id)

    def valid(self, file_id: str, now: float) -> bool:
        return now <= self._valid_until.get(file_id, float("-inf"))


def create_blueprint(sim: Simulator) -> Blueprint:
    """The Gemini API's Veo routes (`/v1beta/...`) over the shared simulator state."""
    api_key = os.environ.get("VIDGATE_SIM_VEO_KEY", "veo-sim-key")
    vendor = VendorSim(sim, VENDOR, _fault_error, lambda: secrets.token_hex(6))
    files = _Files()
    bp = Blueprint(VENDOR, __name__)

    @bp.before_request
    def authenticate() -> Response | None:
        # The SDK sends the header; Google also takes `?key=`.
        key = request.headers.get("x-goog-api-key") or request.args.get("key")
        if not key:
            return error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
                         "established identity). Please use API Key or other form of API consumer identity to "
                         "call this API.")
        if hmac.compare_digest(key.encode(), api_key.encode()):
            return None
        details = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
             "message": "API key not valid. Please pass a valid API key."},
        ]
        return error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", details)

    def operation(job: Job) -> dict[str, Any]:
        now = vendor.now()
        name = f"models/{job.model}/operations/{job.id}"
        phase = job.phase(now)
        if phase in ("queued", "running"):
            return {"name": name}
        if job.outcome == "fail_job":
            message = job.failure_message or _FAILURES["fail_job"]
            return {"name": name, "done": True, "error": {"code": RPC_INTERNAL, "message": message}}
        if job.outcome == "moderation":
            reasons = [job.failure_message or _FAILURES["moderation"]]
            result = {"raiMediaFilteredCount": len(reasons), "raiMediaFilteredReasons": reasons}
        else:
            samples = []
            for file_id in job.params["files"]:
                # Like the other vendors' signed links, a handed-out URI serves for url_ttl from this read.
                files.hand_out(file_id, now + sim.settings.url_ttl)
                uri = f"{request.host_url}{VENDOR}{API}/files/{file_id}:download?alt=media"
                samples.append({"video": {"uri": uri}})
            result = {"generatedSamples": samples}
        return {"name": name, "done": True, "response": {"@type": RESPONSE_TYPE, "generateVideoResponse": result}}

    @bp.post(f"{API}/models/<model_and_method>")
    def predict_long_running(model_and_method: str) -> Response:
        model_name, _, method = model_and_method.partition(":")
        if method != "predictLongRunning":
            _not_found(f"Method {method or 'GET'} is not found for models/{model_name}.")
        model = MODELS.get(model_name)
        if model is None:
            _not_found(f"models/{model_name} is not found for API version v1beta, or is not supported for "
                       "predictLongRunning. Call ListModels to see the list of available models and their "
                       "supported methods.")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            _invalid("Invalid JSON payload received. Expected an object.")
        prompt, images = _instance(body, model)
        parameters = _parameters(body, model, "referenceImages" in images)
        fault = vendor.gate("create")
        file_ids = [secrets.token_hex(6) for _ in range(parameters["sampleCount"])]
        params = {**parameters, "images": images, "files": file_ids}
        job = vendor.create_job(model=model_name, prompt=prompt, params=params, fault=fault)
        files.register(file_ids, job.id)
        return json_response({"name": f"models/{model_name}/operations/{job.id}"})

    @bp.get(f"{API}/models/<model_name>/operations/<operation_id>")
    def get_operation(operation_id: str, model_name: str) -> Response:
        vendor.gate("poll", operation_id)
        job = vendor.find(operation_id)
        if job is None or job.model != model_name:
            _not_found(f"Operation models/{model_name}/operations/{operation_id} not found.")
        return json_response(operation(job))

    @bp.get(f"{API}/files/<file_and_method>")
    def download_file(file_and_method: str) -> Response:
        file_id, _, method = file_and_method.partition(":")
        if method != "download" or request.args.get("alt") != "media":
            _invalid("Only files/{name}:download?alt=media serves file contents.")
        job_id = files.job_id(file_id)
        fault = vendor.gate("content", job_id)
        job = vendor.find(job_id) if job_id else None
        now = vendor.now()
        if job is None or job.phase(now) != "succeeded" or job.is_expired(now) or not files.valid(file_id, now):
            _not_found(f"File files/{file_id} not found or has expired.")
        return vendor.stream_video(job, fault)

    @bp.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def invalid_url(unknown: str) -> Response:
        return error(404, "NOT_FOUND", f"The requested URL /{unknown} was not found on this server.")

    return bp
