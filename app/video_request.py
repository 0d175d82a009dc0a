"""The one internal request every dialect is normalised into, and every vendor adapter maps from."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ImageRole = Literal["first_frame", "last_frame", "reference"]


@dataclass(frozen=True)
class ImageInput:
    """An input image: a URL the client gave, or bytes they sent, kept in storage under `key`."""

    role: ImageRole
    url: str | None = None
    key: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class VideoRequest:
    model: str
    prompt: str | None = None
    negative_prompt: str | None = None
    images: tuple[ImageInput, ...] = ()
    seconds: int | None = None
    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    fps: int | None = None
    seed: int | None = None
    n: int | None = None
    mode: str | None = None
    user: str | None = None
    callback_url: str | None = None
    # Vendor pass-through: keys from metadata / extra_body / parameters, merged over the vendor body.
    vendor_params: dict[str, Any] = field(default_factory=dict)
    # Remix: the upstream id of the source video; the remix runs on the source's channel.
    remix_of_upstream_id: str | None = None

    @property
    def size(self) -> str | None:
        return f"{self.width}x{self.height}" if self.width and self.height else None

    def images_with(self, role: ImageRole) -> list[ImageInput]:
        return [image for image in self.images if image.role == role]

    def to_json(self) -> dict[str, Any]:
        # A shallow walk, not dataclasses.asdict: its recursive deep copy was a tenth of a create's CPU.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["images"] = [dict(vars(image)) for image in self.images]
        data["vendor_params"] = dict(self.vendor_params)
        return {k: v for k, v in data.items() if v not in (None, [], {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoRequest:
        values = dict(data)
        values["images"] = tuple(ImageInput(**image) for image in values.get("images", ()))
        return cls(**values)
