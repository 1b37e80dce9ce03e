"""A real charger, as nobody here wrote it: the `ocpp` package's ChargePoint, over a real
WebSocket connection to the running emulator's OCPP endpoint, through the real handler, the
broker, the rule, the listener and DynamoDB Local, to the API."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
import pytest
import websockets
from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from evsessions.contract import format_time
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.mqtt.identity import charger_password
from evsessions.ocpp.transactions import unknown_session_id
from evsessions.settings import Settings
from local_runner.system import LocalSystem
from tests.integration.helpers import eventually, served

pytestmark = pytest.mark.integration
T = TypeVar("T")

START = "2026-11-29T10:00:00Z"
STOP = "2026-11-29T10:45:00Z"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _password(system: LocalSystem, charger: str) -> str:
    assert system.access is not None
    return charger_password(system.access.fleet_secret, charger)


@asynccontextmanager
async def _socket(
    system: LocalSystem, charger: str, password: str | None = None, as_charger: str | None = None
) -> AsyncIterator[ClientConnection]:
    gateway = system.gateways[0]
    headers = {"Authorization": _basic(charger, password or _password(system, charger))}
    async with connect(
        gateway.url + (as_charger or charger),
        subprotocols=[websockets.Subprotocol("ocpp1.6")],
        additional_headers=headers,
        open_timeout=20,
    ) as socket:
        yield socket


@asynccontextmanager
async def _charge_point(system: LocalSystem, charger: str) -> AsyncIterator[ChargePoint]:
    async with _socket(system, charger) as socket:
        assert socket.subprotocol == "ocpp1.6"
        point = ChargePoint(charger, socket, response_timeout=20)
        task = asyncio.create_task(point.start())
        try:
            yield point
        finally:
            task.cancel()


def _run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())


def _session(system: LocalSystem, charger: str, transaction_id: int) -> Any:
    assert system.api is not None
    return eventually(lambda: served(f"{system.api.url}/sessions/{charger}/1/{transaction_id}"))


def _stop(transaction_id: int) -> call.StopTransaction:
    return call.StopTransaction(
        meter_stop=23_500,
        timestamp=STOP,
        transaction_id=transaction_id,
        reason="EVDisconnected",
        id_tag="TAG-1",
    )


def test_a_transaction_of_a_real_charge_point_is_served_as_a_session(
    local_system: LocalSystem,
) -> None:
    charger = "CP-ocpp-1"

    async def scenario() -> tuple[Any, ...]:
        async with _charge_point(local_system, charger) as point:
            boot = await point.call(
                call.BootNotification(charge_point_model="M1", charge_point_vendor="V")
            )
            await point.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
            )
            authorized = await point.call(call.Authorize(id_tag="TAG-1"))
            started = await point.call(
                call.StartTransaction(
                    connector_id=1, id_tag="TAG-1", meter_start=1_000, timestamp=START
                )
            )
            await point.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[{"timestamp": START, "sampledValue": [{"value": "12000"}]}],
                )
            )
            beat = await point.call(call.Heartbeat())
            stopped = await point.call(_stop(started.transaction_id))
            return boot, authorized, started, beat, stopped

    boot, authorized, started, beat, stopped = _run(scenario)
    assert boot.status == "Accepted" and boot.interval == 300
    assert authorized.id_tag_info["status"] == "Accepted"
    assert isinstance(started.transaction_id, int) and beat.current_time
    assert stopped.id_tag_info["status"] == "Accepted"
    session = _session(local_system, charger, started.transaction_id)
    assert session["energy_delivered_in_kWh"] == 22.5  # (23,500 - 1,000) Wh
    assert session["duration_in_seconds"] == 45 * 60
    assert session["session_cost_in_cents"] == 50 + 878  # fee + 22.5 kWh at 39 c, rounded
    assert session["ended_at"] == "2026-11-29T10:45:00.000Z"
    assert session["transaction"] == {
        "started_at": "2026-11-29T10:00:00.000Z",
        "stop_reason": "EVDisconnected",
        "meter_start_wh": 1_000,
        "meter_stop_wh": 23_500,
        "id_tag": "TAG-1",  # who charged; the Stop named the same tag
        "stop_id_tag": None,
        "billed_from": None,
        "remote_start_by": None,  # the charger started it, no operator asked
        "remote_stop_by": None,
    }
    assert session["verdict"] == "clean"


def _charger_totals(system: LocalSystem, charger: str) -> dict[str, Any]:
    assert system.api is not None
    body = served(f"{system.api.url}/totals?charger={charger}&from=2026-11-01&to=2026-12-31")
    return body["totals"] if body else {}


def test_a_disconnect_midway_and_a_replayed_stop_count_once(local_system: LocalSystem) -> None:
    charger = "CP-ocpp-2"

    async def scenario() -> tuple[int, Any, Any]:
        async with _charge_point(local_system, charger) as point:
            started = await point.call(
                call.StartTransaction(
                    connector_id=1, id_tag="T", meter_start=1_000, timestamp=START
                )
            )
        # the line drops; the charger reconnects, replays its Start, and stops
        async with _charge_point(local_system, charger) as point:
            again = await point.call(
                call.StartTransaction(
                    connector_id=1, id_tag="T", meter_start=1_000, timestamp=START
                )
            )
            assert again.transaction_id == started.transaction_id
            first = await point.call(_stop(started.transaction_id))
        async with _charge_point(local_system, charger) as point:  # and resends the Stop
            second = await point.call(_stop(started.transaction_id))
        return started.transaction_id, first, second

    transaction_id, first, second = _run(scenario)
    assert first.id_tag_info == second.id_tag_info == {"status": "Accepted"}
    assert _session(local_system, charger, transaction_id)["energy_delivered_in_kWh"] == 22.5
    totals = eventually(lambda: _charger_totals(local_system, charger))
    assert totals["sessions"] == 1
    assert totals["cost_cents"] == 928


def test_a_wrong_password_an_unknown_charger_or_another_chargers_id_is_refused_at_connect(
    local_system: LocalSystem,
) -> None:
    async def status(charger: str = "CP-ocpp-3", **options: Any) -> int:
        try:
            async with _socket(local_system, charger, **options):
                return 101
        except InvalidStatus as refusal:
            return refusal.response.status_code

    assert _run(lambda: status(password="not-the-password")) == 401
    # the password the fleet secret derives for it, but neither in the fleet nor listed
    assert _run(lambda: status("CP-not-listed")) == 401
    assert _run(lambda: status(as_charger="CP-ocpp-4")) == 403  # its own password, not its id
    assert _run(lambda: status(as_charger="CP-not-listed")) == 403
    assert _run(lambda: status()) == 101  # listed in MQTT_CHARGER_IDS
    assert _run(lambda: status("1")) == 101  # the simulated fleet's first charger


def test_bad_frames_get_ocpps_answer_and_the_endpoint_keeps_serving(
    local_system: LocalSystem,
) -> None:
    frames = {
        "u1": [2, "u1", "MakeCoffee", {}],
        "u2": [2, "u2", "Heartbeat", {"extra": 1}],
        "u3": [2, "u3", "StartTransaction", {"connectorId": 1}],
        "u4": [
            2,
            "u4",
            "StopTransaction",
            {"transactionId": 999999, "meterStop": 5, "timestamp": STOP},
        ],
        "u5": [
            2,
            "u5",
            "StartTransaction",
            {"connectorId": "one", "idTag": "T", "meterStart": 1, "timestamp": START},
        ],
        "u6": [2, "u6", "Heartbeat", {}],
    }

    async def scenario() -> dict[str, list[Any]]:
        answers: dict[str, list[Any]] = {}
        async with _socket(local_system, "CP-ocpp-3") as socket:
            await socket.send("this is not JSON")
            await socket.send('{"not": "an array"}')
            for frame in frames.values():
                await socket.send(json.dumps(frame))
                answer = json.loads(await asyncio.wait_for(socket.recv(), 20))
                answers[answer[1]] = answer
        return answers

    answers = _run(scenario)
    assert answers["u1"][:3] == [4, "u1", "NotImplemented"]
    assert answers["u2"][:3] == [4, "u2", "FormationViolation"]
    assert answers["u3"][:3] == [4, "u3", "OccurenceConstraintViolation"]
    assert answers["u4"] == [3, "u4", {}]  # a Stop is always taken; a suspect session
    assert answers["u5"][:3] == [4, "u5", "TypeConstraintViolation"]
    assert answers["u6"][0] == 3 and "currentTime" in answers["u6"][2]


def test_security_profile_2_over_tls_with_the_local_ca(local_system: LocalSystem) -> None:
    gateway = local_system.gateways[0]
    assert gateway.tls_url is not None and gateway.tls_url.startswith("wss://localhost:")
    context = ssl.create_default_context(
        cafile=str(local_system.runner.local_data_dir / "tls" / "ca.crt")
    )
    charger = "CP-ocpp-4"

    async def scenario() -> Any:
        async with connect(
            gateway.tls_url + charger,
            ssl=context,
            subprotocols=[websockets.Subprotocol("ocpp1.6")],
            additional_headers={"Authorization": _basic(charger, _password(local_system, charger))},
            open_timeout=20,
        ) as socket:
            point = ChargePoint(charger, socket, response_timeout=20)
            task = asyncio.create_task(point.start())
            try:
                return await point.call(call.Heartbeat())
            finally:
                task.cancel()

    assert _run(scenario).current_time


def test_a_client_that_offers_no_ocpp16_subprotocol_is_refused(local_system: LocalSystem) -> None:
    charger = "CP-ocpp-4"

    async def scenario() -> int:
        try:
            async with connect(
                local_system.gateways[0].url + charger,
                additional_headers={
                    "Authorization": _basic(charger, _password(local_system, charger))
                },
                open_timeout=20,
            ):
                return 101
        except InvalidStatus as refusal:
            return refusal.response.status_code

    assert _run(scenario) == 400


# --- issue 20: nothing a charger was told is accepted gets lost -------------------------------


def _id_tags(system: LocalSystem) -> CentralSystemStore:
    """The central system's store, on the system's database, as its function sees it."""
    settings = Settings.from_env(system.invokers["OcppFunction"].environment)
    assert system.database is not None
    return CentralSystemStore(
        settings.sessions_table,
        boto3.client(
            "dynamodb",
            endpoint_url=system.database.endpoint_url,
            region_name=settings.aws_region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        ),
    )


def test_every_charger_initiated_action_is_confirmed_and_tags_answer_their_status(
    local_system: LocalSystem,
) -> None:
    charger = "CP-ocpp-5"
    tags = _id_tags(local_system)
    tags.put_id_tag("STOLEN", {"status": "Blocked"})
    tags.put_id_tag("OLD", {"status": "Accepted", "expiry_date": "2026-01-01T00:00:00.000Z"})

    async def scenario() -> dict[str, Any]:
        async with _charge_point(local_system, charger) as point:
            started = await point.call(
                call.StartTransaction(
                    connector_id=1, id_tag="STOLEN", meter_start=1_000, timestamp=START
                )
            )
            nan = [{"timestamp": START, "sampledValue": [{"value": "NaN", "unit": "kWh"}]}]
            return {
                "transfer": await point.call(call.DataTransfer(vendor_id="com.example")),
                "diagnostics": await point.call(
                    call.DiagnosticsStatusNotification(status="Uploaded")
                ),
                "firmware": await point.call(call.FirmwareStatusNotification(status="Installed")),
                "blocked": await point.call(call.Authorize(id_tag="STOLEN")),
                "expired": await point.call(call.Authorize(id_tag="OLD")),
                "started": started,
                "nan": await point.call(
                    call.MeterValues(
                        connector_id=1, transaction_id=started.transaction_id, meter_value=nan
                    )
                ),
            }

    answers = _run(scenario)
    assert answers["transfer"].status == "UnknownVendorId"
    assert answers["blocked"].id_tag_info == {"status": "Blocked"}
    assert answers["expired"].id_tag_info["status"] == "Expired"
    # a Start with a blocked tag is still recorded: the charger may be charging already
    assert answers["started"].id_tag_info == {"status": "Blocked"}
    assert answers["started"].transaction_id >= 1
    assert answers["nan"] is not None  # MeterValues.conf, not a CALLERROR
    assert local_system.api is not None
    points = served(f"{local_system.api.url}/chargepoints")["charge_points"]
    [point] = [p for p in points if p["charger_id"] == charger]
    assert (point["diagnostics_status"], point["firmware_status"]) == ("Uploaded", "Installed")


def test_a_second_connection_closes_the_first_and_only_the_newer_is_answered(
    local_system: LocalSystem,
) -> None:
    charger = "CP-ocpp-6"

    async def scenario() -> tuple[Any, Any]:
        async with _socket(local_system, charger) as old:
            await old.send(json.dumps([2, "a", "Heartbeat", {}]))
            assert json.loads(await asyncio.wait_for(old.recv(), 20))[:2] == [3, "a"]
            async with _socket(local_system, charger) as new:
                # the older connection is closed by the central system
                await asyncio.wait_for(old.wait_closed(), 20)
                await new.send(json.dumps([2, "b", "Heartbeat", {}]))
                return old.close_code, json.loads(await asyncio.wait_for(new.recv(), 20))

    close_code, answer = _run(scenario)
    assert close_code is not None
    assert answer[:2] == [3, "b"]


def test_each_case_of_issue_20_ends_in_a_visible_session(local_system: LocalSystem) -> None:
    """The cases the issue saw dead-lettered after an Accepted StopTransaction, sent by a real
    ChargePoint: each is now a session the API serves, suspect with its reasons."""
    charger = "CP-ocpp-7"
    # the charger's clock 3 days ahead of its arrival
    ahead = format_time(datetime.now(UTC) + timedelta(days=3))
    cases = {
        "clock_ahead": (
            1_000,
            format_time(datetime.now(UTC) + timedelta(days=3, hours=-1)),
            23_500,
            ahead,
        ),
        "end_before_start": (1_000, "2026-11-29T11:00:00Z", 11_000, STOP),
        "meter_regression": (5_000, START, 0, STOP),
        "duration_above_limit": (1_000, "2026-11-20T10:00:00Z", 60_000, "2026-11-28T10:00:00Z"),
        "energy_above_limit": (0, "2026-11-28T10:00:00Z", 1_200_000, "2026-11-29T10:00:00Z"),
        "clock_not_set": (1_000, START, 23_500, "1970-01-01T00:00:00Z"),
    }

    async def scenario() -> dict[str, int | str]:
        ids: dict[str, int | str] = {}
        async with _charge_point(local_system, charger) as point:
            for case, (meter_start, started_at, meter_stop, stopped_at) in cases.items():
                started = await point.call(
                    call.StartTransaction(
                        connector_id=1, id_tag="T", meter_start=meter_start, timestamp=started_at
                    )
                )
                stopped = await point.call(
                    call.StopTransaction(
                        meter_stop=meter_stop,
                        timestamp=stopped_at,
                        transaction_id=started.transaction_id,
                    )
                )
                assert stopped is not None  # confirmed: the charger never sends it again
                ids[case] = started.transaction_id
            for case, transaction_id in (("unknown_transaction", 987_654), ("offline", -1)):
                stop = {"meterStop": 23_500, "timestamp": STOP, "transactionId": transaction_id}
                await point.call(
                    call.StopTransaction(
                        meter_stop=23_500, timestamp=STOP, transaction_id=transaction_id
                    )
                )
                ids[case] = unknown_session_id(transaction_id, stop)
        return ids

    ids = _run(scenario)
    assert local_system.api is not None
    for case, session_id in ids.items():
        connector = 0 if case in ("unknown_transaction", "offline") else 1
        url = f"{local_system.api.url}/sessions/{charger}/{connector}/{session_id}"
        session = eventually(lambda url=url: served(url))
        assert session["verdict"] == "suspect", (case, session)
        codes = {finding["code"] for finding in session["findings"]}
        expected = "transaction_id_out_of_range" if case == "offline" else case
        assert expected in codes, (case, session)
