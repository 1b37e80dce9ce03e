"""The charger registry through the API: anyone with the API key reads it, only the operator's
key writes it, a bad record is a 400 naming the field, and retiring is a write that keeps the
record (GIVEN / WHEN / THEN)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chalice.test import Client
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from api import openapi
from evsessions import registry
from tests.functional.conftest import DOCUMENT, OPERATOR, call, resolved
from tests.functional.test_charger_registry_store import charger_json


@pytest.fixture
def client(operator_client: Client) -> Client:
    return operator_client


def _put(client: Client, charger: str, body: Any, headers: dict[str, str] = OPERATOR) -> Any:
    response = client.http.put(
        f"/registry/chargers/{charger}", headers=headers, body=json.dumps(body)
    )
    text = response.body.decode()
    assert "Traceback" not in text
    reply = json.loads(text)
    documented = DOCUMENT["paths"]["/registry/chargers/{charger_id}"]["put"]["responses"]
    assert str(response.status_code) in documented
    schema = resolved(documented[str(response.status_code)])["content"]["application/json"]
    OAS30Validator(schema["schema"], format_checker=oas30_format_checker).validate(reply)
    return response.status_code, reply


def test_an_operator_adds_reads_lists_and_retires_a_charger(client: Client) -> None:
    # WHEN the operator adds depot-7
    status, written = _put(client, "depot-7", charger_json())
    # THEN it reads back as sent, stamped, ACTIVE, and is listed
    assert status == 200 and written["status"] == "ACTIVE" and written["last_updated"]
    read = call(client, "/registry/chargers/depot-7")
    assert read.status == 200 and read.body == written
    assert read.body["location"]["city"] == "Bergen" and read.body["tariff_id"] == "dc-standard"
    assert call(client, "/registry/chargers").body == {"chargers": [written], "count": 1}
    # WHEN it is retired (a PUT of the record with status RETIRED)
    status, retired = _put(client, "depot-7", {**charger_json(), "status": "RETIRED"})
    # THEN the record stays, retired, and the status filter tells the two states apart
    assert status == 200 and retired["status"] == "RETIRED"
    assert call(client, "/registry/chargers?status=RETIRED").body["count"] == 1
    assert call(client, "/registry/chargers?status=ACTIVE").body["count"] == 0


@pytest.mark.parametrize(
    ("charger", "body", "says"),
    [
        ("depot-7", {**charger_json(), "connectors": []}, "connectors"),
        ("depot-7", {**charger_json(), "status": "BROKEN"}, "status"),
        ("depot-7", {**charger_json(), "colour": "red"}, "colour"),
        ("depot-7", {**charger_json(), "charger_id": "depot-8"}, "charger_id"),
        ("depot-7", {**charger_json(), "simulated": "yes"}, "simulated"),
        ("depot-7", ["not", "an", "object"], "JSON object"),
        (
            "depot-7",
            {**charger_json(), "location": {**charger_json()["location"], "country": "NO"}},
            "location.country",
        ),
        ("depot+7", charger_json(), "charger_id"),
    ],
)
def test_a_bad_record_is_a_400_that_names_the_field(
    client: Client, charger: str, body: Any, says: str
) -> None:
    status, reply = _put(client, charger, body)
    assert status == 400 and reply["error"] == "bad_request"
    assert says in reply["message"]
    assert call(client, "/registry/chargers").body["count"] == 0


def test_a_body_that_is_no_json_is_a_400(client: Client) -> None:
    response = client.http.put("/registry/chargers/depot-7", headers=OPERATOR, body="{not json")
    assert response.status_code == 400
    assert json.loads(response.body)["error"] == "bad_request"


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json"},
        {"x-operator-key": "wrong", "content-type": "application/json"},
    ],
)
def test_a_write_without_the_operator_key_is_refused(
    client: Client, headers: dict[str, str]
) -> None:
    status, _ = _put(client, "depot-7", charger_json(), headers)
    assert status == 401
    assert call(client, "/registry/chargers/depot-7").status == 404


def test_an_unknown_charger_a_bad_id_and_a_bad_filter(client: Client) -> None:
    assert call(client, "/registry/chargers/depot-9").status == 404
    assert call(client, "/registry/chargers/" + "x" * 37).status == 400
    reply = call(client, "/registry/chargers?status=BROKEN")
    assert reply.status == 400 and "status" in reply.body["message"]


def test_the_document_lists_the_registrys_values() -> None:
    assert openapi.REGISTRY_STATUSES == registry.STATUSES
    assert openapi.REGISTRY_STANDARDS == registry.STANDARDS
