"""Bearer tokens: a checked token is trusted for token_cache_seconds in-process, a revoked one never again."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from app.auth import revoke_token
from app.extensions import db
from app.models import ApiToken
from tests.conftest import Sim, make_settings, new_token, prepared_app


@pytest.fixture
def token_queries() -> Iterator[list[str]]:
    """The statements that read the tokens table, as any engine sends them."""
    seen: list[str] = []

    def record(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if "FROM tokens" in statement:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield seen
    event.remove(Engine, "before_cursor_execute", record)


def test_a_checked_token_is_not_looked_up_again(client: FlaskClient, auth: dict[str, str],
                                                 token_queries: list[str]) -> None:
    for _ in range(3):
        assert client.get("/v1/videos", headers=auth).status_code == 200
    assert len(token_queries) == 1


def test_the_cache_expires_after_token_cache_seconds(client: FlaskClient, auth: dict[str, str],
                                                     token_queries: list[str], clock: list[float]) -> None:
    assert client.get("/v1/videos", headers=auth).status_code == 200
    clock[0] += 4.9
    assert client.get("/v1/videos", headers=auth).status_code == 200
    assert len(token_queries) == 1
    clock[0] += 0.2
    assert client.get("/v1/videos", headers=auth).status_code == 200
    assert len(token_queries) == 2


def test_revoking_in_this_process_takes_effect_at_once(client: FlaskClient, auth: dict[str, str]) -> None:
    assert client.get("/v1/videos", headers=auth).status_code == 200
    with db.transaction() as session:
        token_id = session.scalar(select(ApiToken.id))
        assert revoke_token(session, token_id)
    response = client.get("/v1/videos", headers=auth)
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_api_key"


def test_invalid_tokens_are_never_cached(client: FlaskClient, token_queries: list[str]) -> None:
    for _ in range(2):
        assert client.get("/v1/videos", headers={"Authorization": "Bearer vg_nope"}).status_code == 401
    assert len(token_queries) == 2


def test_zero_seconds_turns_the_cache_off(tmp_path: Path, sim: Sim, token_queries: list[str]) -> None:
    app = prepared_app(make_settings(tmp_path / "instance", sim.url, VIDGATE_TOKEN_CACHE_SECONDS="0"))
    client, headers = app.test_client(), {"Authorization": f"Bearer {new_token()}"}
    for _ in range(2):
        assert client.get("/v1/videos", headers=headers).status_code == 200
    assert len(token_queries) == 2
