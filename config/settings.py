"""Settings as an explicit map from environment variables to typed values (12-factor)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CHANNELS_FILE = Path(__file__).with_name("channels")  # a folder: every *.toml in it


@dataclass(frozen=True)
class Settings:
    """Everything a Vidgate process needs to know about its surroundings."""

    data_dir: Path
    # URLs may carry passwords: kept out of repr so a logged Settings never leaks them.
    database_url: str = field(repr=False)
    broker_url: str = field(repr=False)
    redis_url: str | None = field(repr=False)
    storage_url: str
    public_base_url: str | None  # None: derive it from each request's Host
    channels_file: Path
    retention_hours: float
    simulator_url: str
    log_level: str = "INFO"
    max_body_bytes: int = 64 * 1024 * 1024
    max_image_bytes: int = 10 * 1024 * 1024
    rate_limit_per_minute: int = 1200  # per token, all routes together; 0 turns the limit off
    # How long a web process trusts a token it has checked, without asking the database again; 0: always ask.
    token_cache_seconds: float = 5.0
    # Finished tasks' rows a web process keeps for status reads (app.finished; needs Redis); 0: always ask.
    status_cache_entries: int = 10_000
    dispatch_seconds: float = 1.0
    resend_after_seconds: float = 60.0  # a due step not acted on this long after its message is sent again
    poll_batch: int = 50  # running tasks of one vendor polled by one message (one claim, one commit)
    poll_threads: int = 8  # vendor calls a worker process makes at once for its poll and submission batches
    # Database connections a process keeps open: at least its threads (gunicorn --threads, celery -c), since the
    # pool closes a connection given back beyond this, so a smaller pool opens one per request under load.
    db_pool_size: int = 16
    # Submit messages allowed to wait in a vendor's queue at once: a burst of creates then waits in the
    # table, not in front of the polls and downloads of jobs already running.
    submit_backlog: int = 200
    vendor_read_timeout: float = 30.0  # seconds to wait for a vendor's answer
    download_read_timeout: float = 60.0  # seconds a download may go without receiving a byte
    # How long a worker holds a task while it works on a step. A worker that dies is noticed after this,
    # so it is also the recovery time after a crash. Steps end well before it: vendor calls time out, poll
    # batches stop starting calls within their budget, downloads renew it; and should a step outlive it anyway,
    # its writes are compare-and-set on the row's version and lose to the worker that took over. Must exceed
    # the vendor timeouts with room.
    lease_seconds: float = 150.0

    @property
    def step_time_limit(self) -> float:
        """Celery's soft limit for a step: well inside the lease."""
        return self.lease_seconds * 0.8
    housekeeping_seconds: float = 300.0
    # URLs a client may hand us that resolve to these hosts are fetched/passed on even though they are
    # loopback or private (the simulators and tests live there); everything else private is refused.
    allowed_private_hosts: tuple[str, ...] = field(default=())
    # The environment these settings came from; the channel file's ${VAR} references resolve against
    # it. Kept out of repr because it holds the channel secrets.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def is_embedded(self) -> bool:
        """True when the broker is the embedded SQLite transport rather than Redis."""
        return self.redis_url is None


def normalise_database_url(url: str) -> str:
    """PaaS hosts hand out `postgres://`, which SQLAlchemy no longer accepts; and SQLAlchemy 2.1 defaults
    plain `postgresql://` to psycopg 3, while we ship psycopg2. Name the driver explicitly."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; anything unset falls back to the embedded default."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("VIDGATE_DATA_DIR", "instance")).resolve()
    redis_url = env.get("REDIS_URL") or None
    broker_url = redis_url or f"sqla+sqlite:///{data_dir / 'broker.sqlite'}"
    database_url = normalise_database_url(env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'vidgate.sqlite'}")
    allowed = tuple(h.strip() for h in env.get("VIDGATE_ALLOW_PRIVATE_HOSTS", "").split(",") if h.strip())
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        redis_url=redis_url,
        storage_url=env.get("STORAGE_URL") or (data_dir / "storage").as_uri(),
        public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        channels_file=Path(env.get("VIDGATE_CHANNELS") or DEFAULT_CHANNELS_FILE),
        retention_hours=float(env.get("VIDGATE_RETENTION_HOURS", "24")),
        simulator_url=env.get("VIDGATE_SIMULATOR_URL", "http://127.0.0.1:9100").rstrip("/"),
        log_level=env.get("VIDGATE_LOG_LEVEL", "INFO").upper(),
        max_body_bytes=int(env.get("VIDGATE_MAX_BODY_BYTES", str(64 * 1024 * 1024))),
        max_image_bytes=int(env.get("VIDGATE_MAX_IMAGE_BYTES", str(10 * 1024 * 1024))),
        rate_limit_per_minute=int(env.get("VIDGATE_RATE_LIMIT_PER_MINUTE", "1200")),
        token_cache_seconds=float(env.get("VIDGATE_TOKEN_CACHE_SECONDS", "5")),
        status_cache_entries=max(0, int(env.get("VIDGATE_STATUS_CACHE_ENTRIES", "10000"))),
        dispatch_seconds=float(env.get("VIDGATE_DISPATCH_SECONDS", "1")),
        housekeeping_seconds=float(env.get("VIDGATE_HOUSEKEEPING_SECONDS", "300")),
        resend_after_seconds=float(env.get("VIDGATE_RESEND_AFTER_SECONDS", "60")),
        poll_batch=max(1, int(env.get("VIDGATE_POLL_BATCH", "50"))),
        poll_threads=max(1, int(env.get("VIDGATE_POLL_THREADS", "8"))),
        db_pool_size=max(1, int(env.get("VIDGATE_DB_POOL_SIZE", "16"))),
        submit_backlog=max(1, int(env.get("VIDGATE_SUBMIT_BACKLOG", "200"))),
        vendor_read_timeout=float(env.get("VIDGATE_VENDOR_READ_TIMEOUT", "30")),
        download_read_timeout=float(env.get("VIDGATE_DOWNLOAD_READ_TIMEOUT", "60")),
        lease_seconds=float(env.get("VIDGATE_LEASE_SECONDS", "150")),
        allowed_private_hosts=allowed,
        environ=dict(env),
    )
