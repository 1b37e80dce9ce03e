"""Properties of the API over moto, for random sessions: windows, paging, totals and chargers.

For each drawn set of sessions (some delivered twice, some reusing the previous one's session id
with other content), the API must list exactly the sessions whose end is in [from, to), newest
first, each once across pages; and its totals, charger summaries and reuse count must be what the
in-memory adapter computes from the same sessions. Kept small: moto
copies the table in every transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from api.app import app, totals_json
from evsessions.contract import format_time, parse_session
from evsessions.dynamodb.store import cached_store
from evsessions.storage import InMemorySessionStore, Totals, bucket_start
from listener.handler import handler as listener
from tests.functional.conftest import (
    API_DIR,
    REGION,
    create_sessions_table,
    get,
    rule_event,
    set_aws_environment,
)

T0 = datetime(2025, 10, 20, tzinfo=UTC)
SPAN_MS = 30 * 24 * 3600 * 1000  # 30 days from T0: across the October / November boundary
Row = tuple[str, str, str, str]


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Client, pytest.MonkeyPatch]]:
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        set_aws_environment(monkeypatch)
        create_sessions_table(monkeypatch)
        cached_store.cache_clear()
        with Client(app, stage_name="dev", project_dir=str(API_DIR)) as client:
            yield client, monkeypatch


def fresh_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty the table between examples (recreated under the same name). The store is made anew:
    it remembers the end times it wrote, which a deleted table no longer has."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.delete_table(TableName="SessionsTable")
    create_sessions_table(monkeypatch)
    cached_store.cache_clear()


def moment(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


# Moments bunch on a few minutes so that ties in time are common.
moments = st.one_of(
    st.integers(min_value=0, max_value=SPAN_MS),
    st.sampled_from([0, 60_000, 11 * 24 * 3600 * 1000, SPAN_MS]),
)


@st.composite
def sessions(draw: st.DrawFn) -> list[tuple[Row, bool]]:
    """Up to 7 sessions, each with whether it is delivered twice; a session may reuse the
    previous one's identity (its charger restarted its ids), with its own end time."""
    drawn = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["A", "B", "C10"]), st.sampled_from("12"), moments, st.booleans()
            ),
            max_size=7,
        )
    )
    twice = draw(st.lists(st.booleans(), min_size=len(drawn), max_size=len(drawn)))
    rows: list[tuple[Row, bool]] = []
    for i, ((charger, connector, ms, reuse), again) in enumerate(zip(drawn, twice, strict=True)):
        identity = rows[-1][0][:3] if reuse and rows else (charger, connector, f"s{i}")
        rows.append(((*identity, format_time(moment(ms))), again))
    return rows


@st.composite
def listings(draw: st.DrawFn) -> tuple[str | None, str | None, int | None, int | None, int]:
    charger = draw(st.none() | st.sampled_from(["A", "B", "C10"]))
    connector = draw(st.none() | st.sampled_from("12")) if charger else None
    start = draw(st.none() | moments)
    end = draw(st.none() | moments)
    return charger, connector, start, end, draw(st.integers(min_value=1, max_value=4))


def page_through(client: Client, path: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    cursor: str | None = None
    for _ in range(40):
        status, body = get(client, path + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        found += [(str(s["session_id"]), s["occurrence"]) for s in body["sessions"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError(f"paging {path} does not end")


@settings(
    max_examples=10,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stored=sessions(), queries=st.lists(listings(), min_size=1, max_size=4))
def test_listing_totals_and_chargers_match_the_sessions(
    world: tuple[Client, pytest.MonkeyPatch],
    stored: list[tuple[Row, bool]],
    queries: list[tuple[str | None, str | None, int | None, int | None, int]],
) -> None:
    client, monkeypatch = world
    fresh_table(monkeypatch)
    # GIVEN random sessions stored by the listener, some delivered a second time, some under
    # a reused id: each outcome is the in-memory adapter's
    memory = InMemorySessionStore()
    for row, again in stored:
        event = message(row)
        expected_outcome = memory.save(parse_session(event)).value
        assert listener(event, None)["status"] == expected_outcome
        if again:
            assert listener(event, None)["status"] == "duplicate"
    every = list(memory.sessions.values())

    for charger, connector, start, end, limit in queries:
        # WHEN a window (and maybe a charger or connector) is paged through `limit` at a time
        params = [f"limit={limit}"]
        params += [f"charger={charger}"] if charger else []
        params += [f"connector={connector}"] if connector else []
        params += [f"from={quote(format_time(moment(start)))}"] if start is not None else []
        params += [f"to={quote(format_time(moment(end)))}"] if end is not None else []
        path = "/sessions?" + "&".join(params)
        if start is not None and end is not None and start >= end:
            # THEN an empty or inverted window is a 400
            assert get(client, path)[0] == 400
            continue
        found = page_through(client, path)
        # THEN it is exactly the sessions that ended in [from, to), newest first, each once
        expected = sorted(
            (
                s
                for s in every
                if charger in (None, s.key.charger_id)
                and connector in (None, s.key.connector_id)
                and (start is None or s.ended_at >= moment(start))
                and (end is None or s.ended_at < moment(end))
            ),
            key=lambda s: (s.ended_at, s.key, s.occurrence),
            reverse=True,
        )
        assert found == [(s.key.session_id, s.occurrence) for s in expected], path

    # AND the day totals and charger summaries are what the in-memory adapter computes
    first, last = bucket_start(T0, "day"), bucket_start(moment(SPAN_MS), "day")
    for charger in (None, "A"):
        query = "&charger=A" if charger else ""
        _, body = get(client, f"/totals?from={first}&to={last}T23:59:59Z{query}")
        buckets = memory.totals(charger, "day", first, last)
        assert [
            (b["start"][:10], b["sessions"], b["suspect"]["sessions"]) for b in body["buckets"]
        ] == [(b.start, b.totals.sessions, b.suspect.sessions) for b in buckets]
        overall, suspect = Totals(), Totals()
        for bucket in buckets:
            overall, suspect = overall.add(bucket.totals), suspect.add(bucket.suspect)
        assert body["totals"] == totals_json(overall)
        assert body["suspect"] == totals_json(suspect)
    _, chargers = get(client, "/chargers")
    summaries, _ = memory.chargers(500, None)
    assert chargers["chargers"] == [summary_json(s) for s in summaries]
    health = get(client, "/health")[1]
    assert health["reused_session_ids"] == memory.fleet_counts().reused_session_ids
    assert health["suspect_sessions_open"] == memory.fleet_counts().open_suspects


def message(row: Row) -> dict[str, Any]:
    """The rule's output for a row: a session ending on an odd second is suspect (45 s for its
    42 kWh: far above any charger's power), so suspect ones mix with clean ones."""
    event = rule_event(*row)
    if int(row[3][17:19]) % 2:
        event["duration_in_seconds"] = 45
    return event


def summary_json(summary: Any) -> dict[str, Any]:
    return {
        "charger_id": summary.charger_id,
        **totals_json(summary.totals),
        "suspect": totals_json(summary.suspect),
        "last_session_ended_at": summary.last_ended_at,
        "connectors": [
            {
                "connector_id": c.connector_id,
                **totals_json(c.totals),
                "last_session_ended_at": c.last_ended_at,
            }
            for c in summary.connectors
        ],
    }
