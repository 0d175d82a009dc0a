"""Internal request to a DashScope Wan video-synthesis body, and what each Wan model cannot do."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from app.channels import ModelSpec
from app.video_request import ImageInput, VideoRequest
from workers.vendors.base import Refusal
from workers.vendors.options import overridden
from workers.vendors.shapes import listing

Kind = Literal["t2v", "i2v", "kf2v"]
VIDEO_GENERATION = "video-generation"  # the create path for t2v and i2v
IMAGE_TO_VIDEO = "image2video"  # the create path of the first/last-frame (kf2v) models
MAX_SEED = 2**31 - 1

# Text-to-video `size` (W*H) per resolution tier, by aspect ratio (DashScope's size tables).
SIZES: dict[str, dict[str, str]] = {
    "480P": {"16:9": "832*480", "9:16": "480*832", "1:1": "624*624"},
    "720P": {"16:9": "1280*720", "9:16": "720*1280", "1:1": "960*960", "4:3": "1088*832", "3:4": "832*1088"},
    "1080P": {"16:9": "1920*1080", "9:16": "1080*1920", "1:1": "1440*1440", "4:3": "1632*1248",
              "3:4": "1248*1632"},
}
# Keys of the client's pass-through containers that belong to `input`; the rest go to `parameters`.
INPUT_KEYS = frozenset({"prompt", "negative_prompt", "img_url", "audio_url", "first_frame_url", "last_frame_url",
                        "template", "media"})


@dataclass(frozen=True)
class Capabilities:
    """What one Wan model offers; each can be overridden per model in the channel file
    (`"wan2.2-t2v-plus" = {upstream = "...", durations = [5, 8]}`)."""

    kind: Kind
    resolutions: tuple[str, ...]
    durations: tuple[int, ...]
    # Whether stored image bytes may go as base64 data URLs (DashScope documents URL or Base64 input).
    image_data_urls: bool = True


_MODELS: dict[str, Capabilities] = {
    "wan2.5-t2v-preview": Capabilities("t2v", ("480P", "720P", "1080P"), (5, 10)),
    "wan2.5-i2v-preview": Capabilities("i2v", ("480P", "720P", "1080P"), (5, 10)),
    "wan2.2-t2v-plus": Capabilities("t2v", ("480P", "1080P"), (5,)),
    "wan2.2-i2v-plus": Capabilities("i2v", ("480P", "1080P"), (5,)),
    "wan2.2-i2v-flash": Capabilities("i2v", ("480P", "720P"), (5,)),
    "wan2.2-kf2v-flash": Capabilities("kf2v", ("480P", "720P", "1080P"), (5,)),
    "wanx2.1-t2v-turbo": Capabilities("t2v", ("480P", "720P"), (5,)),
    "wanx2.1-t2v-plus": Capabilities("t2v", ("720P",), (5,)),
    "wanx2.1-i2v-turbo": Capabilities("i2v", ("480P", "720P"), (3, 4, 5)),
    "wanx2.1-i2v-plus": Capabilities("i2v", ("720P",), (5,)),
    "wanx2.1-kf2v-plus": Capabilities("kf2v", ("720P",), (5,)),
}
_OVERRIDABLE = ("kind", "resolutions", "durations", "image_data_urls")


def capabilities(model: ModelSpec) -> Capabilities:
    return overridden(_MODELS.get(model.upstream) or _guess(model.upstream), model.options, _OVERRIDABLE)


def _guess(upstream: str) -> Capabilities:
    """A model we have no table for: its kind from its name, every tier, the common 5 seconds."""
    kind: Kind = "kf2v" if "kf2v" in upstream else "i2v" if "i2v" in upstream else "t2v"
    return Capabilities(kind, ("480P", "720P", "1080P"), (5,))


def endpoint(model: ModelSpec) -> str:
    return IMAGE_TO_VIDEO if capabilities(model).kind == "kf2v" else VIDEO_GENERATION


@dataclass(frozen=True)
class Shape:
    size: str | None  # t2v
    resolution: str | None  # i2v, kf2v
    seconds: int | None


def check(request: VideoRequest, model: ModelSpec) -> Shape:
    """Refuse what this model cannot do; the shape it will be asked for otherwise."""
    caps = capabilities(model)
    if request.n not in (None, 1):
        raise Refusal("n", "Wan makes one video per request; n must be 1")
    if request.fps is not None:
        raise Refusal("fps", "Wan has no frame-rate setting")
    if request.mode is not None:
        raise Refusal("mode", "Wan has no mode setting; pick the model that does what you need")
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
        raise Refusal("seed", f"Wan takes seeds from 0 to {MAX_SEED}")
    if request.seconds is not None and request.seconds not in caps.durations:
        raise Refusal("seconds", f"this Wan model offers durations of {listing(caps.durations)} seconds")
    _check_images(request, caps)
    if caps.kind == "t2v":
        if not request.prompt:
            raise Refusal("prompt", "prompt is required for text-to-video")
        return Shape(_size(request, model, caps), None, request.seconds)
    for param, given in (("size", request.width), ("aspect_ratio", request.aspect_ratio)):
        if given:
            raise Refusal(param, "Wan image-to-video keeps the image's aspect ratio; choose a resolution instead")
    return Shape(None, _resolution(request.resolution, model, caps), request.seconds)


def _check_images(request: VideoRequest, caps: Capabilities) -> None:
    first, last, references = (request.images_with(role) for role in ("first_frame", "last_frame", "reference"))
    if references:
        raise Refusal("reference_image_urls", "Wan's video models here take no reference images")
    if caps.kind == "t2v" and first:
        raise Refusal("image", "this is a text-to-video model; use a Wan i2v model for images")
    if caps.kind != "t2v" and not first:
        raise Refusal("image", "this Wan model animates an image: send image")
    if last and caps.kind != "kf2v":
        raise Refusal("last_image", "this Wan model takes no last frame; use wan2.2-kf2v-flash")
    if not caps.image_data_urls:
        for param, images in (("image", first), ("last_image", last)):
            if any(image.key for image in images):
                raise Refusal(param, "this Wan channel takes image URLs only, not uploaded bytes")


def _resolution(requested: str | None, model: ModelSpec, caps: Capabilities, param: str = "resolution") -> str:
    fixed = model.options.get("resolution")
    wanted = requested.upper() if requested else None
    if fixed is not None:
        if wanted not in (None, fixed.upper()):
            raise Refusal(param, f"this model makes {fixed} videos")
        wanted = fixed.upper()
    wanted = wanted or caps.resolutions[-1]  # DashScope's own default is each model's top tier
    if wanted not in caps.resolutions:
        raise Refusal(param, f"this Wan model offers resolutions {listing(caps.resolutions)}")
    return wanted


def _size(request: VideoRequest, model: ModelSpec, caps: Capabilities) -> str:
    if request.width and request.height:
        size = f"{request.width}*{request.height}"
        tier = next((tier for tier, sizes in SIZES.items() if size in sizes.values()), None)
        if tier is None or tier not in caps.resolutions:
            offered = [s.replace("*", "x") for tier in caps.resolutions for s in SIZES[tier].values()]
            raise Refusal("size", f"this Wan model offers sizes {', '.join(offered)}")
        if request.resolution and request.resolution.upper() != tier:
            raise Refusal("resolution", f"size {request.size} is {tier}, not {request.resolution}")
        _resolution(tier, model, caps, "size")
        return size
    tier = _resolution(request.resolution, model, caps)
    ratio = request.aspect_ratio or "16:9"
    if ratio not in SIZES[tier]:
        raise Refusal("aspect_ratio", f"Wan offers aspect ratios {listing(tuple(SIZES[tier]))} at {tier}")
    return SIZES[tier][ratio]


def body(request: VideoRequest, model: ModelSpec, shape: Shape, image_url: Callable[[ImageInput], str]
         ) -> dict[str, Any]:
    """The create body; `image_url` gives an input image as a URL (the client's, or a base64 data URL)."""
    caps = capabilities(model)
    data: dict[str, Any] = {}
    if request.prompt:
        data["prompt"] = request.prompt
    if request.negative_prompt:
        data["negative_prompt"] = request.negative_prompt
    first, last = request.images_with("first_frame"), request.images_with("last_frame")
    if caps.kind == "i2v":
        data["img_url"] = image_url(first[0])
    elif caps.kind == "kf2v":
        data["first_frame_url"] = image_url(first[0])
        if last:
            data["last_frame_url"] = image_url(last[0])
    parameters: dict[str, Any] = {}
    if shape.size:
        parameters["size"] = shape.size
    if shape.resolution:
        parameters["resolution"] = shape.resolution
    if shape.seconds is not None:
        parameters["duration"] = shape.seconds
    if request.seed is not None:
        parameters["seed"] = request.seed
    # Pass-through keys go last, so a client reaches options we do not model (prompt_extend, watermark,
    # audio, audio_url...).
    for key, value in request.vendor_params.items():
        (data if key in INPUT_KEYS else parameters)[key] = value
    return {"model": model.upstream, "input": data, "parameters": parameters}
