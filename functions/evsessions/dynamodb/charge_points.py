"""What the central system keeps in DynamoDB (the sessions table, under its own `OCPP#` keys).

- a charge point, `OCPP#CHARGEPOINTS` / `{charger}`: connected or not, its connection, boot
  data, last seen, each connector's last status and last meterStop, diagnostics and firmware
  status, and the transaction id counter;
- a transaction, `OCPP#CHARGER#{charger}` / `TX#{id:010d}`: connector, idTag, meterStart, start
  time, what the Start showed (findings, values as sent), the earliest and latest energy reading
  of its MeterValues; after the first Stop, that Stop as sent and when it arrived (a session
  message is made from these alone, so a replay publishes the same bytes);
- a start, `OCPP#CHARGER#{charger}` / `START#{connector}#{time}#{meterStart}`: the id given to
  that StartTransaction, so a replayed Start gets the same one;
- an unmatched stop, `OCPP#CHARGER#{charger}` / `UNMATCHED#{id}#{fingerprint}`: a Stop for a
  transaction never started here, kept whole with its arrival time; it is published as a session
  too, and its replay finds this item and publishes the same bytes;
- an id tag, `OCPP#IDTAGS` / `{tag}`: status (Accepted, Blocked, Expired, Invalid), optional
  expiry date and parent tag, managed through the API and the runner.

Every key starts with the charger's own id, taken from the authorizer, never from a payload: a
charge point reads and writes only its own items. Transaction ids count up per charge point from
an atomic counter (`ADD`), so no two transactions of a charger share one, without any state in
the handler. The charge points share one partition, which the dashboard queries; at a heartbeat
every 5 minutes that is about 3 writes a second per 1,000 charge points, far below its limit.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from evsessions.contract import format_time
from evsessions.dynamodb.errors import ConditionFailed, call
from evsessions.dynamodb.items import plain, typed
from evsessions.dynamodb.keys import (
    CHARGE_POINTS,
    ID_TAGS,
    ocpp_charger_pk,
    start_sk,
    transaction_sk,
    unmatched_stop_sk,
)
from evsessions.errors import StorageUnavailable
from evsessions.integrity import findings_from_json, findings_json
from evsessions.ocpp.transactions import (
    OpenTransaction,
    Reading,
    StopReading,
    parse_stop,
    stop_fingerprint,
    unknown_session_id,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any


class CentralSystemStore:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self.table = table
        self.client = client

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        return call(self.client, operation, **arguments)

    def _update(
        self,
        key: dict[str, str],
        sets: dict[str, Any],
        condition: str = "",
        condition_values: dict[str, Any] | None = None,
        returning: str = "NONE",
    ) -> dict[str, Any]:
        names = {f"#a{i}": name for i, name in enumerate(sets)}
        values = {f":v{i}": value for i, value in enumerate(sets.values())}
        values.update(condition_values or {})
        extra = {"ConditionExpression": condition} if condition else {}
        answer = self._call(
            "update_item",
            TableName=self.table,
            Key=typed(key),
            UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(sets))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=typed(values),
            ReturnValues=returning,
            **extra,
        )
        return plain(answer.get("Attributes") or {})

    # --- charge points ---

    def charge_point_seen(self, charger_id: str, moment: datetime, **fields: Any) -> None:
        """Last seen now, plus whatever the message told (connection, boot data, a status)."""
        self._update(
            {"pk": CHARGE_POINTS, "sk": charger_id},
            {"charger_id": charger_id, "last_seen": format_time(moment), **fields},
        )

    def connected(
        self, charger_id: str, connection_id: str, moment: datetime, connected_at: int
    ) -> str | None:
        """Make this connection the charge point's current one; the one it replaces, if any."""
        before = self._update(
            {"pk": CHARGE_POINTS, "sk": charger_id},
            {
                "charger_id": charger_id,
                "last_seen": format_time(moment),
                "connected": True,
                "connection_id": connection_id,
                "connected_at": connected_at,
            },
            returning="ALL_OLD",
        )
        previous = before.get("connection_id")
        if previous is None or previous == connection_id or not before.get("connected"):
            return None
        return str(previous)

    def current_connection(self, charger_id: str) -> str | None:
        found = self._get(CHARGE_POINTS, charger_id)
        return None if found is None else found.get("connection_id")

    def connector_meter(self, charger_id: str, connector_id: int) -> int | None:
        """The meterStop of the connector's last finished transaction, when one was seen."""
        found = self._get(CHARGE_POINTS, charger_id) or {}
        value = found.get(f"meter#{connector_id}")
        return None if value is None else int(value)

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

    def _first(self, pk: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The first `limit` items of a partition in sort-key order, and whether there are more."""
        page = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=typed({":pk": pk}),
            Limit=limit,
        )
        return [plain(item) for item in page.get("Items", [])], "LastEvaluatedKey" in page

    def charge_points(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The first `limit` charge points in id order, and whether there are more."""
        return self._first(CHARGE_POINTS, limit)

    # --- transactions ---

    def start(self, transaction: OpenTransaction, start_key: str) -> OpenTransaction:
        """Keep a started transaction; a replayed Start returns the transaction it started."""
        pk = ocpp_charger_pk(transaction.charger_id)
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=typed(
                    {
                        "pk": pk,
                        "sk": start_sk(start_key),
                        "transaction_id": transaction.transaction_id,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConditionFailed:
            found = self._get(pk, start_sk(start_key))
            if found is None:  # pragma: no cover - the item the condition saw is there
                raise StorageUnavailable("a start vanished while being read") from None
            transaction = OpenTransaction(
                **{**transaction.__dict__, "transaction_id": int(found["transaction_id"])}
            )
        item: dict[str, Any] = {
            "pk": pk,
            "sk": transaction_sk(transaction.transaction_id),
            "transaction_id": transaction.transaction_id,
            "connector_id": transaction.connector_id,
            "id_tag": transaction.id_tag,
            "started_at": format_time(transaction.started_at),
        }
        if transaction.meter_start_wh is not None:
            item["meter_start_wh"] = transaction.meter_start_wh
        if transaction.findings:
            item["start_findings"] = _json(findings_json(transaction.findings))
        if transaction.raw:
            item["start_raw"] = _json(transaction.raw)
        if transaction.remote_start_by:
            item["remote_start_by"] = transaction.remote_start_by
        # also on a replay: a first attempt may have stopped before this put
        with contextlib.suppress(ConditionFailed):
            self._call(
                "put_item",
                TableName=self.table,
                Item=typed(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        return transaction

    def transaction_open(self, charger_id: str, connector_id: int, transaction_id: int) -> None:
        """The connector's open transaction, on the charge point (an operator's remote stop
        names it); a later Start on the connector replaces it."""
        self._update(
            {"pk": CHARGE_POINTS, "sk": charger_id}, {f"open#{connector_id}": transaction_id}
        )

    def transaction_closed(self, charger_id: str, connector_id: int, transaction_id: int) -> None:
        """No longer open, unless the connector has started another one meanwhile."""
        with contextlib.suppress(ConditionFailed):
            self._call(
                "update_item",
                TableName=self.table,
                Key=typed({"pk": CHARGE_POINTS, "sk": charger_id}),
                UpdateExpression="REMOVE #open",
                ConditionExpression="#open = :transaction",
                ExpressionAttributeNames={"#open": f"open#{connector_id}"},
                ExpressionAttributeValues=typed({":transaction": transaction_id}),
            )

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
        item = self._get(ocpp_charger_pk(charger_id), transaction_sk(transaction_id))
        return None if item is None else _transaction(charger_id, item)

    def stop(
        self,
        charger_id: str,
        transaction_id: int,
        payload: Mapping[str, Any],
        arrived: datetime,
        priced_by: str | None = None,
        remote_stop_by: str | None = None,
    ) -> tuple[OpenTransaction, StopReading]:
        """Keep the first Stop of a transaction as sent (with the tariff it is priced with, and
        who asked for it, if someone did), and return the transaction as it is kept from then on
        (a later Stop, or MeterValues, change nothing of it)."""
        reading = parse_stop(payload, arrived)
        fields: dict[str, Any] = {
            "stop_payload": _json(payload),
            "stop_received_at": format_time(arrived),
            "stopped_at": format_time(reading.stopped_at),
            "stop_reason": reading.reason,
        }
        if priced_by is not None:
            fields["priced_by"] = priced_by
        if remote_stop_by:
            fields["remote_stop_by"] = remote_stop_by
        if reading.meter_stop_wh is not None:
            fields["meter_stop_wh"] = reading.meter_stop_wh
        try:
            item = self._update(
                {"pk": ocpp_charger_pk(charger_id), "sk": transaction_sk(transaction_id)},
                fields,
                "attribute_exists(pk) AND attribute_not_exists(stopped_at)",
                returning="ALL_NEW",
            )
        except ConditionFailed:
            found = self._get(ocpp_charger_pk(charger_id), transaction_sk(transaction_id))
            if found is None or "stopped_at" not in found:
                raise StorageUnavailable("the transaction changed while it was stopped") from None
            item = found
        opened, kept = _transaction(charger_id, item)
        assert kept is not None
        return opened, kept

    def connector_stopped(self, charger_id: str, connector_id: int, meter_stop_wh: int) -> None:
        """The connector's last meterStop, which a next Start at meter 0 is compared with."""
        self._update(
            {"pk": CHARGE_POINTS, "sk": charger_id}, {f"meter#{connector_id}": meter_stop_wh}
        )

    def unknown_stop(
        self,
        charger_id: str,
        transaction_id: int,
        payload: Mapping[str, Any],
        arrived: datetime,
        priced_by: str | None = None,
    ) -> tuple[int | str, StopReading, bool]:
        """A Stop for a transaction never started here, kept whole with its arrival time; a replay
        of it gets the first one's (the same session id, the same reading), and says so."""
        session_id = unknown_session_id(transaction_id, payload)
        key = {
            "pk": ocpp_charger_pk(charger_id),
            "sk": unmatched_stop_sk(transaction_id, stop_fingerprint(payload)),
        }
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=typed(
                    {
                        **key,
                        "payload": _json(payload),
                        "session_id": str(session_id),
                        "received_at": format_time(arrived),
                        **({} if priced_by is None else {"priced_by": priced_by}),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConditionFailed:
            found = self._get(key["pk"], key["sk"])
            if found is None:  # pragma: no cover - the item the condition saw is there
                raise StorageUnavailable("an unmatched stop vanished while being read") from None
            arrived, replayed = datetime.fromisoformat(found["received_at"]), True
            priced_by = found.get("priced_by")
        else:
            replayed = False
        reading = parse_stop(payload, datetime.fromisoformat(format_time(arrived)))
        return session_id, replace(reading, priced_by=priced_by), replayed

    def meter_readings(
        self,
        charger_id: str,
        transaction_id: int,
        readings: list[Reading],
        problems: list[dict[str, str]],
    ) -> None:
        """The earliest and latest energy reading of an open transaction, and its first unusable
        one; a finished transaction keeps what it had at its Stop (its message must not change)."""
        key = {"pk": ocpp_charger_pk(charger_id), "sk": transaction_sk(transaction_id)}
        open_tx = "attribute_exists(pk) AND attribute_not_exists(stopped_at)"
        ordered = sorted(readings, key=lambda r: r.at)
        updates: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
        if ordered:
            first, last = ordered[0], ordered[-1]
            updates += [
                (
                    {
                        "first_meter": _json(first.as_json()),
                        "first_meter_at": format_time(first.at),
                    },
                    f"{open_tx} AND (attribute_not_exists(first_meter_at) OR first_meter_at > :at)",
                    {":at": format_time(first.at)},
                ),
                (
                    {
                        "last_meter": _json(last.as_json()),
                        "last_meter_at": format_time(last.at),
                        "last_meter_wh": last.wh,
                    },
                    f"{open_tx} AND (attribute_not_exists(last_meter_at) OR last_meter_at < :at)",
                    {":at": format_time(last.at)},
                ),
            ]
        if problems:
            updates.append(
                (
                    {"meter_invalid": _json(problems[0])},
                    f"{open_tx} AND attribute_not_exists(meter_invalid)",
                    {},
                )
            )
        for sets, condition, values in updates:
            with contextlib.suppress(ConditionFailed):
                self._update(key, sets, condition, values)

    # --- id tags ---

    def id_tag(self, tag: str) -> dict[str, Any] | None:
        return self._get(ID_TAGS, tag)

    def put_id_tag(self, tag: str, fields: Mapping[str, Any]) -> None:
        self._call(
            "put_item", TableName=self.table, Item=typed({"pk": ID_TAGS, "sk": tag, **fields})
        )

    def delete_id_tag(self, tag: str) -> bool:
        """Whether there was such a tag."""
        answer = self._call(
            "delete_item",
            TableName=self.table,
            Key=typed({"pk": ID_TAGS, "sk": tag}),
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in answer

    def id_tags(self, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """The first `limit` id tags in tag order, and whether there are more."""
        return self._first(ID_TAGS, limit)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _reading(text: str | None) -> Reading | None:
    return None if text is None else Reading.from_json(json.loads(text))


def _transaction(
    charger_id: str, item: Mapping[str, Any]
) -> tuple[OpenTransaction, StopReading | None]:
    findings = findings_from_json(json.loads(item.get("start_findings", "[]")))
    if "meter_invalid" in item:
        findings += findings_from_json([json.loads(item["meter_invalid"])])
    meter_start = item.get("meter_start_wh")
    opened = OpenTransaction(
        charger_id=charger_id,
        transaction_id=int(item["transaction_id"]),
        connector_id=int(item["connector_id"]),
        id_tag=str(item["id_tag"]),
        meter_start_wh=None if meter_start is None else int(meter_start),
        started_at=datetime.fromisoformat(item["started_at"]),
        findings=findings,
        raw=json.loads(item.get("start_raw", "{}")),
        first_reading=_reading(item.get("first_meter")),
        last_reading=_reading(item.get("last_meter")),
        remote_start_by=item.get("remote_start_by"),
        remote_stop_by=item.get("remote_stop_by"),
    )
    return opened, (_kept_stop(item) if "stopped_at" in item else None)


def _kept_stop(item: Mapping[str, Any]) -> StopReading:
    """The first Stop as kept; items from before the Stop was kept whole carry its fields."""
    if "stop_payload" in item:
        arrived = datetime.fromisoformat(item["stop_received_at"])
        reading = parse_stop(json.loads(item["stop_payload"]), arrived)
        return replace(reading, priced_by=item.get("priced_by"))
    stopped_at = datetime.fromisoformat(item["stopped_at"])
    payload = {"meterStop": int(item["meter_stop_wh"]), "timestamp": item["stopped_at"]}
    if item.get("stop_reason"):
        payload["reason"] = item["stop_reason"]
    return parse_stop(payload, stopped_at)
