"""IoT Core's custom authorizer for MQTT chargers, on the registry in moto: a registry write is
enough to let a charger in or keep it out on AWS, and it admits exactly whom the local broker's
files admit (GIVEN / WHEN / THEN)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from brokerauth.handler import REFRESH_SECONDS, handler, principal
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.mqtt.identity import charger_password
from evsessions.registry import RETIRED
from evsessions.registry_seed import listed_record
from local_runner.infra.broker_access import BrokerAccess
from local_runner.infra.registry_identities import broker_chargers

SECRET = "fleet-secret-of-the-authorizer-test"
PREFIX = "arn:aws:iot:eu-north-1:123456789012"


@pytest.fixture
def registry(dynamodb: Any, sessions_table: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MQTT_FLEET_SECRET", SECRET)
    monkeypatch.setenv("IOT_ARN_PREFIX", PREFIX)
    monkeypatch.setenv("REGISTRY_CACHE_SECONDS", "0")
    return DynamoDBChargerRegistry(sessions_table, dynamodb)


def connect(charger: str, password: str | None = None, client_id: str | None = None) -> Any:
    """The event IoT Core sends for an MQTT CONNECT naming the authorizer in the username."""
    secret = password if password is not None else charger_password(SECRET, charger)
    return {
        "protocols": ["tls", "mqtt"],
        "protocolData": {
            "tls": {"serverName": "example-ats.iot.eu-north-1.amazonaws.com"},
            "mqtt": {
                "username": f"{charger}?x-amz-customauthorizer-name=ChargerAuthorizer",
                "password": base64.b64encode(secret.encode()).decode(),
                "clientId": client_id if client_id is not None else charger,
            },
        },
        "connectionMetadata": {"id": "e56f08c3-c559-490f-aa9f-7e8427d0f57b"},
    }


def test_a_charger_added_to_the_registry_gets_its_chargers_rights_and_loses_them_retired(
    registry: DynamoDBChargerRegistry,
) -> None:
    # GIVEN a charger nobody registered: refused, whatever its password
    assert handler(connect("depot-7"), None) == {"isAuthenticated": False}
    # WHEN an operator adds it to the registry
    registry.put(listed_record("depot-7"))
    # THEN it is let in with ChargerPolicy's rights for its own id only, refreshed every 300 s
    answer = handler(connect("depot-7"), None)
    assert answer["isAuthenticated"] is True
    assert answer["principalId"] == principal("depot-7") and answer["principalId"].isalnum()
    assert answer["refreshAfterInSeconds"] == REFRESH_SECONDS
    [policy] = [json.loads(document) for document in answer["policyDocuments"]]
    assert [(s["Action"], s["Resource"]) for s in policy["Statement"]] == [
        ("iot:Connect", f"{PREFIX}:client/depot-7"),
        ("iot:Publish", f"{PREFIX}:topic/charger/depot-7/connector/*/session/*"),
    ]
    # WHEN it is retired THEN it is refused again
    registry.put(replace(listed_record("depot-7"), status=RETIRED))
    assert handler(connect("depot-7"), None) == {"isAuthenticated": False}


@pytest.mark.parametrize(
    "event",
    [
        connect("1", password="not-its-password"),
        connect("1", password=charger_password(SECRET, "2")),
        connect("1", client_id="2"),
        {"protocolData": {"mqtt": {"username": "1", "clientId": "1"}}},
        {"protocolData": {"mqtt": {"username": "1", "clientId": "1", "password": "!!"}}},
        {"protocols": ["http"]},
    ],
)
def test_a_wrong_password_client_id_or_missing_credentials_are_refused(
    registry: DynamoDBChargerRegistry, event: Any
) -> None:
    registry.put(listed_record("1"))
    assert handler(event, None) == {"isAuthenticated": False}


def test_without_the_arn_prefix_everyone_is_refused(
    registry: DynamoDBChargerRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.put(listed_record("1"))
    monkeypatch.delenv("IOT_ARN_PREFIX")
    assert handler(connect("1"), None) == {"isAuthenticated": False}


def test_it_admits_exactly_whom_the_local_brokers_files_admit(
    registry: DynamoDBChargerRegistry,
) -> None:
    # GIVEN a registry of active, retired and never-registered chargers
    for charger in ("1", "2", "depot-7"):
        registry.put(listed_record(charger))
    registry.put(replace(listed_record("2"), status=RETIRED))
    # WHEN the local broker's identities are built from the same registry
    local = BrokerAccess(SECRET, "bridge", broker_chargers(registry.records(), print), {})
    # THEN both doors agree on every candidate, with its own password and with a wrong one
    for charger in ("1", "2", "depot-7", "3", "iot-rule-x"):
        for password in (charger_password(SECRET, charger), "wrong"):
            deployed = handler(connect(charger, password), None)["isAuthenticated"]
            assert deployed == local.authenticates(charger, password), (charger, password)
