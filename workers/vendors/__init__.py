"""Vendor adapters, one folder each with the same shape; the registry the core looks them up in."""
from __future__ import annotations

from workers.vendors import openai
from workers.vendors.base import VendorAdapter

# Every vendor queue exists from day one, so Procfile entries and routing never change as adapters land.
VENDORS = ("openai", "kling", "jimeng", "vidu", "veo", "seedance", "hailuo", "wan")

ADAPTERS: dict[str, VendorAdapter] = {
    "openai": openai.adapter,
}


def get_adapter(vendor: str) -> VendorAdapter:
    try:
        return ADAPTERS[vendor]
    except KeyError:
        raise LookupError(f"no adapter for vendor {vendor!r}") from None
