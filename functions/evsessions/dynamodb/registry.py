"""The charger registry kept in the sessions table: `REGISTRY#CHARGERS` / `{charger}`.

One partition for the whole registry: a fleet's chargers are read together (the broker's
identities, the OCPP authorizer's check, the dashboard), a few thousand items at most, written
seldom. The record is kept as its JSON text (`record`), so coordinates come back as the floats
they went in as, not as Decimals; `status` and `tariff_id` sit beside it for a reader that
filters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from evsessions.contract import format_time
from evsessions.dynamodb.errors import error_code, raise_translated
from evsessions.dynamodb.items import plain, typed
from evsessions.dynamodb.keys import REGISTRY, registry_key
from evsessions.errors import StorageUnavailable
from evsessions.registry import ChargerRecord, record_from_json

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any


def record_item(record: ChargerRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **registry_key(record.charger_id),
        "record": json.dumps(record.as_json(), separators=(",", ":"), sort_keys=True),
        "status": record.status,
    }
    if record.tariff_id is not None:
        item["tariff_id"] = record.tariff_id
    return item


def record_of_item(item: dict[str, Any]) -> ChargerRecord:
    return record_from_json(str(item["sk"]), json.loads(str(item["record"])))


class DynamoDBChargerRegistry:
    def __init__(
        self,
        table: str,
        client: DynamoDBClient,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.table = table
        self.client = client
        self.now = now

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return cast(dict[str, Any], getattr(self.client, operation)(**kwargs))
        except ClientError as error:
            raise_translated(operation, error)
        except BotoCoreError as error:
            raise StorageUnavailable(f"DynamoDB {operation} failed: {error}") from error

    def get(self, charger_id: str) -> ChargerRecord | None:
        answer = self._call("get_item", TableName=self.table, Key=typed(registry_key(charger_id)))
        item = answer.get("Item")
        return None if item is None else record_of_item(plain(item))

    def put(self, record: ChargerRecord) -> ChargerRecord:
        """Keep the record (a new one or a replacement), stamped with when it was written."""
        stamped = replace(record, last_updated=format_time(self.now()))
        self._call("put_item", TableName=self.table, Item=typed(record_item(stamped)))
        return stamped

    def put_if_absent(self, record: ChargerRecord) -> bool:
        """Keep a seed record unless the charger has one already (an operator's edit, a
        retirement, or an earlier seed wins); True when it was written."""
        stamped = replace(record, last_updated=format_time(self.now()))
        try:
            self.client.put_item(
                TableName=self.table,
                Item=typed(record_item(stamped)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise_translated("put_item", error)
        except BotoCoreError as error:
            raise StorageUnavailable(f"DynamoDB put_item failed: {error}") from error
        return True

    def records(self) -> list[ChargerRecord]:
        """Every record, in charger-id text order."""
        found: list[ChargerRecord] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._call(
                "query",
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=typed({":pk": REGISTRY}),
                **({"ExclusiveStartKey": start} if start else {}),
            )
            found.extend(record_of_item(plain(item)) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return found
