"""Data of the older key designs (unsharded; month counters) is moved to the current keys,
exactly, once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from evsessions.contract import ChargingSession, SessionKey
from evsessions.dynamodb.items import plain, session_item, typed
from evsessions.dynamodb.keys import chargers_pk
from evsessions.dynamodb.store import DynamoDbSessionStore, cached_store
from evsessions.storage import SessionQuery, Totals
from local_runner.infra.key_migration import migrate_to_shards, needs_migration
from local_runner.system import LocalSystem

SESSION = ChargingSession(
    key=SessionKey("migrated-1", "1", "7"),
    session_id=7,
    energy_delivered_in_kWh=Decimal("12.5"),
    duration_in_seconds=600,
    session_cost_in_cents=700,
    ended_at=datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC),
    ended_at_source="payload",
    received_at=None,
)


def test_old_partitions_are_moved_to_their_shards(local_system: LocalSystem) -> None:
    # GIVEN a table holding a session, its charger and the fleet's day as the old design wrote
    with local_system.invoked_as("ListenerFunction") as settings:
        store = cached_store(settings)
    client, table = store.client, store.table
    old_session = {**session_item(SESSION), "month": "2023-01"}
    counters = {"sessions": 1, "energy_kwh": Decimal("12.5"), "cost_cents": 700}
    client.put_item(TableName=table, Item=typed(old_session))
    client.put_item(
        TableName=table, Item=typed({"pk": "CHARGERS", "sk": "CHARGER#migrated-1", **counters})
    )
    client.put_item(
        TableName=table,
        Item=typed(
            {"pk": "TOTALS#FLEET", "sk": "DAY#2023-01-02", **counters, "duration_seconds": 600}
        ),
    )
    for fleet_totals in ("TOTALS#FLEET", "TOTALS#FLEET#03"):  # unsharded, and sharded by charger
        client.put_item(
            TableName=table, Item=typed({"pk": fleet_totals, "sk": "MONTH#2023-01", **counters})
        )
    assert needs_migration(client, table)
    # WHEN migrated
    migrated = migrate_to_shards(client, table)
    # THEN the old partitions are empty, and every item is where the new keys look for it
    assert (migrated.chargers, migrated.totals, migrated.months) == (1, 1, 2)
    assert migrated.sessions >= 1
    assert not needs_migration(client, table)
    moved = client.get_item(
        TableName=table, Key=typed({"pk": chargers_pk("migrated-1"), "sk": "CHARGER#migrated-1"})
    )
    assert plain(moved["Item"])["sessions"] == 1
    [day] = store.totals(None, "day", "2023-01-02", "2023-01-02")
    assert day.totals == Totals(1, Decimal("12.5"), 700, 600)
    stored = client.get_item(
        TableName=table, Key=typed({"pk": "CHARGER#migrated-1", "sk": "SESSION#1#7"})
    )
    assert plain(stored["Item"])["month"] == session_item(SESSION)["month"]
    # AND the month counters became the month's marker, so a fleet listing finds the session
    # (a store of its own: the shared one may reuse the months it read for a few seconds,
    # MONTHS_FOR, and the migration put this marker behind its back)
    window = SessionQuery(
        5, start=datetime(2023, 1, 1, tzinfo=UTC), end=datetime(2023, 3, 1, tzinfo=UTC)
    )
    [listed] = DynamoDbSessionStore(table, client).list_sessions(window).sessions
    assert listed.key == SESSION.key
    for fleet_totals in ("TOTALS#FLEET", "TOTALS#FLEET#03"):
        month = typed({"pk": fleet_totals, "sk": "MONTH#2023-01"})
        assert "Item" not in client.get_item(TableName=table, Key=month)
    # AND a second run finds nothing to do
    assert not migrate_to_shards(client, table)
