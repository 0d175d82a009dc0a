"""Internal request to a Jimeng `CVSync2AsyncSubmitTask` body: the req_key to use, and what Jimeng cannot do."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

from app.channels import ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Refusal
from workers.vendors.http import image_bytes
from workers.vendors.options import with_options
from workers.vendors.shapes import listing, requested_shape

Mode = Literal["text", "first", "first_last"]

FPS = 24  # Jimeng counts frames as 24 a second plus one: 121 is 5 s, 241 is 10 s
DEFAULT_DURATIONS = (5, 10)
# Jimeng's aspect ratios, keyed by the reduced form the gateway normalises to (21:9 arrives as 7:3).
RATIOS = {"16:9": "16:9", "4:3": "4:3", "1:1": "1:1", "3:4": "3:4", "9:16": "9:16", "7:3": "21:9"}
# Resolution names and the short side of their 16:9 frame.
RESOLUTIONS = {"720p": 720, "1080p": 1080}
# Model options that describe the model; every other option is a default for the body.
CAPABILITY_OPTIONS = frozenset({"resolution", "durations"})
# Where a body field came from, to name it in a refusal.
_CLIENT_FIELDS = {"frames": "seconds"}


@dataclass(frozen=True)
class ReqKey:
    """What one req_key generates from, and the resolution it renders at (None: Jimeng does not say)."""

    modes: frozenset[Mode]
    resolution: str | None


_TEXT: frozenset[Mode] = frozenset({"text"})
_FIRST: frozenset[Mode] = frozenset({"first"})
_FIRST_LAST: frozenset[Mode] = frozenset({"first_last"})
REQ_KEYS: dict[str, ReqKey] = {
    "jimeng_t2v_v30": ReqKey(_TEXT, "720p"),
    "jimeng_i2v_first_v30": ReqKey(_FIRST, "720p"),
    "jimeng_i2v_first_tail_v30": ReqKey(_FIRST_LAST, "720p"),
    "jimeng_i2v_recamera_v30": ReqKey(_FIRST, "720p"),
    "jimeng_t2v_v30_1080p": ReqKey(_TEXT, "1080p"),
    "jimeng_i2v_first_v30_1080": ReqKey(_FIRST, "1080p"),
    "jimeng_i2v_first_tail_v30_1080": ReqKey(_FIRST_LAST, "1080p"),
    "jimeng_ti2v_v30_pro": ReqKey(frozenset({"text", "first"}), "1080p"),
    "jimeng_vgfm_t2v_l20": ReqKey(_TEXT, None),
    "jimeng_vgfm_i2v_l20": ReqKey(_FIRST, None),
}
# A family is one upstream name for the req_keys of one generation: the images given pick the req_key,
# the resolution (model option or client field) picks the variant.
FAMILIES: dict[str, dict[str, dict[Mode, str]]] = {
    "jimeng_v30": {
        "720p": {"text": "jimeng_t2v_v30", "first": "jimeng_i2v_first_v30",
                 "first_last": "jimeng_i2v_first_tail_v30"},
        "1080p": {"text": "jimeng_t2v_v30_1080p", "first": "jimeng_i2v_first_v30_1080",
                  "first_last": "jimeng_i2v_first_tail_v30_1080"},
    },
}
DEFAULT_FAMILY_RESOLUTION = "720p"


def check(request: VideoRequest, model: ModelSpec) -> None:
    fields(request, model)


def create_body(request: VideoRequest, model: ModelSpec) -> dict[str, Any]:
    """The submission body, images included (URLs as `image_urls`, bytes as `binary_data_base64`)."""
    return {**fields(request, model), **_images(request)}


def fields(request: VideoRequest, model: ModelSpec) -> dict[str, Any]:
    """The body without its images; raises Refusal for anything Jimeng cannot do."""
    _refuse_unsupported(request)
    mode = _mode(request)
    ratio, ratio_param, resolution, resolution_param = requested_shape(request, "Jimeng", RATIOS, RESOLUTIONS)
    body: dict[str, Any] = {"req_key": _req_key(model, mode, resolution, resolution_param)}
    if request.prompt:
        body["prompt"] = request.prompt
    elif mode == "text":
        raise Refusal("prompt", "prompt is required to generate from text")
    if request.seed is not None:
        body["seed"] = request.seed
    if request.seconds is not None:
        durations = tuple(int(s) for s in model.options.get("durations", DEFAULT_DURATIONS))
        if request.seconds not in durations:
            raise Refusal("seconds", f"this model offers durations of {listing(durations)} seconds")
        body["frames"] = FPS * request.seconds + 1
    if ratio is not None:
        if mode != "text":
            raise Refusal(ratio_param, "with an input image the video takes the image's aspect ratio")
        body["aspect_ratio"] = ratio
    # Pass-through reaches Jimeng options we do not model (req_json, template_id...).
    return with_options(body, request, model, capability_options=CAPABILITY_OPTIONS, client_fields=_CLIENT_FIELDS)


def _refuse_unsupported(request: VideoRequest) -> None:
    if request.n not in (None, 1):
        raise Refusal("n", "Jimeng makes one video per request; n must be 1")
    if request.negative_prompt is not None:
        raise Refusal("negative_prompt", "Jimeng does not support negative_prompt")
    if request.fps not in (None, FPS):
        raise Refusal("fps", f"Jimeng renders at {FPS} fps")
    if request.mode is not None:
        raise Refusal("mode", "Jimeng has no generation modes: the model and the images decide")


def _mode(request: VideoRequest) -> Mode:
    if request.images_with("reference"):
        raise Refusal("reference_image_urls", "Jimeng takes a first frame and a last frame, not reference images")
    if request.images_with("last_frame"):
        return "first_last"
    return "first" if request.images_with("first_frame") else "text"


def _req_key(model: ModelSpec, mode: Mode, asked: str | None, param: str) -> str:
    fixed = model.options.get("resolution")
    if fixed is not None and asked not in (None, fixed):
        raise Refusal(param, f"this model renders at {fixed}")
    resolution = asked or fixed
    family = FAMILIES.get(model.upstream)
    if family is not None:
        variants = family.get(resolution or DEFAULT_FAMILY_RESOLUTION)
        if variants is None:
            raise Refusal(param, f"this model renders at {listing(family)}")
        return variants[mode]
    spec = REQ_KEYS.get(model.upstream)
    if spec is None:  # a req_key we do not know: Jimeng will say what it cannot do
        return model.upstream
    if mode not in spec.modes:
        raise _mode_refusal(mode, spec.modes)
    if asked is not None and asked != spec.resolution:
        raise Refusal(param, f"this model renders at {spec.resolution}" if spec.resolution
                      else "this model's resolution is fixed by Jimeng")
    return model.upstream


def _mode_refusal(mode: Mode, modes: frozenset[Mode]) -> Refusal:
    if mode == "first_last":
        return Refusal("last_image", "this model does not take a last frame")
    if mode == "first" and modes == _FIRST_LAST:
        return Refusal("last_image", "this model animates from a first and a last frame: send last_image too")
    if mode == "first":
        return Refusal("image", "this model generates from text only; it takes no image")
    need = "a first and a last frame (image and last_image)" if modes == _FIRST_LAST else "an image"
    return Refusal("image", f"this model animates images: send {need}")


def _images(request: VideoRequest) -> dict[str, list[str]]:
    frames = [*request.images_with("first_frame"), *request.images_with("last_frame")]
    if not frames:
        return {}
    urls = [image.url for image in frames if image.url]
    if len(urls) == len(frames):
        return {"image_urls": urls}
    # One list of one kind: once any image is bytes we hold, all travel as bytes (URL images are fetched).
    return {"binary_data_base64": [base64.b64encode(image_bytes(image)).decode() for image in frames]}
