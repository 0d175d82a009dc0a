"""Property-based fuzzing of every route of the OpenAPI document: no 5xx, and every answer is documented.

Schemathesis generates requests from /openapi.json (valid and invalid ones) and checks that the gateway
never fails with a server error, answers only with documented status codes and content types, and that
bodies match their documented schemas (the error envelope included). Cross-field rules (size vs
aspect_ratio, vendor capabilities) cannot be written in a schema, so schema-valid data may still be
refused with a 400: that check is left out on purpose.
"""
from __future__ import annotations

import tempfile
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

from app.extensions import init_extensions
from tests.conftest import make_settings, new_token, prepared_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# No simulator behind it: fuzzed tasks are accepted and stay queued, which is all the API needs.
SETTINGS = make_settings(Path(tempfile.mkdtemp(prefix="vidgate-fuzz-")), "http://127.0.0.1:9",
                         VIDGATE_RATE_LIMIT_PER_MINUTE="0")
APP = prepared_app(SETTINGS)
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)


@pytest.fixture
def token() -> str:
    init_extensions(SETTINGS)  # other tests re-point the process-wide extensions between fuzz cases
    return new_token("fuzzer")


@schema.parametrize()
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_route_fails_or_answers_off_the_document(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
