"""The Chalice query API in-process, reading sessions the listener stored in moto's table."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from chalice.test import Client

from api.app import app
from evsessions.contract import parse_session
from evsessions.dynamodb.items import session_item, typed
from listener.handler import handler as listener
from local_runner.services.template import load_template
from tests.functional.conftest import ROOT, get, load_event, rule_event, store_sessions

# (charger, connector, session, ended_at): stored in this order, which is not time order.
STORED = [
    ("1", "1", "1001", "2025-11-27T18:01:00Z"),
    ("2", "1", "1002", "2025-11-27T18:05:00Z"),
    ("1", "2", "1003", "2025-10-31T23:59:59Z"),  # the month before: another ByMonth partition
    ("3", "1", "1004", "2025-11-27T18:03:00Z"),
    ("1", "1", "1005", "2025-11-27T18:04:00.500Z"),
]
NEWEST_FIRST = ["1002", "1005", "1004", "1001", "1003"]
EMPTY_PAGE = {"sessions": [], "count": 0, "next_cursor": None}


@pytest.fixture
def stored(sessions_table: str) -> None:
    store_sessions(STORED)
    # the original challenge's message too: session id 1 as a number, time from the rule
    assert listener(load_event("iot_rule_original.json"), None)["status"] == "stored"


def session_ids(body: dict[str, Any]) -> list[str]:
    return [str(s["session_id"]) for s in body["sessions"]]


# --- health and routes --------------------------------------------------------------------------


def test_health_reports_the_database_reachable(client: Client) -> None:
    status, body = get(client, "/health")
    assert status == 200
    assert body.items() >= {"status": "ok", "database": "reachable"}.items()


def test_health_is_503_when_the_table_is_missing(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONS_TABLE", "NotCreatedYet")
    status, body = get(client, "/health")
    assert status == 503
    assert body == {"status": "unavailable", "database": "unreachable"}


def test_app_serves_exactly_the_templates_routes() -> None:
    # GIVEN the routes template.yaml gives API Gateway (ANY stands for every method)
    declared = {
        (route.method, route.path)
        for route in load_template(ROOT / "template.yaml").functions["ApiFunction"].routes
    }
    # WHEN the Chalice app's routes are listed
    served = {(method, path) for path, methods in app.routes.items() for method in methods}
    # THEN they are the same, the catch-all taking the methods the app gives it
    catch_all = {path for method, path in declared if method == "ANY"}
    assert catch_all == {"/{proxy+}"}
    assert {(m, p) for m, p in served if p not in catch_all} == {
        (m, p) for m, p in declared if m != "ANY"
    }
    assert {m for m, p in served if p in catch_all} >= {"GET", "POST", "PUT", "PATCH", "DELETE"}


# --- /sessions ----------------------------------------------------------------------------------


def test_sessions_empty_table(client: Client) -> None:
    assert get(client, "/sessions") == (200, EMPTY_PAGE)


def test_sessions_newest_first_across_months(client: Client, stored: None) -> None:
    # GIVEN sessions stored out of time order, one in the previous month
    # WHEN the fleet's sessions are listed
    status, body = get(client, "/sessions")
    # THEN they come newest first, and the count matches
    assert status == 200
    assert session_ids(body) == ["1", *NEWEST_FIRST]
    assert body["count"] == 6


def test_sessions_limit(client: Client, stored: None) -> None:
    status, body = get(client, "/sessions?limit=3")
    assert status == 200
    assert session_ids(body) == ["1", "1002", "1005"]
    assert body["count"] == 3


def test_sessions_limit_reaching_into_the_previous_month(client: Client, stored: None) -> None:
    _, body = get(client, "/sessions?limit=6")
    assert session_ids(body)[-1] == "1003"
    assert body["count"] == 6


def test_sessions_of_one_charger(client: Client, stored: None) -> None:
    # GIVEN charger 1 with sessions on two connectors
    # WHEN only charger 1 is asked for
    status, body = get(client, "/sessions?charger=1")
    # THEN only its sessions come, newest first
    assert status == 200
    assert session_ids(body) == ["1", "1005", "1001", "1003"]
    assert {s["charger_id"] for s in body["sessions"]} == {"1"}
    assert body["count"] == 4


def test_sessions_of_one_charger_with_limit(client: Client, stored: None) -> None:
    _, body = get(client, "/sessions?charger=1&limit=2")
    assert session_ids(body) == ["1", "1005"]


def test_sessions_of_an_unknown_charger(client: Client, stored: None) -> None:
    assert get(client, "/sessions?charger=99") == (200, EMPTY_PAGE)


def test_session_json_shape(client: Client, stored: None) -> None:
    _, body = get(client, "/sessions?charger=2")
    assert body["sessions"] == [
        {
            "charger_id": "2",
            "connector_id": "1",
            "session_id": "1002",
            "energy_delivered_in_kWh": 42.125,
            "duration_in_seconds": 3120,
            "session_cost_in_cents": 1693,
            "ended_at": "2025-11-27T18:05:00.000Z",
            "ended_at_source": "payload",
            "received_at": "2025-11-27T18:05:05.000Z",
            "occurrence": 1,
            "verdict": "clean",
            "findings": [],
            "counts_as": "clean",
        }
    ]


def test_a_window_bound_between_milliseconds(client: Client, sessions_table: str) -> None:
    # GIVEN a session that ended at 18:35:00.000 (the store keeps milliseconds)
    store_sessions([("A", "1", "x", "2025-11-27T18:35:00.000Z")])
    # WHEN windows start, or end, half a millisecond after it
    _, starting_after = get(client, f"/sessions?from={quote('2025-11-27T18:35:00.0005Z')}")
    _, ending_after = get(client, f"/sessions?to={quote('2025-11-27T18:35:00.0005Z')}")
    # THEN [from, to) holds: it is before the first window and inside the second
    assert session_ids(starting_after) == []
    assert session_ids(ending_after) == ["x"]


def test_limit_defaults_to_50(client: Client, sessions_table: str, dynamodb: Any) -> None:
    # GIVEN 51 sessions in one month: one stored by the listener (which also records the month
    # in the fleet totals), 50 more session items written beside it in batches
    store_sessions([("A", "1", "n00", "2025-11-27T18:00:00Z")])
    more = [
        parse_session(rule_event("A", "1", f"n{i:02d}", f"2025-11-27T18:{i:02d}:00Z"))
        for i in range(1, 51)
    ]
    for start in range(0, len(more), 25):
        dynamodb.batch_write_item(
            RequestItems={
                sessions_table: [
                    {"PutRequest": {"Item": typed(session_item(s))}}
                    for s in more[start : start + 25]
                ]
            }
        )
    # WHEN no limit is given THEN a page holds the 50 newest and there is a next one
    status, body = get(client, "/sessions")
    assert status == 200
    assert body["count"] == 50
    assert session_ids(body)[0] == "n50"
    assert body["next_cursor"] is not None
    _, rest = get(client, f"/sessions?cursor={body['next_cursor']}")
    assert session_ids(rest) == ["n00"]


# --- /sessions/{charger}/{connector}/{session} --------------------------------------------------


ORIGINAL_FIELDS = (
    "session_id",
    "energy_delivered_in_kWh",
    "duration_in_seconds",
    "session_cost_in_cents",
)


def test_one_session_by_identity(client: Client, stored: None) -> None:
    # GIVEN the original challenge's message, stored by the listener
    # WHEN it is fetched by its identity
    status, body = get(client, "/sessions/1/1/1")
    # THEN its fields come back as the charger sent them, suspect for its 2,400 kW on average
    assert status == 200
    assert body.pop("findings")[0]["code"] == "power_implausible"
    assert body.pop("raw") == {k: body[k] for k in ORIGINAL_FIELDS}
    assert body == {
        "charger_id": "1",
        "connector_id": "1",
        "session_id": 1,
        "energy_delivered_in_kWh": 30,
        "duration_in_seconds": 45,
        "session_cost_in_cents": 70,
        "ended_at": "2025-11-27T18:35:00.000Z",
        "ended_at_source": "received",
        "received_at": "2025-11-27T18:35:00.000Z",
        "occurrence": 1,
        "verdict": "suspect",
        "counts_as": "suspect",
    }


def test_unknown_session_is_404(client: Client, stored: None) -> None:
    status, body = get(client, "/sessions/1/2/1001")
    assert status == 404
    assert body["error"] == "not_found"
    assert "1001" in body["message"]


def test_bad_identifier_in_the_path_is_400(client: Client, stored: None) -> None:
    status, body = get(client, "/sessions/a%23b/1/1")
    assert status == 400
    assert body["error"] == "bad_request"
    assert "charger_id" in body["message"]


# --- bad requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=2.5", "limit"),
        ("limit=", "limit"),
        ("limit=%C2%B2", "limit"),  # a superscript two: str.isdigit() says yes, int() says no
        ("limt=5", "limt"),
        ("charger=a%23b", "charger"),
        (f"charger={'c' * 65}", "charger"),
    ],
)
def test_bad_query_is_400_with_a_reason(client: Client, query: str, mentions: str) -> None:
    # GIVEN a query the API cannot serve
    # WHEN it is asked
    status, body = get(client, f"/sessions?{query}")
    # THEN it is a 400 in the API's error shape that names the problem
    assert status == 400, body
    assert set(body) == {"error", "message"}
    assert body["error"] == "bad_request"
    assert mentions in body["message"]


def test_limit_at_the_maximum_is_accepted(client: Client, stored: None) -> None:
    status, body = get(client, "/sessions?limit=500")
    assert status == 200
    assert body["count"] == 6


def test_unreachable_database_is_503_without_internals(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a session table name the database does not know
    monkeypatch.setenv("SESSIONS_TABLE", "NotCreatedYet")
    # WHEN sessions are listed
    status, body = get(client, "/sessions")
    # THEN the client gets a retryable error that names no internals
    assert status == 503
    assert body["error"] == "unavailable"
    assert "NotCreatedYet" not in body["message"]
