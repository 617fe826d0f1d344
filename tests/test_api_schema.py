"""schemathesis against /api/openapi.json: for every operation, a bounded number of generated requests (with the
bearer token of a seeded organizer or runner); no 5xx, and every answer matches the document (status, media type,
headers, body schema)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_factories import seed

EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture
def seeded(app, db):
    return seed(app, db)


def test_every_operation_answers_as_documented(app, seeded):
    """Each operation in turn (schemathesis' pytest plugin does not run under pytest 9 yet, so the test walks the
    document's operations itself, one hypothesis run each)."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    assert {("GET", "/api/v1/races/{slug}/roster"), ("POST", "/api/v1/races/{slug}/check-ins")} <= {
        (operation.method.upper(), operation.path) for operation in operations}

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def answers_as_documented(case):
            if "slug" in (case.path_parameters or {}):
                case.path_parameters["slug"] = seeded.race.slug  # an unknown race is just a 404; this one is the rest
            headers = seeded.buyer_headers if case.path.startswith("/api/v1/me/") else seeded.organizer_headers
            # identity: schemathesis' WSGI client reads the body as sent, and the site compresses JSON otherwise
            case.call_and_validate(headers={**headers, "Accept-Encoding": "identity"}, checks=CHECKS)

        answers_as_documented()
