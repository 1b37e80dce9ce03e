"""Bring a local table written before the sharded key design (issue 13) up to date.

Before, every charger's lifetime item sat in one partition `CHARGERS`, the fleet's totals in
`TOTALS#FLEET`, and ByMonth's partitions were bare months (`2026-11`). A data folder from then
would list no chargers, no fleet totals and no fleet sessions under the new keys, silently. So on
start, two one-item Queries look for the old partitions; only if one holds anything is the table
scanned once (a maintenance job, not a request path) and each old item moved: a charger's item
to its shard, the fleet's totals added into shard 00 (totals are sums over the shards, so any
shard keeps them exact), each session's `month` given its charger's shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evsessions.dynamodb_items import (
    CHARGERS,
    COUNTER_FIELDS,
    FLEET_TOTALS,
    chargers_pk,
    month_partition,
    plain,
    typed,
)
from evsessions.shards import sharded


@dataclass(frozen=True)
class Migrated:
    chargers: int = 0
    totals: int = 0
    sessions: int = 0

    def __bool__(self) -> bool:
        return bool(self.chargers or self.totals or self.sessions)


def needs_migration(dynamodb: Any, table: str) -> bool:
    for partition in (CHARGERS, FLEET_TOTALS):
        found = dynamodb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=typed({":pk": partition}),
            Limit=1,
        )
        if found.get("Items"):
            return True
    return False


def migrate_to_shards(dynamodb: Any, table: str) -> Migrated:
    if not needs_migration(dynamodb, table):
        return Migrated()
    chargers = totals = sessions = 0
    arguments: dict[str, Any] = {"TableName": table}
    while True:
        page = dynamodb.scan(**arguments)
        for raw in page.get("Items", []):
            item = plain(raw)
            if item["pk"] == CHARGERS:
                charger = item["sk"].removeprefix("CHARGER#")
                dynamodb.put_item(TableName=table, Item=typed({**item, "pk": chargers_pk(charger)}))
                chargers += 1
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
            return Migrated(chargers, totals, sessions)
        arguments["ExclusiveStartKey"] = last


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
