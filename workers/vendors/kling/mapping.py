"""Internal request to a Kling text2video / image2video body, and what Kling cannot do."""
from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from app.channels import ModelSpec
from app.video_request import ImageInput, VideoRequest
from workers.vendors.base import Refusal
from workers.vendors.http import image_bytes

DURATIONS = (5, 10)  # a model may narrow or widen this with the `durations` option
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MODES = ("std", "pro")
# UNVERIFIED: Kling has no resolution field; std renders 720p and pro 1080p by common account. A model
# may say otherwise with the `mode_resolutions` option.
MODE_RESOLUTIONS = {"std": "720p", "pro": "1080p"}
MAX_PROMPT = 2500
# Model options that are also body fields: a pass-through value that differs contradicts the model.
BODY_OPTIONS = ("mode",)


def endpoint(request: VideoRequest) -> str:
    """Kling's create path, which is also the first half of our upstream id: the poll needs it."""
    return "image2video" if request.images else "text2video"


def check(request: VideoRequest, model: ModelSpec) -> None:
    if request.n not in (None, 1):
        raise Refusal("n", "Kling makes one video per request; n must be 1")
    for param, value in {"seed": request.seed, "fps": request.fps}.items():
        if value is not None:
            raise Refusal(param, f"Kling does not support {param}")
    if request.images_with("reference"):
        raise Refusal("reference_image_urls", "Kling takes a first frame (image) and an optional last frame "
                                              "(image_tail), not reference images")
    if request.size:
        raise Refusal("size", f"Kling takes an aspect_ratio ({', '.join(ASPECT_RATIOS)}), not a pixel size")
    if request.prompt and len(request.prompt) > MAX_PROMPT:
        raise Refusal("prompt", f"Kling takes prompts of at most {MAX_PROMPT} characters")
    if request.negative_prompt and len(request.negative_prompt) > MAX_PROMPT:
        raise Refusal("negative_prompt", f"Kling takes negative prompts of at most {MAX_PROMPT} characters")
    if request.images:
        if request.aspect_ratio:
            raise Refusal("aspect_ratio", "in image-to-video the video takes the aspect ratio of the image")
    else:
        if not request.prompt:
            raise Refusal("prompt", "text-to-video needs a prompt")
        if not model.options.get("text2video", True):
            raise Refusal("image", "this model makes videos from an image only; send image")
        if request.aspect_ratio and request.aspect_ratio not in ASPECT_RATIOS:
            raise Refusal("aspect_ratio", f"Kling offers aspect ratios {', '.join(ASPECT_RATIOS)}")
    durations = tuple(int(d) for d in model.options.get("durations", DURATIONS))
    if request.seconds is not None and request.seconds not in durations:
        raise Refusal("duration", f"Kling offers durations of {', '.join(map(str, durations))} seconds")
    mode = mode_for(request, model)
    _check_pass_through(request.vendor_params, {"mode": mode} if mode else {})


def mode_for(request: VideoRequest, model: ModelSpec) -> str | None:
    """Kling's `mode`: from the client's mode or resolution, or the model's option; conflicts are refused."""
    fixed = model.options.get("mode")
    if request.mode is not None:
        if request.mode not in MODES:
            raise Refusal("mode", f"Kling offers modes {', '.join(MODES)}")
        if fixed and request.mode != fixed:
            raise Refusal("mode", f"this model renders in {fixed} mode only")
    mode = request.mode or fixed
    if request.resolution:
        resolutions: Mapping[str, str] = model.options.get("mode_resolutions", MODE_RESOLUTIONS)
        by_resolution = {value.lower(): key for key, value in resolutions.items()}
        wanted = by_resolution.get(request.resolution)
        if wanted is None:
            raise Refusal("resolution", f"Kling offers resolutions {', '.join(by_resolution)}")
        if mode and wanted != mode:
            raise Refusal("resolution", f"{request.resolution} is Kling's {wanted} mode, but the mode is {mode}")
        mode = wanted
    return mode


def _check_pass_through(vendor_params: Mapping[str, Any], implied: Mapping[str, Any]) -> None:
    for key in BODY_OPTIONS:
        if key in vendor_params and key in implied and vendor_params[key] != implied[key]:
            raise Refusal(key, f"{key}={vendor_params[key]!r} contradicts this model's {key}={implied[key]!r}")


def image_value(image: ImageInput) -> str:
    """Kling takes an image URL or raw base64; a `data:` prefix is refused upstream, so none is added."""
    if image.url:
        return image.url
    return base64.b64encode(image_bytes(image)).decode()


def create_body(request: VideoRequest, model: ModelSpec, submit_key: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model_name": model.upstream}
    if request.prompt:
        body["prompt"] = request.prompt
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    if request.seconds is not None:
        body["duration"] = str(request.seconds)  # Kling refuses a number here
    mode = mode_for(request, model)
    if mode:
        body["mode"] = mode
    if request.aspect_ratio:
        body["aspect_ratio"] = request.aspect_ratio
    first, last = request.images_with("first_frame"), request.images_with("last_frame")
    if first:
        body["image"] = image_value(first[0])
    if last:
        body["image_tail"] = image_value(last[0])
    body.update(request.vendor_params)
    # Ours, never the client's: after an unanswered submission `find` looks the job up by it.
    body["external_task_id"] = submit_key
    return body
