"""The `vidgate` command line: tokens are shown once, stored hashed, listed without secrets, revocable."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import create_app
from app.auth import hash_token
from app.cli import main
from app.extensions import db
from app.models import ApiToken
from config.settings import load_settings


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
