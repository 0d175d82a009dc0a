"""The `vidgate` command line: tokens are shown once, stored hashed, listed without secrets, revocable; `up`
prepares the embedded broker before its processes start together."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import create_app
from app.auth import hash_token
from app.cli import _prepare, declare_queues, main
from app.extensions import db
from app.models import ApiToken
from config.settings import load_settings
from workers.celery_config import MAINTENANCE_QUEUE
from workers.vendors import VENDORS

# What a worker does to its queues as it starts: declare each, which on kombu's SQLAlchemy transport inserts the
# queue's row if it finds none. Each waits at a gate (a line on stdin) once connected, so that all declare at once.
DECLARE = """
import sys
from kombu import Connection, Queue
with Connection(sys.argv[1]) as connection:
    channel = connection.default_channel
    print("ready", flush=True)
    sys.stdin.readline()
    for name in sys.argv[2:]:
        Queue(name)(channel).declare()
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VIDGATE_DATA_DIR", str(tmp_path))
    return CliRunner()


def test_token_lifecycle(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    created = runner.invoke(main, ["token", "create", "--account", "acme", "--models", "sora-2,sora-2-pro"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("vg_")
    with db.session() as session:
        row = session.scalar(select(ApiToken))
        assert row.token_hash == hash_token(token) and token not in (row.token_hash, row.display_prefix)
        assert row.allowed_models == ["sora-2", "sora-2-pro"]
    listed = runner.invoke(main, ["token", "list"]).output
    assert "acme" in listed and "sora-2,sora-2-pro" in listed and "active" in listed and token not in listed

    client = create_app(load_settings({"VIDGATE_DATA_DIR": str(tmp_path)})).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/videos", headers=headers).status_code == 200
    assert runner.invoke(main, ["token", "revoke", str(row.id)]).exit_code == 0
    assert client.get("/v1/videos", headers=headers).status_code == 401
    assert "revoked" in runner.invoke(main, ["token", "list"]).output
    assert runner.invoke(main, ["token", "revoke", str(row.id)]).exit_code != 0


def test_queues_declared_first_let_workers_start_together(tmp_path: Path) -> None:
    settings = load_settings({"VIDGATE_DATA_DIR": str(tmp_path)})
    assert settings.is_embedded
    _prepare(settings)
    declare_queues()
    declare_queues()  # a second `vidgate up` on the same data directory
    queues = [*VENDORS, MAINTENANCE_QUEUE]
    # Eight workers declaring the shared queue at once: without the rows declared first, some of them fail.
    workers = [subprocess.Popen([sys.executable, "-c", DECLARE, settings.broker_url, MAINTENANCE_QUEUE, vendor],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for vendor in VENDORS]
    assert [worker.stdout.readline() for worker in workers] == ["ready\n"] * len(workers)
    for worker in workers:  # open the gate for all of them before waiting on any
        worker.stdin.write("go\n")
        worker.stdin.flush()
    errors = [worker.communicate(timeout=60)[1] for worker in workers]
    assert [error for worker, error in zip(workers, errors, strict=True) if worker.returncode != 0] == []
    with closing(sqlite3.connect(tmp_path / "broker.sqlite")) as broker:
        names = [name for (name,) in broker.execute("SELECT name FROM kombu_queue")]
    assert sorted(names) == sorted(queues)
