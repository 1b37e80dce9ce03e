"""The Chalice query API in-process, reading sessions the listener stored in moto's table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from api.app import app
from listener.handler import handler as listener
from local_runner.template import load_template
from tests.functional.conftest import ROOT, load_event

# (charger, connector, session, ended_at): stored in this order, which is not time order.
STORED = [
    ("1", "1", "1001", "2025-11-27T18:01:00Z"),
    ("2", "1", "1002", "2025-11-27T18:05:00Z"),
    ("1", "2", "1003", "2025-10-31T23:59:59Z"),  # the month before: another ByMonth partition
    ("3", "1", "1004", "2025-11-27T18:03:00Z"),
    ("1", "1", "1005", "2025-11-27T18:04:00.500Z"),
]
NEWEST_FIRST = ["1002", "1005", "1004", "1001", "1003"]


def rule_event(charger: str, connector: str, session: str, ended_at: str) -> dict[str, Any]:
    event = load_event("iot_rule_with_ended_at.json")
    event.update(
        session_id=session,
        topic=f"charger/{charger}/connector/{connector}/session/{session}",
        ended_at=ended_at,
    )
    return event


@pytest.fixture
def client(sessions_table: str) -> Iterator[Client]:
    with Client(app, stage_name="dev", project_dir=str(ROOT / "functions" / "api")) as test_client:
        yield test_client


@pytest.fixture
def stored(sessions_table: str) -> None:
    for row in STORED:
        assert listener(rule_event(*row), None)["status"] == "stored"
    # the original challenge's message too: session id 1 as a number, time from the rule
    assert listener(load_event("iot_rule_original.json"), None)["status"] == "stored"


def get(client: Client, path: str) -> tuple[int, Any]:
    response = client.http.get(path)
    body = response.body.decode("utf-8")
    assert "Traceback" not in body
    assert "SessionsTable" not in body
    return response.status_code, json.loads(body)


def session_ids(body: dict[str, Any]) -> list[str]:
    return [str(s["session_id"]) for s in body["sessions"]]


# --- health and routes --------------------------------------------------------------------------


def test_health_reports_the_database_reachable(client: Client) -> None:
    assert get(client, "/health") == (200, {"status": "ok", "database": "reachable"})


def test_health_is_503_when_the_table_is_missing(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONS_TABLE", "NotCreatedYet")
    status, body = get(client, "/health")
    assert status == 503
    assert body == {"status": "unavailable", "database": "unreachable"}


def test_app_serves_exactly_the_templates_routes() -> None:
    # GIVEN the routes template.yaml gives API Gateway
    declared = {
        (route.method, route.path)
        for route in load_template(ROOT / "template.yaml").functions["ApiFunction"].routes
    }
    # THEN the Chalice app has the same ones
    served = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert served == declared


# --- /sessions ----------------------------------------------------------------------------------


def test_sessions_empty_table(client: Client) -> None:
    assert get(client, "/sessions") == (200, {"sessions": [], "count": 0})


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
    assert get(client, "/sessions?charger=99") == (200, {"sessions": [], "count": 0})


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
            "received_at": "2025-11-27T18:34:10.500Z",
        }
    ]


# --- /sessions/{charger}/{connector}/{session} --------------------------------------------------


def test_one_session_by_identity(client: Client, stored: None) -> None:
    # GIVEN the original challenge's message, stored by the listener
    # WHEN it is fetched by its identity
    status, body = get(client, "/sessions/1/1/1")
    # THEN its fields come back as the charger sent them
    assert status == 200
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
