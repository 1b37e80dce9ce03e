"""The charger registry's "done when", on the real local system: a charger added through the API
connects over MQTT (mosquitto, its password and ACL files reloaded on SIGHUP) and over OCPP (a
real WebSocket, the real authorizer) without a restart, and a retired one is refused by both.
The settings' fleet is seeded, and a retired simulated charger stops publishing."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import websockets
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from evsessions.errors import PublishIncomplete
from evsessions.mqtt.identity import charger_identity, charger_password
from local_runner.services.events import scheduled_event
from local_runner.system import LocalSystem
from tests.functional.test_charger_registry_store import charger_json
from tests.integration.conftest import (
    prepare_data_dir,
    runner_settings,
    running_system,
    without_ticks_of_its_own,
)
from tests.integration.helpers import eventually, get_json

pytestmark = pytest.mark.integration

OPERATOR_KEY = "registry-operator-" + "k" * 32
BOUND_SECONDS = 1
"""REGISTRY_CACHE_SECONDS of this system: each reader sees a write within it."""
NEW = "depot-new"


@pytest.fixture(scope="module")
def said() -> list[str]:
    return []


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, said: list[str]) -> Iterator[LocalSystem]:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("registry") / "data")
    environ = {
        **os.environ,
        "OPERATOR_KEY": OPERATOR_KEY,
        "REGISTRY_CACHE_SECONDS": str(BOUND_SECONDS),
        "FLEET_CHARGERS": "2",
    }

    def say(line: str) -> None:
        said.append(line)
        print(line)

    with running_system(runner_settings(data_dir), say=say, environ=environ) as running:
        yield without_ticks_of_its_own(running)


def _put(system: LocalSystem, charger: str, body: dict[str, Any]) -> tuple[int, Any]:
    assert system.api is not None
    request = urllib.request.Request(
        f"{system.api.url}/registry/chargers/{charger}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"content-type": "application/json", "x-operator-key": OPERATOR_KEY},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _mqtt(system: LocalSystem, charger: str) -> str:
    """CONNECT as the charger with its own password: 'accepted' or the broker's refusal."""
    assert system.broker is not None and system.access is not None
    identity = charger_identity(system.access.fleet_secret, charger)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=identity.client_id, protocol=mqtt.MQTTv311
    )
    client.username_pw_set(identity.username, identity.password)
    answer: list[str] = []
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        answer.append("accepted" if not reason.is_failure else str(reason))
        done.set()

    client.on_connect = on_connect
    client.connect(system.broker.host, system.broker.port)
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0] if answer else "no answer"


def _ocpp(system: LocalSystem, charger: str) -> int:
    """Open a WebSocket as the charger with its own password: 101, or the refusal's status."""
    assert system.access is not None
    password = charger_password(system.access.fleet_secret, charger)
    basic = "Basic " + base64.b64encode(f"{charger}:{password}".encode()).decode()

    async def attempt() -> int:
        try:
            async with connect(
                system.gateways[0].url + charger,
                subprotocols=[websockets.Subprotocol("ocpp1.6")],
                additional_headers={"Authorization": basic},
                open_timeout=20,
            ):
                return 101
        except InvalidStatus as refusal:
            return refusal.response.status_code

    return asyncio.run(attempt())


def test_the_settings_fleet_is_seeded(system: LocalSystem, said: list[str]) -> None:
    assert system.api is not None
    status, body = get_json(f"{system.api.url}/registry/chargers")
    assert status == 200
    seeded = {c["charger_id"]: c for c in body["chargers"]}
    assert seeded["1"]["simulated"] and seeded["2"]["status"] == "ACTIVE"
    assert any(line.startswith("charger registry: seeded 1, 2") for line in said)


def test_a_charger_added_through_the_api_connects_and_once_retired_is_refused(
    system: LocalSystem,
) -> None:
    # GIVEN a charger the system has never heard of: both doors refuse it
    assert _mqtt(system, NEW) == "Not authorized"
    assert _ocpp(system, NEW) == 401
    # WHEN an operator adds it through the API
    status, _ = _put(system, NEW, charger_json())
    assert status == 200
    # THEN, without a restart, it connects over MQTT and over OCPP within the bound
    eventually(lambda: _mqtt(system, NEW) == "accepted", timeout=10 * BOUND_SECONDS + 5)
    eventually(lambda: _ocpp(system, NEW) == 101, timeout=10 * BOUND_SECONDS + 5)
    # WHEN it is retired (a write, not a delete)
    status, body = _put(system, NEW, {**charger_json(), "status": "RETIRED"})
    assert status == 200 and body["status"] == "RETIRED"
    # THEN both refuse it again, and its record is still there
    eventually(lambda: _mqtt(system, NEW) == "Not authorized", timeout=10 * BOUND_SECONDS + 5)
    eventually(lambda: _ocpp(system, NEW) == 401, timeout=10 * BOUND_SECONDS + 5)
    assert system.api is not None
    assert get_json(f"{system.api.url}/registry/chargers/{NEW}")[0] == 200


def test_a_retired_simulated_charger_stops_publishing(system: LocalSystem) -> None:
    # GIVEN the seeded charger 2, retired by the operator
    assert system.api is not None
    _, two = get_json(f"{system.api.url}/registry/chargers/2")
    two.pop("last_updated")
    assert _put(system, "2", {**two, "status": "RETIRED"})[0] == 200
    publisher = system.invokers["PublisherFunction"]
    tick = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def published() -> Any:
        try:
            result = publisher(scheduled_event(tick, "Tick"))
        except PublishIncomplete:  # charger 2 still simulated, no longer let in: not yet
            return None
        return result == {"scheduled_time": "2026-03-01T12:00:00Z", "published": 1, "failed": 0}

    # WHEN ticks run after the publisher's cache bound THEN only charger 1 publishes
    eventually(published, timeout=10 * BOUND_SECONDS + 5)
