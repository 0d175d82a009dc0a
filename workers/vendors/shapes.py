"""A request's frame shape (aspect ratio and resolution, or a pixel size) in the names a vendor takes."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from app.video_request import VideoRequest
from workers.vendors.base import Refusal

# How far a pixel size may be from a vendor's frame and still be read as it (sizes get rounded to multiples
# of 8 or 16, so an exact match would refuse sizes people use).
RATIO_TOLERANCE = 0.03
RESOLUTION_TOLERANCE = 0.15


class Shape(NamedTuple):
    """The aspect ratio and resolution asked for, each with the client field it came from (for refusals)."""

    ratio: str | None
    ratio_param: str
    resolution: str | None
    resolution_param: str


def requested_shape(request: VideoRequest, vendor: str, ratios: Mapping[str, str],
                    resolutions: Mapping[str, int]) -> Shape:
    """The shape a request asks for, from `aspect_ratio`, `resolution` and `size` (which may stand for either,
    and must agree with a resolution given too). `ratios` maps the gateway's reduced ratio (21:9 arrives as
    7:3) to the vendor's name for it; `resolutions` maps a resolution name to the short side of its 16:9 frame."""
    ratio, ratio_param = None, "aspect_ratio"
    if request.aspect_ratio:
        ratio = ratios.get(request.aspect_ratio)
        if ratio is None:
            raise Refusal("aspect_ratio", f"{vendor} offers aspect ratios {listing(ratios.values())}")
    resolution, resolution_param = request.resolution, "resolution"
    if request.width and request.height:
        size_ratio, size_resolution = size_shape(request.width, request.height, vendor, ratios, resolutions)
        if ratio is None:
            ratio, ratio_param = size_ratio, "size"
        if resolution not in (None, size_resolution):
            raise Refusal("size", f"size {request.size} is {size_resolution}, not {resolution}")
        resolution, resolution_param = size_resolution, "size"
    if resolution is not None and resolution not in resolutions:
        raise Refusal(resolution_param, f"{vendor} renders at {listing(resolutions)}")
    return Shape(ratio, ratio_param, resolution, resolution_param)


def size_shape(width: int, height: int, vendor: str, ratios: Mapping[str, str],
               resolutions: Mapping[str, int]) -> tuple[str, str]:
    """The vendor's (aspect ratio, resolution) nearest a pixel size, within the tolerances above."""
    ratio = next((name for reduced, name in ratios.items()
                  if abs(width / height - ratio_value(reduced)) <= RATIO_TOLERANCE * ratio_value(reduced)), None)
    # The short side the frame would have at 16:9 with the same pixel count: 960x960 is 720p, 2176x928 1080p.
    side = math.sqrt(width * height * 9 / 16)
    resolution = next((name for name, short in resolutions.items()
                       if abs(side - short) <= RESOLUTION_TOLERANCE * short), None)
    if ratio is None or resolution is None:
        raise Refusal("size", f"{vendor} renders {listing(ratios.values())} at {listing(resolutions)}; "
                              f"{width}x{height} is none of them")
    return ratio, resolution


def ratio_value(ratio: str) -> float:
    """`16:9` as 1.777..."""
    w, h = ratio.split(":")
    return int(w) / int(h)


def listing(values: Iterable[object]) -> str:
    """Values as a refusal lists what is offered: `5, 10`."""
    return ", ".join(str(v) for v in values)
