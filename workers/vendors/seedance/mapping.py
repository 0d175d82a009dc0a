"""Internal request to a Seedance (Ark) `contents/generations/tasks` body, and what each model cannot do."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.channels import ModelSpec
from app.video_request import ImageInput, ImageRole, VideoRequest
from workers.vendors.base import Refusal
from workers.vendors.http import image_data_url
from workers.vendors.options import with_options
from workers.vendors.shapes import listing, requested_shape

FPS = 24
# Ark's ratios, keyed by the reduced form the gateway normalises to (21:9 arrives as 7:3). `adaptive`
# (follow the input image) is not a ratio a client can express in fields: it goes through pass-through.
RATIOS = {"16:9": "16:9", "4:3": "4:3", "1:1": "1:1", "3:4": "3:4", "9:16": "9:16", "7:3": "21:9"}
# Resolution names and the short side of their 16:9 frame.
RESOLUTIONS = {"480p": 480, "720p": 720, "1080p": 1080}
ROLES: dict[ImageRole, str] = {"first_frame": "first_frame", "last_frame": "last_frame", "reference": "reference_image"}
ARK_ROLES: dict[str, ImageRole] = {ark: role for role, ark in ROLES.items()}
# Model options that describe the model; every other option is a default for the body.
CAPABILITY_OPTIONS = frozenset({"durations", "resolutions", "image_roles", "requires_image", "max_reference_images"})
# Where a body field came from, to name it in a refusal.
_CLIENT_FIELDS = {"duration": "seconds", "ratio": "aspect_ratio"}


@dataclass(frozen=True)
class Capabilities:
    """What a model accepts. Defaults per model family below; each can be overridden by a model option."""

    durations: tuple[int, ...]
    image_roles: frozenset[ImageRole]
    resolutions: tuple[str, ...] = ("480p", "720p", "1080p")
    requires_image: bool = False
    max_reference_images: int = 4


_FRAMES: frozenset[ImageRole] = frozenset({"first_frame", "last_frame"})
_ALL: frozenset[ImageRole] = frozenset(ROLES)
# Keyed by the model name without its `doubao-`/`dreamina-` prefix and its date suffix.
FAMILIES: dict[str, Capabilities] = {
    "seedance-1-0-lite-t2v": Capabilities((5, 10), frozenset()),
    "seedance-1-0-lite-i2v": Capabilities((5, 10), _ALL, requires_image=True),
    "seedance-1-0-pro": Capabilities((5, 10), _FRAMES),
    "seedance-1-0-pro-fast": Capabilities(tuple(range(2, 13)), frozenset({"first_frame"})),
    "seedance-1-5-pro": Capabilities(tuple(range(4, 13)), _FRAMES),
    "seedance-2-0": Capabilities(tuple(range(4, 16)), _ALL, max_reference_images=9),
    "seedance-2-0-fast": Capabilities(tuple(range(4, 16)), _ALL, max_reference_images=9),
}
# A model we do not know: generous limits, and Ark refuses what the model cannot do.
UNKNOWN = Capabilities(tuple(range(2, 16)), _ALL, max_reference_images=9)
_FAMILY = re.compile(r"^(?:doubao-|dreamina-)?(.*?)(?:-\d{6})?$")


def capabilities(model: ModelSpec) -> Capabilities:
    base = FAMILIES.get(_FAMILY.sub(r"\1", model.upstream), UNKNOWN)
    options = model.options
    return Capabilities(
        durations=_durations(options.get("durations", base.durations)),
        image_roles=frozenset(ARK_ROLES[r] for r in options["image_roles"]) if "image_roles" in options
        else base.image_roles,
        resolutions=tuple(str(r) for r in options.get("resolutions", base.resolutions)),
        requires_image=bool(options.get("requires_image", base.requires_image)),
        max_reference_images=int(options.get("max_reference_images", base.max_reference_images)),
    )


def _durations(value: Any) -> tuple[int, ...]:
    """A list of seconds, or a `"2-12"` range."""
    if isinstance(value, str):
        low, _, high = value.partition("-")
        return tuple(range(int(low), int(high or low) + 1))
    return tuple(int(s) for s in value)


def check(request: VideoRequest, model: ModelSpec) -> None:
    fields(request, model)


def create_body(request: VideoRequest, model: ModelSpec) -> dict[str, Any]:
    """The create body: the prompt and images as typed `content` parts (bytes we hold as data URLs)."""
    body = fields(request, model)
    content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}] if request.prompt else []
    content += [_image_part(image) for image in request.images]
    return {"model": model.upstream, "content": content, **body}


def _image_part(image: ImageInput) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image_data_url(image)}, "role": ROLES[image.role]}


def fields(request: VideoRequest, model: ModelSpec) -> dict[str, Any]:
    """The body's fields besides `model` and `content`; raises Refusal for anything the model cannot do."""
    caps = capabilities(model)
    _refuse_unsupported(request)
    _check_images(request, caps)
    body: dict[str, Any] = {}
    ratio, ratio_param, resolution, resolution_param = requested_shape(request, "Seedance", RATIOS, RESOLUTIONS)
    if resolution is not None:
        if resolution not in caps.resolutions:
            raise Refusal(resolution_param, f"this model renders at {listing(caps.resolutions)}")
        body["resolution"] = resolution
    if ratio is not None:
        body["ratio"] = ratio
    if request.seconds is not None:
        if request.seconds not in caps.durations:
            raise Refusal("seconds", f"this model offers durations of {_span(caps.durations)} seconds")
        body["duration"] = request.seconds
    if request.seed is not None:
        if not -1 <= request.seed < 2**32:
            raise Refusal("seed", "Seedance takes a seed from -1 to 4294967295")
        body["seed"] = request.seed
    # Pass-through reaches Ark options we do not model (camera_fixed, watermark...).
    return with_options(body, request, model, capability_options=CAPABILITY_OPTIONS, client_fields=_CLIENT_FIELDS)


