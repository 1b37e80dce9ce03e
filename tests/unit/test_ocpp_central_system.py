"""The OCPP central system's pure parts: frames and their error codes, the session a finished
transaction becomes, the $connect authorizer, and the template's WebSocket API."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from centralsystem import authorizer
from centralsystem.frames import FrameError, call_error, call_result, parse_call
from centralsystem.transactions import OpenTransaction, StopReading, Tariff, session_message
from evsessions.contract import parse_session
from evsessions.mqtt_identity import charger_password
from local_runner.services.template import TemplateLoader
from local_runner.services.websocket_api import websocket_apis
from local_runner.services.websocket_gateway import CHARGE_POINT_QUERY

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = frozenset({"Heartbeat", "StartTransaction", "StopTransaction"})
SECRET = "s" * 40


def _error(raw: str) -> FrameError:
    with pytest.raises(FrameError) as caught:
        parse_call(raw, ACTIONS)
    return caught.value


# --- frames -------------------------------------------------------------------------------------


def test_a_valid_call_is_parsed() -> None:
    frame = parse_call('[2,"a1","Heartbeat",{}]', ACTIONS)
    assert (frame.unique_id, frame.action, frame.payload) == ("a1", "Heartbeat", {})


@pytest.mark.parametrize(
    ("raw", "unique_id", "code"),
    [
        ("not json", None, "FormationViolation"),
        ('{"a": 1}', None, "ProtocolError"),
        ("[2]", None, "ProtocolError"),
        ('[2,"u","Heartbeat"]', "u", "ProtocolError"),
        ('[2,"u","MakeCoffee",{}]', "u", "NotImplemented"),
        ('[2,"u","../../etc/passwd",{}]', "u", "NotImplemented"),
        ('[2,"u","Reset",{"type":"Hard"}]', "u", "NotSupported"),
        ('[2,"u","Heartbeat",{"x":1}]', "u", "FormationViolation"),
        ('[2,"u","StartTransaction",{"connectorId":1}]', "u", "OccurenceConstraintViolation"),
        (
            '[2,"u","StartTransaction",{"connectorId":"1","idTag":"T","meterStart":0,'
            '"timestamp":"2026-11-29T10:00:00Z"}]',
            "u",
            "TypeConstraintViolation",
        ),
        ('[3,"u",{}]', None, "ProtocolError"),
    ],
)
def test_each_bad_frame_gets_the_error_code_ocpp_16_names(
    raw: str, unique_id: str | None, code: str
) -> None:
    error = _error(raw)
    assert (error.unique_id, error.code) == (unique_id, code)
    assert "Traceback" not in error.description and "<" not in error.description


def test_answers_are_ocpp_j_arrays() -> None:
    assert json.loads(call_result("u", {"a": 1})) == [3, "u", {"a": 1}]
    assert json.loads(call_error("u", "NotImplemented", "no")) == [
        4,
        "u",
        "NotImplemented",
        "no",
        {},
    ]


# --- a finished transaction as a session --------------------------------------------------------


OPENED = OpenTransaction(
    charger_id="CP1",
    transaction_id=7,
    connector_id=2,
    id_tag="TAG",
    meter_start_wh=1_000,
    started_at=datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
)
STOPPED = StopReading(23_500, datetime(2026, 11, 29, 10, 45, 30, 250_000, tzinfo=UTC), "Local")
TARIFF = Tariff(cents_per_kwh=25, session_fee_cents=50)


def test_energy_duration_and_cost_follow_from_the_meters_and_the_tariff() -> None:
    message = session_message(OPENED, STOPPED, TARIFF)
    assert message.topic == "charger/CP1/connector/2/session/7"
    payload = json.loads(message.payload)
    assert payload == {
        "session_id": 7,
        "energy_delivered_in_kWh": 22.5,
        "duration_in_seconds": 2730,
        "session_cost_in_cents": 50 + 563,  # 22.5 kWh x 25 = 562.5, rounded half up
        "ended_at": "2026-11-29T10:45:30.250Z",
        "started_at": "2026-11-29T10:00:00.000Z",
        "meter_start_wh": 1_000,
        "meter_stop_wh": 23_500,
        "stop_reason": "Local",
    }


def test_the_same_transaction_always_makes_the_same_bytes() -> None:
    assert session_message(OPENED, STOPPED, TARIFF) == session_message(OPENED, STOPPED, TARIFF)


def test_the_session_message_passes_the_pipelines_contract() -> None:
    message = session_message(OPENED, STOPPED, TARIFF)
    session = parse_session({**json.loads(message.payload), "topic": message.topic})
    assert session.transaction is not None
    assert session.transaction.meter_stop_wh == 23_500
    assert session.session_cost_in_cents == 613


# --- the $connect authorizer --------------------------------------------------------------------


def _auth_event(user: str, password: str, in_url: str) -> dict[str, Any]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:eu-north-1:1:api/ocpp/$connect",
        "headers": {"Authorization": f"Basic {token}"},
        "queryStringParameters": {CHARGE_POINT_QUERY: in_url},
    }


@pytest.fixture(autouse=True)
def known_chargers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fleet's chargers 1 and 2, and CP1 and CP2 listed."""
    monkeypatch.setenv("FLEET_CHARGERS", "2")
    monkeypatch.setenv("MQTT_CHARGER_IDS", "CP1, CP2")


