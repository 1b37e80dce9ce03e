"""What a session's item and the aggregates' items hold, and how they read back. Their keys
are built in `keys`, which tells the whole key design.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from evsessions.contract import ChargingSession, SessionKey, TransactionDetails, format_time
from evsessions.dynamodb.keys import (
    BUCKET_PREFIX,
    FLEET_TOTALS,
    OPEN_REVIEW,
    charger_sk,
    charger_time,
    chargers_pk,
    connector_partition,
    fleet_time,
    month_partition,
    session_key,
)
from evsessions.dynamodb.shards import sharded
from evsessions.integrity import (
    Billed,
    Resolution,
    ResolutionAction,
    findings_from_json,
    findings_json,
)
from evsessions.storage import Totals

OPEN_SUSPECTS = "open_suspect_sessions"
SUSPECT_PREFIX = "suspect#"
"""Counters of suspect sessions sit beside revenue's on the same aggregate items."""
REUSED_SESSION_IDS = "reused_session_ids"


def typed(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed JSON. Our own few lines, not boto3's TypeSerializer: importing
    boto3 for it would cost every cold start about 100 ms."""
    return {name: _typed_value(value) for name, value in item.items()}


def plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item from DynamoDB's typed JSON: numbers come back as Decimal, as boto3 gives them."""
    return {name: _plain_value(value) for name, value in item.items()}


def _typed_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"DynamoDB cannot store the number {value}")
        return {"N": str(value) if "E" not in str(value) else format(value, "f")}
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": typed(value)}
    if isinstance(value, list | tuple):
        return {"L": [_typed_value(element) for element in value]}
    raise TypeError(f"no DynamoDB type for {type(value).__name__} (use Decimal, not float)")


def _plain_value(value: Mapping[str, Any]) -> Any:
    [(kind, content)] = value.items()
    if kind == "N":
        return Decimal(content)
    if kind == "M":
        return plain(content)
    if kind == "L":
        return [_plain_value(element) for element in content]
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return content
    raise TypeError(f"DynamoDB type {kind} is not used in our items")


def session_item(session: ChargingSession) -> dict[str, Any]:
    """The plain (not yet typed) item for a session."""
    key = session.key
    ended = format_time(session.ended_at)
    item: dict[str, Any] = {
        **session_key(key, session.occurrence),
        "charger_time": charger_time(session),
        "connector_pk": connector_partition(key.charger_id, key.connector_id),
        "month": month_partition(ended[:7], key.charger_id),
        "fleet_time": fleet_time(session),
        "charger_id": key.charger_id,
        "connector_id": key.connector_id,
        "session_id": session.session_id,
        "occurrence": session.occurrence,
        "energy_delivered_in_kWh": session.energy_delivered_in_kWh,
        "duration_in_seconds": session.duration_in_seconds,
        "session_cost_in_cents": session.session_cost_in_cents,
        "ended_at": ended,
        "ended_at_source": session.ended_at_source,
    }
    if session.received_at is not None:
        item["received_at"] = format_time(session.received_at)
    details = session.transaction
    if details is not None:
        for name, value in (
            ("started_at", None if details.started_at is None else format_time(details.started_at)),
            ("stop_reason", details.stop_reason),
            ("meter_start_wh", details.meter_start_wh),
            ("meter_stop_wh", details.meter_stop_wh),
            ("id_tag", details.id_tag),
            ("stop_id_tag", details.stop_id_tag),
            ("billed_from", details.billed_from),
            ("remote_start_by", details.remote_start_by),
            ("remote_stop_by", details.remote_stop_by),
        ):
            if value is not None:
                item[name] = value
    if session.findings:
        item["findings"] = findings_json(session.findings)
        item["raw"] = session.raw or ""
        if session.resolution is None:
            item["review"] = OPEN_REVIEW
    if session.resolution is not None:
        item["resolution"] = resolution_item(session.resolution)
    return item


def resolution_item(resolution: Resolution) -> dict[str, Any]:
    found: dict[str, Any] = {
        "action": resolution.action,
        "at": format_time(resolution.at),
        "reason": resolution.reason,
        "by": resolution.by,
    }
    if resolution.original is not None:
        original = resolution.original
        found["original"] = {
            "energy_kwh": original.energy_kwh,
            "duration_seconds": original.duration_seconds,
            "cost_cents": original.cost_cents,
        }
    return found


def _resolution_from_item(value: Mapping[str, Any] | None) -> Resolution | None:
    if value is None:
        return None
    original = value.get("original")
    action: ResolutionAction = value["action"]
    return Resolution(
        action=action,
        at=datetime.fromisoformat(value["at"]),
        reason=str(value["reason"]),
        by=str(value.get("by", "")),
        original=None
        if original is None
        else Billed(
            Decimal(original["energy_kwh"]),
            int(original["duration_seconds"]),
            int(original["cost_cents"]),
        ),
    )


