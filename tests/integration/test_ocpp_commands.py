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
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect

from evsessions.mqtt.identity import charger_password
from local_runner.system import LocalSystem
from tests.integration.helpers import eventually, served

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
async def charger_online(
    system: LocalSystem, charger: str, kind: type[Charger] = Charger
) -> AsyncIterator[Charger]:
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
        point = kind(charger, socket, response_timeout=20)
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
    # not an active charger of this system's registry (another fleet's): 403
    status, body = command(local_system, "CP-of-another-fleet", "Reset", reset)
    assert status == 403 and "registry" in body["message"], body
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


class ChargingCharger(Charger):
    """Starts charging when a remote start is accepted, and stops when a remote stop is, as a
    charger with an EV plugged in does."""

    transaction_id: int | None = None

    @after(Action.remote_start_transaction)
    async def charge(self, id_tag: str, connector_id: int = 1, **_: Any) -> None:
        started = await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=1_000,
                timestamp="2026-11-29T10:00:00Z",
            )
        )
        self.transaction_id = started.transaction_id

    @after(Action.remote_stop_transaction)
    async def end(self, transaction_id: int) -> None:
        await self.call(
            call.StopTransaction(
                transaction_id=transaction_id,
                meter_stop=11_000,
                timestamp="2026-11-29T10:30:00Z",
                reason="Remote",
            )
        )


def test_a_remote_start_then_a_remote_stop_is_a_stored_session_saying_who_asked(
    local_system: LocalSystem,
) -> None:
    charger = "CP-cmd-7"

    async def scenario() -> tuple[Any, Any, Any, int]:
        async with charger_online(local_system, charger, ChargingCharger) as point:
            assert isinstance(point, ChargingCharger)
            start = {"idTag": "TAG-R", "connectorId": 1}
            started = await _in_thread(
                command, local_system, charger, "RemoteStartTransaction", start
            )
            while point.transaction_id is None:
                await asyncio.sleep(0.02)
            transaction_id = point.transaction_id
            not_open = await _in_thread(
                command, local_system, charger, "RemoteStopTransaction", {"transactionId": 999}
            )
            stopped = await _in_thread(
                command,
                local_system,
                charger,
                "RemoteStopTransaction",
                {"transactionId": transaction_id},
            )
            assert local_system.api is not None
            url = f"{local_system.api.url}/sessions/{charger}/1/{transaction_id}"
            session = await _in_thread(eventually, lambda: served(url))
            return started, not_open, stopped, session

    started, not_open, stopped, session = _run(scenario)
    assert started[0] == 200 and started[1]["response"] == {"status": "Accepted"}, started
    assert not_open[0] == 409 and "not open" in not_open[1]["message"], not_open
    assert stopped[0] == 200 and stopped[1]["response"] == {"status": "Accepted"}, stopped
    # THEN the transaction the remote start caused is a stored session like any other
    assert session["energy_delivered_in_kWh"] == 10.0
    assert session["verdict"] == "clean"
    # AND it records who asked for its start and its end
    transaction = session["transaction"]
    assert transaction["id_tag"] == "TAG-R"
    assert transaction["stop_reason"] == "Remote"
    assert (transaction["remote_start_by"], transaction["remote_stop_by"]) == (
        "operator",
        "operator",
    )
