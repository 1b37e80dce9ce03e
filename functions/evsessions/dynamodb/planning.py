"""How a batch of sessions becomes DynamoDB transactions that keep every aggregate exact.

Each transaction holds some sessions' conditional puts and, once per aggregate item, the sum of
what those sessions add to it, so a batch from a fleet costs far fewer writes than one transaction
per session: a charger's sessions share its lifetime item, and every session shares the fleet's
hour and day items. Each session's put names the occurrence it claims (1 unless the store knows its
identity already holds other content) and fails its condition when that occurrence is taken,
cancelling the whole transaction; the store learns what holds it (a duplicate, or another session
under a reused id) and plans again: nothing is ever counted twice, and nothing is dropped.

A last end time is a max, which DynamoDB cannot compute: it is set in the same transaction under
the condition that it grows. When that condition fails (a later session was stored first), the
item's end times are read and the transaction planned again to set only those that grow, under
the condition that they are still what was read.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from evsessions.contract import ChargingSession, SessionKey, format_time
from evsessions.dynamodb.items import (
    COUNTER_FIELDS,
    OPEN_SUSPECTS,
    REUSED_SESSION_IDS,
    counters,
    last_ended_fields,
    resolution_item,
    session_item,
    typed,
)
from evsessions.dynamodb.keys import OPEN_REVIEW, REUSE_COUNTER, session_key
from evsessions.storage import Totals

MAX_TRANSACTION_ITEMS = 100
"""DynamoDB's limit on the items of one TransactWriteItems call."""
_PACKED_ITEMS = MAX_TRANSACTION_ITEMS - 1
"""What `pack` fills, keeping room for the reuse counter: a session learns that its id was reused
only after its group was packed."""

ItemKey = tuple[str, str]
StoredTimes = Mapping[ItemKey, Mapping[str, str | None]]
"""Last end times read back from items whose condition failed: attribute -> value (or None)."""
KnownTimes = Mapping[ItemKey, Mapping[str, str]]
"""End times this process already wrote or read: they can only have grown since."""


@dataclass(frozen=True)
class PlannedTransaction:
    items: list[dict[str, Any]]
    roles: list[SessionKey | ItemKey]
    """Per item: the session a put stores, or the aggregate item an update changes."""
    raised: dict[ItemKey, dict[str, str]]
    """The end times the transaction sets, once it succeeded."""


@dataclass
class _Aggregate:
    adds: dict[str, Totals] = field(default_factory=dict)
    """Attribute prefix -> what to add to the four counters under it."""
    counts: dict[str, int] = field(default_factory=dict)
    """Attribute -> what to add to a counter of its own (the reused session ids)."""
    latest: dict[str, str] = field(default_factory=dict)
    """Last-end-time attribute -> the latest end time among the sessions."""


def item_keys(session: ChargingSession) -> set[ItemKey]:
    """The aggregate items a session adds to, for counting a transaction's items: the fleet's
    are named in shard 0, as a transaction holds one fleet shard, whichever it is."""
    return {(counter.pk, counter.sk) for counter in counters(session, 0)}


def pack(sessions: Sequence[ChargingSession]) -> list[list[ChargingSession]]:
    """Group sessions into transactions of at most 100 items, a charger's sessions together so
    that they share its lifetime item; every session of a transaction shares the fleet's hour
    and day items. An identity should appear once (the store sends each content of a reused id
    in a later round)."""
    ordered = sorted(sessions, key=lambda s: (s.key.charger_id, s.ended_at, s.key))
    groups: list[list[ChargingSession]] = []
    current: list[ChargingSession] = []
    aggregates: set[ItemKey] = set()
    for _, of_charger in itertools.groupby(ordered, key=lambda s: s.key.charger_id):
        charger_sessions = list(of_charger)
        keys = set().union(*(item_keys(s) for s in charger_sessions))
        if (
            current
            and len(current) + len(charger_sessions) + len(aggregates | keys) > _PACKED_ITEMS
        ):
            groups.append(current)
            current, aggregates = [], set()
        for session in charger_sessions:  # a charger's sessions stay together unless they alone
            keys = item_keys(session)  # exceed a transaction
            if current and len(current) + 1 + len(aggregates | keys) > _PACKED_ITEMS:
                groups.append(current)
                current, aggregates = [], set()
            current.append(session)
            aggregates |= keys
    if current:
        groups.append(current)
    return groups


