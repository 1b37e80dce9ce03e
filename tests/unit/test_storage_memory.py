"""The in-memory store shows the semantics every storage adapter must keep."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from evsessions.contract import ChargingSession, SessionKey
from evsessions.storage import InMemorySessionStore, SaveOutcome

T0 = datetime(2025, 11, 27, 18, 0, tzinfo=UTC)


def session(charger: str, connector: str, session_id: str, minutes: int) -> ChargingSession:
    ended = T0 + timedelta(minutes=minutes)
    return ChargingSession(
        key=SessionKey(charger, connector, session_id),
        session_id=session_id,
        energy_delivered_in_kWh=Decimal("30"),
        duration_in_seconds=45,
        session_cost_in_cents=70,
        ended_at=ended,
        ended_at_source="payload",
        received_at=ended,
    )


def test_first_save_is_stored_and_readable() -> None:
    store = InMemorySessionStore()
    first = session("1", "1", "1", 0)
    assert store.save(first) is SaveOutcome.STORED
    assert store.get(first.key) == first


def test_same_identity_again_is_a_duplicate_that_changes_nothing() -> None:
    # GIVEN a stored session
    store = InMemorySessionStore()
    original = session("1", "1", "1", 0)
    store.save(original)
    # WHEN a message with the same identity but other values arrives (a redelivery or a replay)
    changed = replace(original, session_cost_in_cents=9_999, ended_at=T0 + timedelta(hours=1))
    outcome = store.save(changed)
    # THEN it is a duplicate, the first version stays and nothing counts twice
    assert outcome is SaveOutcome.DUPLICATE
    assert store.get(original.key) == original
    assert len(store.recent(10)) == 1


def test_same_session_id_on_another_connector_is_a_new_session() -> None:
    store = InMemorySessionStore()
    assert store.save(session("1", "1", "7", 0)) is SaveOutcome.STORED
    assert store.save(session("1", "2", "7", 0)) is SaveOutcome.STORED
    assert store.save(session("2", "1", "7", 0)) is SaveOutcome.STORED
    assert len(store.recent(10)) == 3


def test_get_of_an_unknown_identity_is_none() -> None:
    assert InMemorySessionStore().get(SessionKey("1", "1", "1")) is None


def test_recent_is_newest_first_and_limited() -> None:
    # GIVEN sessions saved out of time order
    store = InMemorySessionStore()
    for minutes, sid in [(5, "b"), (1, "a"), (9, "d"), (7, "c")]:
        store.save(session("1", "1", sid, minutes))
    # WHEN the most recent are asked for
    # THEN they come newest first, cut at the limit
    assert [s.key.session_id for s in store.recent(10)] == ["d", "c", "b", "a"]
    assert [s.key.session_id for s in store.recent(2)] == ["d", "c"]


def test_recent_filters_by_charger() -> None:
    # GIVEN sessions on two chargers
    store = InMemorySessionStore()
    store.save(session("1", "1", "a", 1))
    store.save(session("2", "1", "b", 2))
    store.save(session("1", "2", "c", 3))
    # WHEN one charger is asked for
    found = store.recent(10, charger_id="1")
    # THEN only its sessions come back, newest first
    assert [s.key for s in found] == [SessionKey("1", "2", "c"), SessionKey("1", "1", "a")]
    assert store.recent(10, charger_id="3") == []


def test_ping_of_memory_store_succeeds() -> None:
    assert InMemorySessionStore().ping() is None
