"""Process-wide singletons, created empty here and initialised from settings by `init_extensions`."""
from __future__ import annotations

from typing import BinaryIO

from celery import Celery
from flask_smorest import Api

from app.channels import ChannelRegistry, load_channels
from app.db import Database
from app.finished import FinishedTasks
from app.ratelimit import NoLimit, RateLimiter, fail_fast_client, make_limiter
from app.storage import Storage, StoredObject, open_storage
from config.settings import Settings, load_settings


class StorageProxy:
    """Lets modules import `storage` before the backend is chosen from STORAGE_URL."""

    def __init__(self) -> None:
        self._backend: Storage | None = None

    def init(self, backend: Storage) -> None:
        self._backend = backend

    @property
    def backend(self) -> Storage:
        if self._backend is None:
            raise RuntimeError("storage not initialised: call init_extensions(settings) first")
        return self._backend

    def put_stream(self, key: str, chunks, expected_size: int | None = None) -> StoredObject:  # type: ignore[no-untyped-def]
        return self.backend.put_stream(key, chunks, expected_size)

    def open(self, key: str) -> tuple[BinaryIO, int]:
        return self.backend.open(key)

    def exists(self, key: str) -> bool:
        return self.backend.exists(key)

    def delete(self, key: str) -> None:
        self.backend.delete(key)


class LimiterProxy:
    """Lets routes import `rate_limiter` before the backend (Redis or in-process) is chosen."""

    def __init__(self) -> None:
        self.backend: RateLimiter = NoLimit()

    def hit(self, key: str) -> float | None:
        return self.backend.hit(key)


db = Database()
storage = StorageProxy()
rate_limiter = LimiterProxy()
channels = ChannelRegistry()
finished_tasks = FinishedTasks()
celery = Celery("vidgate")
api = Api()
_settings: Settings | None = None


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("settings not initialised: call init_extensions(settings) first")
    return _settings


def init_extensions(config: Settings | None = None, *, pre_ping: bool = True) -> Settings:
    """Bind every singleton to one Settings; the web app, workers, beat and CLI all start here.

    The web front passes `pre_ping=False`: a round trip per request saved (see app.db.make_engine).
    """
    from workers.celery_config import configure_celery

    global _settings
    _settings = config or load_settings()
    _settings.data_dir.mkdir(parents=True, exist_ok=True)
    db.init(_settings.database_url, pre_ping=pre_ping, pool_size=_settings.db_pool_size)
    storage.init(open_storage(_settings.storage_url))
    rate_limiter.backend = make_limiter(_settings.redis_url, _settings.rate_limit_per_minute)
    finished_tasks.init(fail_fast_client(_settings.redis_url) if _settings.redis_url else None,
                        _settings.status_cache_entries)
    channels.init(load_channels(_settings.channels_file, _settings.environ), db)
    configure_celery(celery, _settings)
    return _settings
