"""Model options from the channel file: overriding what a model can do, and as defaults of the request body."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from app.channels import ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Refusal

Capabilities = TypeVar("Capabilities")


def overridden(base: Capabilities, options: Mapping[str, Any], names: Iterable[str]) -> Capabilities:
    """A model's capabilities (a frozen dataclass): `base`, with the model options among `names` in its place.

    The channel file gives lists where the dataclass holds tuples; they are made tuples, to compare alike."""
    overrides = {name: options[name] for name in names if name in options}
    for name, value in overrides.items():
        if isinstance(getattr(base, name), tuple):
            overrides[name] = tuple(value)
    return replace(base, **overrides)  # type: ignore[type-var]


def with_options(body: dict[str, Any], request: VideoRequest, model: ModelSpec, *,
                 capability_options: Collection[str], client_fields: Mapping[str, str]) -> dict[str, Any]:
    """Model options fill the body; a client field that contradicts one is refused, naming the field.

    `capability_options` describe the model rather than the body, so they are left out; `client_fields` names
    the client field a body key came from (Jimeng's `frames` from `seconds`, say). Pass-through keys go last,
    so a client can reach vendor options we do not model."""
    defaults = {k: v for k, v in model.options.items() if k not in capability_options}
    for key, value in defaults.items():
        for source in (body, request.vendor_params):
            if key in source and source[key] != value:
                param = client_fields.get(key, key) if source is body else key
                raise Refusal(param, f"this model fixes {key} to {value!r}")
    return {**defaults, **body, **request.vendor_params}