def _refuse_unsupported(request: VideoRequest) -> None:
    if request.n not in (None, 1):
        raise Refusal("n", "Seedance makes one video per request; n must be 1")
    if request.negative_prompt is not None:
        raise Refusal("negative_prompt", "Seedance does not support negative_prompt")
    if request.fps not in (None, FPS):
        raise Refusal("fps", f"Seedance renders at {FPS} fps")
    if request.mode is not None:
        raise Refusal("mode", "Seedance has no generation modes: the model and the content parts decide")


def _check_images(request: VideoRequest, caps: Capabilities) -> None:
    params: dict[ImageRole, str] = {"first_frame": "image", "last_frame": "last_image",
                                    "reference": "reference_image_urls"}
    for role, param in params.items():
        if request.images_with(role) and role not in caps.image_roles:
            raise Refusal(param, "this model generates from text only; it takes no image" if not caps.image_roles
                          else f"this model does not take {param}")
    references = request.images_with("reference")
    if references and (request.images_with("first_frame") or request.images_with("last_frame")):
        raise Refusal("reference_image_urls", "reference images cannot be combined with a first or last frame")
    if len(references) > caps.max_reference_images:
        raise Refusal("reference_image_urls", f"this model takes at most {caps.max_reference_images} reference images")
    if caps.requires_image and not request.images:
        raise Refusal("image", "this model animates images: send image or reference_image_urls")
    if not request.images and not request.prompt:
        raise Refusal("prompt", "prompt is required to generate from text")


def _span(durations: tuple[int, ...]) -> str:
    """`2-12` for a run of whole seconds, else the list."""
    if len(durations) > 2 and list(durations) == list(range(durations[0], durations[-1] + 1)):
        return f"{durations[0]}-{durations[-1]}"
    return listing(durations)

