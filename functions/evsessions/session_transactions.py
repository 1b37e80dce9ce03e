"""How a batch of sessions becomes DynamoDB transactions that keep every aggregate exact.

Each transaction holds some sessions' conditional puts and, once per aggregate item, the sum of
what those sessions add to it, so a batch from a fleet costs far fewer writes than one transaction
per session: a charger's sessions share its hour, day and lifetime items, and every session shares
the fleet's. A duplicate's put fails its condition and cancels the whole transaction, which is then
planned again without it: nothing is ever counted twice. The last end time of a charger and of a
connector is a max, written in the same transaction under the condition that it grows; when it
would not grow, the transaction is planned again without that part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evsessions.contract import ChargingSession, SessionKey, format_time
from evsessions.dynamodb_items import CHARGERS, counter_keys, session_item, typed
from evsessions.storage import Totals

MAX_TRANSACTION_ITEMS = 100
"""DynamoDB's limit on the items of one TransactWriteItems call."""

ItemKey = tuple[str, str]


@dataclass(frozen=True)
class PlannedTransaction:
    items: list[dict[str, Any]]
    roles: list[SessionKey | ItemKey]
    """Per item: the session a put stores, or the aggregate item an update changes."""


@dataclass
class _Aggregate:
    totals: Totals = field(default_factory=Totals)
    last_ended_at: str | None = None


def pack(sessions: Sequence[ChargingSession]) -> list[list[ChargingSession]]:
    """Group sessions into transactions of at most 100 items, a charger's sessions together so
    that they share their aggregate items."""
    ordered = sorted(sessions, key=lambda s: (s.key.charger_id, s.ended_at, s.key))
    groups: list[list[ChargingSession]] = []
    current: list[ChargingSession] = []
    aggregates: set[ItemKey] = set()
    for session in ordered:
        keys = {(k["pk"], k["sk"]) for k in counter_keys(session)}
        if current and len(current) + 1 + len(aggregates | keys) > MAX_TRANSACTION_ITEMS:
            groups.append(current)
            current, aggregates = [], set()
        current.append(session)
        aggregates |= keys
    if current:
        groups.append(current)
    return groups


def plan(
    table: str, sessions: Sequence[ChargingSession], keep_last_ended: frozenset[ItemKey]
) -> PlannedTransaction:
    """One transaction for `sessions`; the last end time is left alone on `keep_last_ended`."""
    aggregates: dict[ItemKey, _Aggregate] = {}
    for session in sessions:
        ended = format_time(session.ended_at)
        for counter in counter_keys(session):
            aggregate = aggregates.setdefault((counter["pk"], counter["sk"]), _Aggregate())
            aggregate.totals = aggregate.totals.add(Totals.of(session))
            if counter["pk"] == CHARGERS:
                aggregate.last_ended_at = max(aggregate.last_ended_at or ended, ended)
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": table,
                "Item": typed(session_item(session)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        for session in sessions
    ]
    roles: list[SessionKey | ItemKey] = [session.key for session in sessions]
    for key, aggregate in aggregates.items():
        last = None if key in keep_last_ended else aggregate.last_ended_at
        items.append(_aggregate_update(table, key, aggregate.totals, last))
        roles.append(key)
    return PlannedTransaction(items, roles)


def _aggregate_update(
    table: str, key: ItemKey, totals: Totals, last_ended_at: str | None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        ":n": totals.sessions,
        ":e": totals.energy_kwh,
        ":c": totals.cost_cents,
        ":d": totals.duration_seconds,
    }
    update: dict[str, Any] = {
        "TableName": table,
        "Key": typed({"pk": key[0], "sk": key[1]}),
        "UpdateExpression": "ADD sessions :n, energy_kwh :e, cost_cents :c, duration_seconds :d",
    }
    if last_ended_at is not None:
        values[":t"] = last_ended_at
        update["UpdateExpression"] += " SET last_ended_at = :t"
        update["ConditionExpression"] = "attribute_not_exists(last_ended_at) OR last_ended_at < :t"
    update["ExpressionAttributeValues"] = typed(values)
    return {"Update": update}
