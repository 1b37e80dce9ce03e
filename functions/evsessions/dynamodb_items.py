"""The DynamoDB key design: which items a session writes and how they read back.

template.yaml declares the same keys and indexes; the README explains the access patterns.
- A session: pk `CHARGER#{charger}`, sk `SESSION#{connector}#{session}` (GetItem by identity).
  Index ByChargerTime: pk + `charger_time` = `{ended_at}#{connector}#{session}`.
  Index ByConnectorTime: `connector_pk` = `CONNECTOR#{charger}#{connector}` + `charger_time`.
  Index ByMonth: `month` = `YYYY-MM` + `fleet_time` = `{ended_at}#{charger}#{connector}#{session}`.
- Totals: pk `TOTALS#FLEET` or `TOTALS#CHARGER#{charger}`, sk `HOUR#…`, `DAY#…` (and `MONTH#…`
  for the fleet, which also tells a listing which months hold sessions). Counters only, added in
  the same transaction as the session, so a duplicate (which cancels it) never counts twice.
- Chargers: pk `CHARGERS`, sk `CHARGER#{charger}` and `CHARGER#{charger}#CONNECTOR#{connector}`,
  lifetime counters plus the last end time (a max, raised in the same transaction).
Times are fixed-width UTC ISO 8601 text, so text order is time order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from evsessions.contract import ChargingSession, SessionKey, format_time
from evsessions.storage import Totals, bucket_start

BY_CHARGER_TIME = "ByChargerTime"
BY_CONNECTOR_TIME = "ByConnectorTime"
BY_MONTH = "ByMonth"
FLEET_TOTALS = "TOTALS#FLEET"
CHARGERS = "CHARGERS"
BUCKET_PREFIX = {"hour": "HOUR#", "day": "DAY#", "month": "MONTH#"}

_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


def typed(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serialize(value) for name, value in item.items()}


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserialize(value) for name, value in item.items()}


def session_key(key: SessionKey) -> dict[str, str]:
    return {"pk": f"CHARGER#{key.charger_id}", "sk": f"SESSION#{key.connector_id}#{key.session_id}"}


def charger_totals_pk(charger_id: str) -> str:
    return f"TOTALS#CHARGER#{charger_id}"


def charger_sk(charger_id: str, connector_id: str | None = None) -> str:
    base = f"CHARGER#{charger_id}"
    return base if connector_id is None else f"{base}#CONNECTOR#{connector_id}"


def session_item(session: ChargingSession) -> dict[str, Any]:
    """The plain (not yet typed) item for a session."""
    key = session.key
    ended = format_time(session.ended_at)
    item: dict[str, Any] = {
        **session_key(key),
        "charger_time": f"{ended}#{key.connector_id}#{key.session_id}",
        "connector_pk": f"CONNECTOR#{key.charger_id}#{key.connector_id}",
        "month": ended[:7],
        "fleet_time": f"{ended}#{key.charger_id}#{key.connector_id}#{key.session_id}",
        "charger_id": key.charger_id,
        "connector_id": key.connector_id,
        "session_id": session.session_id,
        "energy_delivered_in_kWh": session.energy_delivered_in_kWh,
        "duration_in_seconds": session.duration_in_seconds,
        "session_cost_in_cents": session.session_cost_in_cents,
        "ended_at": ended,
        "ended_at_source": session.ended_at_source,
    }
    if session.received_at is not None:
        item["received_at"] = format_time(session.received_at)
    return item


def session_from_item(item: Mapping[str, Any]) -> ChargingSession:
    session_id = item["session_id"]
    if isinstance(session_id, Decimal):
        session_id = int(session_id)
    received = item.get("received_at")
    return ChargingSession(
        key=SessionKey(item["charger_id"], item["connector_id"], str(session_id)),
        session_id=session_id,
        energy_delivered_in_kWh=item["energy_delivered_in_kWh"],
        duration_in_seconds=int(item["duration_in_seconds"]),
        session_cost_in_cents=int(item["session_cost_in_cents"]),
        ended_at=datetime.fromisoformat(item["ended_at"]),
        ended_at_source=item["ended_at_source"],
        received_at=None if received is None else datetime.fromisoformat(received),
    )


def counter_keys(session: ChargingSession) -> list[dict[str, str]]:
    """Every aggregate item a session adds itself to."""
    charger, connector = session.key.charger_id, session.key.connector_id
    ended = session.ended_at
    fleet = [
        {"pk": FLEET_TOTALS, "sk": BUCKET_PREFIX[b] + bucket_start(ended, b)}
        for b in ("hour", "day", "month")
    ]
    per_charger = [
        {"pk": charger_totals_pk(charger), "sk": BUCKET_PREFIX[b] + bucket_start(ended, b)}
        for b in ("hour", "day")
    ]
    lifetime = [
        {"pk": CHARGERS, "sk": charger_sk(charger)},
        {"pk": CHARGERS, "sk": charger_sk(charger, connector)},
    ]
    return fleet + per_charger + lifetime


def totals_from_item(item: Mapping[str, Any]) -> Totals:
    return Totals(
        int(item.get("sessions", 0)),
        Decimal(item.get("energy_kwh", 0)),
        int(item.get("cost_cents", 0)),
        int(item.get("duration_seconds", 0)),
    )
