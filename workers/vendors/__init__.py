"""Vendor adapters, one folder each with the same shape; the registry the core looks them up in."""
from __future__ import annotations

import importlib
import importlib.util

from workers.vendors.base import VendorAdapter

# Every vendor queue exists from day one, so Procfile entries and routing never change as adapters land.
VENDORS = ("openai", "kling", "jimeng", "vidu", "veo", "seedance", "hailuo", "wan")


def _load_adapters() -> dict[str, VendorAdapter]:
    """Each vendor folder exposes `adapter`; a vendor is one folder, with nothing to register elsewhere."""
    return {
        vendor: importlib.import_module(f"workers.vendors.{vendor}").adapter
        for vendor in VENDORS
        if importlib.util.find_spec(f"workers.vendors.{vendor}") is not None
    }


ADAPTERS: dict[str, VendorAdapter] = _load_adapters()


def get_adapter(vendor: str) -> VendorAdapter:
    try:
        return ADAPTERS[vendor]
    except KeyError:
        raise LookupError(f"no adapter for vendor {vendor!r}") from None
