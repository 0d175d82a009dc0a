"""Internal request to a Vidu create body and path (text, image, start-end, reference), and what Vidu cannot do."""
from __future__ import annotations

from math import gcd
from typing import Any

from app.channels import ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Refusal
from workers.vendors.http import image_data_url

RESOLUTIONS = ("540p", "720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16", "4:3", "3:4", "1:1")
# Seed 004 offers 1-16 s for the viduq3 models; a model narrows it with the `duration_range` option.
DURATION_RANGE = (1, 16)
MAX_PROMPT = 2000
MAX_REFERENCES = 7
# Model options that are also body fields: a client value that differs contradicts the model.
BODY_OPTIONS = ("resolution", "off_peak")


def path_for(request: VideoRequest, model: ModelSpec) -> str:
    """The create path: reference models (`mode = "reference"`) take references; others go by the frames."""
    if model.options.get("mode") == "reference":
        return "reference2video"
    if request.images_with("last_frame"):
        return "start-end2video"
    if request.images_with("first_frame"):
        return "img2video"
    return "text2video"


def check(request: VideoRequest, model: ModelSpec) -> None:
    if request.n not in (None, 1):
        raise Refusal("n", "Vidu makes one video per request; n must be 1")
    for param, value in {"negative_prompt": request.negative_prompt, "fps": request.fps}.items():
        if value is not None:
            raise Refusal(param, f"Vidu does not support {param}")
    fixed_mode = model.options.get("mode")
    if request.mode is not None and request.mode != fixed_mode:
        only = f"; this model is {fixed_mode}-only" if fixed_mode else ""
        raise Refusal("mode", f"Vidu picks text, image, start-end or reference generation from the model and "
                              f"the images sent, not from mode{only}")
    path = path_for(request, model)
    references = request.images_with("reference")
    if path == "reference2video":
        if request.images_with("first_frame") or request.images_with("last_frame"):
            raise Refusal("image", "this model makes videos from reference images; send reference_image_urls, "
                                   "not image or last_image")
        if not references:
            raise Refusal("reference_image_urls", "this model makes videos from reference images; "
                                                  "send reference_image_urls")
        if len(references) > MAX_REFERENCES:
            raise Refusal("reference_image_urls", f"Vidu takes at most {MAX_REFERENCES} reference images")
    elif references:
        raise Refusal("reference_image_urls", "this model takes no reference images; the -mix models do")
    if path in ("text2video", "reference2video") and not request.prompt:
        raise Refusal("prompt", "a prompt is required without a first frame")
    if request.prompt and len(request.prompt) > MAX_PROMPT:
        raise Refusal("prompt", f"Vidu takes prompts of at most {MAX_PROMPT} characters")
    low, high = (int(v) for v in model.options.get("duration_range", DURATION_RANGE))
    if request.seconds is not None and not low <= request.seconds <= high:
        raise Refusal("duration", f"this model makes videos of {low} to {high} seconds")
    aspect_ratio_for(request, path)
    implied = {"resolution": resolution_for(request, model), "off_peak": model.options.get("off_peak")}
    for key in BODY_OPTIONS:
        if implied[key] is not None and key in request.vendor_params and request.vendor_params[key] != implied[key]:
            raise Refusal(key, f"{key}={request.vendor_params[key]!r} contradicts this model's {key}={implied[key]!r}")
    if implied["off_peak"] and request.vendor_params.get("audio"):
        raise Refusal("audio", "Vidu makes no audio in off-peak mode; use the model without -offpeak")


def _size(request: VideoRequest) -> tuple[str, str] | None:
    """A `WxH` size as Vidu's (resolution, aspect ratio): the short side names the resolution."""
    if not request.size or not request.width or not request.height:
        return None
    divisor = gcd(request.width, request.height)
    resolution = f"{min(request.width, request.height)}p"
    ratio = f"{request.width // divisor}:{request.height // divisor}"
    if resolution not in RESOLUTIONS or ratio not in ASPECT_RATIOS:
        raise Refusal("size", f"Vidu makes {', '.join(RESOLUTIONS)} videos in ratios {', '.join(ASPECT_RATIOS)} "
                              "(e.g. 1280x720)")
    return resolution, ratio


def resolution_for(request: VideoRequest, model: ModelSpec) -> str | None:
    fixed = model.options.get("resolution")
    sized = _size(request)
    wanted = request.resolution
    if sized and wanted and sized[0] != wanted:
        raise Refusal("size", f"size {request.size} is {sized[0]}, but resolution is {wanted}")
    param = "resolution" if wanted else "size"
    wanted = wanted or (sized[0] if sized else None)
    if wanted is not None:
        if wanted not in RESOLUTIONS:
            raise Refusal("resolution", f"Vidu offers resolutions {', '.join(RESOLUTIONS)}")
        if fixed and wanted != fixed:
            raise Refusal(param, f"this model makes {fixed} videos")
    return wanted or fixed


def aspect_ratio_for(request: VideoRequest, path: str) -> str | None:
    sized = _size(request)
    ratio = request.aspect_ratio or (sized[1] if sized else None)
    if ratio is None:
        return None
    if path in ("img2video", "start-end2video"):
        param = "aspect_ratio" if request.aspect_ratio else "size"
        raise Refusal(param, "from a first frame the video takes the image's aspect ratio; send resolution instead")
    if ratio not in ASPECT_RATIOS:
        raise Refusal("aspect_ratio", f"Vidu offers aspect ratios {', '.join(ASPECT_RATIOS)}")
    return ratio


def create_body(request: VideoRequest, model: ModelSpec) -> dict[str, Any]:
    path = path_for(request, model)
    body: dict[str, Any] = {"model": model.upstream}
    if request.prompt:
        body["prompt"] = request.prompt
    roles = {"reference2video": ("reference",), "start-end2video": ("first_frame", "last_frame"),
             "img2video": ("first_frame",)}.get(path, ())
    # Vidu takes URLs or base64 with its data: prefix (it needs the content type), in frame order.
    images = [image_data_url(image) for role in roles for image in request.images_with(role)]
    if images:
        body["images"] = images
    if request.seconds is not None:
        body["duration"] = request.seconds  # an integer, unlike Kling
    if request.seed is not None:
        body["seed"] = request.seed
    ratio = aspect_ratio_for(request, path)
    if ratio:
        body["aspect_ratio"] = ratio
    resolution = resolution_for(request, model)
    if resolution:
        body["resolution"] = resolution
    if model.options.get("off_peak"):
        body["off_peak"] = True
    body.update(request.vendor_params)
    return body
