"""An operator's command to a charge point: the central system's own OCPP CALL, and its answer.

The API sends it (`CommandDesk.send`); the charger's CALLRESULT or CALLERROR reaches the OCPP
handler, which records it (`evsessions.dynamodb.commands`); the API, still waiting, reads it back.
Two Lambda functions, one table between them: nothing is held in memory across invocations.

OCPP 1.6 allows one outstanding CALL per direction. A second command while one is outstanding
is refused (`Busy`, a 409 naming the outstanding one), never queued: a queue would hold an API
invocation (and a caller) for up to the whole wait behind someone else's command, and a charger
that never answers would block every later command. An outstanding command holds the charger
for at most `timeout` (OCPP_COMMAND_TIMEOUT_SECONDS); then it is timed out and the next works.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from evsessions.contract import format_time

COMMAND_ACTIONS = (
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "GetConfiguration",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "Reset",
    "TriggerMessage",
    "UnlockConnector",
)
"""The Core profile's central-system-initiated actions (DataTransfer aside: no vendor's messages
are implemented here) and Remote Trigger's TriggerMessage."""

RETENTION = timedelta(days=7)
"""How long a command's record is kept after it was sent (DynamoDB's TTL deletes it later, within
days): long enough to look up what was asked of a charger last week, short enough that the
records of a busy operator stay a handful per charger."""

REMOTE_START_WINDOW = timedelta(minutes=10)
"""A StartTransaction within this of an operator's RemoteStartTransaction for its id tag is the
one asked for (chargers wait for the EV to be plugged in: ConnectionTimeOut, often 1-5 min)."""

POLL_FIRST_SECONDS = 0.05
POLL_MAX_SECONDS = 0.5
"""The waiting API reads the command back, first soon (a charger on a LAN answers in tens of ms),
then at most twice a second: at most ~60 consistent reads for a 30 s wait."""

Status = Literal["pending", "answered", "error", "timed_out"]


class CommandError(Exception):
    """Why a command was not sent; each subclass is one HTTP answer of the API."""


class BadCommand(CommandError):
    """The action or its payload is not a valid OCPP 1.6 request (400)."""


class UnknownChargePoint(CommandError):
    """No charge point of that id ever connected here (404)."""


class NotConnected(CommandError):
    """The charge point is not connected now (409)."""


class NotOpen(CommandError):
    """A RemoteStopTransaction names no transaction open on that charger (409)."""


class Busy(CommandError):
    """Another command to the charge point is outstanding (409)."""

    def __init__(self, message: str, outstanding: str | None) -> None:
        super().__init__(message)
        self.outstanding = outstanding


@dataclass(frozen=True)
class Command:
    """A command as recorded: what was asked, by whom, and what came back."""

    command_id: str
    charger_id: str
    action: str
    request: dict[str, Any]
    requested_at: datetime
    requested_by: str
    timeout_at: datetime
    recorded_status: Literal["pending", "answered", "error"] = "pending"
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    answered_at: datetime | None = None

    def status(self, now: datetime) -> Status:
        """A pending command past its timeout is timed out (a late answer still gets recorded)."""
        if self.recorded_status == "pending" and now >= self.timeout_at:
            return "timed_out"
        return self.recorded_status

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "charger_id": self.charger_id,
            "action": self.action,
            "request": self.request,
            "requested_at": format_time(self.requested_at),
            "requested_by": self.requested_by,
            "timeout_at": format_time(self.timeout_at),
            "status": self.status(now),
            "response": self.response,
            "error": self.error,
            "answered_at": None if self.answered_at is None else format_time(self.answered_at),
        }


class CommandStore(Protocol):
    """Where commands are kept between the API that sends and the handler that hears back."""

    def charge_point(self, charger_id: str) -> Mapping[str, Any] | None: ...

    def claim(self, command: Command, connection_id: str, now: datetime) -> str | None:
        """Make `command` the charger's outstanding one on `connection_id` and record it; None,
        or the id of the outstanding command that is in the way (or "" when the connection
        changed or closed meanwhile)."""
        ...

    def command(self, charger_id: str, command_id: str) -> Command | None: ...

    def open_transaction(self, charger_id: str, transaction_id: int) -> bool: ...

    def failed(self, command: Command, code: str, description: str, now: datetime) -> None:
        """Record that the command never reached the charger, and free the charger."""
        ...


