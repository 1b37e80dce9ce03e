"""Operators' commands in DynamoDB (the sessions table, beside the central system's own items).

- a command, `OCPP#CHARGER#{charger}` / `CMD#{command id}`: the CALL as sent (action, request),
  when and by whom, its timeout, and once the charger answered its CALLRESULT payload or its
  CALLERROR; `expires_at` (epoch seconds) lets DynamoDB's TTL delete it after
  `commands.RETENTION`;
- who asked for a remote start, `OCPP#CHARGER#{charger}` / `REMOTESTART#{id tag}`, or a remote
  stop, `.../REMOTESTOP#{transaction id:010d}`: the command's id and caller, for the Start or
  Stop the command causes (the session records who asked);
- the charger's one outstanding command, on its charge point item (`OCPP#CHARGEPOINTS` /
  `{charger}`): `command_outstanding` (the command id), `command_until` (its timeout) and
  `command_connection`. A conditional update takes it, so two callers at once cannot both send;
  the answer, a failed send or the connection's $disconnect gives it back.

The command id is the CALL's unique id: the OCPP handler matches an answer by it, under the key of
the charger the authorizer vouched for, so a charger can answer only its own commands.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from evsessions.contract import format_time
from evsessions.dynamodb.errors import ConditionFailed, call
from evsessions.dynamodb.items import plain, typed
from evsessions.dynamodb.keys import (
    CHARGE_POINTS,
    command_sk,
    ocpp_charger_pk,
    remote_start_sk,
    remote_stop_sk,
    transaction_sk,
)
from evsessions.ocpp.commands import REMOTE_START_WINDOW, RETENTION, Command
from evsessions.ocpp.transactions import MAX_TRANSACTION_ID

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

_STATUSES: dict[str, Literal["pending", "answered", "error"]] = {
    "pending": "pending",
    "answered": "answered",
    "error": "error",
}
_CLOCK_SKEW = timedelta(seconds=5)
"""The API's and the OCPP function's clocks may differ by this much (Lambda hosts keep time by
NTP, within milliseconds)."""
_RELEASE = "REMOVE command_outstanding, command_until, command_connection"


def _command_key(charger_id: str, command_id: str) -> dict[str, str]:
    return {"pk": ocpp_charger_pk(charger_id), "sk": command_sk(command_id)}


def _point_key(charger_id: str) -> dict[str, str]:
    return {"pk": CHARGE_POINTS, "sk": charger_id}


class DynamoDbCommandStore:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self.table = table
        self.client = client

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        return call(self.client, operation, **arguments)

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        answer = self._call("get_item", TableName=self.table, Key=typed(key), ConsistentRead=True)
        item = answer.get("Item")
        return None if item is None else plain(item)

    # --- the API's side ---

    def charge_point(self, charger_id: str) -> Mapping[str, Any] | None:
        return self._get(_point_key(charger_id))

    def claim(self, command: Command, connection_id: str, now: datetime) -> str | None:
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key=typed(_point_key(command.charger_id)),
                UpdateExpression=(
                    "SET command_outstanding = :id, command_until = :until, "
                    "command_connection = :connection"
                ),
                ConditionExpression=(
                    "#connected = :yes AND connection_id = :connection AND "
                    "(attribute_not_exists(command_outstanding) OR command_until <= :now)"
                ),
                ExpressionAttributeNames={"#connected": "connected"},
                ExpressionAttributeValues=typed(
                    {
                        ":id": command.command_id,
                        ":until": format_time(command.timeout_at),
                        ":connection": connection_id,
                        ":yes": True,
                        ":now": format_time(now),
                    }
                ),
            )
        except ConditionFailed:
            point = self.charge_point(command.charger_id) or {}
            if not point.get("connected") or point.get("connection_id") != connection_id:
                return ""
            return str(point.get("command_outstanding") or "")
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item=typed(command_item(command)),
                ConditionExpression="attribute_not_exists(pk)",
            )
            self._remote_marker(command)
        except Exception:
            self._release(command.charger_id, command.command_id)
            raise
        return None

    def command(self, charger_id: str, command_id: str) -> Command | None:
        item = self._get(_command_key(charger_id, command_id))
        return None if item is None else _command(item)

    def failed(self, command: Command, code: str, description: str, now: datetime) -> None:
        self.answered(command.charger_id, command.command_id, now, error=(code, description, {}))

    def open_transaction(self, charger_id: str, transaction_id: int) -> bool:
        """Whether the charger has this transaction open here (a RemoteStop names one)."""
        if not 0 < transaction_id <= MAX_TRANSACTION_ID:
            return False
        item = self._get({"pk": ocpp_charger_pk(charger_id), "sk": transaction_sk(transaction_id)})
        return item is not None and "stopped_at" not in item

    def _remote_marker(self, command: Command) -> None:
        """Who asked for a remote start (under its id tag) or stop (under its transaction), for
        the StartTransaction or StopTransaction it causes; written before the CALL goes out, as
        the charger's Start may be handled before its answer to our CALL is."""
        if command.action == "RemoteStartTransaction":
            sk = remote_start_sk(str(command.request["idTag"]))
        elif command.action == "RemoteStopTransaction":
            sk = remote_stop_sk(int(command.request["transactionId"]))
        else:
            return
        item = {
            "pk": ocpp_charger_pk(command.charger_id),
            "sk": sk,
            "command_id": command.command_id,
            "requested_by": command.requested_by,
            "requested_at": format_time(command.requested_at),
            "connector_id": int(command.request.get("connectorId", 0)),
            "expires_at": int((command.requested_at + RETENTION).timestamp()),
        }
        self._call("put_item", TableName=self.table, Item=typed(item))

    # --- the OCPP handler's side ---

    def _asked_by(self, marker: Mapping[str, Any] | None, charger_id: str) -> str | None:
        """Who sent the marker's command, unless the charger refused it."""
        if marker is None:
            return None
        found = self.command(charger_id, str(marker["command_id"]))
        if found is None or found.recorded_status == "error":
            return None
        if found.recorded_status == "answered" and (found.response or {}).get("status") != (
            "Accepted"
        ):
            return None
        return found.requested_by

    def remote_start_by(
        self, charger_id: str, id_tag: str, connector_id: int, start_key: str, now: datetime
    ) -> str | None:
        """Who asked for the transaction this StartTransaction starts: a remote start for its id
        tag (and connector, when it named one) sent within REMOTE_START_WINDOW, not refused,
        and not taken by another Start (a replay of this one takes it again)."""
        key = {"pk": ocpp_charger_pk(charger_id), "sk": remote_start_sk(id_tag)}
        marker = self._get(key)
        if marker is None:
            return None
        sent = datetime.fromisoformat(marker["requested_at"])
        if not -_CLOCK_SKEW <= now - sent <= REMOTE_START_WINDOW:
            return None
        if int(marker.get("connector_id", 0)) not in (0, connector_id):
            return None
        asked = self._asked_by(marker, charger_id)
        if asked is None:
            return None
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key=typed(key),
                UpdateExpression="SET taken_by = :start",
                ConditionExpression=(
                    "command_id = :command AND "
                    "(attribute_not_exists(taken_by) OR taken_by = :start)"
                ),
                ExpressionAttributeValues=typed(
                    {":start": start_key, ":command": str(marker["command_id"])}
                ),
            )
        except ConditionFailed:
            return None
        return asked

    def remote_stop_by(self, charger_id: str, transaction_id: int) -> str | None:
        """Who asked for this transaction's end, when a remote stop named it and was not refused."""
        if not 0 < transaction_id <= MAX_TRANSACTION_ID:
            return None
        marker = self._get(
            {"pk": ocpp_charger_pk(charger_id), "sk": remote_stop_sk(transaction_id)}
        )
        return self._asked_by(marker, charger_id)

    def answered(
        self,
        charger_id: str,
        command_id: str,
        now: datetime,
        response: dict[str, Any] | None = None,
        error: tuple[str, str, Any] | None = None,
    ) -> Command | None:
        """Record the charger's answer to a pending command and free the charger; the command as
        recorded now, or None when no pending command has that id (unknown, or answered)."""
        fields: dict[str, Any] = {":at": format_time(now), ":pending": "pending"}
        if error is None:
            sets = "recorded_status = :answered, response_json = :response"
            fields |= {":answered": "answered", ":response": json.dumps(response or {})}
        else:
            sets = "recorded_status = :error, error_json = :detail"
            code, description, details = error
            detail = {"code": code, "description": description, "details": details}
            fields |= {":error": "error", ":detail": json.dumps(detail)}
        # the charger is free first: a caller who reads the answer may send the next command
        self._release(charger_id, command_id)
        try:
            answer = self._call(
                "update_item",
                TableName=self.table,
                Key=typed(_command_key(charger_id, command_id)),
                UpdateExpression=f"SET {sets}, answered_at = :at",
                ConditionExpression="recorded_status = :pending",
                ExpressionAttributeValues=typed(fields),
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            return None
        return _command(plain(answer["Attributes"]))

    def pending_action(self, charger_id: str, command_id: str) -> str | None:
        """The action of a pending command with this id, to validate its answer against."""
        found = self.command(charger_id, command_id)
        if found is None or found.recorded_status != "pending":
            return None
        return found.action

    def connection_lost(self, charger_id: str, connection_id: str, now: datetime) -> str | None:
        """A connection closed: its outstanding command can no longer be answered. The id of
        the command that failed so, if any."""
        try:
            before = self._call(
                "update_item",
                TableName=self.table,
                Key=typed(_point_key(charger_id)),
                UpdateExpression=_RELEASE,
                ConditionExpression="command_connection = :connection",
                ExpressionAttributeValues=typed({":connection": connection_id}),
                ReturnValues="ALL_OLD",
            )
        except ConditionFailed:
            return None
        command_id = str(plain(before.get("Attributes") or {}).get("command_outstanding") or "")
        if not command_id:
            return None
        self.answered(
            charger_id,
            command_id,
            now,
            error=("ConnectionLost", "the charge point disconnected before it answered", {}),
        )
        return command_id

    def _release(self, charger_id: str, command_id: str) -> None:
        with contextlib.suppress(ConditionFailed):
            self._call(
                "update_item",
                TableName=self.table,
                Key=typed(_point_key(charger_id)),
                UpdateExpression=_RELEASE,
                ConditionExpression="command_outstanding = :id",
                ExpressionAttributeValues=typed({":id": command_id}),
            )


def command_item(command: Command) -> dict[str, Any]:
    """A command as it is first recorded: pending."""
    return {
        **_command_key(command.charger_id, command.command_id),
        "command_id": command.command_id,
        "charger_id": command.charger_id,
        "action": command.action,
        "request": json.dumps(command.request),
        "requested_at": format_time(command.requested_at),
        "requested_by": command.requested_by,
        "timeout_at": format_time(command.timeout_at),
        "recorded_status": "pending",
        "expires_at": int((command.requested_at + RETENTION).timestamp()),
    }


def _command(item: Mapping[str, Any]) -> Command:
    answered = item.get("answered_at")
    status = str(item.get("recorded_status", "pending"))
    return Command(
        command_id=str(item["command_id"]),
        charger_id=str(item["charger_id"]),
        action=str(item["action"]),
        request=json.loads(item["request"]),
        requested_at=datetime.fromisoformat(item["requested_at"]),
        requested_by=str(item["requested_by"]),
        timeout_at=datetime.fromisoformat(item["timeout_at"]),
        recorded_status=_STATUSES.get(status, "pending"),
        response=json.loads(item["response_json"]) if "response_json" in item else None,
        error=json.loads(item["error_json"]) if "error_json" in item else None,
        answered_at=None if answered is None else datetime.fromisoformat(answered),
    )
