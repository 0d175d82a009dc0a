"""Shared fixtures: a simulator on loopback, settings in a temp dir, the app, tokens, and real services."""
from __future__ import annotations

import atexit
import functools
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import sqlalchemy
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.auth import issue_token
from app.extensions import db
from app.migrate import upgrade
from config.settings import Settings, load_settings, normalise_database_url
from simulators.app import create_app as create_simulator_app
from simulators.app import get_simulator, serve_in_thread
from simulators.core import Simulator

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get("VIDGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("VIDGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def service_missing(name: str, error: Exception) -> None:
    """In CI an unreachable service is a failure; on a laptop the test is skipped with the reason."""
    message = f"{name} is unreachable ({type(error).__name__}: {error})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Sim:
    url: str
    state: Simulator


@pytest.fixture
def sim() -> Iterator[Sim]:
    """The vendor simulators over real HTTP on a free loopback port, with short jobs."""
    app = create_simulator_app()
    state = get_simulator(app)
    state.settings.update({"job_seconds": "0.5"})
    with serve_in_thread(app) as url:
        yield Sim(url, state)


def make_settings(data_dir: Path, sim_url: str, **env: str) -> Settings:
    host = sim_url.split("//", 1)[1]
    return load_settings({
        "VIDGATE_DATA_DIR": str(data_dir),
        "VIDGATE_SIMULATOR_URL": sim_url,
        "VIDGATE_ALLOW_PRIVATE_HOSTS": host,
        "VIDGATE_LOG_LEVEL": "WARNING",
        **env,
    })


@pytest.fixture
def settings(tmp_path: Path, sim: Sim) -> Settings:
    return make_settings(tmp_path / "instance", sim.url)


def prepared_app(settings: Settings) -> Flask:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = settings.data_dir / "vidgate.sqlite"
    if settings.database_url == f"sqlite:///{database}" and not database.exists():
        shutil.copyfile(_migrated_sqlite(), database)  # a copy of the migrated file: most tests start from one
    else:
        upgrade(settings.database_url)
    return create_app(settings)


@functools.cache
def _migrated_sqlite() -> Path:
    """An empty SQLite database at the head revision, migrated once per test run."""
    folder = tempfile.mkdtemp(prefix="vidgate-template-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / "vidgate.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def app(settings: Settings) -> Flask:
    return prepared_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def new_token(account: str = "acme", models: list[str] | None = None) -> str:
    with db.transaction() as session:
        token, _ = issue_token(session, account, models)
    return token


@pytest.fixture
def token(app: Flask) -> str:
    return new_token()


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new PostgreSQL database, dropped afterwards."""
    admin = sqlalchemy.create_engine(normalise_database_url(POSTGRES_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"vidgate_test_{secrets.token_hex(4)}"
    try:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as exc:
        service_missing("PostgreSQL", exc)
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    yield url
    db.init("sqlite://")  # release our pooled connections to the test database before dropping it
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of its own, emptied before and after."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()
