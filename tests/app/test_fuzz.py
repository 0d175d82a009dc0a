"""Property-based fuzzing of every route of the OpenAPI document: no 5xx, and every answer is documented.

Schemathesis generates requests from /openapi.json (valid and invalid ones) and checks that the gateway
never fails with a server error, answers only with documented status codes and content types, and that
bodies match their documented schemas (the error envelope included). Cross-field rules (size vs
aspect_ratio, vendor capabilities) cannot be written in a schema, so schema-valid data may still be
refused with a 400: that check is left out on purpose.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.extensions import db, init_extensions
from app.migrate import upgrade
from config.settings import Settings
from tests.conftest import fresh_postgres_database, make_settings, new_token, prepared_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def fuzz_settings(**env: str) -> Settings:
    # No simulator behind it: fuzzed tasks are accepted and stay queued, which is all the API needs.
    return make_settings(Path(tempfile.mkdtemp(prefix="vidgate-fuzz-")), "http://127.0.0.1:9",
                         VIDGATE_RATE_LIMIT_PER_MINUTE="0", **env)


SQLITE = fuzz_settings()
APP = prepared_app(SQLITE)
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def database(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """The settings the fuzzed app runs on: SQLite, and PostgreSQL, which is stricter about what it stores
    (column lengths, NUL characters)."""
    if request.param == "sqlite":
        yield SQLITE
        return
    with fresh_postgres_database() as url:
        settings = fuzz_settings(DATABASE_URL=url)
        upgrade(settings.database_url)
        yield settings


@pytest.fixture
def token(database: Settings) -> str:
    # The app's extensions are process-wide: point them at this database (other tests re-point them too).
    init_extensions(database)
    assert db.engine.dialect.name == ("sqlite" if database is SQLITE else "postgresql")
    return new_token("fuzzer")


@schema.parametrize()
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_route_fails_or_answers_off_the_document(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
