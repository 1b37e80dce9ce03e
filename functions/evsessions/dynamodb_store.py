"""DynamoDB adapter of the storage port.

Key design (template.yaml declares the same keys and indexes):
- a session:  pk `CHARGER#{charger}`, sk `SESSION#{connector}#{session}` -> GetItem by identity;
- index ByChargerTime: pk + `charger_time` (`{ended_at}#{connector}#{session}`) -> a charger's
  sessions newest first;
- index ByMonth: `month` (`YYYY-MM`) + `fleet_time` (`{ended_at}#{charger}#{connector}#{session}`)
  -> the fleet's sessions newest first, one partition per month;
- a month marker: pk `FLEET`, sk `MONTH#{YYYY-MM}`, written in the same transaction as the session,
  so listing the fleet walks only months that have data.
The session put is conditional on `attribute_not_exists(pk)`: a duplicate cancels the whole
transaction and changes nothing. Every time is stored as fixed-width UTC ISO 8601 text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from evsessions.contract import ChargingSession, SessionKey, format_time
from evsessions.errors import StorageUnavailable
from evsessions.settings import Settings
from evsessions.storage import SaveOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

BY_CHARGER_TIME = "ByChargerTime"
BY_MONTH = "ByMonth"
FLEET_PK = "FLEET"
_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
        "ResourceNotFoundException",
        "UnrecognizedClientException",
    }
)
_TRANSIENT_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize


def session_item(session: ChargingSession) -> dict[str, Any]:
    """The plain (not yet typed) item for a session."""
    key = session.key
    ended = format_time(session.ended_at)
    item: dict[str, Any] = {
        "pk": f"CHARGER#{key.charger_id}",
        "sk": f"SESSION#{key.connector_id}#{key.session_id}",
        "charger_time": f"{ended}#{key.connector_id}#{key.session_id}",
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


def _typed(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serialize(value) for name, value in item.items()}


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserialize(value) for name, value in item.items()}


def _cancellation_codes(error: ClientError) -> list[str]:
    """Why a transaction was cancelled, one code per item ('None' where the item was fine)."""
    return [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]


def create_client(settings: Settings) -> DynamoDBClient:
    """A client with short timeouts: a handler should fail fast and be retried, not hang."""
    config = Config(
        connect_timeout=2, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"}
    )
    return boto3.client(
        "dynamodb",
        region_name=settings.aws_region,
        endpoint_url=settings.dynamodb_endpoint_url,
        config=config,
    )


class DynamoDbSessionStore:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self.table = table
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoDbSessionStore:
        return cls(settings.sessions_table, create_client(settings))

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Run one API call, translating transport and throttling errors to StorageUnavailable."""
        try:
            return cast(dict[str, Any], getattr(self.client, operation)(**kwargs))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _TRANSIENT_CODES:
                raise StorageUnavailable(f"DynamoDB {operation} failed: {code}") from error
            raise
        except BotoCoreError as error:
            raise StorageUnavailable(f"DynamoDB {operation} failed: {error}") from error

    def save(self, session: ChargingSession) -> SaveOutcome:
        item = session_item(session)
        marker = {"pk": FLEET_PK, "sk": f"MONTH#{item['month']}", "month": item["month"]}
        try:
            self._call(
                "transact_write_items",
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": _typed(item),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {"Put": {"TableName": self.table, "Item": _typed(marker)}},
                ],
            )
        except ClientError as error:
            codes = _cancellation_codes(error)
            if codes and codes[0] == "ConditionalCheckFailed":
                return SaveOutcome.DUPLICATE
            if any(code in _TRANSIENT_CANCELLATIONS for code in codes):
                raise StorageUnavailable(f"DynamoDB transaction cancelled: {codes}") from error
            raise
        return SaveOutcome.STORED

    def get(self, key: SessionKey) -> ChargingSession | None:
        response = self._call(
            "get_item",
            TableName=self.table,
            Key=_typed(
                {
                    "pk": f"CHARGER#{key.charger_id}",
                    "sk": f"SESSION#{key.connector_id}#{key.session_id}",
                }
            ),
        )
        item = response.get("Item")
        return None if item is None else session_from_item(_plain(item))

    def _query(self, limit: int, **kwargs: Any) -> list[ChargingSession]:
        response = self._call(
            "query", TableName=self.table, ScanIndexForward=False, Limit=limit, **kwargs
        )
        return [session_from_item(_plain(item)) for item in response.get("Items", [])]

    def recent(self, limit: int, charger_id: str | None = None) -> list[ChargingSession]:
        if charger_id is not None:
            return self._query(
                limit,
                IndexName=BY_CHARGER_TIME,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=_typed({":pk": f"CHARGER#{charger_id}"}),
            )
        found: list[ChargingSession] = []
        for month in self._months():
            found += self._query(
                limit - len(found),
                IndexName=BY_MONTH,
                KeyConditionExpression="#month = :month",
                ExpressionAttributeNames={"#month": "month"},
                ExpressionAttributeValues=_typed({":month": month}),
            )
            if len(found) >= limit:
                break
        return found

    def _months(self) -> list[str]:
        """Months that hold sessions, newest first."""
        response = self._call(
            "query",
            TableName=self.table,
            ScanIndexForward=False,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=_typed({":pk": FLEET_PK, ":prefix": "MONTH#"}),
        )
        return [_plain(item)["month"] for item in response.get("Items", [])]

    def ping(self) -> None:
        self._call("describe_table", TableName=self.table)


@functools.lru_cache(maxsize=4)
def cached_store(settings: Settings) -> DynamoDbSessionStore:
    """One client per configuration, created on first use (never at import) and then reused."""
    return DynamoDbSessionStore.from_settings(settings)