def plan(
    table: str,
    sessions: Sequence[ChargingSession],
    stored: StoredTimes,
    known: KnownTimes | None = None,
    fleet_shard: int = 0,
) -> PlannedTransaction:
    """One transaction for `sessions`, each put at its `occurrence`, adding to the fleet's totals
    in `fleet_shard` (the store draws one a transaction); `stored` holds end times
    read after a failed condition, `known` end times already as late or later, which need no
    update (and no condition that would cancel the transaction: batches in flight together touch
    the same chargers). A failed put returns the item that holds its key (ALL_OLD), so the store
    can tell a duplicate without reading it."""
    aggregates: dict[ItemKey, _Aggregate] = {}
    counts = {
        REUSED_SESSION_IDS: sum(1 for session in sessions if session.occurrence > 1),
        OPEN_SUSPECTS: sum(1 for session in sessions if session.counts_as == "suspect"),
    }
    if any(counts.values()):
        aggregates[REUSE_COUNTER] = _Aggregate(
            counts={name: count for name, count in counts.items() if count}
        )
    for session in sessions:
        for counter in counters(session, fleet_shard):
            adds = aggregates.setdefault((counter.pk, counter.sk), _Aggregate()).adds
            adds[counter.prefix] = adds.get(counter.prefix, Totals()).add(Totals.of(session))
        ended = format_time(session.ended_at)
        for pk, sk, attribute in last_ended_fields(session):
            latest = aggregates[(pk, sk)].latest
            latest[attribute] = max(latest.get(attribute, ended), ended)
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": table,
                "Item": typed(session_item(session)),
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        for session in sessions
    ]
    roles: list[SessionKey | ItemKey] = [session.key for session in sessions]
    raised: dict[ItemKey, dict[str, str]] = {}
    for key, aggregate in aggregates.items():
        floor = (known or {}).get(key, {})
        aggregate.latest = {
            attribute: latest
            for attribute, latest in aggregate.latest.items()
            if floor.get(attribute, "") < latest
        }
        items.append({"Update": _update(table, key, aggregate, stored.get(key))})
        roles.append(key)
        raised[key] = dict(aggregate.latest)
    return PlannedTransaction(items, roles, raised)


def _update(
    table: str, key: ItemKey, aggregate: _Aggregate, stored: Mapping[str, str | None] | None
) -> dict[str, Any]:
    """ADD every counter; SET each last end time that grows, under a condition that says so."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}

    def placeholder(name: str, value: Any) -> tuple[str, str]:
        index = len(names)
        names[f"#a{index}"] = name
        values[f":v{index}"] = value
        return f"#a{index}", f":v{index}"

    adds = []
    for prefix, totals in aggregate.adds.items():
        counted = (totals.sessions, totals.energy_kwh, totals.cost_cents, totals.duration_seconds)
        for name, value in zip(COUNTER_FIELDS, counted, strict=True):
            adds.append("{} {}".format(*placeholder(prefix + name, value)))
    for name, count in aggregate.counts.items():
        adds.append("{} {}".format(*placeholder(name, count)))
    sets, conditions = [], []
    for attribute, latest in aggregate.latest.items():
        if stored is not None and (stored.get(attribute) or "") >= latest:
            continue  # already as late or later
        name, value = placeholder(attribute, latest)
        sets.append(f"{name} = {value}")
        if stored is None:
            conditions.append(f"(attribute_not_exists({name}) OR {name} < {value})")
        elif stored.get(attribute) is None:
            conditions.append(f"attribute_not_exists({name})")
        else:
            old = f":old{len(conditions)}"
            values[old] = stored[attribute]
            conditions.append(f"{name} = {old}")
    update: dict[str, Any] = {
        "TableName": table,
        "Key": typed({"pk": key[0], "sk": key[1]}),
        "UpdateExpression": "ADD " + ", ".join(adds) + (" SET " + ", ".join(sets) if sets else ""),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": typed(values),
    }
    if conditions:
        update["ConditionExpression"] = " AND ".join(conditions)
    return update


def plan_resolution(
    table: str, before: ChargingSession, after: ChargingSession, fleet_shard: int
) -> list[dict[str, Any]]:
    """One transaction that records an operator's decision on an open suspect session: the
    session's item gets its resolution (and a correction's values) under the condition that it
    is still open, so the decision is made exactly once; the suspect counters lose what the
    session billed and revenue's gain what it bills now (nothing when voided). The fleet's share
    moves within `fleet_shard`, whichever shard the session first added to: the fleet's totals
    are the sum over the shards."""
    aggregates: dict[ItemKey, _Aggregate] = {REUSE_COUNTER: _Aggregate(counts={OPEN_SUSPECTS: -1})}
    for session, sign in ((before, -1), (after, 1)):
        for counter in counters(session, fleet_shard):
            adds = aggregates.setdefault((counter.pk, counter.sk), _Aggregate()).adds
            totals = Totals.of(session) if sign > 0 else Totals.of(session).negated()
            adds[counter.prefix] = adds.get(counter.prefix, Totals()).add(totals)
    assert after.resolution is not None, "a resolved session carries its resolution"
    names = {"#r": "resolution", "#v": "review"}
    values: dict[str, Any] = {":r": resolution_item(after.resolution), ":open": OPEN_REVIEW}
    sets = ["#r = :r"]
    if after.billed != before.billed:
        for index, (name, value) in enumerate(
            (
                ("energy_delivered_in_kWh", after.energy_delivered_in_kWh),
                ("duration_in_seconds", after.duration_in_seconds),
                ("session_cost_in_cents", after.session_cost_in_cents),
            )
        ):
            names[f"#b{index}"] = name
            values[f":b{index}"] = value
            sets.append(f"#b{index} = :b{index}")
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table,
                "Key": typed(session_key(before.key, before.occurrence)),
                "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE #v",
                "ConditionExpression": "#v = :open",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": typed(values),
            }
        }
    ]
    items += [
        {"Update": _update(table, key, aggregate, None)} for key, aggregate in aggregates.items()
    ]
    return items
