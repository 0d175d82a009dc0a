"""Internal request to a Veo `predictLongRunning` body (Gemini API), and what Veo cannot do."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.channels import ModelSpec
from app.video_request import ImageInput, VideoRequest
from workers.vendors.base import Refusal
from workers.vendors.options import overridden
from workers.vendors.shapes import listing

ASPECT_RATIOS = ("16:9", "9:16")
# Sizes a client may ask for, as (aspect ratio, resolution): Veo takes the two separately.
SIZES: dict[tuple[int, int], tuple[str, str]] = {
    (1280, 720): ("16:9", "720p"),
    (720, 1280): ("9:16", "720p"),
    (1920, 1080): ("16:9", "1080p"),
    (1080, 1920): ("9:16", "1080p"),
    (3840, 2160): ("16:9", "4k"),
    (2160, 3840): ("9:16", "4k"),
}
# Keys of the client's pass-through containers that belong to the instance; the rest go to `parameters`.
INSTANCE_KEYS = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})


@dataclass(frozen=True)
class Capabilities:
    """What one Veo model offers. Google documents most of it loosely, so each can be overridden per model
    in the channel file (`"veo3" = {upstream = "...", durations = [4, 6, 8]}`)."""

    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    # Durations allowed above 720p and with reference images (Google: "8 seconds only").
    long_durations: tuple[int, ...]
    last_frame: bool
    reference_images: int  # how many; 0 means none
    # The SDK refuses `seed` in Gemini API mode; an upstream that takes it (Vertex-like) can allow it.
    seed: bool = False
    negative_prompt: bool = True


_FAMILIES: dict[str, Capabilities] = {
    "veo-2.": Capabilities((5, 6, 7, 8), ("720p",), (5, 6, 7, 8), last_frame=False, reference_images=0),
    "veo-3.0-": Capabilities((4, 6, 8), ("720p", "1080p"), (8,), last_frame=False, reference_images=0),
    "veo-3.1-": Capabilities((4, 6, 8), ("720p", "1080p", "4k"), (8,), last_frame=True, reference_images=3),
}
# A model name we do not know yet is most likely newer than 3.1: assume the newest family's abilities.
_NEWEST = _FAMILIES["veo-3.1-"]
_OVERRIDABLE = ("durations", "resolutions", "long_durations", "last_frame", "reference_images", "seed",
                "negative_prompt")


def capabilities(model: ModelSpec) -> Capabilities:
    base = next((caps for prefix, caps in _FAMILIES.items() if model.upstream.startswith(prefix)), _NEWEST)
    return overridden(base, model.options, _OVERRIDABLE)


@dataclass(frozen=True)
class Shape:
    aspect_ratio: str | None
    resolution: str | None
    seconds: int | None


def check(request: VideoRequest, model: ModelSpec) -> Shape:
    """Refuse what this model cannot do; the shape it will be asked for otherwise."""
    caps = capabilities(model)
    options = model.options
    if request.n not in (None, 1):
        raise Refusal("n", "Veo makes one video per request here; n must be 1")
    if request.fps is not None:
        raise Refusal("fps", "Veo has no frame-rate setting (it renders 24 fps)")
    if request.mode is not None:
        raise Refusal("mode", "Veo has no mode setting; pick the model that does what you need")
    if request.seed is not None and not caps.seed:
        raise Refusal("seed", "Veo on the Gemini API does not take a seed")
    if request.negative_prompt is not None and not caps.negative_prompt:
        raise Refusal("negative_prompt", "this Veo model does not take a negative prompt")
    first, last, references = (request.images_with(role) for role in ("first_frame", "last_frame", "reference"))
    if not request.prompt and not first:
        raise Refusal("prompt", "prompt is required unless a first frame is given")
    if last and not caps.last_frame:
        raise Refusal("last_image", "this Veo model does not take a last frame")
    if references:
        if not caps.reference_images:
            raise Refusal("reference_image_urls", "this Veo model does not take reference images")
        if len(references) > caps.reference_images:
            raise Refusal("reference_image_urls", f"Veo takes at most {caps.reference_images} reference images")
        if first or last:
            raise Refusal("reference_image_urls", "Veo cannot combine reference images with first or last frames")
    if options.get("frames") and not first:
        raise Refusal("image", "this model animates a first frame (and optional last frame): send image")
    if options.get("components") and not references:
        raise Refusal("reference_image_urls", "this model composes 1 to 3 reference images: send them")
    aspect_ratio, resolution = _aspect_and_resolution(request, options, caps)
    if references and aspect_ratio == "9:16":
        raise Refusal("aspect_ratio", "Veo makes reference-image videos in 16:9 only")
    seconds = request.seconds
    if seconds is not None and seconds not in caps.durations:
        raise Refusal("seconds", f"this Veo model offers durations of {listing(caps.durations)} seconds")
    if resolution not in (None, "720p") or references:
        if seconds is None:
            seconds = caps.long_durations[-1]
        elif seconds not in caps.long_durations:
            raise Refusal("seconds", f"Veo makes {resolution or 'reference-image'} videos of "
                                     f"{listing(caps.long_durations)} seconds only")
    return Shape(aspect_ratio, resolution, seconds)


def _aspect_and_resolution(request: VideoRequest, options: Mapping[str, Any],
                           caps: Capabilities) -> tuple[str | None, str | None]:
    aspect_ratio, resolution = request.aspect_ratio, request.resolution
    if request.width and request.height:
        if (request.width, request.height) not in SIZES:
            sizes = ", ".join(f"{w}x{h}" for w, h in SIZES)
            raise Refusal("size", f"Veo offers sizes {sizes}")
        aspect_ratio, sized = SIZES[(request.width, request.height)]
        if resolution not in (None, sized):
            raise Refusal("resolution", f"size {request.size} is {sized}, not {resolution}")
        resolution = sized
    if aspect_ratio is not None and aspect_ratio not in ASPECT_RATIOS:
        raise Refusal("aspect_ratio", f"Veo offers aspect ratios {listing(ASPECT_RATIOS)}")
    fixed = options.get("resolution")
    if fixed is not None:
        if resolution not in (None, fixed):
            param = "size" if request.width else "resolution"
            raise Refusal(param, f"this model makes {fixed} videos")
        resolution = fixed
    if resolution is not None and resolution not in caps.resolutions:
        raise Refusal("resolution", f"this Veo model offers resolutions {listing(caps.resolutions)}")
    return aspect_ratio, resolution


def body(request: VideoRequest, shape: Shape, inline: Callable[[ImageInput], dict[str, str]]) -> dict[str, Any]:
    """The request body; `inline` turns an input image into Veo's `{bytesBase64Encoded, mimeType}`."""
    instance: dict[str, Any] = {}
    if request.prompt:
        instance["prompt"] = request.prompt
    for image in request.images_with("first_frame"):
        instance["image"] = inline(image)
    for image in request.images_with("last_frame"):
        instance["lastFrame"] = inline(image)
    references = request.images_with("reference")
    if references:
        instance["referenceImages"] = [{"image": inline(image), "referenceType": "asset"} for image in references]
    parameters: dict[str, Any] = {}
    if shape.aspect_ratio:
        parameters["aspectRatio"] = shape.aspect_ratio
    if shape.resolution:
        parameters["resolution"] = shape.resolution
    if shape.seconds is not None:
        parameters["durationSeconds"] = shape.seconds
    if request.negative_prompt:
        parameters["negativePrompt"] = request.negative_prompt
    if request.seed is not None:
        parameters["seed"] = request.seed
    # Pass-through keys go last, so a client reaches options we do not model (personGeneration,
    # enhancePrompt, generateAudio, a `video` to extend...).
    for key, value in request.vendor_params.items():
        (instance if key in INSTANCE_KEYS else parameters)[key] = value
    return {"instances": [instance], "parameters": parameters}
