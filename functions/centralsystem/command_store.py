"""Operators' commands in DynamoDB (the sessions table, beside the central system's own items).

- a command, `OCPP#CHARGER#{charger}` / `CMD#{command id}`: the CALL as sent (action, request),
  when and by whom, its timeout, and once the charger answered its CALLRESULT payload or its
  CALLERROR; `expires_at` (epoch seconds) lets DynamoDB's TTL delete it after
  `commands.RETENTION`;
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
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from botocore.exceptions import BotoCoreError, ClientError

from centralsystem.commands import RETENTION, Command
from centralsystem.store import CHARGE_POINTS, ConditionFailed
from evsessions.contract import format_time
from evsessions.dynamodb_errors import error_code, raise_translated
from evsessions.dynamodb_items import plain, typed
from evsessions.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

_STATUSES: dict[str, Literal["pending", "answered", "error"]] = {
    "pending": "pending",
    "answered": "answered",
    "error": "error",
}
_RELEASE = "REMOVE command_outstanding, command_until, command_connection"


def _command_key(charger_id: str, command_id: str) -> dict[str, str]:
    return {"pk": f"OCPP#CHARGER#{charger_id}", "sk": f"CMD#{command_id}"}


def _point_key(charger_id: str) -> dict[str, str]:
    return {"pk": CHARGE_POINTS, "sk": charger_id}


class DynamoDbCommandStore:
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
                Item=typed(_command_item(command)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception:
            self._release(command.charger_id, command.command_id)
            raise
        return None

    def command(self, charger_id: str, command_id: str) -> Command | None:
        item = self._get(_command_key(charger_id, command_id))
        return None if item is None else _command(item)

    def failed(self, command: Command, code: str, description: str, now: datetime) -> None:
        self.answered(command.charger_id, command.command_id, now, error=(code, description, {}))

    # --- the OCPP handler's side ---

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


def _command_item(command: Command) -> dict[str, Any]:
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