@pytest.mark.parametrize("charger", ["CP1", "CP2", "1", "2"])
def test_a_known_charger_with_its_own_password_is_allowed_as_itself(
    monkeypatch: pytest.MonkeyPatch, charger: str
) -> None:
    monkeypatch.setenv("MQTT_FLEET_SECRET", SECRET)
    event = _auth_event(charger, charger_password(SECRET, charger), charger)
    result = authorizer.handler(event, None)
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["context"] == {"chargerId": charger} and result["principalId"] == charger


@pytest.mark.parametrize("charger", ["CP3", "3", "01", "0", "cp1"])
def test_an_unknown_charger_is_unauthorized_even_with_its_derived_password(
    monkeypatch: pytest.MonkeyPatch, charger: str
) -> None:
    monkeypatch.setenv("MQTT_FLEET_SECRET", SECRET)
    with pytest.raises(authorizer.Unauthorized, match=r"^Unauthorized$"):
        authorizer.handler(_auth_event(charger, charger_password(SECRET, charger), charger), None)


@pytest.mark.parametrize(
    "event",
    [
        _auth_event("CP1", "wrong", "CP1"),
        _auth_event("CP1", charger_password(SECRET, "CP2"), "CP1"),  # another charger's password
        _auth_event("../x", charger_password(SECRET, "../x"), "../x"),
        {"headers": {"Authorization": "Bearer abc"}},
        {"headers": {"Authorization": "Basic !!!"}},
        {"headers": {}},
    ],
)
def test_wrong_or_missing_credentials_are_unauthorized(
    monkeypatch: pytest.MonkeyPatch, event: dict[str, Any]
) -> None:
    monkeypatch.setenv("MQTT_FLEET_SECRET", SECRET)
    with pytest.raises(authorizer.Unauthorized, match=r"^Unauthorized$"):
        authorizer.handler(event, None)


def test_a_charger_cannot_connect_under_another_chargers_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MQTT_FLEET_SECRET", SECRET)
    result = authorizer.handler(_auth_event("CP1", charger_password(SECRET, "CP1"), "CP2"), None)
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_without_a_fleet_secret_everyone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MQTT_FLEET_SECRET", raising=False)
    with pytest.raises(authorizer.Unauthorized):
        authorizer.handler(_auth_event("CP1", charger_password(SECRET, "CP1"), "CP1"), None)


# --- the template's WebSocket API ---------------------------------------------------------------


def test_the_template_routes_every_websocket_route_to_the_central_system() -> None:
    [api] = websocket_apis(ROOT / "template.yaml")
    assert api.routes == {
        "$connect": "OcppFunction",
        "$default": "OcppFunction",
        "$disconnect": "OcppFunction",
    }
    assert api.authorizer == "OcppAuthorizerFunction"
    assert api.stage == "ocpp"


def test_the_cloudfront_function_fills_the_query_parameter_the_emulator_fills() -> None:
    document = yaml.load((ROOT / "template.yaml").read_text(), Loader=TemplateLoader)
    code = document["Resources"]["OcppPathFunction"]["Properties"]["FunctionCode"]
    [api] = websocket_apis(ROOT / "template.yaml")
    assert f"{CHARGE_POINT_QUERY}:" in code
    assert f'request.uri = "/{api.stage}"' in code
    sources = document["Resources"]["OcppAuthorizer"]["Properties"]["IdentitySource"]
    assert f"route.request.querystring.{CHARGE_POINT_QUERY}" in sources
