"""A DynamoDB client wrapper that adds up the capacity every call consumes, by table and index.

Why: the cost of a session on AWS is its write and read units. DynamoDB Local answers
`ReturnConsumedCapacity=INDEXES` for single-item calls and reads as DynamoDB does (a put with one
index: 1 unit on the table, 1 on the index; a Query of small items: 0.5), so the meter asks it.
For TransactWriteItems it does not: it reports a transaction of 1, 3, 10 or 50 puts alike as 2
units on the table (we checked), so the meter sizes each item of a committed transaction itself
(scripts/item_units.py): a put from the request, an update from the item read back afterwards
through a second client, which is not metered.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from item_units import Index, units_by_place

from evsessions.dynamodb.items import plain

_WRITES = frozenset({"put_item", "update_item", "delete_item", "batch_write_item"})
_READS = frozenset({"get_item", "query", "batch_get_item", "transact_get_items", "scan"})


class CapacityMeter:
    def __init__(self, client: Any, reader: Any, index_list: list[Index]) -> None:
        self._client = client
        self._reader = reader
        self._indexes = index_list
        self._lock = threading.Lock()
        self.write_units: Counter[str] = Counter()
        """'table' or the index name -> write units consumed."""
        self.read_units: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in _WRITES | _READS:
            return method

        def metered(**arguments: Any) -> Any:
            response = method(ReturnConsumedCapacity="INDEXES", **arguments)
            consumed = response.get("ConsumedCapacity") or []
            self._add(name in _READS, consumed if isinstance(consumed, list) else [consumed])
            return response

        return metered

    def transact_write_items(self, **arguments: Any) -> Any:
        response = self._client.transact_write_items(**arguments)
        for action in arguments["TransactItems"]:
            [(kind, body)] = action.items()
            if kind == "Put":
                item = plain(body["Item"])
            elif kind == "Update":
                stored = self._reader.get_item(
                    TableName=body["TableName"], Key=body["Key"], ConsistentRead=True
                )
                item = plain(stored.get("Item") or body["Key"])
            else:
                item = plain(body["Key"])
            with self._lock:
                self.write_units.update(units_by_place(item, self._indexes))
        return response

    def _add(self, read: bool, consumed: list[dict[str, Any]]) -> None:
        units = self.read_units if read else self.write_units
        with self._lock:
            for entry in consumed:
                units["table"] += float(entry.get("Table", {}).get("CapacityUnits", 0.0))
                for index, used in (entry.get("GlobalSecondaryIndexes") or {}).items():
                    units[index] += float(used.get("CapacityUnits", 0.0))

    def reset(self) -> None:
        with self._lock:
            self.write_units.clear()
            self.read_units.clear()
