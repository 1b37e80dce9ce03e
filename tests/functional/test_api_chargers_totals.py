"""GET /chargers and GET /totals: aggregates kept at write time, each message counted once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from api.app import app
from evsessions.contract import format_time
from evsessions.dynamodb.store import cached_store
from listener.handler import handler as listener
from tests.functional.conftest import (
    API_DIR,
    create_sessions_table,
    get,
    rule_event,
    set_aws_environment,
)

# (charger, connector, session, ended_at, kWh, seconds, cents). Charger ids sort as text:
# CP-1 < CP-10 < CP-2. CP-2's session f is in the month before the others.
SESSIONS = [
    ("CP-1", "1", "a", "2025-11-27T18:05:00Z", "10.5", 600, 500),
    ("CP-1", "1", "b", "2025-11-27T18:55:00Z", "20", 1200, 900),
    ("CP-1", "2", "c", "2025-11-27T19:10:00Z", "7.25", 300, 350),
    ("CP-1", "2", "d", "2025-11-28T09:00:00Z", "30", 1800, 1500),
    ("CP-2", "1", "e", "2025-11-27T18:30:00Z", "12", 900, 600),
    ("CP-2", "1", "f", "2025-10-31T23:30:00Z", "5", 100, 200),
    ("CP-10", "1", "g", "2025-11-28T10:00:00Z", "1.125", 60, 50),
]


def message(row: tuple[str, str, str, str, str, int, int]) -> dict[str, Any]:
    charger, connector, session, ended_at, kwh, seconds, cents = row
    event = rule_event(charger, connector, session, ended_at)
    energy = float(kwh)
    event.update(
        energy_delivered_in_kWh=int(energy) if energy.is_integer() else energy,
        duration_in_seconds=seconds,
        session_cost_in_cents=cents,
    )
    return event


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """Every session delivered twice (QoS 1 redelivers): the second is always a duplicate."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        set_aws_environment(monkeypatch)
        create_sessions_table(monkeypatch)
        cached_store.cache_clear()
        for row in SESSIONS:
            assert listener(message(row), None)["status"] == "stored"
        for row in SESSIONS:
            assert listener(message(row), None)["status"] == "duplicate"
        with Client(app, stage_name="dev", project_dir=str(API_DIR)) as test_client:
            yield test_client


def totals_of(rows: list[tuple[str, str, str, str, str, int, int]]) -> dict[str, Any]:
    """What the API reports for a set of sessions, computed from the rows."""
    energy = sum((Decimal(r[4]) for r in rows), Decimal(0))
    seconds = sum(r[5] for r in rows)
    return {
        "sessions": len(rows),
        "energy_kWh": int(energy) if energy == energy.to_integral_value() else float(energy),
        "cost_cents": sum(r[6] for r in rows),
        "average_duration_seconds": round(seconds / len(rows), 1) if rows else 0,
    }


def last_end(rows: list[tuple[str, str, str, str, str, int, int]]) -> str:
    return max(format_time(datetime.fromisoformat(r[3])) for r in rows)


NO_SUSPECT = {"sessions": 0, "energy_kWh": 0, "cost_cents": 0, "average_duration_seconds": 0}
"""Every session here is plausible: nothing counted apart (see test_integrity)."""


def expected_charger(charger: str) -> dict[str, Any]:
    rows = [r for r in SESSIONS if r[0] == charger]
    connectors = sorted({r[1] for r in rows})
    return {
        "charger_id": charger,
        **totals_of(rows),
        "suspect": NO_SUSPECT,
        "last_session_ended_at": last_end(rows),
        "connectors": [
            {
                "connector_id": n,
                **totals_of([r for r in rows if r[1] == n]),
                "last_session_ended_at": last_end([r for r in rows if r[1] == n]),
            }
            for n in connectors
        ],
    }


def in_window(start: str, end: str, charger: str | None = None) -> list[Any]:
    low, high = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return [
        r
        for r in SESSIONS
        if low <= datetime.fromisoformat(r[3]) < high and charger in (None, r[0])
    ]


# --- /chargers ----------------------------------------------------------------------------------


