"""schemathesis against the API over real HTTP, reading the schema the running server serves.

The unchanged Chalice app runs in the emulator's HTTP server (local_runner.services.api_server)
on a free port, in this process, on a moto table holding a few sessions. schemathesis loads
/openapi.json from it, generates valid and invalid requests for every operation (its Python API:
a Hypothesis strategy per operation) and runs every check it has (`CHECKS`): no 5xx, every
response conforms to the documented status codes, headers, content types and schemas, invalid
input is refused with a 4xx, and schema-valid input is accepted (`positive_data_acceptance`).
(Its pytest loader `schemathesis.pytest.from_fixture` fails under pytest 9: it sets
`request.node._nodeid`, which pytest 9 no longer has.)

The document says in its schemas what OpenAPI 3.0 can say: identifier patterns, limit bounds,
the years 2000-2099, the cursor's shape. A few rules span several parameters, or a parameter and
the clock, which no parameter schema can express; the document states them in the operations'
descriptions, and `rule_beyond_the_schema` names the one a generated request breaks: for exactly
those requests the acceptance check is skipped (every other check still runs).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS, load_all_checks, positive_data_acceptance
from schemathesis.generation import GenerationMode

from api.openapi import DEFAULT_TOTALS_WINDOW_DAYS, MAX_BUCKETS
from local_runner.services.api_server import ApiServer
from tests.functional.conftest import DOCUMENT, serving_api

MAX_EXAMPLES = 30
"""Per operation and mode: enough to reach every parameter's edges, small enough to stay fast."""

ROWS = [
    ("1", "1", "1", "2026-11-01T10:00:00Z"),
    ("1", "2", "2", "2026-10-31T23:00:00Z"),
    ("CP-7", "1", "abc", "2026-11-02T12:30:00.250Z"),
]
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
BUCKET_WIDTH = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def _moment(raw: str) -> datetime:
    """A time parameter as the API reads it: ISO 8601 with an offset, or a date (midnight UTC)."""
    return datetime.fromisoformat(f"{raw}T00:00:00+00:00" if len(raw) == 10 else raw)


def rule_beyond_the_schema(path: str, query: Mapping[str, Any], now: datetime) -> str | None:
    """The documented rule a schema-valid request breaks that its schema cannot express, if any."""
    if "cursor" in query:
        return "only cursors the API signed are valid; no schema can tell a signed one"
    times = {name: _moment(str(query[name])) for name in ("from", "to") if name in query}
    for name, moment in times.items():
        if not EARLIEST <= moment < LATEST:
            return f"{name} is a time in 2000-2099 once its offset is applied (a pattern cannot)"
    if path == "/sessions" and "connector" in query and "charger" not in query:
        return "connector needs charger"
    start, end = times.get("from"), times.get("to")
    if path == "/totals":
        end = end or now
        start = start or end - timedelta(days=DEFAULT_TOTALS_WINDOW_DAYS)
        bucket = str(query.get("bucket", "day"))
        if start < end and (end - start) / BUCKET_WIDTH[bucket] > MAX_BUCKETS[bucket]:
            return f"a window holds at most {MAX_BUCKETS[bucket]} {bucket}s"
    if start is not None and end is not None and start >= end:
        return "from must be earlier than to (to defaults to now for /totals)"
    return None


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


def every_check() -> list[Any]:
    load_all_checks()
    return list(CHECKS.get_all())


def test_every_check_runs_acceptance_included() -> None:
    assert positive_data_acceptance in every_check()


@pytest.mark.parametrize(("mode", "method", "path"), CASES)
def test_api_conforms_to_its_openapi_document(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode, method: str, path: str
) -> None:
    # GIVEN requests schemathesis generates for one operation from the served /openapi.json,
    # valid ones or deliberately invalid ones
    operation = api_schema[path][method]
    checks = every_check()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def send(case: schemathesis.Case) -> None:
        # WHEN each is sent to the running API
        # THEN every check passes; acceptance of schema-valid input is not asked of a request
        # that breaks a documented rule beyond the schema
        beyond = mode is GenerationMode.POSITIVE and rule_beyond_the_schema(
            path, case.query or {}, datetime.now(UTC)
        )
        excluded = [positive_data_acceptance] if beyond else []
        case.call_and_validate(checks=checks, excluded_checks=excluded)

    send()


@pytest.mark.parametrize(
    ("path", "query", "rule"),
    [
        ("/sessions", {"connector": "1"}, "connector needs charger"),
        ("/sessions", {"from": "2026-11-02", "to": "2026-11-01"}, "from must be earlier"),
        ("/chargers", {"cursor": "eyJw.abc"}, "signed"),
        ("/totals", {"from": "2026-01-01", "to": "2026-03-01", "bucket": "hour"}, "744 hours"),
        ("/totals", {"from": "2024-01-01", "to": "2026-03-01"}, "732 days"),
        ("/totals", {"from": "2099-12-31"}, "from must be earlier"),
        ("/sessions", {"from": "2000-01-01T00:30:00+01:00"}, "2000-2099"),
    ],
)
def test_each_rule_beyond_the_schema_is_a_400_and_named(
    server: ApiServer, path: str, query: dict[str, str], rule: str
) -> None:
    # GIVEN a schema-valid request that breaks one rule the schema cannot express
    url = f"{server.url}{path}?{urllib.parse.urlencode(query)}"
    # WHEN it is sent
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    # THEN the API refuses it, and the exclusion above names that rule (and nothing wider)
    assert refused.value.code == 400
    named = rule_beyond_the_schema(path, query, datetime.now(UTC))
    assert named is not None and rule in named


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/sessions", {"charger": "1", "connector": "1"}),
        ("/sessions", {"from": "2026-11-01", "to": "2026-11-02"}),
        ("/totals", {"from": "2026-01-01", "to": "2026-01-31", "bucket": "hour"}),
        ("/totals", {"from": "2025-01-01", "to": "2026-03-01"}),
        ("/sessions", {"from": "2000-01-01T00:30:00-01:00"}),
    ],
)
def test_requests_that_keep_the_rules_are_not_excluded(path: str, query: dict[str, str]) -> None:
    assert rule_beyond_the_schema(path, query, datetime.now(UTC)) is None
