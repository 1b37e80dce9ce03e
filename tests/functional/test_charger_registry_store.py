"""The charger registry's records: what an operator may send, and that the store gives back
exactly what it kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.registry import RETIRED, RegistryError, record_from_json


def charger_json(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Harbour depot 7",
        "location": {
            "address": "Kaigata 1",
            "city": "Bergen",
            "postal_code": "5016",
            "country": "NOR",
            "coordinates": {"latitude": 60.3975, "longitude": 5.3221},
            "time_zone": "Europe/Oslo",
        },
        "connectors": [
            {
                "connector_id": 1,
                "standard": "IEC_62196_T2_COMBO",
                "format": "CABLE",
                "power_type": "DC",
                "max_electric_power_w": 150_000,
            }
        ],
        "tariff_id": "dc-standard",
    }
    body.update(changes)
    return body


def test_a_record_round_trips_through_dynamodb(dynamodb: Any, sessions_table: str) -> None:
    # GIVEN a registry on the sessions table and a clock
    registry = DynamoDBChargerRegistry(
        sessions_table, dynamodb, now=lambda: datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    )
    record = record_from_json("depot-7", charger_json())
    # WHEN it is kept, then retired
    registry.put(record)
    kept = registry.get("depot-7")
    registry.put(record_from_json("depot-7", charger_json(status=RETIRED)))
    # THEN it comes back as sent, stamped, and the listing shows the retired state
    assert kept == record
    assert kept is not None and kept.last_updated == "2026-12-04T12:00:00.000Z"
    assert kept.location.coordinates.latitude == 60.3975
    assert [r.status for r in registry.records()] == [RETIRED]
    assert registry.get("depot-8") is None


@pytest.mark.parametrize(
    ("charger_id", "changes", "says"),
    [
        ("depot/7", {}, "charger_id"),
        ("depot-7", {"connectors": []}, "connectors"),
        ("depot-7", {"status": "BROKEN"}, "status"),
        ("depot-7", {"colour": "red"}, "unknown field"),
        ("depot-7", {"tariff_id": "a b"}, "tariff_id"),
    ],
)
def test_a_bad_record_is_refused_with_the_field_named(
    charger_id: str, changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(RegistryError, match=says):
        record_from_json(charger_id, charger_json(**changes))


@pytest.mark.parametrize(
    ("location_change", "says"),
    [
        ({"country": "NO"}, "country"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"coordinates": {"latitude": 91, "longitude": 0}}, "latitude"),
    ],
)
def test_a_bad_location_is_refused_with_the_field_named(
    location_change: dict[str, Any], says: str
) -> None:
    location = {**charger_json()["location"], **location_change}
    with pytest.raises(RegistryError, match=says):
        record_from_json("depot-7", charger_json(location=location))


def test_a_seed_never_overwrites_a_record(dynamodb: Any, sessions_table: str) -> None:
    # GIVEN an operator's record of depot-7
    registry = DynamoDBChargerRegistry(sessions_table, dynamodb)
    registry.put(record_from_json("depot-7", charger_json(name="Edited by the operator")))
    # WHEN a seed of depot-7 and one of depot-8 are put conditionally
    written = [
        registry.put_if_absent(record_from_json(c, charger_json(name="A seed")))
        for c in ("depot-7", "depot-8")
    ]
    # THEN only the missing one was written; the operator's edit stands
    assert written == [False, True]
    assert [r.name for r in registry.records()] == ["Edited by the operator", "A seed"]