def test_chargers_with_connectors_lifetime_totals_and_last_end(client: Client) -> None:
    # GIVEN seven sessions on three chargers, each message delivered twice
    # WHEN the chargers are listed
    status, body = get(client, "/chargers")
    # THEN each charger comes once, in id order, with its connectors, totals counted once and the
    # end of its latest session
    assert status == 200
    assert [c["charger_id"] for c in body["chargers"]] == ["CP-1", "CP-10", "CP-2"]
    assert body["chargers"] == [expected_charger(c) for c in ("CP-1", "CP-10", "CP-2")]
    assert body["next_cursor"] is None


def test_one_charger_spelled_out(client: Client) -> None:
    # GIVEN charger CP-1's four sessions on two connectors
    _, body = get(client, "/chargers?limit=1")
    # THEN the numbers are the sums, the average duration is per session
    assert body["chargers"] == [
        {
            "charger_id": "CP-1",
            "sessions": 4,
            "energy_kWh": 67.75,
            "cost_cents": 3250,
            "average_duration_seconds": 975.0,
            "suspect": NO_SUSPECT,
            "last_session_ended_at": "2025-11-28T09:00:00.000Z",
            "connectors": [
                {
                    "connector_id": "1",
                    "sessions": 2,
                    "energy_kWh": 30.5,
                    "cost_cents": 1400,
                    "average_duration_seconds": 900.0,
                    "last_session_ended_at": "2025-11-27T18:55:00.000Z",
                },
                {
                    "connector_id": "2",
                    "sessions": 2,
                    "energy_kWh": 37.25,
                    "cost_cents": 1850,
                    "average_duration_seconds": 1050.0,
                    "last_session_ended_at": "2025-11-28T09:00:00.000Z",
                },
            ],
        }
    ]


@pytest.mark.parametrize(("limit", "pages"), [(1, 3), (2, 2), (3, 1), (500, 1)])
def test_chargers_paged_with_a_cursor(client: Client, limit: int, pages: int) -> None:
    # GIVEN three chargers WHEN they are paged through `limit` at a time
    found: list[str] = []
    cursor = None
    for _ in range(pages):
        path = f"/chargers?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body = get(client, path)
        assert status == 200
        found += [c["charger_id"] for c in body["chargers"]]
        cursor = body["next_cursor"]
    # THEN each comes once, in order, and the last page has no cursor
    assert found == ["CP-1", "CP-10", "CP-2"]
    assert cursor is None


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=abc.def", "cursor"),
        ("charger=CP-1", "charger"),  # /chargers takes no filter
    ],
)
def test_bad_chargers_query_is_400(client: Client, query: str, mentions: str) -> None:
    # GIVEN a query /chargers cannot serve WHEN sent THEN a 400 that names the problem
    status, body = get(client, f"/chargers?{query}")
    assert status == 400, body
    assert mentions in body["message"]


def test_sessions_cursor_is_refused_by_chargers(client: Client) -> None:
    # GIVEN a cursor of /sessions WHEN used for /chargers THEN it is refused
    _, page = get(client, "/sessions?limit=1")
    status, body = get(client, f"/chargers?cursor={page['next_cursor']}")
    assert status == 400
    assert "another query" in body["message"]


# --- /totals ------------------------------------------------------------------------------------


def test_fleet_totals_per_day(client: Client) -> None:
    # GIVEN sessions on the 27th and 28th (and one in October)
    # WHEN fleet totals per day are asked for those two days
    status, body = get(client, "/totals?from=2025-11-27&to=2025-11-29")
    # THEN each day is a bucket with its sessions counted once, and the total adds them up
    assert status == 200
    assert body == {
        "charger": None,
        "bucket": "day",
        "from": "2025-11-27T00:00:00.000Z",
        "to": "2025-11-29T00:00:00.000Z",
        "totals": totals_of(in_window("2025-11-27T00:00Z", "2025-11-29T00:00Z")),
        "suspect": NO_SUSPECT,
        "buckets": [
            {
                "start": "2025-11-27T00:00:00.000Z",
                **totals_of(in_window("2025-11-27T00:00Z", "2025-11-28T00:00Z")),
                "suspect": NO_SUSPECT,
            },
            {
                "start": "2025-11-28T00:00:00.000Z",
                **totals_of(in_window("2025-11-28T00:00Z", "2025-11-29T00:00Z")),
                "suspect": NO_SUSPECT,
            },
        ],
    }
    assert body["totals"]["sessions"] == 6


