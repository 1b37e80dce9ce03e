"""Bring a local table written before the current key design (issue 13) up to date.

Two steps, each done once and only when its old items are there. First: before, every charger's
lifetime item sat in one partition `CHARGERS`, the fleet's totals in `TOTALS#FLEET`, and
ByMonth's partitions were bare months (`2026-11`). A data folder from then would list no
chargers, no fleet totals and no fleet sessions under the new keys, silently. So on start, two
one-item Queries look for the old partitions; only if one holds anything is the table scanned
once (a maintenance job, not a request path) and each old item moved: a charger's item to its
shard, the fleet's totals added into shard 00 (totals are sums over the shards, so any shard
keeps them exact), each session's `month` given its charger's shard.

Then the fleet's month counters (`MONTH#…` items in the fleet totals partitions), which only ever
told a listing which months hold sessions and cost every transaction a write, become month
markers (pk `MONTHS`) and are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evsessions.dynamodb.items import COUNTER_FIELDS, plain, typed
from evsessions.dynamodb.keys import (
    CHARGERS,
    FLEET_TOTALS,
    MONTH_PREFIX,
    charger_of_sk,
    chargers_pk,
    month_marker,
    month_partition,
)
from evsessions.dynamodb.shards import SHARDS, sharded


@dataclass(frozen=True)
class Migrated:
    chargers: int = 0
    totals: int = 0
    sessions: int = 0
    months: int = 0

    def __bool__(self) -> bool:
        return bool(self.chargers or self.totals or self.sessions or self.months)


def _first(dynamodb: Any, table: str, partition: str, sk_prefix: str | None = None) -> bool:
    """Whether the partition holds an item (whose sort key starts with `sk_prefix`)."""
    condition, values = "pk = :pk", {":pk": partition}
    if sk_prefix is not None:  # DynamoDB refuses an empty key value, so no empty prefix
        condition += " AND begins_with(sk, :prefix)"
        values[":prefix"] = sk_prefix
    found = dynamodb.query(
        TableName=table,
        KeyConditionExpression=condition,
        ExpressionAttributeValues=typed(values),
        Limit=1,
    )
    return bool(found.get("Items"))


def _month_counter_partitions() -> list[str]:
    return [sharded(FLEET_TOTALS, shard) for shard in range(SHARDS)]


def needs_migration(dynamodb: Any, table: str) -> bool:
    return any(_first(dynamodb, table, p) for p in (CHARGERS, FLEET_TOTALS)) or any(
        _first(dynamodb, table, p, MONTH_PREFIX) for p in _month_counter_partitions()
    )


def migrate_to_shards(dynamodb: Any, table: str) -> Migrated:
    moved = _unsharded_to_shards(dynamodb, table)
    months = _month_counters_to_markers(dynamodb, table)
    return Migrated(moved.chargers, moved.totals, moved.sessions, moved.months + months)


def _unsharded_to_shards(dynamodb: Any, table: str) -> Migrated:
    if not any(_first(dynamodb, table, p) for p in (CHARGERS, FLEET_TOTALS)):
        return Migrated()
    chargers = totals = sessions = months = 0
    arguments: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**arguments)
        for raw in page.get("Items", []):
            item = plain(raw)
            if item["pk"] == CHARGERS:
                charger = charger_of_sk(item["sk"])
                dynamodb.put_item(TableName=table, Item=typed({**item, "pk": chargers_pk(charger)}))
                chargers += 1
            elif item["pk"] == FLEET_TOTALS and item["sk"].startswith(MONTH_PREFIX):
                _mark_month(dynamodb, table, item)
                months += 1
                continue
            elif item["pk"] == FLEET_TOTALS:
                _add_totals(dynamodb, table, item)
                totals += 1
            elif "month" in item and "#" not in item["month"]:
                month = month_partition(item["month"], item["charger_id"])
                dynamodb.update_item(
                    TableName=table,
                    Key=typed({"pk": item["pk"], "sk": item["sk"]}),
                    UpdateExpression="SET #m = :m",
                    ExpressionAttributeNames={"#m": "month"},
                    ExpressionAttributeValues=typed({":m": month}),
                )
                sessions += 1
                continue
            else:
                continue
            dynamodb.delete_item(TableName=table, Key=typed({"pk": item["pk"], "sk": item["sk"]}))
        last = page.get("LastEvaluatedKey")
        if last is None:
            return Migrated(chargers, totals, sessions, months)
        arguments["ExclusiveStartKey"] = last


def _month_counters_to_markers(dynamodb: Any, table: str) -> int:
    months = 0
    for partition in _month_counter_partitions():
        arguments: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": typed({":pk": partition, ":prefix": MONTH_PREFIX}),
        }
        while True:
            page = dynamodb.query(**arguments)
            for raw in page.get("Items", []):
                _mark_month(dynamodb, table, plain(raw))
                months += 1
            last = page.get("LastEvaluatedKey")
            if last is None:
                break
            arguments["ExclusiveStartKey"] = last
    return months


def _mark_month(dynamodb: Any, table: str, item: dict[str, Any]) -> None:
    """Replace a month counter item by the month's marker."""
    month = item["sk"].removeprefix(MONTH_PREFIX)
    dynamodb.put_item(TableName=table, Item=typed(month_marker(month)))
    dynamodb.delete_item(TableName=table, Key=typed({"pk": item["pk"], "sk": item["sk"]}))


def _add_totals(dynamodb: Any, table: str, item: dict[str, Any]) -> None:
    """ADD an old fleet totals item's counters into shard 00's item of the same bucket."""
    names = {f"#c{i}": name for i, name in enumerate(COUNTER_FIELDS) if name in item}
    values = {f":c{i}": item[name] for i, name in enumerate(COUNTER_FIELDS) if name in item}
    if not names:
        return
    dynamodb.update_item(
        TableName=table,
        Key=typed({"pk": sharded(FLEET_TOTALS, 0), "sk": item["sk"]}),
        UpdateExpression="ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=typed(values),
    )
