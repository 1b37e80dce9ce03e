"""schemathesis against the API over real HTTP, reading the schema the running server serves.

The unchanged Chalice app runs in the emulator's HTTP server (local_runner.services.api_server) on a
free port, in this process, on a moto table holding a few sessions. schemathesis loads
/openapi.json from it, generates valid and invalid requests for every operation (its Python API:
a Hypothesis strategy per operation) and checks: no 5xx, every response conforms to the
documented status codes, content types and schemas, and invalid input is refused with a 4xx.
(Its pytest loader `schemathesis.pytest.from_fixture` fails under pytest 9: it sets
`request.node._nodeid`, which pytest 9 no longer has.)

`positive_data_acceptance` (schema-valid input must get a 2xx) is left out on purpose: some
rules cannot be said in OpenAPI 3.0 parameters, so a schema-valid request may rightly get a 400:
a connector without its charger, from not before to, a totals window wider than its bucket
limit, a dated window outside 2000-2099, and any cursor that was not made by the API. The
functional tests check that valid requests succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation import GenerationMode

from local_runner.services.api_server import ApiServer
from tests.functional.conftest import DOCUMENT, serving_api

MAX_EXAMPLES = 30
"""Per operation and mode: enough to reach every parameter's edges, small enough to stay fast."""

ROWS = [
    ("1", "1", "1", "2026-11-01T10:00:00Z"),
    ("1", "2", "2", "2026-10-31T23:00:00Z"),
    ("CP-7", "1", "abc", "2026-11-02T12:30:00.250Z"),
]


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with serving_api(ROWS) as api:
        yield api


@pytest.fixture(scope="module")
def api_schema(server: ApiServer) -> schemathesis.BaseSchema:
    """The schema as the running server serves it (not the module: what a client would read)."""
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def operations(mode: GenerationMode) -> list[tuple[str, str]]:
    """(method, path) of every documented operation; for invalid input, those with parameters."""
    return [
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if mode is GenerationMode.POSITIVE or operation.get("parameters")
    ]


CASES = [
    pytest.param(mode, method, path, id=f"{mode.value}-{method} {path}")
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    for method, path in operations(mode)
]


@pytest.mark.parametrize(("mode", "method", "path"), CASES)
def test_api_conforms_to_its_openapi_document(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode, method: str, path: str
) -> None:
    # GIVEN requests schemathesis generates for one operation from the served /openapi.json,
    # valid ones or deliberately invalid ones
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def send(case: schemathesis.Case[Any]) -> None:
        # WHEN each is sent to the running API
        # THEN no 5xx, the response matches the document, and invalid input is a 4xx
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    send()
