"""Aggregates that need a table of their own: the default totals window (relative to now) and a
redelivery that carries a new receive time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalice.test import Client

from evsessions.contract import format_time
from listener.handler import handler as listener
from tests.functional.conftest import get, load_event, store_sessions


def test_window_defaults_to_the_last_30_days(client: Client) -> None:
    # GIVEN sessions one hour, 29 days and 40 days ago
    now = datetime.now(UTC)
    store_sessions(
        [
            ("CP-1", "1", "recent", format_time(now - timedelta(hours=1))),
            ("CP-1", "1", "month", format_time(now - timedelta(days=29))),
            ("CP-1", "1", "old", format_time(now - timedelta(days=40))),
        ]
    )
    # WHEN totals are asked for without a window, per day and per hour
    status, day = get(client, "/totals")
    _, hour = get(client, "/totals?bucket=hour")
    # THEN the window is the 30 days before now, widened to whole buckets
    assert status == 200
    assert day["totals"]["sessions"] == 2
    assert hour["totals"]["sessions"] == 2
    start, end = (datetime.fromisoformat(day[k]) for k in ("from", "to"))
    assert timedelta(days=30) <= end - start <= timedelta(days=31)
    assert start <= now - timedelta(days=30) < now < end


def test_redelivery_with_a_new_receive_time_counts_once_everywhere(client: Client) -> None:
    # GIVEN the original challenge's message (no ended_at: it ended when IoT received it), over
    # an hour (its 45 s make it suspect, counted apart: see test_integrity)
    original = {**load_event("iot_rule_original.json"), "duration_in_seconds": 3600}
    assert listener(original, None)["status"] == "stored"
    # WHEN AWS IoT re-sends it a minute later (same identity, new receive time)
    again = {**original, "received_at": original["received_at"] + 60_000}
    assert listener(again, None)["status"] == "duplicate"
    # THEN every total counts it once, and the charger's last session is the stored one
    _, session = get(client, "/sessions/1/1/1")
    _, totals = get(client, "/totals?from=2025-11-27&to=2025-11-28&bucket=hour")
    _, chargers = get(client, "/chargers")
    assert totals["totals"]["sessions"] == 1
    assert [b["sessions"] for b in totals["buckets"]] == [1]
    [charger] = chargers["chargers"]
    assert charger["sessions"] == 1
    assert charger["connectors"][0]["sessions"] == 1
    assert charger["last_session_ended_at"] == session["ended_at"]
    assert charger["connectors"][0]["last_session_ended_at"] == session["ended_at"]
