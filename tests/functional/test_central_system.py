"""The central system's actions against the sessions table (moto), with a recording publisher:
replays get the same transaction id and the same bytes, a Stop nobody started is kept, a
session the broker did not acknowledge is published again when the Stop comes again (answered
with the CALLERROR chargers resend on), and meter readings in Wh and in kWh are kept in Wh."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from centralsystem.actions import CentralSystem, SessionNotAccepted
from centralsystem.handler import _answer
from centralsystem.store import CentralSystemStore
from centralsystem.transactions import Tariff
from evsessions.dynamodb_store import create_client
from evsessions.publishing import OutgoingMessage, PublishReport
from evsessions.settings import Settings

START = {"connectorId": 1, "idTag": "T", "meterStart": 1_000, "timestamp": "2026-11-29T10:00:00Z"}


@dataclass
class RecordingPublisher:
    sent: list[OutgoingMessage] = field(default_factory=list)
    refuse: bool = False

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> PublishReport:
        if self.refuse:
            return PublishReport(0, len(messages), ["no PUBACK"])
        self.sent.extend(messages)
        return PublishReport(published=len(messages))


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
def database(sessions_table: str) -> Database:
    return Database(create_client(Settings.from_env()))


@pytest.fixture
def system(sessions_table: str, database: Database, publisher: RecordingPublisher) -> CentralSystem:
    store = CentralSystemStore(sessions_table, database)  # type: ignore[arg-type]
    return CentralSystem(store, lambda: publisher, Tariff(39, 50), heartbeat_interval=300)


def _stop(transaction_id: int, meter_stop: int = 23_500, **extra: Any) -> dict[str, Any]:
    return {
        "transactionId": transaction_id,
        "meterStop": meter_stop,
        "timestamp": "2026-11-29T10:45:00Z",
        **extra,
    }


def test_a_replayed_start_gets_the_same_transaction_id(system: CentralSystem) -> None:
    first = system.answer("CP1", "StartTransaction", START)
    again = system.answer("CP1", "StartTransaction", START)
    other = system.answer("CP1", "StartTransaction", {**START, "meterStart": 2_000})
    assert first == again
    assert other["transactionId"] != first["transactionId"]


def test_each_charger_counts_its_own_transactions(system: CentralSystem) -> None:
    one = system.answer("CP1", "StartTransaction", START)["transactionId"]
    two = system.answer("CP2", "StartTransaction", START)["transactionId"]
    assert one == two == 1


def test_a_replayed_stop_republishes_the_first_stops_bytes(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = system.answer("CP1", "StartTransaction", START)["transactionId"]
    first = system.answer("CP1", "StopTransaction", _stop(transaction, reason="Local"))
    # a charger that resends its Stop, even with a later reading, changes nothing
    again = system.answer("CP1", "StopTransaction", _stop(transaction, 99_000))
    assert first == again == {"idTagInfo": {"status": "Accepted"}}
    assert len(publisher.sent) == 2
    assert publisher.sent[0] == publisher.sent[1]
    assert publisher.sent[0].topic == f"charger/CP1/connector/1/session/{transaction}"


def test_a_charger_cannot_stop_another_chargers_transaction(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = system.answer("CP1", "StartTransaction", START)["transactionId"]
    assert system.answer("CP2", "StopTransaction", _stop(transaction)) == {}
    assert publisher.sent == []


def test_a_stop_nobody_started_is_answered_and_kept(
    system: CentralSystem, publisher: RecordingPublisher, dynamodb: Any, sessions_table: str
) -> None:
    assert system.answer("CP1", "StopTransaction", _stop(4242)) == {}
    assert publisher.sent == []
    kept = dynamodb.query(
        TableName=sessions_table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
        ExpressionAttributeValues={":pk": {"S": "OCPP#CHARGER#CP1"}, ":sk": {"S": "UNMATCHED#"}},
    )["Items"]
    assert len(kept) == 1 and '"meterStop":23500' in kept[0]["payload"]["S"]


def test_a_session_the_broker_did_not_take_is_published_when_the_stop_comes_again(
    system: CentralSystem, publisher: RecordingPublisher
) -> None:
    transaction = system.answer("CP1", "StartTransaction", START)["transactionId"]
    publisher.refuse = True
    with pytest.raises(SessionNotAccepted):
        system.answer("CP1", "StopTransaction", _stop(transaction))
    publisher.refuse = False
    assert system.answer("CP1", "StopTransaction", _stop(transaction))["idTagInfo"]
    assert len(publisher.sent) == 1


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
    assert json.loads(again) == [3, "u2", {"idTagInfo": {"status": "Accepted"}}]
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
