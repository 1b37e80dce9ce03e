"""Billing-grade sessions: what a sender was told is accepted is stored and visible, suspect ones
counted apart from revenue until an operator resolves them, exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from api.app import app
from evsessions.contract import SessionKey
from evsessions.dynamodb.store import cached_store
from evsessions.integrity import Resolution
from evsessions.settings import Settings
from evsessions.storage import ResolutionRefused
from listener.handler import handle_batch
from local_runner.services.events import sqs_event
from tests.functional.conftest import API_DIR, call, rule_event

OPERATOR_KEY = "operator-key-for-tests-0123456789"
DAY = "/totals?from=2025-11-27&to=2025-11-28"
CLEAN = rule_event("1", "1", "1", "2025-11-27T10:00:00Z")
"""42.125 kWh in 52 minutes, 16.93 EUR: plausible."""
RECEIVED_MS = 1_764_237_600_000 + 5_000  # 2025-11-27T10:00:05Z


def suspect(session: str, **changes: Any) -> dict[str, Any]:
    event = rule_event("1", "1", session, "2025-11-27T10:00:00Z")
    event.update(changes)
    return event


CASES = {
    "clock_ahead": suspect("2", ended_at="2025-11-30T10:00:00Z"),
    "end_before_start": suspect("3", started_at="2025-11-27T11:00:00Z"),
    "meter_regression": suspect("4", energy_delivered_in_kWh=-5.0, session_cost_in_cents=50),
    "duration_above_limit": suspect("5", duration_in_seconds=691_200),
    "energy_above_limit": suspect("6", energy_delivered_in_kWh=1200, duration_in_seconds=36_000),
}
"""The issue's field cases, each once, as the rule hands them to the listener."""


def batch(*events: dict[str, Any]) -> dict[str, Any]:
    return sqs_event("SessionQueue", [(str(i), e, RECEIVED_MS, 1) for i, e in enumerate(events)])


