"""The central system's actions against the sessions table (moto), with a recording publisher:
replays get the same transaction id and the same bytes, a Stop nobody started is kept, and a
session the broker did not acknowledge is published again when the Stop comes again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from centralsystem.actions import CentralSystem, SessionNotAccepted
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


@pytest.fixture
def system(sessions_table: str, publisher: RecordingPublisher) -> CentralSystem:
    settings = Settings.from_env()
    store = CentralSystemStore(sessions_table, create_client(settings))
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