def test_fleet_totals_per_hour(client: Client) -> None:
    # GIVEN sessions at 18:05, 18:30, 18:55 and 19:10 on the 27th
    # WHEN fleet totals per hour are asked for 18:00 to 20:00
    status, body = get(
        client, "/totals?bucket=hour&from=2025-11-27T18:00:00Z&to=2025-11-27T20:00:00Z"
    )
    # THEN there are two hour buckets, counted once each
    assert status == 200
    assert [(b["start"], b["sessions"]) for b in body["buckets"]] == [
        ("2025-11-27T18:00:00.000Z", 3),
        ("2025-11-27T19:00:00.000Z", 1),
    ]
    assert body["buckets"][0] == {
        "start": "2025-11-27T18:00:00.000Z",
        **totals_of(in_window("2025-11-27T18:00Z", "2025-11-27T19:00Z")),
        "suspect": NO_SUSPECT,
    }
    assert body["totals"] == totals_of(in_window("2025-11-27T18:00Z", "2025-11-27T20:00Z"))


def test_window_inside_an_hour_covers_the_whole_buckets(client: Client) -> None:
    # GIVEN a window from 18:30 to 18:31 WHEN hour totals are asked for
    status, body = get(
        client, "/totals?bucket=hour&from=2025-11-27T18:30:00Z&to=2025-11-27T18:31:00Z"
    )
    # THEN the answer says which buckets it covers: the whole 18:00 hour
    assert status == 200
    assert (body["from"], body["to"]) == ("2025-11-27T18:00:00.000Z", "2025-11-27T19:00:00.000Z")
    assert body["totals"]["sessions"] == 3


def test_totals_of_one_charger(client: Client) -> None:
    # GIVEN CP-1's sessions on two days WHEN its day totals are asked for THEN only its own
    status, body = get(client, "/totals?charger=CP-1&from=2025-11-27&to=2025-11-29")
    assert status == 200
    assert body["charger"] == "CP-1"
    assert [(b["start"][:10], b["sessions"]) for b in body["buckets"]] == [
        ("2025-11-27", 3),
        ("2025-11-28", 1),
    ]
    assert body["totals"] == totals_of(
        in_window("2025-11-27T00:00Z", "2025-11-29T00:00Z", charger="CP-1")
    )


def test_totals_over_two_months_and_of_an_unknown_charger(client: Client) -> None:
    # GIVEN a window over every session WHEN fleet and unknown-charger totals are asked for
    # THEN the fleet's are all sessions counted once, the unknown charger's are zero
    _, fleet = get(client, "/totals?from=2025-10-01&to=2025-12-01")
    assert fleet["totals"] == totals_of(SESSIONS)
    _, unknown = get(client, "/totals?charger=nobody&from=2025-10-01&to=2025-12-01")
    assert unknown["totals"] == totals_of([])
    assert unknown["buckets"] == []


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("bucket=hour&from=2025-11-01&to=2025-12-02", 200),  # 31 days of hours: the most
        ("bucket=hour&from=2025-11-01&to=2025-12-02T01:00:00Z", 400),
        ("bucket=day&from=2024-01-01&to=2026-01-02", 200),  # 732 days: the most
        ("bucket=day&from=2024-01-01&to=2026-01-03", 400),
    ],
)
def test_window_width_limit(client: Client, query: str, status: int) -> None:
    # GIVEN at most 744 hour buckets or 732 day buckets per request
    got, body = get(client, f"/totals?{query}")
    # THEN a wider window is a 400 that says how to narrow it
    assert got == status, body
    if status == 400:
        assert "narrow" in body["message"]


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("bucket=week", "bucket"),
        ("from=2025-11-02&to=2025-11-01", "earlier"),
        ("from=2099-12-01", "earlier"),  # to defaults to now
        ("from=2000-01-01", "narrow"),  # to defaults to now: far too wide
        ("charger=a%20b", "charger"),
        ("limit=5", "limit"),
        ("connector=1", "connector"),
    ],
)
def test_bad_totals_query_is_400(client: Client, query: str, mentions: str) -> None:
    # GIVEN a query /totals cannot serve WHEN sent THEN a 400 that names the problem
    status, body = get(client, f"/totals?{query}")
    assert status == 400, body
    assert mentions in body["message"]
