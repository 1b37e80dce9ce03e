"""The OCPP central system's pure parts: frames and their error codes, the session a finished
transaction becomes, the $connect authorizer, and the template's WebSocket API."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from centralsystem import authorizer
from centralsystem.frames import FrameError, call_error, call_result, parse_call
from evsessions import charger_admission
from evsessions.contract import parse_session
from evsessions.errors import StorageUnavailable
from evsessions.integrity import finding
from evsessions.mqtt.identity import charger_password
from evsessions.ocpp.idtags import IdTagEntry, IdTagError, id_tag_info, parse_entry
from evsessions.ocpp.transactions import (
    OpenTransaction,
    Reading,
    StopReading,
    Tariff,
    energy_readings,
    parse_stop,
    session_message,
)
from evsessions.registry import RETIRED, MemoryChargerRegistry
from evsessions.registry_cache import CachedRegistry
from evsessions.registry_seed import listed_record, seed_records
from evsessions.settings import Settings
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
ARRIVED = datetime(2026, 11, 29, 10, 46, tzinfo=UTC)
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
        "id_tag": "TAG",
    }


def test_the_same_transaction_always_makes_the_same_bytes() -> None:
    assert session_message(OPENED, STOPPED, TARIFF) == session_message(OPENED, STOPPED, TARIFF)


def test_the_session_message_passes_the_pipelines_contract() -> None:
    message = session_message(OPENED, STOPPED, TARIFF)
    session = parse_session({**json.loads(message.payload), "topic": message.topic})
    assert session.transaction is not None
    assert session.transaction.meter_stop_wh == 23_500
    assert session.session_cost_in_cents == 613


def _payload(opened: OpenTransaction, stop: StopReading) -> dict[str, Any]:
    return dict(json.loads(session_message(opened, stop, TARIFF).payload))


def _codes(payload: dict[str, Any]) -> list[str]:
    return [f["code"] for f in payload.get("findings", [])]


def _stop(**sent: Any) -> StopReading:
    return parse_stop(
        {"transactionId": 7, "meterStop": 23_500, "timestamp": "2026-11-29T10:45:00Z", **sent},
        ARRIVED,
    )


def test_a_clean_transaction_carries_no_findings_and_who_charged() -> None:
    payload = _payload(OPENED, _stop(idTag="OTHER"))
    assert "findings" not in payload and "raw" not in payload and "billed_from" not in payload
    assert (payload["id_tag"], payload["stop_id_tag"]) == ("TAG", "OTHER")
    assert "stop_id_tag" not in _payload(OPENED, _stop(idTag="TAG"))


def test_a_stop_without_reason_is_local() -> None:
    assert _payload(OPENED, _stop())["stop_reason"] == "Local"
    assert _payload(OPENED, _stop(reason="EVDisconnected"))["stop_reason"] == "EVDisconnected"


def test_a_regressed_meter_is_published_as_sent_and_flagged() -> None:
    payload = _payload(OPENED, _stop(meterStop=400))
    assert payload["energy_delivered_in_kWh"] == -0.6  # honest: the listener bills 0
    assert (payload["meter_start_wh"], payload["meter_stop_wh"]) == (1_000, 400)
    assert _codes(payload) == ["meter_regression"] and "billed_from" not in payload


def _data(*readings: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [
        {"timestamp": at, "sampledValue": [{"value": value, "unit": unit}]}
        for at, value, unit in readings
    ]


def test_a_regressed_meter_with_transaction_data_bills_the_data_and_keeps_the_meters() -> None:
    # GIVEN a meter replaced at the Stop: meterStop 0, while the transaction's data ran 1000 -> 6000
    data = _data(("2026-11-29T10:00:00Z", "1000", "Wh"), ("2026-11-29T10:45:00Z", "6", "kWh"))
    payload = _payload(OPENED, _stop(meterStop=0, transactionData=data))
    # THEN the data's energy is billed, and the meters as sent are kept
    assert payload["energy_delivered_in_kWh"] == 5.0
    assert payload["billed_from"] == "transaction_data"
    assert payload["raw"] == {"meter_start_wh": 1_000, "meter_stop_wh": 0}
    assert _codes(payload) == ["meter_regression"]


def test_a_regressed_meter_with_meter_values_seen_bills_them() -> None:
    opened = OpenTransaction(
        **{
            **OPENED.__dict__,
            "first_reading": Reading(1_000, datetime(2026, 11, 29, 10, 1, tzinfo=UTC)),
            "last_reading": Reading(9_000, datetime(2026, 11, 29, 10, 40, tzinfo=UTC)),
        }
    )
    payload = _payload(opened, _stop(meterStop=50))
    assert payload["energy_delivered_in_kWh"] == 8.0
    assert payload["billed_from"] == "meter_values"
    assert _codes(payload) == ["meter_regression"]


def test_a_zero_start_with_readings_bills_from_the_first_reading() -> None:
    # GIVEN a Start at 0 after the connector ended at 910,000 Wh; MeterValues saw 910,000..910,083
    opened = OpenTransaction(
        **{
            **OPENED.__dict__,
            "meter_start_wh": 0,
            "findings": (finding("zero_start_meter", "after 910000 Wh"),),
            "first_reading": Reading(910_000, datetime(2026, 11, 29, 10, 1, tzinfo=UTC)),
            "last_reading": Reading(910_083, datetime(2026, 11, 29, 10, 40, tzinfo=UTC)),
        }
    )
    payload = _payload(opened, _stop(meterStop=910_083))
    assert payload["energy_delivered_in_kWh"] == 0.083  # not 910 kWh
    assert payload["billed_from"] == "meter_values"
    assert payload["raw"] == {"meter_start_wh": 0, "meter_stop_wh": 910_083}
    assert _codes(payload) == ["zero_start_meter"]


@pytest.mark.parametrize(("value", "unit"), [("12", "Wh"), ("12000", "kWh"), ("12.5", "Wh")])
def test_a_reading_1000x_off_the_meters_is_a_mislabelled_unit(value: str, unit: str) -> None:
    data = _data(("2026-11-29T10:20:00Z", value, unit))
    payload = _payload(OPENED, _stop(transactionData=data))
    assert _codes(payload) == ["unit_mislabelled"]
    assert payload["energy_delivered_in_kWh"] == 22.5  # the meters are still what is billed


def test_readings_within_the_meters_are_not_mislabelled() -> None:
    data = _data(("2026-11-29T10:20:00Z", "12000", "Wh"), ("2026-11-29T10:30:00Z", "20", "kWh"))
    assert "findings" not in _payload(OPENED, _stop(transactionData=data))


@pytest.mark.parametrize("value", ["NaN", "inf", "-Infinity", "1e40", "-5", "twelve", ""])
def test_unusable_readings_are_findings_never_errors(value: str) -> None:
    readings, problems = energy_readings(_data(("2026-11-29T10:20:00Z", value, "Wh")))
    assert readings == [] and [p.code for p in problems] == ["meter_value_invalid"]
    payload = _payload(OPENED, _stop(transactionData=_data(("2026-11-29T10:20:00Z", value, "Wh"))))
    assert _codes(payload) == ["meter_value_invalid"]


@pytest.mark.parametrize("sent", ["1970-01-01T00:00:00Z", "2150-01-01T00:00:00Z", 0])
def test_a_stop_time_without_a_clock_is_billed_at_arrival_with_the_sent_one_kept(
    sent: object,
) -> None:
    payload = _payload(OPENED, _stop(timestamp=sent))
    assert payload["ended_at"] == "2026-11-29T10:46:00.000Z"
    assert payload["raw"] == {"ended_at": str(sent)}
    assert _codes(payload) == ["clock_not_set"]


def test_a_clock_days_ahead_is_published_as_sent_for_the_listener_to_judge() -> None:
    payload = _payload(OPENED, _stop(timestamp="2026-12-02T10:45:00Z"))
    assert payload["ended_at"] == "2026-12-02T10:45:00.000Z" and "findings" not in payload


def test_an_unusable_meter_stop_bills_nothing_and_keeps_what_was_sent() -> None:
    payload = _payload(OPENED, _stop(meterStop=10**20))
    assert payload["energy_delivered_in_kWh"] == 0
    assert "meter_stop_wh" not in payload and payload["raw"] == {"meter_stop_wh": str(10**20)}
    assert _codes(payload) == ["meter_value_invalid"]


# --- id tags --------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("entry", "unknown_accepted", "status"),
    [
        (None, True, "Accepted"),
        (None, False, "Invalid"),
        (IdTagEntry("Accepted"), False, "Accepted"),
        (IdTagEntry("Blocked"), True, "Blocked"),
        (IdTagEntry("Invalid"), True, "Invalid"),
        (IdTagEntry("Expired"), True, "Expired"),
        (IdTagEntry("Accepted", datetime(2026, 11, 29, 11, tzinfo=UTC)), True, "Expired"),
        (IdTagEntry("Accepted", datetime(2026, 11, 29, 13, tzinfo=UTC)), True, "Accepted"),
    ],
)
def test_each_tag_answers_its_real_status(
    entry: IdTagEntry | None, unknown_accepted: bool, status: str
) -> None:
    assert id_tag_info(entry, NOW, unknown_accepted)["status"] == status


def test_a_tags_expiry_and_parent_are_answered() -> None:
    entry = IdTagEntry("Accepted", datetime(2027, 1, 1, tzinfo=UTC), "FLEET")
    assert id_tag_info(entry, NOW, True) == {
        "status": "Accepted",
        "expiryDate": "2027-01-01T00:00:00.000Z",
        "parentIdTag": "FLEET",
    }


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"status": "accepted"},
        {"status": "Accepted", "expiry_date": "tomorrow"},
        {"status": "Accepted", "parent_id_tag": "x" * 21},
        {"status": "Accepted", "colour": "red"},
    ],
)
def test_a_bad_entry_is_refused_with_a_reason(body: object) -> None:
    with pytest.raises(IdTagError):
        parse_entry(body)


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
def known_chargers(monkeypatch: pytest.MonkeyPatch) -> MemoryChargerRegistry:
    """The registry's seeds of the fleet's chargers 1 and 2 and the listed CP1 and CP2, and a
    retired CP9, read as the authorizer reads it (here without a cache)."""
    settings = Settings.from_env({"FLEET_CHARGERS": "2", "MQTT_CHARGER_IDS": "CP1, CP2"})
    retired = replace(listed_record("CP9"), status=RETIRED)
    registry = MemoryChargerRegistry([*seed_records(settings), retired])
    monkeypatch.setattr(
        charger_admission, "cached_registry", lambda settings: CachedRegistry(registry, 0)
    )
    return registry


@pytest.mark.parametrize("charger", ["CP1", "CP2", "1", "2"])
def test_a_known_charger_with_its_own_password_is_allowed_as_itself(
    monkeypatch: pytest.MonkeyPatch, charger: str
) -> None:
    monkeypatch.setenv("MQTT_FLEET_SECRET", SECRET)
    event = _auth_event(charger, charger_password(SECRET, charger), charger)
    result = authorizer.handler(event, None)
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["context"] == {"chargerId": charger} and result["principalId"] == charger


@pytest.mark.parametrize("charger", ["CP3", "3", "01", "0", "cp1", "CP9"])
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


def test_a_charger_added_to_the_registry_connects_and_is_refused_once_retired(
    monkeypatch: pytest.MonkeyPatch, known_chargers: MemoryChargerRegistry
) -> None:
    # GIVEN a charger the settings never named
    monkeypatch.setenv("MQTT_FLEET_SECRET", SECRET)
    event = _auth_event("depot-7", charger_password(SECRET, "depot-7"), "depot-7")
    with pytest.raises(authorizer.Unauthorized):
        authorizer.handler(event, None)
    # WHEN an operator adds it to the registry, THEN it connects
    known_chargers.put(listed_record("depot-7"))
    assert authorizer.handler(event, None)["context"] == {"chargerId": "depot-7"}
    # WHEN it is retired, THEN it is refused again
    known_chargers.put(replace(listed_record("depot-7"), status=RETIRED))
    with pytest.raises(authorizer.Unauthorized):
        authorizer.handler(event, None)


def test_an_unreadable_registry_refuses_everyone(monkeypatch: pytest.MonkeyPatch) -> None:
    class Down(MemoryChargerRegistry):
        def get(self, charger_id: str) -> None:
            raise StorageUnavailable("DynamoDB get_item failed: ServiceUnavailable")

    monkeypatch.setenv("MQTT_FLEET_SECRET", SECRET)
    monkeypatch.setattr(
        charger_admission, "cached_registry", lambda settings: CachedRegistry(Down(), 0)
    )
    with pytest.raises(authorizer.Unauthorized):
        authorizer.handler(_auth_event("CP1", charger_password(SECRET, "CP1"), "CP1"), None)


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
