"""The central system against the sessions table (moto), sent real OCPP-J frames (parsed and
schema-checked as the handler does, answered as it answers), with a recording publisher: replays
get the same transaction id and the same bytes, every confirmed Stop becomes a session (suspect
with its findings where something is doubtful), id tags answer their real status, and a session
the broker did not acknowledge (or the database did not take) is answered with the CALLERROR
chargers resend on, and published when the Stop comes again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from centralsystem import handler
from centralsystem.actions import CentralSystem
from centralsystem.handler import _answer
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.store import create_client
from evsessions.mqtt.publishing import OutgoingMessage, PublishReport
from evsessions.ocpp.idtags import IdTagEntry
from evsessions.ocpp.transactions import Tariff
from evsessions.settings import Settings

START = {"connectorId": 1, "idTag": "T", "meterStart": 1_000, "timestamp": "2026-11-29T10:00:00Z"}
ARRIVAL = datetime(2026, 11, 29, 10, 46, tzinfo=UTC)


@dataclass
class RecordingPublisher:
    sent: list[OutgoingMessage] = field(default_factory=list)
    refuse: bool = False

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> PublishReport:
        if self.refuse:
            return PublishReport(0, len(messages), ["no PUBACK"])
        self.sent.extend(messages)
        return PublishReport(published=len(messages))

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(message.payload) for message in self.sent]


@dataclass
class Clock:
    now: datetime = ARRIVAL

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


class Database:
    """The store's client, which the test can take down: every call then fails to connect."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.down = False

    def __getattr__(self, name: str) -> Any:
        if self.down:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-north-1.amazonaws.com")
        return getattr(self._client, name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database(sessions_table: str) -> Database:
    return Database(create_client(Settings.from_env()))


@pytest.fixture
def system(
    sessions_table: str, database: Database, publisher: RecordingPublisher, clock: Clock
) -> CentralSystem:
    store = CentralSystemStore(sessions_table, database)  # type: ignore[arg-type]
    return CentralSystem(
        store, lambda: publisher, Tariff(39, 50), heartbeat_interval=300, clock=clock
    )


def send(system: CentralSystem, action: str, payload: dict[str, Any], charger: str = "CP1") -> Any:
    """The frame the central system answers a CALL with."""
    reply = _answer(system, charger, json.dumps([2, "u1", action, payload]))
    assert reply is not None
    return json.loads(reply)


def confirmed(
    system: CentralSystem, action: str, payload: dict[str, Any], charger: str = "CP1"
) -> Any:
    frame = send(system, action, payload, charger)
    assert frame[0] == 3, frame
    return frame[2]


def _stop(transaction_id: int, meter_stop: int = 23_500, **extra: Any) -> dict[str, Any]:
    return {
        "transactionId": transaction_id,
        "meterStop": meter_stop,
        "timestamp": "2026-11-29T10:45:00Z",
        **extra,
    }


def _codes(payload: dict[str, Any]) -> list[str]:
    return [f["code"] for f in payload.get("findings", [])]


def _started(system: CentralSystem, **start: Any) -> int:
    return int(confirmed(system, "StartTransaction", {**START, **start})["transactionId"])


# --- replays ----------------------------------------------------------------------------------


def test_a_replayed_start_gets_the_same_transaction_id(system: CentralSystem) -> None:
    first = confirmed(system, "StartTransaction", START)
    again = confirmed(system, "StartTransaction", START)
    other = confirmed(system, "StartTransaction", {**START, "meterStart": 2_000})
    assert first == again
    assert other["transactionId"] != first["transactionId"]


def test_each_charger_counts_its_own_transactions(system: CentralSystem) -> None:
    assert _started(system) == 1
    assert confirmed(system, "StartTransaction", START, "CP2")["transactionId"] == 1


def test_a_replayed_stop_republishes_the_first_stops_bytes(
    system: CentralSystem, publisher: RecordingPublisher, clock: Clock
) -> None:
    transaction = _started(system)
    first = confirmed(system, "StopTransaction", _stop(transaction, reason="Local"))
    # a charger that resends its Stop, even with a later reading, later, changes nothing
    clock.now += timedelta(hours=5)
    again = confirmed(system, "StopTransaction", _stop(transaction, 99_000))
    assert first == again == {}  # no idTag in the Stop: no idTagInfo (OCPP 1.6)
    assert len(publisher.sent) == 2
    assert publisher.sent[0] == publisher.sent[1]
    assert publisher.sent[0].topic == f"charger/CP1/connector/1/session/{transaction}"
    assert publisher.payloads()[0]["id_tag"] == "T"


def test_a_session_the_broker_did_not_take_is_published_when_the_stop_comes_again(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = _started(system)
    publisher.refuse = True
    # refused before it is confirmed: the one InternalError a charger may see, so it resends
    assert send(system, "StopTransaction", _stop(transaction))[:4] == [
        4,
        "u1",
        "InternalError",
        "not stored yet; send it again",
    ]
    publisher.refuse = False
    assert confirmed(system, "StopTransaction", _stop(transaction)) == {}
    assert len(publisher.sent) == 1


def test_a_stop_without_reason_is_published_as_local(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    confirmed(system, "StopTransaction", _stop(_started(system)))
    assert publisher.payloads()[0]["stop_reason"] == "Local"


# --- a Stop for a transaction never started here -----------------------------------------------


def test_a_stop_nobody_started_becomes_a_suspect_session_and_its_replay_counts_once(
    system: CentralSystem, publisher: RecordingPublisher, clock: Clock
) -> None:
    # GIVEN a Stop for a transaction this central system never saw, with its transaction data
    data = [
        {"timestamp": "2026-11-29T10:00:00Z", "sampledValue": [{"value": "3000"}]},
        {"timestamp": "2026-11-29T10:45:00Z", "sampledValue": [{"value": "23.5", "unit": "kWh"}]},
    ]
    stop = _stop(4242, idTag="CARD", transactionData=data)
    # WHEN it comes, and comes again later
    assert confirmed(system, "StopTransaction", stop)["idTagInfo"] == {"status": "Accepted"}
    clock.now += timedelta(days=1)
    confirmed(system, "StopTransaction", stop)
    # THEN it is one session on connector 0, built from what the Stop carries, published twice
    # with the same bytes (the listener stores it once)
    assert publisher.sent[0] == publisher.sent[1]
    assert publisher.sent[0].topic == "charger/CP1/connector/0/session/4242"
    payload = publisher.payloads()[0]
    assert _codes(payload) == ["unknown_transaction"]
    assert payload["energy_delivered_in_kWh"] == 20.5  # 23,500 - the data's first 3,000 Wh
    assert payload["started_at"] == "2026-11-29T10:00:00.000Z"
    assert payload["duration_in_seconds"] == 45 * 60
    assert payload["billed_from"] == "transaction_data"
    assert payload["stop_id_tag"] == "CARD" and "id_tag" not in payload


def test_a_stop_nobody_started_without_a_clock_is_the_same_session_when_replayed(
    system: CentralSystem, publisher: RecordingPublisher, clock: Clock
) -> None:
    # GIVEN a Stop with no usable time for a transaction never started here, billed at arrival
    stop = _stop(-1, timestamp="1970-01-01T00:00:00Z")
    confirmed(system, "StopTransaction", stop)
    # WHEN it is replayed a day later
    clock.now += timedelta(days=1)
    confirmed(system, "StopTransaction", stop)
    # THEN the replay keeps the first arrival: the same bytes, counted once
    assert publisher.sent[0] == publisher.sent[1]
    assert publisher.payloads()[0]["ended_at"] == "2026-11-29T10:46:00.000Z"
    assert "clock_not_set" in _codes(publisher.payloads()[0])


def test_a_stop_nobody_started_without_data_bills_nothing(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    confirmed(system, "StopTransaction", _stop(4242))
    payload = publisher.payloads()[0]
    assert payload["energy_delivered_in_kWh"] == 0 and payload["meter_stop_wh"] == 23_500
    assert "meter_start_wh" not in payload and payload["session_cost_in_cents"] == 50


@pytest.mark.parametrize("transaction_id", [-1, 0, 2**31, 2**63 - 1])
def test_a_transaction_id_out_of_range_gets_a_stable_session_id_of_its_own(
    system: CentralSystem, publisher: RecordingPublisher, transaction_id: int
) -> None:
    confirmed(system, "StopTransaction", _stop(transaction_id))
    confirmed(system, "StopTransaction", _stop(transaction_id))  # the replay
    confirmed(system, "StopTransaction", _stop(transaction_id, 30_000))  # another offline one
    first, replay, other = publisher.payloads()
    assert first == replay and first["session_id"] != other["session_id"]
    assert str(first["session_id"]).startswith("x")
    assert publisher.sent[0].topic == f"charger/CP1/connector/0/session/{first['session_id']}"
    assert _codes(first) == ["transaction_id_out_of_range", "unknown_transaction"]


def test_a_charger_cannot_stop_another_chargers_transaction(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = _started(system)
    confirmed(system, "StopTransaction", _stop(transaction), "CP2")
    # CP2's Stop is CP2's own unknown transaction; CP1's transaction is still open
    assert publisher.sent[0].topic == f"charger/CP2/connector/0/session/{transaction}"
    found = system.store.transaction("CP1", transaction)
    assert found is not None and found[1] is None


# --- times ---------------------------------------------------------------------------------------


def test_a_stop_with_no_clock_is_confirmed_and_billed_at_arrival(
    system: CentralSystem, publisher: RecordingPublisher, clock: Clock
) -> None:
    transaction = _started(system)
    stop = _stop(transaction, timestamp="1970-01-01T00:03:00Z")
    assert confirmed(system, "StopTransaction", stop) == {}
    clock.now += timedelta(hours=1)
    confirmed(system, "StopTransaction", stop)
    first, replay = publisher.payloads()
    assert first == replay
    assert first["ended_at"] == "2026-11-29T10:46:00.000Z"
    assert first["raw"] == {"ended_at": "1970-01-01T00:03:00Z"}
    assert _codes(first) == ["clock_not_set"]


def test_a_start_with_no_clock_is_started_at_arrival_and_its_replay_gets_the_same_id(
    system: CentralSystem, publisher: RecordingPublisher, clock: Clock
) -> None:
    first = _started(system, timestamp="1970-01-01T00:00:05Z")
    clock.now += timedelta(minutes=1)
    assert _started(system, timestamp="1970-01-01T00:00:05Z") == first
    confirmed(system, "StopTransaction", _stop(first))
    payload = publisher.payloads()[0]
    assert payload["started_at"] == "2026-11-29T10:46:00.000Z"
    assert payload["raw"] == {"started_at": "1970-01-01T00:00:05Z"}
    assert _codes(payload) == ["clock_not_set"]


# --- meters ------------------------------------------------------------------------------------


def test_a_start_at_zero_after_the_connector_ended_higher_is_flagged(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    confirmed(system, "StopTransaction", _stop(_started(system), 910_000))
    second = _started(system, meterStart=0, timestamp="2026-11-29T11:00:00Z")
    confirmed(system, "StopTransaction", _stop(second, 910_083, timestamp="2026-11-29T12:00:00Z"))
    clean, flagged = publisher.payloads()
    assert "findings" not in clean
    assert _codes(flagged) == ["zero_start_meter"]
    assert "910000 Wh" in flagged["findings"][0]["detail"]


def test_a_first_start_at_zero_is_clean(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    confirmed(system, "StopTransaction", _stop(_started(system, meterStart=0)))
    assert "findings" not in publisher.payloads()[0]


def _meter_values(transaction: int, *values: tuple[str, str]) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "transactionId": transaction,
        "meterValue": [
            {"timestamp": f"2026-11-29T10:{10 + i}:00Z", "sampledValue": [{"value": v, "unit": u}]}
            for i, (v, u) in enumerate(values)
        ],
    }


@pytest.mark.parametrize("value", ["NaN", "inf", "1e40", "-1", "12,5"])
def test_unusable_meter_values_are_confirmed_and_flag_the_session(
    system: CentralSystem, publisher: RecordingPublisher, value: str
) -> None:
    transaction = _started(system)
    assert confirmed(system, "MeterValues", _meter_values(transaction, (value, "Wh"))) == {}
    assert confirmed(system, "MeterValues", _meter_values(transaction, (value, "kWh"))) == {}
    confirmed(system, "StopTransaction", _stop(transaction))
    payload = publisher.payloads()[0]
    assert _codes(payload) == ["meter_value_invalid"]
    assert payload["energy_delivered_in_kWh"] == 22.5


def test_meter_values_after_the_stop_change_nothing_of_the_session(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = _started(system)
    confirmed(system, "StopTransaction", _stop(transaction))
    confirmed(system, "MeterValues", _meter_values(transaction, ("NaN", "Wh"), ("12", "Wh")))
    confirmed(system, "StopTransaction", _stop(transaction))
    assert publisher.sent[0] == publisher.sent[1]


def test_a_reading_labelled_wh_that_is_kwh_is_flagged(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = _started(system)
    confirmed(system, "MeterValues", _meter_values(transaction, ("12", "Wh"), ("18", "Wh")))
    confirmed(system, "StopTransaction", _stop(transaction))
    assert _codes(publisher.payloads()[0]) == ["unit_mislabelled"]


def test_a_meter_that_ran_backwards_is_billed_from_the_meter_values_seen(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = _started(system)
    confirmed(system, "MeterValues", _meter_values(transaction, ("1000", "Wh"), ("9.5", "kWh")))
    confirmed(system, "StopTransaction", _stop(transaction, 120))  # the meter was swapped
    payload = publisher.payloads()[0]
    assert payload["energy_delivered_in_kWh"] == 8.5
    assert payload["billed_from"] == "meter_values"
    assert payload["raw"] == {"meter_start_wh": 1_000, "meter_stop_wh": 120}
    assert _codes(payload) == ["meter_regression"]


def test_one_meter_value_is_no_span_to_bill_from(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = _started(system)
    confirmed(system, "MeterValues", _meter_values(transaction, ("9500", "Wh")))
    confirmed(system, "StopTransaction", _stop(transaction, 120))
    payload = publisher.payloads()[0]
    assert payload["energy_delivered_in_kWh"] == -0.88 and "billed_from" not in payload


def test_a_meter_that_ran_backwards_without_readings_is_published_as_sent(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    confirmed(system, "StopTransaction", _stop(_started(system), 400))
    payload = publisher.payloads()[0]
    assert payload["energy_delivered_in_kWh"] == -0.6 and "billed_from" not in payload
    assert _codes(payload) == ["meter_regression"]


# --- id tags -----------------------------------------------------------------------------------


@pytest.fixture
def tags(system: CentralSystem) -> None:
    store = system.store
    store.put_id_tag("GOOD", IdTagEntry("Accepted", parent_id_tag="FLEET").as_item())
    store.put_id_tag("STOLEN", IdTagEntry("Blocked").as_item())
    store.put_id_tag("OLD", IdTagEntry("Accepted", datetime(2026, 11, 1, tzinfo=UTC)).as_item())
    store.put_id_tag("GONE", IdTagEntry("Invalid").as_item())


@pytest.mark.parametrize(
    ("tag", "status", "code"),
    [
        ("GOOD", "Accepted", None),
        ("STOLEN", "Blocked", "id_tag_blocked"),
        ("OLD", "Expired", "id_tag_expired"),
        ("GONE", "Invalid", "id_tag_invalid"),
        ("NEVER-SEEN", "Accepted", None),  # OCPP_UNKNOWN_ID_TAGS=accepted, the default
    ],
)
def test_each_tag_answers_its_status_and_a_refused_one_still_records_its_transaction(
    system: CentralSystem,
    publisher: RecordingPublisher,
    tags: None,
    tag: str,
    status: str,
    code: str | None,
) -> None:
    assert confirmed(system, "Authorize", {"idTag": tag})["idTagInfo"]["status"] == status
    started = confirmed(system, "StartTransaction", {**START, "idTag": tag})
    assert started["idTagInfo"]["status"] == status and started["transactionId"] == 1
    stopped = confirmed(system, "StopTransaction", _stop(1, idTag=tag))
    assert stopped["idTagInfo"]["status"] == status
    payload = publisher.payloads()[0]
    assert payload["id_tag"] == tag and "stop_id_tag" not in payload
    assert _codes(payload) == ([code] if code else [])


def test_the_answer_carries_expiry_and_parent(system: CentralSystem, tags: None) -> None:
    assert confirmed(system, "Authorize", {"idTag": "GOOD"})["idTagInfo"] == {
        "status": "Accepted",
        "parentIdTag": "FLEET",
    }
    assert confirmed(system, "Authorize", {"idTag": "OLD"})["idTagInfo"] == {
        "status": "Expired",
        "expiryDate": "2026-11-01T00:00:00.000Z",
    }


def test_unknown_tags_are_invalid_when_the_setting_says_so(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    system.unknown_id_tags_accepted = False
    assert confirmed(system, "Authorize", {"idTag": "WHO"})["idTagInfo"] == {"status": "Invalid"}
    confirmed(system, "StopTransaction", _stop(_started(system, idTag="WHO"), idTag="OTHER"))
    payload = publisher.payloads()[0]
    assert _codes(payload) == ["id_tag_invalid"] and payload["stop_id_tag"] == "OTHER"


def test_a_tag_that_is_no_id_token_is_invalid_without_a_lookup(system: CentralSystem) -> None:
    assert confirmed(system, "Authorize", {"idTag": ""})["idTagInfo"] == {"status": "Invalid"}
    assert confirmed(system, "Authorize", {"idTag": "\u00e9"})["idTagInfo"] == {"status": "Invalid"}


# --- every action a charger starts gets its confirmation --------------------------------------


def test_data_transfer_is_answered_with_its_own_status(system: CentralSystem) -> None:
    assert confirmed(system, "DataTransfer", {"vendorId": "com.acme", "messageId": "x"}) == {
        "status": "UnknownVendorId"
    }
    system.data_transfer_vendors = frozenset({"com.acme"})
    assert confirmed(system, "DataTransfer", {"vendorId": "com.acme"}) == {
        "status": "UnknownMessageId"
    }


def test_diagnostics_and_firmware_status_are_recorded_on_the_charge_point(
    system: CentralSystem,
) -> None:
    assert confirmed(system, "DiagnosticsStatusNotification", {"status": "Uploaded"}) == {}
    assert confirmed(system, "FirmwareStatusNotification", {"status": "Installing"}) == {}
    [item], _ = system.store.charge_points(10)
    assert (item["diagnostics_status"], item["firmware_status"]) == ("Uploaded", "Installing")


def test_a_start_on_no_real_connector_is_refused_before_it_is_confirmed(
    system: CentralSystem,
) -> None:
    frame = send(system, "StartTransaction", {**START, "connectorId": 0})
    assert frame[:3] == [4, "u1", "PropertyConstraintViolation"]


# --- one connection per charge point (the handler, the management API in moto) ---------------


def _event(kind: str, connection: str, body: str | None = None) -> dict[str, Any]:
    return {
        "requestContext": {
            "eventType": kind,
            "connectionId": connection,
            "domainName": "abc123.execute-api.eu-north-1.amazonaws.com",
            "stage": "ocpp",
            "authorizer": {"chargerId": "CP1"},
        },
        "headers": {"Sec-WebSocket-Protocol": "ocpp1.6"},
        "body": body,
    }


@pytest.fixture
def management_api(sessions_table: str) -> Any:
    """moto's management API: what was posted to each connection, and which were deleted."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    handler._central_system.cache_clear()
    return apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID]["eu-north-1"]


def test_a_second_connection_closes_the_first_and_only_the_newer_is_answered(
    management_api: Any,
) -> None:
    heartbeat = json.dumps([2, "h1", "Heartbeat", {}])
    # GIVEN a charge point connected and answered on its first connection
    assert handler.handler(_event("CONNECT", "old"), None)["statusCode"] == 200
    handler.handler(_event("MESSAGE", "old", heartbeat), None)
    assert json.loads(management_api.connections["old"].data)[:2] == [3, "h1"]
    # WHEN it connects again under the same id
    assert handler.handler(_event("CONNECT", "new"), None)["statusCode"] == 200
    # THEN the older connection is closed (DELETE @connections/old) ...
    assert "old" not in management_api.connections
    # ... a frame still arriving on it is not answered (and it is closed again) ...
    handler.handler(_event("MESSAGE", "old", heartbeat), None)
    assert "old" not in management_api.connections
    # ... the newer one is answered, and the late $disconnect of the old changes nothing
    handler.handler(_event("DISCONNECT", "old"), None)
    handler.handler(_event("MESSAGE", "new", heartbeat), None)
    assert json.loads(management_api.connections["new"].data)[:2] == [3, "h1"]
    [item], _ = handler._central_system(Settings.from_env()).store.charge_points(10)
    assert (item["connection_id"], item["connected"]) == ("new", True)


# --- the CALLERROR of a Stop not done --------------------------------------------------------


def _frame(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, unique_id, action, payload])


def test_a_stop_whose_session_the_broker_did_not_take_is_answered_internal_error(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    # GIVEN a started transaction, and a broker that does not acknowledge its session
    transaction = system.answer("CP1", "StartTransaction", START)["transactionId"]
    publisher.refuse = True
    # WHEN the charger stops it
    reply = _answer(system, "CP1", _frame("u1", "StopTransaction", _stop(transaction)))
    # THEN the answer is the CALLERROR a charger resends a transaction message on: InternalError
    assert reply is not None
    assert json.loads(reply)[:3] == [4, "u1", "InternalError"]
    # AND the resent Stop, once the broker takes it, is accepted and published
    publisher.refuse = False
    again = _answer(system, "CP1", _frame("u2", "StopTransaction", _stop(transaction)))
    assert again is not None
    assert json.loads(again) == [3, "u2", {}]  # no idTag in the Stop: no idTagInfo
    assert len(publisher.sent) == 1


def test_a_stop_the_database_could_not_take_is_answered_internal_error(
    system: CentralSystem, database: Database, publisher: RecordingPublisher
) -> None:
    # GIVEN a started transaction, and then the database unreachable
    transaction = system.answer("CP1", "StartTransaction", START)["transactionId"]
    database.down = True
    # WHEN the charger stops it
    reply = _answer(system, "CP1", _frame("u1", "StopTransaction", _stop(transaction)))
    # THEN the Stop is not stored, and the answer is InternalError, so the charger resends it
    assert reply is not None
    assert json.loads(reply)[:3] == [4, "u1", "InternalError"]
    assert publisher.sent == []
    # AND once the database is back, the resent Stop is stored and published
    database.down = False
    again = _answer(system, "CP1", _frame("u2", "StopTransaction", _stop(transaction)))
    assert again is not None and json.loads(again)[0] == 3
    assert len(publisher.sent) == 1


# --- MeterValues ---------------------------------------------------------------------------------


def _last_meter_wh(dynamodb: Any, table: str) -> list[int]:
    """The last energy reading kept of every transaction in the table, in Wh."""
    items = dynamodb.scan(TableName=table)["Items"]
    return [int(item["last_meter_wh"]["N"]) for item in items if "last_meter_wh" in item]


@pytest.mark.parametrize(
    ("sampled", "expected_wh"),
    [
        ({"value": "12000"}, 12_000),  # no unit: Wh, OCPP 1.6's default
        ({"value": "12000", "unit": "Wh"}, 12_000),
        ({"value": "12.5", "unit": "kWh"}, 12_500),
        ({"value": "7", "unit": "kWh", "measurand": "Energy.Active.Import.Register"}, 7_000),
    ],
    ids=["no unit", "Wh", "kWh", "kWh of the energy register"],
)
def test_an_energy_reading_in_wh_or_in_kwh_is_kept_in_wh(
    system: CentralSystem,
    dynamodb: Any,
    sessions_table: str,
    sampled: dict[str, str],
    expected_wh: int,
) -> None:
    # GIVEN a started transaction
    transaction = system.answer("CP1", "StartTransaction", START)["transactionId"]
    # WHEN the charger sends its energy register's reading
    reading = {"timestamp": "2026-11-29T10:15:00Z", "sampledValue": [sampled]}
    answer = system.answer(
        "CP1",
        "MeterValues",
        {"connectorId": 1, "transactionId": transaction, "meterValue": [reading]},
    )
    # THEN it is answered, and kept in Wh
    assert answer == {}
    assert _last_meter_wh(dynamodb, sessions_table) == [expected_wh]
