"""DynamoDB's write units for an item, by its rules: size in KB rounded up, on the table twice in a
transaction, and once more on every index the item appears in (its projected size).

Shared by the capacity model and the benchmark's meter (DynamoDB Local reports a whole
TransactWriteItems as if it held one item, so transactions are sized here)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from local_runner.services.template import load_template

TRANSACTION_FACTOR = 2
"""A transactional write costs the table twice a standard one: DynamoDB writes each item of a
transaction twice, to prepare and to commit it ("Capacity management for transactions", DynamoDB
developer guide). Index entries are not written by the transaction: its changes propagate to
the global secondary indexes after it completed, as standard writes (1 unit a KB)."""


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes as DynamoDB counts them: names plus values (strings in UTF-8; a number about a byte
    per two significant digits plus one; maps and lists three bytes plus their elements)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | Decimal):
        digits = str(abs(value)).replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if isinstance(value, Mapping):
        return 3 + item_size(value)
    return 3 + sum(_value_size(v) + 1 for v in value)


def write_units(size: int, transactional: bool = True) -> int:
    return (TRANSACTION_FACTOR if transactional else 1) * max(1, math.ceil(size / 1024))


@dataclass(frozen=True)
class Index:
    name: str
    partition: str
    keys: tuple[str, ...]
    projection: str
    include: tuple[str, ...] = ()

    def projected(self, item: Mapping[str, Any]) -> dict[str, Any] | None:
        """The item as this index holds it, or None when it lacks a key (a sparse index)."""
        if any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = {"pk", "sk", *self.keys, *self.include}
        return {name: value for name, value in item.items() if name in names}


def indexes(template_path: Path) -> list[Index]:
    """The table's global secondary indexes, as template.yaml declares them."""
    [table] = load_template(template_path).tables.values()
    found = []
    for index in table.properties.get("GlobalSecondaryIndexes", []):
        keys = tuple(k["AttributeName"] for k in index["KeySchema"])
        projection = index["Projection"]
        found.append(
            Index(
                index["IndexName"],
                keys[0],
                keys,
                projection["ProjectionType"],
                tuple(projection.get("NonKeyAttributes", [])),
            )
        )
    return found


def units_by_place(item: Mapping[str, Any], index_list: list[Index]) -> dict[str, int]:
    """Write units a transactional write of `item` costs: 'table' and each index it is in."""
    units = {"table": write_units(item_size(item))}
    for index in index_list:
        projected = index.projected(item)
        if projected is not None:
            units[index.name] = write_units(item_size(projected), transactional=False)
    return units
