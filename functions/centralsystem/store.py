"""What the central system keeps in DynamoDB (the sessions table, under its own `OCPP#` keys).

- a charge point, `OCPP#CHARGEPOINTS` / `{charger}`: connected or not, its connection, boot
  data, last seen, each connector's last status, and the transaction id counter;
- a transaction, `OCPP#CHARGER#{charger}` / `TX#{id:010d}`: connector, idTag, meterStart, start
  time; after the first Stop, its meter, time and reason;
- a start, `OCPP#CHARGER#{charger}` / `START#{connector}#{time}#{meterStart}`: the id given to
  that StartTransaction, so a replayed Start gets the same one;
- an unmatched stop, `OCPP#CHARGER#{charger}` / `UNMATCHED#{id}#{time}`: a Stop for a transaction
  never started here, kept whole for an operator.

Every key starts with the charger's own id, taken from the authorizer, never from a payload: a
charge point reads and writes only its own items. Transaction ids count up per charge point from
an atomic counter (`ADD`), so no two transactions of a charger share one, without any state in
the handler. The charge points share one partition, which the dashboard queries; at a heartbeat
every 5 minutes that is about 3 writes a second per 1,000 charge points, far below its limit.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from centralsystem.transactions import OpenTransaction, StopReading
from evsessions.contract import format_time
from evsessions.dynamodb_errors import error_code, raise_translated
from evsessions.dynamodb_items import plain, typed
from evsessions.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

CHARGE_POINTS = "OCPP#CHARGEPOINTS"


def _charger_pk(charger_id: str) -> str:
    return f"OCPP#CHARGER#{charger_id}"


def _tx_sk(transaction_id: int) -> str:
    return f"TX#{transaction_id:010d}"


class ConditionFailed(Exception):
    """A conditional write found the item already there (or not there)."""


class CentralSystemStore:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self.table = table
        self.client = client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return cast(dict[str, Any], getattr(self.client, operation)(**kwargs))
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise ConditionFailed(operation) from None
            raise_translated(operation, error)
        except BotoCoreError as error:
            raise StorageUnavailable(f"DynamoDB {operation} failed: {error}") from error

    def _update(
        self,
        key: dict[str, str],
        sets: dict[str, Any],
        condition: str = "",
        condition_values: dict[str, Any] | None = None,
    ) -> None:
        names = {f"#a{i}": name for i, name in enumerate(sets)}
        values = {f":v{i}": value for i, value in enumerate(sets.values())}
        values.update(condition_values or {})
        extra = {"ConditionExpression": condition} if condition else {}
        self._call(
            "update_item",
            TableName=self.table,
            Key=typed(key),
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(sets))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=typed(values),
            **extra,
        )

    # --- charge points ---

    def charge_point_seen(self, charger_id: str, moment: datetime, **fields: Any) -> None:
        """Last seen now, plus whatever the message told (connection, boot data, a status)."""
        self._update(
            {"pk": CHARGE_POINTS, "sk": charger_id},
            {"charger_id": charger_id, "last_seen": format_time(moment), **fields},
        )

    def disconnected(self, charger_id: str, connection_id: str, moment: datetime) -> None:
        """Only the connection that is current: a late $disconnect of an old one changes nothing."""
        with contextlib.suppress(ConditionFailed):
            self._update(
                {"pk": CHARGE_POINTS, "sk": charger_id},
                {"connected": False, "disconnected_at": format_time(moment)},
                "connection_id = :connection",
                {":connection": connection_id},
            )

    def next_transaction_id(self, charger_id: str) -> int:
        answer = self._call(
            "update_item",
            TableName=self.table,
            Key=typed({"pk": CHARGE_POINTS, "sk": charger_id}),
            UpdateExpression="ADD transactions_started :one",
            ExpressionAttributeValues=typed({":one": 1}),
            ReturnValues="UPDATED_NEW",
        )
        return int(plain(answer["Attributes"])["transactions_started"])

    def charge_points(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The first `limit` charge points in id order, and whether there are more."""
        page = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=typed({":pk": CHARGE_POINTS}),
            Limit=limit,
        )
        items = [plain(item) for item in page.get("Items", [])]
        return items, "LastEvaluatedKey" in page

    # --- transactions ---

    def start(self, transaction: OpenTransaction, start_key: str) -> OpenTransaction:
        """Keep a started transaction; a replayed Start returns the transaction it started."""
        pk = _charger_pk(transaction.charger_id)
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=typed(
                    {
                        "pk": pk,
                        "sk": f"START#{start_key}",
                        "transaction_id": transaction.transaction_id,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConditionFailed:
            found = self._get(pk, f"START#{start_key}")
            if found is None:  # pragma: no cover - the item the condition saw is there
                raise StorageUnavailable("a start vanished while being read") from None
            transaction = OpenTransaction(
                **{**transaction.__dict__, "transaction_id": int(found["transaction_id"])}
            )
        # also on a replay: a first attempt may have stopped before this put
        with contextlib.suppress(ConditionFailed):
            self._call(
                "put_item",
                TableName=self.table,
                Item=typed(
                    {
                        "pk": pk,
                        "sk": _tx_sk(transaction.transaction_id),
                        "transaction_id": transaction.transaction_id,
                        "connector_id": transaction.connector_id,
                        "id_tag": transaction.id_tag,
                        "meter_start_wh": transaction.meter_start_wh,
                        "started_at": format_time(transaction.started_at),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        return transaction

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        answer = self._call(
            "get_item",
            TableName=self.table,
            Key=typed({"pk": pk, "sk": sk}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return None if item is None else plain(item)

    def transaction(
        self, charger_id: str, transaction_id: int
    ) -> tuple[OpenTransaction, StopReading | None] | None:
        item = self._get(_charger_pk(charger_id), _tx_sk(transaction_id))
        if item is None:
            return None
        opened = OpenTransaction(
            charger_id=charger_id,
            transaction_id=int(item["transaction_id"]),
            connector_id=int(item["connector_id"]),
            id_tag=str(item["id_tag"]),
            meter_start_wh=int(item["meter_start_wh"]),
            started_at=datetime.fromisoformat(item["started_at"]),
        )
        if "stopped_at" not in item:
            return opened, None
        return opened, StopReading(
            meter_stop_wh=int(item["meter_stop_wh"]),
            stopped_at=datetime.fromisoformat(item["stopped_at"]),
            reason=item.get("stop_reason"),
        )

    def stop(self, charger_id: str, transaction_id: int, stop: StopReading) -> StopReading:
        """Keep the first Stop of a transaction; return what was kept (the first one's)."""
        fields: dict[str, Any] = {
            "meter_stop_wh": stop.meter_stop_wh,
            "stopped_at": format_time(stop.stopped_at),
        }
        if stop.reason:
            fields["stop_reason"] = stop.reason
        try:
            self._update(
                {"pk": _charger_pk(charger_id), "sk": _tx_sk(transaction_id)},
                fields,
                "attribute_exists(pk) AND attribute_not_exists(stopped_at)",
            )
        except ConditionFailed:
            found = self.transaction(charger_id, transaction_id)
            if found is None or found[1] is None:
                raise StorageUnavailable("the transaction changed while it was stopped") from None
            return found[1]
        return StopReading(
            stop.meter_stop_wh, datetime.fromisoformat(fields["stopped_at"]), stop.reason
        )

    def unmatched_stop(self, charger_id: str, transaction_id: int, payload: dict[str, Any]) -> None:
        """A Stop we cannot match: kept whole, so nothing a charger reported is lost."""
        self._call(
            "put_item",
            TableName=self.table,
            Item=typed(
                {
                    "pk": _charger_pk(charger_id),
                    "sk": f"UNMATCHED#{transaction_id}#{payload.get('timestamp', '')}",
                    "payload": json.dumps(payload, separators=(",", ":"), sort_keys=True),
                }
            ),
        )

    def meter_value(self, charger_id: str, transaction_id: int, energy_wh: int, at: str) -> None:
        """The last energy register reading of an open transaction, for an operator's view."""
        with contextlib.suppress(ConditionFailed):
            self._update(
                {"pk": _charger_pk(charger_id), "sk": _tx_sk(transaction_id)},
                {"last_meter_wh": energy_wh, "last_meter_at": at},
                "attribute_exists(pk)",
            )
