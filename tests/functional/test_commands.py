"""Operators' commands against the template's table (moto) and the real OCPP handler: what the
end-to-end tests cannot time (a timeout, a late answer, the wait's reads), with a clock the test
advances instead of waiting, and what a charger must not be able to do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from centralsystem import handler as central_system
from centralsystem.connections import ConnectionGone
from evsessions.dynamodb.commands import DynamoDbCommandStore
from evsessions.ocpp.commands import Busy, Command, CommandDesk, NotConnected
from tests.functional.conftest import REGION

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


class Clock:
    """Time that moves only when the desk sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = T0
        self.sleeps = 0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += timedelta(seconds=seconds)


def _event(kind: str, charger: str, body: str | None = None) -> dict[str, Any]:
    return {
        "requestContext": {
            "eventType": kind,
            "connectionId": f"conn-{charger}",
            "domainName": "abc123.execute-api.eu-north-1.amazonaws.com",
            "stage": "ocpp",
            "authorizer": {"chargerId": charger},
        },
        "headers": {"Sec-WebSocket-Protocol": "ocpp1.6"},
        "body": body,
    }


def _frame(event: dict[str, Any]) -> None:
    assert central_system.handler(event, None)["statusCode"] == 200


@pytest.fixture
def desk(sessions_table: str) -> tuple[CommandDesk, Clock, list[str]]:
    """A desk of 5 s waits and 30 s timeouts; charge points 1 and 2 connected; the frames it
    posts are collected instead of sent."""
    central_system._central_system.cache_clear()
    for charger in ("1", "2"):
        _frame(_event("CONNECT", charger))
    clock, posted = Clock(), []

    def post(connection: str, frame: str) -> None:
        posted.append(frame)

    store = DynamoDbCommandStore(sessions_table, boto3.client("dynamodb", region_name=REGION))
    return CommandDesk(store, post, 5, 30, clock, clock.sleep, ConnectionGone), clock, posted


def _answer(charger: str, command: Command, payload: Any) -> None:
    _frame(_event("MESSAGE", charger, json.dumps([3, command.command_id, payload])))


def test_the_wait_ends_pending_after_its_seconds_with_a_bounded_number_of_reads(
    desk: tuple[CommandDesk, Clock, list[str]],
) -> None:
    # GIVEN a charger that does not answer
    sender, clock, posted = desk
    # WHEN a command is sent
    command = sender.send("1", "Reset", {"type": "Soft"}, "operator")
    # THEN the CALL went out as OCPP-J, and after the 5 s wait the command is still pending
    assert json.loads(posted[0]) == [2, command.command_id, "Reset", {"type": "Soft"}]
    assert command.status(clock.now) == "pending"
    assert clock.now == T0 + timedelta(seconds=5)
    assert clock.sleeps <= 15  # 0.05 s doubling to 0.5 s: ~13 reads, not a busy loop


def test_a_timed_out_command_frees_the_charger_and_its_late_answer_is_still_recorded(
    desk: tuple[CommandDesk, Clock, list[str]],
) -> None:
    sender, clock, _ = desk
    first = sender.send("1", "Reset", {"type": "Soft"}, "operator")
    # WHEN another command comes while the first is outstanding: refused, naming it
    with pytest.raises(Busy) as refused:
        sender.send("1", "ClearCache", {}, "operator")
    assert refused.value.outstanding == first.command_id
    # WHEN the first's timeout passes
    clock.now = first.timeout_at
    found = sender.store.command("1", first.command_id)
    assert found is not None and found.status(clock.now) == "timed_out"
    # THEN the next command goes out
    second = sender.send("1", "ClearCache", {}, "operator")
    # AND the first one's late answer is recorded against it, not against the second
    _answer("1", first, {"status": "Accepted"})
    late = sender.store.command("1", first.command_id)
    assert late is not None and late.status(clock.now) == "answered"
    still = sender.store.command("1", second.command_id)
    assert still is not None and still.recorded_status == "pending"


def test_a_malformed_confirmation_is_recorded_as_an_error_with_what_was_sent(
    desk: tuple[CommandDesk, Clock, list[str]],
) -> None:
    sender, clock, _ = desk
    command = sender.send("1", "Reset", {"type": "Soft"}, "operator")
    _answer("1", command, {"status": "Maybe"})
    found = sender.store.command("1", command.command_id)
    assert found is not None and found.status(clock.now) == "error"
    assert found.error is not None and found.error["code"] == "FormationViolation"
    assert "status" in found.error["description"]
    assert found.error["details"] == {"payload": {"status": "Maybe"}}


def test_a_charger_cannot_answer_another_chargers_command(
    desk: tuple[CommandDesk, Clock, list[str]],
) -> None:
    sender, _, _ = desk
    command = sender.send("1", "Reset", {"type": "Soft"}, "operator")
    # WHEN charger 2 sends an answer with charger 1's command id
    _answer("2", command, {"status": "Accepted"})
    # THEN charger 1's command is still waiting for charger 1
    found = sender.store.command("1", command.command_id)
    assert found is not None and found.recorded_status == "pending"


def test_a_charger_that_left_before_the_call_went_out_is_not_connected(
    desk: tuple[CommandDesk, Clock, list[str]],
) -> None:
    sender, _, _ = desk

    def gone(connection: str, frame: str) -> None:
        raise ConnectionGone(connection)

    sender.post = gone
    with pytest.raises(NotConnected):
        sender.send("1", "Reset", {"type": "Soft"}, "operator")
    # AND the charger is not held: the next command is sent
    sender.post = lambda connection, frame: None
    assert sender.send("1", "Reset", {"type": "Soft"}, "operator").action == "Reset"


def _start(tag: str, at: str) -> str:
    start = {"connectorId": 1, "idTag": tag, "meterStart": 0, "timestamp": at}
    return json.dumps([2, f"s-{tag}", "StartTransaction", start])


def _remote_start_by(table: str, transaction_id: int) -> str | None:
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=table,
        Key={"pk": {"S": "OCPP#CHARGER#1"}, "sk": {"S": f"TX#{transaction_id:010d}"}},
    )["Item"]
    return item.get("remote_start_by", {}).get("S")


def test_a_start_is_the_remote_starts_only_when_it_was_not_refused_and_only_once(
    desk: tuple[CommandDesk, Clock, list[str]], sessions_table: str
) -> None:
    sender, clock, _ = desk
    # GIVEN a remote start the charger refused, for tag R
    clock.now = datetime.now(UTC)  # the handler's own clock judges the 10-minute window
    sender.wait = 0
    refused = sender.send("1", "RemoteStartTransaction", {"idTag": "R"}, "operator")
    _answer("1", refused, {"status": "Rejected"})
    # AND one it accepted, for tag A
    accepted = sender.send("1", "RemoteStartTransaction", {"idTag": "A"}, "operator")
    _answer("1", accepted, {"status": "Accepted"})
    # WHEN the charger starts with R, with A, and with A again (a second, local start)
    for tag, at in (("R", "10:00"), ("A", "10:01"), ("A", "10:02")):
        _frame(_event("MESSAGE", "1", _start(tag, f"2026-11-29T{at}:00Z")))
    # THEN only the first Start with A is the one asked for
    assert [_remote_start_by(sessions_table, n) for n in (1, 2, 3)] == [None, "operator", None]
