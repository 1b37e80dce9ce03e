"""The in-memory store shows the semantics every storage adapter must keep."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evsessions.contract import ChargingSession, SessionKey
from evsessions.storage import (
    BucketTotals,
    FleetCounts,
    InMemorySessionStore,
    SaveOutcome,
    SessionQuery,
    Totals,
)

T0 = datetime(2025, 11, 27, 18, 0, tzinfo=UTC)


def session(
    charger: str, connector: str, session_id: str, minutes: int, cost: int = 70
) -> ChargingSession:
    ended = T0 + timedelta(minutes=minutes)
    return ChargingSession(
        key=SessionKey(charger, connector, session_id),
        session_id=session_id,
        energy_delivered_in_kWh=Decimal("30"),
        duration_in_seconds=45,
        session_cost_in_cents=cost,
        ended_at=ended,
        ended_at_source="payload",
        received_at=ended,
    )


def listed(store: InMemorySessionStore, limit: int = 100, **filters: Any) -> list[str]:
    """Session ids of the first page."""
    page = store.list_sessions(SessionQuery(limit=limit, **filters))
    return [s.key.session_id for s in page.sessions]


def all_pages(
    store: InMemorySessionStore, query: SessionQuery
) -> tuple[list[ChargingSession], int]:
    """Every session of a query, following the positions page by page, and the page count."""
    found: list[ChargingSession] = []
    pages = 0
    while True:
        page = store.list_sessions(query)
        pages += 1
        found += page.sessions
        assert len(page.sessions) <= query.limit
        if page.next is None:
            return found, pages
        query = replace(query, after=page.next)


def test_first_save_is_stored_and_readable() -> None:
    store = InMemorySessionStore()
    first = session("1", "1", "1", 0)
    assert store.save(first) is SaveOutcome.STORED
    assert store.get(first.key) == first


def test_same_identity_and_content_again_is_a_duplicate_that_changes_nothing() -> None:
    # GIVEN a stored session
    store = InMemorySessionStore()
    original = session("1", "1", "1", 0)
    store.save(original)
    # WHEN the same message arrives again, received later (a redelivery or a replay)
    again = replace(original, received_at=T0 + timedelta(hours=1))
    outcome = store.save(again)
    # THEN it is a duplicate, the first version stays and nothing counts twice
    assert outcome is SaveOutcome.DUPLICATE
    assert store.get(original.key) == original
    assert listed(store) == ["1"]
    [day] = store.totals(None, "day", "2025-11-27", "2025-11-27")
    assert day.totals == Totals(1, Decimal("30"), 70, 45)
    [charger], _ = store.chargers(10, None)
    assert charger.totals.sessions == 1
    assert charger.last_ended_at == "2025-11-27T18:00:00.000Z"
    assert store.fleet_counts().reused_session_ids == 0


def test_same_identity_with_other_content_is_the_next_occurrence() -> None:
    # GIVEN a stored session
    store = InMemorySessionStore()
    original = session("1", "1", "1", 0)
    store.save(original)
    # WHEN the charger, its counter restarted, sends another session under the same id
    changed = replace(original, session_cost_in_cents=9_999, ended_at=T0 + timedelta(hours=1))
    outcome = store.save(changed)
    # THEN it is stored as occurrence 2, beside the first, and both count
    assert outcome is SaveOutcome.REUSED
    assert store.get(original.key) == original
    assert store.get(original.key, 2) == replace(changed, occurrence=2)
    assert store.get(original.key, 3) is None
    assert listed(store) == ["1", "1"]
    [day] = store.totals(None, "day", "2025-11-27", "2025-11-27")
    assert day.totals == Totals(2, Decimal("60"), 10_069, 90)
    [charger], _ = store.chargers(10, None)
    assert charger.last_ended_at == "2025-11-27T19:00:00.000Z"
    assert store.fleet_counts().reused_session_ids == 1
    # AND either of them again is a duplicate, never a third occurrence
    assert store.save(replace(changed, received_at=T0)) is SaveOutcome.DUPLICATE
    assert store.save(original) is SaveOutcome.DUPLICATE
    assert store.get(original.key, 3) is None


def test_same_session_id_on_another_connector_is_a_new_session() -> None:
    store = InMemorySessionStore()
    assert store.save(session("1", "1", "7", 0)) is SaveOutcome.STORED
    assert store.save(session("1", "2", "7", 0)) is SaveOutcome.STORED
    assert store.save(session("2", "1", "7", 0)) is SaveOutcome.STORED
    assert len(store.list_sessions(SessionQuery(limit=10)).sessions) == 3


def test_get_of_an_unknown_identity_is_none() -> None:
    assert InMemorySessionStore().get(SessionKey("1", "1", "1")) is None


def test_listing_is_newest_first_and_limited() -> None:
    # GIVEN sessions saved out of time order
    store = InMemorySessionStore()
    for minutes, sid in [(5, "b"), (1, "a"), (9, "d"), (7, "c")]:
        store.save(session("1", "1", sid, minutes))
    # WHEN the most recent are asked for
    # THEN they come newest first, cut at the limit, with a position only when more remain
    assert listed(store, limit=10) == ["d", "c", "b", "a"]
    assert store.list_sessions(SessionQuery(limit=10)).next is None
    page = store.list_sessions(SessionQuery(limit=2))
    assert [s.key.session_id for s in page.sessions] == ["d", "c"]
    assert page.next is not None


def test_listing_filters_by_charger_and_connector() -> None:
    # GIVEN sessions on two chargers, one of them on two connectors
    store = InMemorySessionStore()
    store.save(session("1", "1", "a", 1))
    store.save(session("2", "1", "b", 2))
    store.save(session("1", "2", "c", 3))
    # WHEN one charger, or one connector of it, is asked for
    # THEN only its sessions come back, newest first
    assert listed(store, charger_id="1") == ["c", "a"]
    assert listed(store, charger_id="1", connector_id="1") == ["a"]
    assert listed(store, charger_id="3") == []


def test_window_includes_its_start_and_excludes_its_end() -> None:
    # GIVEN sessions at minutes 0, 10 and 20
    store = InMemorySessionStore()
    for minutes in (0, 10, 20):
        store.save(session("1", "1", str(minutes), minutes))
    # WHEN the window is [10, 20) THEN only the session at 10 is in it
    assert listed(store, start=T0 + timedelta(minutes=10), end=T0 + timedelta(minutes=20)) == ["10"]


def test_paging_returns_every_session_once_newest_first() -> None:
    # GIVEN seven sessions, two of them ending at the same moment
    store = InMemorySessionStore()
    for sid, minutes in [("a", 1), ("b", 2), ("c", 2), ("d", 3), ("e", 4), ("f", 5), ("g", 6)]:
        store.save(session("1", sid, sid, minutes))
    # WHEN they are read two at a time, following the positions
    found, pages = all_pages(store, SessionQuery(limit=2))
    # THEN every session comes once, newest first (ties broken by identity), in four pages
    assert [s.key.session_id for s in found] == ["g", "f", "e", "d", "c", "b", "a"]
    assert pages == 4


def test_totals_per_bucket_and_charger() -> None:
    # GIVEN sessions in two hours of one day, on two chargers
    store = InMemorySessionStore()
    store.save(session("1", "1", "a", 10, cost=100))
    store.save(session("2", "1", "b", 20, cost=200))
    store.save(session("1", "1", "c", 70, cost=400))
    # WHEN totals are asked per hour for the fleet, and per day for charger 1
    hours = store.totals(None, "hour", "2025-11-27T00", "2025-11-27T23")
    days = store.totals("1", "day", "2025-11-27", "2025-11-27")
    # THEN each bucket with data is there, in time order, counting each session once
    assert [(b.start, b.totals.sessions, b.totals.cost_cents) for b in hours] == [
        ("2025-11-27T18", 2, 300),
        ("2025-11-27T19", 1, 400),
    ]
    assert days == [BucketTotals("2025-11-27", Totals(2, Decimal("60"), 500, 90))]
    assert store.totals(None, "day", "2025-11-28", "2025-12-31") == []


def test_chargers_with_connectors_lifetime_totals_and_last_end() -> None:
    # GIVEN three chargers, charger 1 with two connectors
    store = InMemorySessionStore()
    store.save(session("1", "2", "a", 30))
    store.save(session("1", "1", "b", 10))
    store.save(session("2", "1", "c", 5))
    store.save(session("3", "1", "d", 1))
    # WHEN two chargers are asked for, then the rest
    first, after = store.chargers(2, None)
    rest, end = store.chargers(2, after)
    # THEN they come in id order with their connectors, totals and latest end times
    assert [c.charger_id for c in first] == ["1", "2"]
    assert after == "2"
    assert [c.charger_id for c in rest] == ["3"]
    assert end is None
    one = first[0]
    assert one.totals.sessions == 2
    assert one.last_ended_at == "2025-11-27T18:30:00.000Z"
    assert [(c.connector_id, c.totals.sessions, c.last_ended_at) for c in one.connectors] == [
        ("1", 1, "2025-11-27T18:10:00.000Z"),
        ("2", 1, "2025-11-27T18:30:00.000Z"),
    ]


def test_ping_of_memory_store_succeeds() -> None:
    assert InMemorySessionStore().fleet_counts() == FleetCounts(0, 0)


# --- property: a window listing paged to the end is exactly the sessions in the window ----------

MINUTES = st.integers(min_value=0, max_value=3 * 31 * 24 * 60)  # about three months from T0


@st.composite
def stored_sessions(draw: st.DrawFn) -> list[ChargingSession]:
    """Up to 40 sessions with distinct identities on 3 chargers x 2 connectors; ties in time."""
    rows = draw(
        st.lists(
            st.tuples(st.sampled_from("123"), st.sampled_from("12"), MINUTES),
            max_size=40,
        )
    )
    return [session(c, n, f"s{i}", minutes) for i, (c, n, minutes) in enumerate(rows)]


@settings(max_examples=200, deadline=None, database=None)
@given(
    sessions=stored_sessions(),
    start=st.none() | MINUTES,
    end=st.none() | MINUTES,
    charger=st.none() | st.sampled_from("123"),
    connector=st.none() | st.sampled_from("12"),
    limit=st.integers(min_value=1, max_value=7),
)
def test_window_listing_paged_to_the_end_is_exactly_the_window(
    sessions: list[ChargingSession],
    start: int | None,
    end: int | None,
    charger: str | None,
    connector: str | None,
    limit: int,
) -> None:
    # GIVEN random sessions, a random [start, end) window and filters
    store = InMemorySessionStore()
    for item in sessions:
        store.save(item)
    at = {m: None if m is None else T0 + timedelta(minutes=m) for m in (start, end)}
    connector = connector if charger is not None else None
    query = SessionQuery(
        limit=limit, charger_id=charger, connector_id=connector, start=at[start], end=at[end]
    )
    # WHEN the listing is paged to the end
    found, _ = all_pages(store, query)
    # THEN it is exactly the matching sessions whose end is in the window, each once, newest first
    expected = [
        s
        for s in sessions
        if charger in (None, s.key.charger_id)
        and connector in (None, s.key.connector_id)
        and (start is None or s.ended_at >= T0 + timedelta(minutes=start))
        and (end is None or s.ended_at < T0 + timedelta(minutes=end))
    ]
    assert sorted(found, key=lambda s: s.key) == sorted(expected, key=lambda s: s.key)
    assert len({s.key for s in found}) == len(found)
    ends = [s.ended_at for s in found]
    assert ends == sorted(ends, reverse=True)
