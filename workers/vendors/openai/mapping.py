"""Internal request to an OpenAI Videos create body, and what such an upstream cannot do."""
from __future__ import annotations

from typing import Any

from app.video_request import VideoRequest
from workers.vendors.base import Refusal

SECONDS = (4, 8, 12)
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
RATIO_SIZES = {"16:9": "1280x720", "9:16": "720x1280"}
DEFAULT_SECONDS = 4


def check(request: VideoRequest) -> None:
    if request.n not in (None, 1):
        raise Refusal("n", "this model makes one video per request; n must be 1")
    if request.seconds is not None and request.seconds not in SECONDS:
        raise Refusal("seconds", f"this model offers durations of {', '.join(map(str, SECONDS))} seconds")
    size_for(request)
    unsupported = {
        "negative_prompt": request.negative_prompt,
        "fps": request.fps,
        "seed": request.seed,
        "last_image": request.images_with("last_frame") or None,
        "reference_image_urls": request.images_with("reference") or None,
    }
    for param, value in unsupported.items():
        if value is not None:
            raise Refusal(param, f"this model does not support {param}")
    if len(request.images_with("first_frame")) > 1:
        raise Refusal("images", "this model takes a single input_reference image")
    if not request.prompt:
        raise Refusal("prompt", "prompt is required for this model")


def size_for(request: VideoRequest) -> str | None:
    if request.size:
        if request.size not in SIZES:
            raise Refusal("size", f"this model offers sizes {', '.join(SIZES)}")
        return request.size
    if request.aspect_ratio:
        if request.aspect_ratio not in RATIO_SIZES:
            raise Refusal("aspect_ratio", f"this model offers aspect ratios {', '.join(RATIO_SIZES)}")
        return RATIO_SIZES[request.aspect_ratio]
    return None


def create_fields(request: VideoRequest, upstream_model: str) -> dict[str, Any]:
    """The create body's plain fields; the input image is attached by the client as file or URL."""
    fields: dict[str, Any] = {"model": upstream_model, "prompt": request.prompt}
    if request.seconds is not None:
        fields["seconds"] = str(request.seconds)
    size = size_for(request)
    if size:
        fields["size"] = size
    # Pass-through keys go last so a client can reach vendor options we do not model; `model` was
    # already removed from them at normalisation (it decides routing and billing).
    fields.update(request.vendor_params)
    return fields
