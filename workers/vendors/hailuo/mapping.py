"""Internal request to a MiniMax `/v1/video_generation` body, and what each Hailuo model cannot do."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.channels import ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Refusal
from workers.vendors.http import image_data_url

MAX_PROMPT = 2000
DEFAULT_SECONDS = 6  # what MiniMax generates when no duration is sent
# Model options that are request settings checked against the table below; any other option is a body default.
SETTING_OPTIONS = ("resolution", "duration")


@dataclass(frozen=True)
class Capabilities:
    """One MiniMax model: the inputs it takes and, per resolution, the durations it offers."""

    durations: Mapping[str, tuple[int, ...]]
    default_resolution: str
    text: bool = False  # runs from the prompt alone
    first_frame: bool = False  # takes a first frame
    last_frame: bool = False  # takes a last frame after the first (Hailuo-02 only)
    subject: bool = False  # subject-to-video: exactly one character reference, no frames
    # Resolutions offered only for image-to-video from one first frame (Hailuo-02's 512P).
    single_image_only: frozenset[str] = field(default_factory=frozenset)


_HAILUO = {"768P": (6, 10), "1080P": (6,)}
_V01 = {"720P": (6,)}
MODELS: dict[str, Capabilities] = {
    "MiniMax-Hailuo-2.3": Capabilities(_HAILUO, "768P", text=True, first_frame=True),
    "MiniMax-Hailuo-2.3-Fast": Capabilities(_HAILUO, "768P", first_frame=True),
    "MiniMax-Hailuo-02": Capabilities({"512P": (6, 10), **_HAILUO}, "768P", text=True, first_frame=True,
                                      last_frame=True, single_image_only=frozenset({"512P"})),
    "T2V-01": Capabilities(_V01, "720P", text=True),
    "T2V-01-Director": Capabilities(_V01, "720P", text=True),
    "I2V-01": Capabilities(_V01, "720P", first_frame=True),
    "I2V-01-Director": Capabilities(_V01, "720P", first_frame=True),
    "I2V-01-live": Capabilities(_V01, "720P", first_frame=True),
    "S2V-01": Capabilities(_V01, "720P", subject=True),
}


def check(request: VideoRequest, model: ModelSpec) -> None:
    _plan(request, model)


def create_body(request: VideoRequest, model: ModelSpec) -> dict[str, Any]:
    body = _plan(request, model)
    first, last, references = (request.images_with(role) for role in ("first_frame", "last_frame", "reference"))
    if first:
        body["first_frame_image"] = image_data_url(first[0])
    if last:
        body["last_frame_image"] = image_data_url(last[0])
    if references:
        body["subject_reference"] = [{"type": "character", "image": [image_data_url(i) for i in references]}]
    return body


def _plan(request: VideoRequest, model: ModelSpec) -> dict[str, Any]:
    """The checked body without images: building those reads storage, which only the worker does."""
    _refuse_unsupported(request)
    caps = MODELS.get(model.upstream)
    if caps is not None:
        _check_images(request, model.upstream, caps)
    resolution = _resolution(request, model)
    duration = _duration(request, model)
    if caps is not None:
        _check_settings(request, model.upstream, caps, resolution, duration)
    defaults = {k: v for k, v in model.options.items() if k not in SETTING_OPTIONS}
    for key, value in defaults.items():
        if key in request.vendor_params and request.vendor_params[key] != value:
            raise Refusal(key, f"this model sets {key} to {value!r}")
    body: dict[str, Any] = {"model": model.upstream, **defaults}
    if request.prompt:
        body["prompt"] = request.prompt
    if duration is not None:
        body["duration"] = duration
    if resolution is not None:
        body["resolution"] = resolution
    # Pass-through keys go last so a client can reach options we do not model (prompt_optimizer,
    # fast_pretreatment, aigc_watermark); resolution and duration were folded in above, normalised.
    body.update({k: v for k, v in request.vendor_params.items() if k not in SETTING_OPTIONS})
    return body


def _refuse_unsupported(request: VideoRequest) -> None:
    if request.n not in (None, 1):
        raise Refusal("n", "MiniMax makes one video per request; n must be 1")
    if request.size:
        raise Refusal("size", "MiniMax picks the frame size from the first frame or the resolution; send resolution")
    if request.aspect_ratio:
        raise Refusal("aspect_ratio", "MiniMax picks the aspect ratio from the first frame; send resolution instead")
    unsupported = {"negative_prompt": request.negative_prompt, "fps": request.fps, "seed": request.seed,
                   "mode": request.mode}
    for param, value in unsupported.items():
        if value is not None:
            raise Refusal(param, f"MiniMax video generation has no {param}")
    if request.prompt and len(request.prompt) > MAX_PROMPT:
        raise Refusal("prompt", f"MiniMax takes prompts of at most {MAX_PROMPT} characters")


def _check_images(request: VideoRequest, upstream: str, caps: Capabilities) -> None:
    first, last, references = (request.images_with(role) for role in ("first_frame", "last_frame", "reference"))
    if len(first) > 1:
        raise Refusal("images", f"{upstream} takes a single first frame")
    if first and not caps.first_frame:
        kind = "subject-to-video: send the character as reference_image_urls" if caps.subject else "text-to-video"
        raise Refusal("image", f"{upstream} is {kind}; it takes no first frame")
    if not first and caps.first_frame and not caps.text:
        raise Refusal("image", f"{upstream} is image-to-video: send image (the first frame)")
    if last and not caps.last_frame:
        raise Refusal("last_image", f"{upstream} takes no last frame (only MiniMax-Hailuo-02 does)")
    if references and not caps.subject:
        raise Refusal("reference_image_urls", f"{upstream} takes no reference images (only S2V-01 does)")
    if caps.subject and len(references) != 1:
        raise Refusal("reference_image_urls", f"{upstream} needs exactly one character reference image")
    if not request.prompt and not first:
        raise Refusal("prompt", f"{upstream} needs a prompt when no first frame is given")


def _check_settings(request: VideoRequest, upstream: str, caps: Capabilities, resolution: str | None,
                    duration: int | None) -> None:
    resolution = resolution or caps.default_resolution
    if resolution not in caps.durations:
        offered = ", ".join(caps.durations)
        raise Refusal("resolution", f"{upstream} offers resolution {offered}, not {resolution}")
    if resolution in caps.single_image_only and (not request.images_with("first_frame")
                                                 or request.images_with("last_frame")):
        raise Refusal("resolution", f"{upstream} offers {resolution} only for image-to-video from one first frame")
    offered_seconds = caps.durations[resolution]
    if (duration or DEFAULT_SECONDS) not in offered_seconds:
        listed = " or ".join(map(str, offered_seconds))
        raise Refusal("seconds", f"{upstream} at {resolution} offers durations of {listed} seconds")


def _resolution(request: VideoRequest, model: ModelSpec) -> str | None:
    """MiniMax's spelling (`768P`) of the resolution the model option, the client and pass-through agree on."""
    values = [("resolution", str(v).upper()) for v in (model.options.get("resolution"), request.resolution,
                                                        request.vendor_params.get("resolution")) if v]
    return _agreed(values)


def _duration(request: VideoRequest, model: ModelSpec) -> int | None:
    sources = (("seconds", model.options.get("duration")), ("seconds", request.seconds),
               ("duration", request.vendor_params.get("duration")))
    values = []
    for param, value in sources:
        if value is None:
            continue
        if isinstance(value, bool) or not str(value).isdigit():
            raise Refusal(param, f"duration must be a whole number of seconds, not {value!r}")
        values.append((param, int(value)))
    return _agreed(values)


def _agreed(values: list[tuple[str, Any]]) -> Any:
    """The one value several sources give for a setting; a later source that differs is refused by name."""
    if not values:
        return None
    first = values[0][1]
    for param, value in values[1:]:
        if value != first:
            raise Refusal(param, f"{param} {value} contradicts {first}, which this model or request already sets")
    return first
