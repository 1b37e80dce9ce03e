"""Operators' commands, end to end: curl's request to the running emulator's API, the CALL over a
real WebSocket to the `ocpp` package's ChargePoint, its CALLRESULT or CALLERROR back through the
real OCPP handler and DynamoDB Local, to the waiting API."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect

from evsessions.mqtt_identity import charger_password
from local_runner.system import LocalSystem
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration
T = TypeVar("T")


class Charger(ChargePoint):
    """Answers every command it implements; stays silent on the actions in `silent`, and takes
    `slow` seconds over those in `slow_actions` (its answers then come one after the other)."""

    silent: set[str]
    slow_actions: set[str]
    slow: float = 1.0
    received: list[tuple[str, dict[str, Any]]]

    async def route_message(self, raw_msg: str | bytes) -> None:
        frame = json.loads(raw_msg)
        if frame[0] == 2:
            self.received.append((frame[2], frame[3]))
            if frame[2] in self.silent:
                return
            if frame[2] in self.slow_actions:
                await asyncio.sleep(self.slow)
        await super().route_message(raw_msg)

    @on(Action.remote_start_transaction)
    def remote_start(self, id_tag: str, **_: Any) -> call_result.RemoteStartTransaction:
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    def remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.reset)
    def reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def unlock(self, connector_id: int) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def availability(self, connector_id: int, type: str) -> call_result.ChangeAvailability:
        return call_result.ChangeAvailability(status="Scheduled")

    @on(Action.get_configuration)
    def get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        known = [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=key or [])

    @on(Action.change_configuration)
    def change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.trigger_message)
    def trigger(self, requested_message: str, **_: Any) -> call_result.TriggerMessage:
        return call_result.TriggerMessage(status="Accepted")

    # no ClearCache handler: the ocpp package answers it with a CALLERROR NotImplemented


COMMANDS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("RemoteStartTransaction", {"idTag": "TAG-R", "connectorId": 1}, {"status": "Accepted"}),
    ("RemoteStopTransaction", {"transactionId": 7}, {"status": "Accepted"}),
    ("Reset", {"type": "Soft"}, {"status": "Accepted"}),
    ("UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}),
    ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, {"status": "Scheduled"}),
    (
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "Nope"]},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["HeartbeatInterval", "Nope"],
        },
    ),
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification"}, {"status": "Accepted"}),
]


def _operator(system: LocalSystem) -> str:
    return system.invokers["ApiFunction"].environment["OPERATOR_KEY"]


def request(
    system: LocalSystem,
    method: str,
    path: str,
    body: Any = None,
    operator: str | None = "",
) -> tuple[int, Any]:
    """curl's request: JSON in and out; the operator key unless `operator` is None."""
    assert system.api is not None
    headers = {"content-type": "application/json"}
    if operator is not None:
        headers["x-operator-key"] = operator or _operator(system)
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(system.api.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(sent, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def command(system: LocalSystem, charger: str, action: str, body: Any) -> tuple[int, Any]:
    return request(system, "POST", f"/chargepoints/{charger}/commands/{action}", body)


@asynccontextmanager
async def charger_online(system: LocalSystem, charger: str) -> AsyncIterator[Charger]:
    gateway = system.gateways[0]
    assert system.access is not None
    password = charger_password(system.access.fleet_secret, charger)
    basic = "Basic " + base64.b64encode(f"{charger}:{password}".encode()).decode()
    async with connect(
        gateway.url + charger,
        subprotocols=[websockets.Subprotocol("ocpp1.6")],
        additional_headers={"Authorization": basic},
        open_timeout=20,
    ) as socket:
        point = Charger(charger, socket, response_timeout=20)
        point.silent, point.slow_actions, point.received = set(), set(), []
        task = asyncio.create_task(point.start())
        try:
            yield point
        finally:
            task.cancel()


def _run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    """A blocking HTTP call, while the charger's loop goes on answering."""
    return await asyncio.to_thread(function, *args)


@pytest.fixture
def short_waits(local_system: LocalSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API waits 2 s for an answer, and a command times out after 3 s (read per request)."""
    environment = local_system.invokers["ApiFunction"].environment
    monkeypatch.setitem(environment, "OCPP_COMMAND_WAIT_SECONDS", "2")
    monkeypatch.setitem(environment, "OCPP_COMMAND_TIMEOUT_SECONDS", "3")


def test_every_command_round_trips_to_the_charger_and_back(local_system: LocalSystem) -> None:
    charger = "CP-cmd-1"

    async def scenario() -> tuple[list[tuple[int, Any]], list[tuple[str, dict[str, Any]]]]:
        async with charger_online(local_system, charger) as point:
            answers = []
            for action, payload, _ in COMMANDS:
                answers.append(await _in_thread(command, local_system, charger, action, payload))
            return answers, point.received

    answers, received = _run(scenario)
    # THEN the charger received each CALL as sent
    assert received == [(action, payload) for action, payload, _ in COMMANDS]
    # AND each answer came back to the caller, who can read it again by its id
    for (action, payload, confirmation), (status, body) in zip(COMMANDS, answers, strict=True):
        assert status == 200, (action, body)
        assert body["status"] == "answered", body
        assert (body["action"], body["request"], body["response"]) == (
            action,
            payload,
            confirmation,
        )
        assert body["requested_by"] == "operator"
        again = request(
            local_system, "GET", f"/chargepoints/{charger}/commands/{body['command_id']}"
        )
        assert again == (200, body)


def test_a_callerror_is_reported(local_system: LocalSystem) -> None:
    charger = "CP-cmd-2"

    async def scenario() -> tuple[int, Any]:
        async with charger_online(local_system, charger):
            return await _in_thread(command, local_system, charger, "ClearCache", {})

    status, body = _run(scenario)
    assert status == 200, body
    assert body["status"] == "error"
    assert body["error"]["code"] == "NotImplemented"
    assert body["response"] is None


def test_a_charger_that_never_answers_times_out_and_the_next_command_works(
    local_system: LocalSystem, short_waits: None
) -> None:
    charger = "CP-cmd-3"

    async def scenario() -> tuple[tuple[int, Any], tuple[int, Any], Any, tuple[int, Any]]:
        async with charger_online(local_system, charger) as point:
            point.silent.add("Reset")
            first = await _in_thread(command, local_system, charger, "Reset", {"type": "Hard"})
            path = f"/chargepoints/{charger}/commands/{first[1]['command_id']}"
            meanwhile = await _in_thread(
                command, local_system, charger, "UnlockConnector", {"connectorId": 1}
            )

            def timed_out() -> Any:
                found = request(local_system, "GET", path)[1]
                return found if found["status"] == "timed_out" else None

            late = await _in_thread(eventually, timed_out, 10.0)
            after = await _in_thread(
                command, local_system, charger, "UnlockConnector", {"connectorId": 1}
            )
            return first, meanwhile, late, after

    first, meanwhile, late, after = _run(scenario)
    # THEN the silent charger's command was pending when the wait ended: 202, with its id
    assert first[0] == 202 and first[1]["status"] == "pending", first
    # AND while it was outstanding another command was refused, naming it
    assert meanwhile[0] == 409 and first[1]["command_id"] in meanwhile[1]["message"], meanwhile
    # AND it timed out, after which the next command went through
    assert late["status"] == "timed_out"
    assert after[0] == 200 and after[1]["response"] == {"status": "Unlocked"}, after


def test_a_disconnect_while_a_command_is_pending_fails_it(
    local_system: LocalSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    charger = "CP-cmd-4"
    monkeypatch.setitem(
        local_system.invokers["ApiFunction"].environment, "OCPP_COMMAND_WAIT_SECONDS", "20"
    )

    async def scenario() -> tuple[int, Any]:
        async with charger_online(local_system, charger) as point:
            point.silent.add("Reset")
            sent = asyncio.create_task(
                _in_thread(command, local_system, charger, "Reset", {"type": "Soft"})
            )
            while not point.received:
                await asyncio.sleep(0.02)
        # the charger left with the Reset unanswered
        return await asyncio.wait_for(sent, 15)

    status, body = _run(scenario)
    assert status == 200, body
    assert body["status"] == "error"
    assert body["error"]["code"] == "ConnectionLost"


def test_two_callers_at_once_one_is_sent_the_other_refused(local_system: LocalSystem) -> None:
    charger = "CP-cmd-5"
    start = threading.Barrier(2)

    def at_once(connector: int) -> tuple[int, Any]:
        start.wait(10)
        return command(local_system, charger, "UnlockConnector", {"connectorId": connector})

    async def scenario() -> list[tuple[int, Any]]:
        async with charger_online(local_system, charger) as point:
            point.slow_actions.add("UnlockConnector")
            return list(await asyncio.gather(_in_thread(at_once, 1), _in_thread(at_once, 2)))

    answers = _run(scenario)
    assert sorted(status for status, _ in answers) == [200, 409], answers


def test_an_unknown_or_offline_or_foreign_charger_or_a_bad_request_is_refused(
    local_system: LocalSystem,
) -> None:
    reset = {"type": "Soft"}
    # a charger of the fleet that never connected: 404
    assert command(local_system, "CP-cmd-9", "Reset", reset)[0] == 404
    # not one of this system's chargers: 403, whatever it is
    status, body = command(local_system, "CP-of-another-fleet", "Reset", reset)
    assert status == 403 and "MQTT_CHARGER_IDS" in body["message"], body
    # a charger that was connected and left: 409
    charger = "CP-cmd-6"

    async def visit() -> None:
        async with charger_online(local_system, charger):
            pass

    _run(visit)

    def offline() -> Any:
        found = command(local_system, charger, "Reset", reset)
        return found if found[0] == 409 else None

    assert "not connected" in eventually(offline)[1]["message"]
    # a payload the OCPP schema refuses, or no such command: 400 saying what to fix
    status, body = command(local_system, charger, "Reset", {"type": "Sometimes"})
    assert status == 400 and "Reset: type" in body["message"], body
    status, body = command(local_system, charger, "Explode", {})
    assert status == 400 and "RemoteStartTransaction" in body["message"], body
    # without the operator key: 401
    path = f"/chargepoints/{charger}/commands/Reset"
    assert request(local_system, "POST", path, reset, operator=None)[0] == 401