def frame(command: Command) -> str:
    """The OCPP-J CALL: [2, uniqueId, action, payload]."""
    return json.dumps([2, command.command_id, command.action, command.request])


def validated_request(action: str, payload: Any) -> dict[str, Any]:
    """The payload when it is a valid OCPP 1.6 request of `action`, else BadCommand saying what
    to fix (the `ocpp` package's schemas, imported here so the API's other routes never pay for
    them at a cold start)."""
    if action not in COMMAND_ACTIONS:
        raise BadCommand(f"unknown command {action[:40]!r}; one of {', '.join(COMMAND_ACTIONS)}")
    if not isinstance(payload, dict):
        raise BadCommand(f"the body must be the {action} request as a JSON object")
    from jsonschema.exceptions import ValidationError
    from ocpp.messages import get_validator

    try:
        get_validator(2, action, "1.6").validate(payload)
    except ValidationError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "body"
        raise BadCommand(f"{action}: {where}: {error.message[:300]}") from None
    return payload


@dataclass
class CommandDesk:
    """Sends commands and waits a while for their answers; the clock and sleep are injected so
    a test advances time instead of waiting."""

    store: CommandStore
    post: Callable[[str, str], None]
    """(connection id, frame): raises ConnectionGone when the charger has left."""
    wait: float
    timeout: float
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    gone: type[Exception]
    """The exception `post` raises for a connection that is no longer there."""

    def send(self, charger_id: str, action: str, payload: Any, by: str) -> Command:
        """Send a command; the command as it stands when answered or when the wait is over."""
        request = validated_request(action, payload)
        point = self.store.charge_point(charger_id)
        if point is None:
            raise UnknownChargePoint(f"no charge point {charger_id!r} has connected here")
        connection = point.get("connection_id")
        if not point.get("connected") or not connection:
            raise NotConnected(f"charge point {charger_id!r} is not connected")
        if action == "RemoteStopTransaction" and not self.store.open_transaction(
            charger_id, int(request["transactionId"])
        ):
            raise NotOpen(
                f"transaction {request['transactionId']} is not open on charger {charger_id!r}"
            )
        now = self.clock()
        command = Command(
            command_id=str(uuid.uuid4()),
            charger_id=charger_id,
            action=action,
            request=request,
            requested_at=now,
            requested_by=by,
            timeout_at=now + timedelta(seconds=self.timeout),
        )
        blocking = self.store.claim(command, str(connection), now)
        if blocking == "":
            raise NotConnected(f"charge point {charger_id!r} is not connected (it just left)")
        if blocking is not None:
            raise Busy(
                f"command {blocking} to charge point {charger_id!r} is outstanding (OCPP allows "
                "one at a time): poll it, or retry when it is answered or timed out",
                blocking,
            )
        try:
            self.post(str(connection), frame(command))
        except self.gone:
            self.store.failed(command, "NotConnected", "the charge point had left", self.clock())
            raise NotConnected(f"charge point {charger_id!r} is not connected") from None
        except Exception as error:
            self.store.failed(command, "NotSent", str(error)[:200], self.clock())
            raise
        return self._awaited(command)

    def _awaited(self, command: Command) -> Command:
        """Read the command back until answered, timed out, or the wait is over."""
        until = min(
            command.requested_at + timedelta(seconds=self.wait),
            command.timeout_at,
        )
        pause = POLL_FIRST_SECONDS
        current = command
        while True:
            found = self.store.command(command.charger_id, command.command_id)
            current = found or current
            now = self.clock()
            if current.status(now) != "pending" or now >= until:
                return current
            self.sleep(min(pause, max(0.0, (until - now).total_seconds())))
            pause = min(pause * 2, POLL_MAX_SECONDS)
