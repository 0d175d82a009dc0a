"""Channels (upstream accounts) from the channel file, and model routing by priority and weight."""
from __future__ import annotations

import os
import random
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Database
from app.models import Channel

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DEFAULT_DEADLINE_MINUTES = 60.0


class ChannelFileError(ValueError):
    """The channel file is unreadable or names an environment variable that is not set."""


@dataclass(frozen=True)
class ModelSpec:
    """A public model on one channel: the vendor's name for it, and the options it implies.

    Written in the channel file as `"public" = "upstream"` or `"public" = {upstream = "...", ...}`,
    e.g. `"viduq3p-1080p-offpeak" = {upstream = "viduq3-pro", resolution = "1080p", off_peak = true}`.
    """

    upstream: str
    options: Mapping[str, Any] = field(default_factory=dict)
    # The gateway's own per-model setting, never shown to the adapter: overrides the channel's deadline
    # (Vidu's off-peak models may take 48 hours; the same channel's others should not).
    deadline_minutes: float | None = None

    @classmethod
    def parse(cls, value: str | Mapping[str, Any]) -> ModelSpec:
        if isinstance(value, str):
            return cls(value)
        options = dict(value)
        deadline = options.pop("deadline_minutes", None)
        return cls(str(options.pop("upstream")), options, float(deadline) if deadline is not None else None)


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    vendor: str
    base_url: str
    models: Mapping[str, ModelSpec]  # public model name -> what the vendor calls it
    api_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)
    priority: int = 0
    weight: int = 1
    max_concurrency: int | None = None
    enabled: bool = True
    deadline_minutes: float = DEFAULT_DEADLINE_MINUTES
    options: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None  # the row id, known once synced to the database

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.api_key, self.secret_key) if s)


@dataclass(frozen=True)
class Route:
    """Where a model goes: the first-choice channel and what that channel calls the model."""

    channel: ChannelConfig
    model: ModelSpec

    @property
    def vendor(self) -> str:
        return self.channel.vendor


def _interpolate(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ChannelFileError(f"channel file references ${{{name}}}, which is not set")

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ) for v in value]
    return value


@dataclass(frozen=True)
class ChannelFile:
    """What the channel file(s) say: the channels, and the models refused on purpose, with the reason."""

    channels: list[ChannelConfig]
    refused: Mapping[str, str] = field(default_factory=dict)


_CHANNEL_KEYS = {"name", "vendor", "base_url", "models", "api_key", "secret_key", "priority", "weight",
                 "max_concurrency", "enabled", "deadline_minutes"}


def load_channels(path: Path, environ: Mapping[str, str] | None = None) -> ChannelFile:
    """Read a channel file, or every `*.toml` of a folder (one file per vendor keeps diffs small)."""
    env = os.environ if environ is None else environ
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    documents = []
    for file in files:
        try:
            documents.append(tomllib.loads(file.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ChannelFileError(f"cannot read channel file {file}: {exc}") from exc
    vendor_defaults = {k: v for doc in documents for k, v in doc.get("vendors", {}).items()}
    refused = {k: str(v) for doc in documents for k, v in doc.get("refused", {}).items()}
    channels = []
    for entry in (entry for doc in documents for entry in doc.get("channels", [])):
        try:
            channels.append(_channel(_interpolate(entry, env), vendor_defaults))
        except (KeyError, TypeError, ValueError) as exc:
            raise ChannelFileError(f"channel {entry.get('name', '?')!r} in {path}: {exc!r}") from exc
    return ChannelFile(channels, refused)


def _channel(entry: dict[str, Any], vendor_defaults: Mapping[str, Any]) -> ChannelConfig:
    vendor = entry["vendor"]
    deadline = entry.get("deadline_minutes", vendor_defaults.get(vendor, {}).get("deadline_minutes"))
    return ChannelConfig(
        name=entry["name"],
        vendor=vendor,
        base_url=entry["base_url"].rstrip("/"),
        models={name: ModelSpec.parse(value) for name, value in entry.get("models", {}).items()},
        api_key=entry.get("api_key", ""),
        secret_key=entry.get("secret_key", ""),
        priority=int(entry.get("priority", 0)),
        weight=max(1, int(entry.get("weight", 1))),
        max_concurrency=entry.get("max_concurrency"),
        enabled=bool(entry.get("enabled", True)),
        deadline_minutes=float(deadline or DEFAULT_DEADLINE_MINUTES),
        options={k: v for k, v in entry.items() if k not in _CHANNEL_KEYS},
    )


class ChannelRegistry:
    """The channels this process knows, keyed by name and by database id."""

    def __init__(self) -> None:
        self._channels: list[ChannelConfig] = []
        self._refused: Mapping[str, str] = {}
        self._database: Database | None = None
        self._synced = False
        self._secrets: set[str] = set()

    def init(self, config: ChannelFile, database: Database | None = None) -> None:
        """`database` None: routing only, no rows to mirror (tests of routing, tools)."""
        self._channels, self._refused = list(config.channels), dict(config.refused)
        self._database, self._synced = database, False
        # Collected once: the log formatter asks for them on every line it writes.
        self._secrets = {s for c in self._channels for s in c.secrets}

    def _ensure_synced(self) -> None:
        """Sync lazily, so a process can start while the database is still down and catch up later."""
        if self._synced or self._database is None:
            return
        for attempt in range(2):
            try:
                with self._database.transaction() as session:
                    ids = self._sync(session)
                break
            except IntegrityError:  # another process or thread inserted the same channel first; read its id
                if attempt:
                    raise
        # Published once committed: another thread routing a create meanwhile must not write a task that
        # references a channel row its insert cannot see yet (a foreign key violation, a 500).
        self._channels = [replace(c, id=ids[c.name]) for c in self._channels]
        self._synced = True

    def _sync(self, session: Session) -> dict[str, int]:
        """Mirror the file into the channels table, so tasks can reference and lock their channel row; the ids
        by channel name."""
        rows = {row.name: row for row in session.scalars(select(Channel))}
        for config in self._channels:
            row = rows.get(config.name)
            if row is None:
                row = Channel(name=config.name)
                session.add(row)
            row.vendor, row.enabled, row.max_concurrency = config.vendor, config.enabled, config.max_concurrency
        session.flush()
        return {row.name: row.id for row in session.scalars(select(Channel))}

    @property
    def all(self) -> list[ChannelConfig]:
        self._ensure_synced()
        return list(self._channels)

    def by_id(self, channel_id: int | None) -> ChannelConfig | None:
        self._ensure_synced()
        return next((c for c in self._channels if c.id == channel_id), None)

    def models(self) -> set[str]:
        return {m for c in self._channels if c.enabled for m in c.models}

    def candidates(self, model: str, rng: random.Random | None = None) -> list[ChannelConfig]:
        """Enabled channels serving `model`: highest priority first, weighted-random within a priority."""
        rng = rng or random
        self._ensure_synced()
        serving = [c for c in self._channels if c.enabled and model in c.models]
        ordered: list[ChannelConfig] = []
        for priority in sorted({c.priority for c in serving}, reverse=True):
            pool = [c for c in serving if c.priority == priority]
            while pool:
                pick = rng.choices(pool, weights=[c.weight for c in pool])[0]
                ordered.append(pick)
                pool.remove(pick)
        return ordered

    def route(self, model: str) -> Route | None:
        candidates = self.candidates(model)
        if not candidates:
            return None
        return Route(candidates[0], candidates[0].models[model])

    def refusal(self, model: str) -> str | None:
        """Why a model named in the catalog is deliberately not served, if it is."""
        return self._refused.get(model)

    def secrets(self) -> set[str]:
        return self._secrets