_TRANSACTION_NAMES = (
    *("started_at", "stop_reason", "meter_start_wh", "meter_stop_wh"),
    *("id_tag", "stop_id_tag", "billed_from", "remote_start_by", "remote_stop_by"),
)


def _transaction_from_item(item: Mapping[str, Any]) -> TransactionDetails | None:
    if not any(name in item for name in _TRANSACTION_NAMES):
        return None
    started, start, stop = (
        item.get("started_at"),
        item.get("meter_start_wh"),
        item.get("meter_stop_wh"),
    )
    return TransactionDetails(
        started_at=None if started is None else datetime.fromisoformat(started),
        stop_reason=item.get("stop_reason"),
        meter_start_wh=None if start is None else int(start),
        meter_stop_wh=None if stop is None else int(stop),
        id_tag=item.get("id_tag"),
        stop_id_tag=item.get("stop_id_tag"),
        billed_from=item.get("billed_from"),
        remote_start_by=item.get("remote_start_by"),
        remote_stop_by=item.get("remote_stop_by"),
    )


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
        transaction=_transaction_from_item(item),
        occurrence=int(item.get("occurrence", 1)),
        findings=findings_from_json(item.get("findings")),
        raw=item.get("raw") if item.get("findings") else None,
        resolution=_resolution_from_item(item.get("resolution")),
    )


@dataclass(frozen=True)
class Counter:
    """Where a session adds its totals: the four counters `{prefix}sessions` ... of one item."""

    pk: str
    sk: str
    prefix: str = ""


LAST_ENDED_AT = "last_ended_at"
COUNTER_FIELDS = ("sessions", "energy_kwh", "cost_cents", "duration_seconds")


def connector_prefix(connector_id: str) -> str:
    return f"connector#{connector_id}#"


def counters(
    session: ChargingSession, fleet_shard: int, counts_as: str | None = None
) -> list[Counter]:
    """Every aggregate a session adds itself to: three items (the fleet's hour and day in the
    transaction's `fleet_shard`; the charger's lifetime item, which holds its connectors'
    counters too). Revenue's counters for a clean session, the suspect counters (fleet and
    charger, not per connector) for a suspect one, none for a voided one."""
    kind = counts_as or session.counts_as
    if kind == "void":
        return []
    charger, connector = session.key.charger_id, session.key.connector_id
    hour = format_time(session.ended_at)[:13]  # once: bucket_start would format it per bucket
    fleet_pk = sharded(FLEET_TOTALS, fleet_shard)
    starts = {"hour": hour, "day": hour[:10]}
    prefix = SUSPECT_PREFIX if kind == "suspect" else ""
    fleet = [Counter(fleet_pk, BUCKET_PREFIX[b] + starts[b], prefix) for b in ("hour", "day")]
    lifetime = [Counter(chargers_pk(charger), charger_sk(charger), prefix)]
    if kind == "clean":
        lifetime.append(
            Counter(chargers_pk(charger), charger_sk(charger), connector_prefix(connector))
        )
    return fleet + lifetime


def last_ended_fields(session: ChargingSession) -> list[tuple[str, str, str]]:
    """(pk, sk, attribute) of the charger's and the connector's last end time."""
    charger, pk = charger_sk(session.key.charger_id), chargers_pk(session.key.charger_id)
    prefix = connector_prefix(session.key.connector_id)
    return [(pk, charger, LAST_ENDED_AT), (pk, charger, prefix + LAST_ENDED_AT)]


def connectors_of(item: Mapping[str, Any]) -> dict[str, tuple[Totals, str | None]]:
    """A CHARGERS item's connectors: id -> (totals, last end time), from the prefixed counters."""
    found: dict[str, dict[str, Any]] = {}
    for name, value in item.items():
        if name.startswith("connector#"):
            connector, _, field_name = name.removeprefix("connector#").rpartition("#")
            found.setdefault(connector, {})[field_name] = value
    return {
        connector: (totals_from_item(fields), fields.get(LAST_ENDED_AT))
        for connector, fields in found.items()
    }


def totals_from_item(item: Mapping[str, Any], prefix: str = "") -> Totals:
    return Totals(
        int(item.get(prefix + "sessions", 0)),
        Decimal(item.get(prefix + "energy_kwh", 0)),
        int(item.get(prefix + "cost_cents", 0)),
        int(item.get(prefix + "duration_seconds", 0)),
    )