@pytest.fixture
def stored(sessions_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setenv("OPERATOR_KEY", OPERATOR_KEY)
    assert handle_batch(batch(CLEAN, *CASES.values()), None) == {"batchItemFailures": []}
    with Client(app, stage_name="dev", project_dir=str(API_DIR)) as client:
        yield client


def resolve(client: Client, session: str, body: Any, key: str | None = OPERATOR_KEY) -> Any:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["x-operator-key"] = key
    response = client.http.post(
        f"/sessions/1/1/{session}/resolution", headers=headers, body=json.dumps(body)
    )
    text = response.body.decode()
    assert "Traceback" not in text
    return response.status_code, json.loads(text)


def test_every_field_case_is_stored_and_visible_none_dead_lettered(stored: Client) -> None:
    # GIVEN the batch above WHEN each session is read THEN it is there with its reason
    for code, event in CASES.items():
        reply = call(stored, f"/sessions/1/1/{event['session_id']}")
        assert reply.status == 200
        assert reply.body["verdict"] == "suspect"
        assert [f["code"] for f in reply.body["findings"]] == [code]
        assert reply.body["raw"]["session_id"] == event["session_id"]
    assert call(stored, "/sessions/1/1/1").body["verdict"] == "clean"


def test_suspect_sessions_are_counted_apart_from_revenue(stored: Client) -> None:
    report = call(stored, DAY).body
    # THEN revenue holds the clean session alone, the suspect totals the five others
    assert report["totals"]["sessions"] == 1
    assert report["totals"]["cost_cents"] == 1693
    assert report["suspect"]["sessions"] == 5
    # AND a charger's totals and its daily sum say the same
    [charger] = call(stored, "/chargers").body["chargers"]
    assert (charger["sessions"], charger["suspect"]["sessions"]) == (1, 5)
    assert charger["connectors"][0]["sessions"] == 1
    by_charger = call(stored, DAY + "&charger=1").body
    assert (by_charger["totals"]["sessions"], by_charger["suspect"]["sessions"]) == (1, 5)
    # AND health counts the open ones, which review=open lists
    assert call(stored, "/health").body["suspect_sessions_open"] == 5
    listed = call(stored, "/sessions?review=open").body["sessions"]
    assert sorted(s["session_id"] for s in listed) == ["2", "3", "4", "5", "6"]
    assert len(call(stored, "/sessions?review=open&charger=1&connector=1").body["sessions"]) == 5
    assert call(stored, "/sessions?review=open&charger=2").body["sessions"] == []
    assert len(call(stored, "/sessions?verdict=clean").body["sessions"]) == 1
    assert len(call(stored, "/sessions?charger=1&verdict=suspect").body["sessions"]) == 5


def test_accept_moves_a_session_into_revenue_exactly_once(stored: Client) -> None:
    # WHEN an operator accepts the 1,200 kWh depot session
    status, body = resolve(stored, "6", {"action": "accept", "reason": "depot bus, confirmed"})
    # THEN it is recorded with when and why, and counts in revenue now
    assert status == 200
    assert body["resolution"]["action"] == "accept"
    assert body["resolution"]["reason"] == "depot bus, confirmed"
    assert body["counts_as"] == "clean"
    report = call(stored, DAY).body
    assert (report["totals"]["sessions"], report["suspect"]["sessions"]) == (2, 4)
    assert report["totals"]["energy_kWh"] == 1242.125
    assert call(stored, "/health").body["suspect_sessions_open"] == 4
    # AND a second decision is refused, naming the first, and changes nothing
    status, body = resolve(stored, "6", {"action": "void", "reason": "again"})
    assert status == 409
    assert "accept" in body["message"]
    assert call(stored, DAY).body["totals"]["sessions"] == 2


def test_correct_bills_the_given_values_and_keeps_the_original(stored: Client) -> None:
    values = {
        "energy_delivered_in_kWh": 10,
        "duration_in_seconds": 3600,
        "session_cost_in_cents": 440,
    }
    status, body = resolve(
        stored, "4", {"action": "correct", "reason": "meter replaced", "values": values}
    )
    assert status == 200
    assert body["energy_delivered_in_kWh"] == 10
    assert body["resolution"]["original"]["energy_delivered_in_kWh"] == 0
    report = call(stored, DAY).body
    assert report["totals"]["cost_cents"] == 1693 + 440
    assert report["suspect"]["sessions"] == 4
    [charger] = call(stored, "/chargers").body["chargers"]
    assert charger["cost_cents"] == 1693 + 440
    assert call(stored, DAY + "&charger=1").body["totals"]["cost_cents"] == 1693 + 440


def test_void_counts_nowhere(stored: Client) -> None:
    assert resolve(stored, "5", {"action": "void", "reason": "a test session"})[0] == 200
    report = call(stored, DAY).body
    assert (report["totals"]["sessions"], report["suspect"]["sessions"]) == (1, 4)
    assert call(stored, DAY + "&charger=1").body["suspect"]["sessions"] == 4
    assert 5 not in [
        s["session_id"] for s in call(stored, "/sessions?review=open").body["sessions"]
    ]


@pytest.mark.parametrize(
    ("session", "body", "key", "status"),
    [
        ("6", {"action": "accept", "reason": "ok"}, None, 401),
        ("6", {"action": "accept", "reason": "ok"}, "wrong", 401),
        ("1", {"action": "accept", "reason": "ok"}, OPERATOR_KEY, 409),
        ("99", {"action": "accept", "reason": "ok"}, OPERATOR_KEY, 404),
        ("6", {"action": "approve", "reason": "ok"}, OPERATOR_KEY, 400),
        ("6", {"action": "accept"}, OPERATOR_KEY, 400),
        ("6", {"action": "accept", "reason": "ok", "values": {}}, OPERATOR_KEY, 400),
        ("6", {"action": "correct", "reason": "ok", "values": {"x": 1}}, OPERATOR_KEY, 400),
        ("6", [1, 2], OPERATOR_KEY, 400),
    ],
)
def test_a_resolution_that_cannot_be_made_says_why_and_changes_nothing(
    stored: Client, session: str, body: Any, key: str | None, status: int
) -> None:
    assert resolve(stored, session, body, key)[0] == status
    assert call(stored, "/health").body["suspect_sessions_open"] == 5


def test_without_an_operator_key_writes_are_off(
    stored: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPERATOR_KEY")
    status, body = resolve(stored, "6", {"action": "accept", "reason": "ok"})
    assert status == 403
    assert "OPERATOR_KEY" in body["message"]


def test_a_redelivered_suspect_message_counts_once(stored: Client) -> None:
    assert handle_batch(batch(*CASES.values()), None) == {"batchItemFailures": []}
    assert call(stored, DAY).body["suspect"]["sessions"] == 5
    assert call(stored, "/health").body["suspect_sessions_open"] == 5


def test_of_two_operators_deciding_at_once_one_wins(
    stored: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a second operator who read the depot session before the first one decided
    store = cached_store(Settings.from_env())
    key = SessionKey("1", "1", "6")
    stale = store.get(key)
    assert resolve(stored, "6", {"action": "accept", "reason": "first"})[0] == 200
    read, first_read = store.get, iter([stale])

    def get(key: SessionKey, occurrence: int = 1, consistent: bool = False) -> Any:
        """The stale read first, then what is stored."""
        return next(first_read, None) or read(key, occurrence, consistent)

    monkeypatch.setattr(store, "get", get)
    # WHEN the second decides on what they read THEN the transaction's condition refuses it
    with pytest.raises(ResolutionRefused) as refused:
        store.resolve(key, 1, Resolution("void", datetime.now(UTC), "second", "operator"))
    assert refused.value.session.resolution is not None
    assert refused.value.session.resolution.action == "accept"
    # AND the totals moved once
    report = call(stored, DAY).body
    assert (report["totals"]["sessions"], report["suspect"]["sessions"]) == (2, 4)
    assert call(stored, "/health").body["suspect_sessions_open"] == 4
