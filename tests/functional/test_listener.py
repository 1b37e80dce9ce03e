"""The listener Lambda with IoT rule events, storing into the template's table in moto."""

from __future__ import annotations

from typing import Any

import pytest

from evsessions.errors import InvalidSession, StorageUnavailable
from listener.handler import handler
from tests.functional.conftest import load_event, session_items


def test_original_message_is_stored(sessions_table: str, dynamodb: Any) -> None:
    # GIVEN the original challenge's message as the IoT rule hands it over
    event = load_event("iot_rule_original.json")
    # WHEN the listener runs
    result = handler(event, None)
    # THEN the session is stored once, ending when the rule received it
    assert result == {"status": "stored", "topic": "charger/1/connector/1/session/1"}
    [item] = session_items(dynamodb, sessions_table)
    assert item["pk"] == {"S": "CHARGER#1"}
    assert item["sk"] == {"S": "SESSION#1#1"}
    assert item["session_id"] == {"N": "1"}
    assert item["energy_delivered_in_kWh"] == {"N": "30"}
    assert item["duration_in_seconds"] == {"N": "45"}
    assert item["session_cost_in_cents"] == {"N": "70"}
    assert item["ended_at"] == {"S": "2025-11-27T18:35:00.000Z"}
    assert item["ended_at_source"] == {"S": "received"}


def test_message_with_ended_at_keeps_the_payloads_time(sessions_table: str, dynamodb: Any) -> None:
    # GIVEN a message that carries its own end time
    event = load_event("iot_rule_with_ended_at.json")
    # WHEN the listener runs
    assert handler(event, None)["status"] == "stored"
    # THEN that time is stored as UTC text and drives the time-ordered keys
    [item] = session_items(dynamodb, sessions_table)
    assert item["ended_at"] == {"S": "2025-11-27T18:34:10.250Z"}
    assert item["ended_at_source"] == {"S": "payload"}
    assert item["received_at"] == {"S": "2025-11-27T18:34:10.500Z"}
    assert item["month"] == {"S": "2025-11#13"}  # the ByMonth shard of charger 2
    assert item["charger_time"] == {"S": "2025-11-27T18:34:10.250Z#1#1764268440"}
    assert item["energy_delivered_in_kWh"] == {"N": "42.125"}


def test_same_event_twice_is_a_duplicate_and_stored_once(
    sessions_table: str, dynamodb: Any
) -> None:
    # GIVEN a stored message
    event = load_event("iot_rule_original.json")
    handler(event, None)
    # WHEN QoS 1 delivers it again
    result = handler(event, None)
    # THEN it is a success that changes nothing
    assert result["status"] == "duplicate"
    assert len(session_items(dynamodb, sessions_table)) == 1


def test_other_content_under_a_stored_identity_is_stored_beside_it(
    sessions_table: str, dynamodb: Any
) -> None:
    # GIVEN a stored session
    handler(load_event("iot_rule_original.json"), None)
    # WHEN a message with the same identity but a later receive time and other cost arrives
    # (the charger restarted its session ids)
    again = {**load_event("iot_rule_original.json"), "received_at": 1_764_268_560_000}
    again["session_cost_in_cents"] = 9_999
    # THEN it is stored as the identity's second occurrence, and the first stays as it was
    assert handler(again, None)["status"] == "reused"
    first, second = sorted(
        session_items(dynamodb, sessions_table), key=lambda item: item["sk"]["S"]
    )
    assert first["sk"] == {"S": "SESSION#1#1"}
    assert first["session_cost_in_cents"] == {"N": "70"}
    assert first["ended_at"] == {"S": "2025-11-27T18:35:00.000Z"}
    assert second["sk"] == {"S": "SESSION#1#1#2"}
    assert second["session_cost_in_cents"] == {"N": "9999"}
    assert second["ended_at"] == {"S": "2025-11-27T18:36:00.000Z"}
    # AND its redelivery (received later still) is a duplicate, not a third occurrence
    later = {**again, "received_at": 1_764_268_620_000}
    assert handler(later, None)["status"] == "duplicate"
    assert len(session_items(dynamodb, sessions_table)) == 2


def test_a_stored_item_from_before_occurrences_is_compared_by_its_fields(
    sessions_table: str, dynamodb: Any
) -> None:
    # GIVEN a session item as the listener wrote it before occurrences existed (no occurrence)
    handler(load_event("iot_rule_original.json"), None)
    [item] = session_items(dynamodb, sessions_table)
    del item["occurrence"]
    dynamodb.put_item(TableName=sessions_table, Item=item)
    # WHEN the same message is redelivered THEN it is a duplicate of that item
    assert handler(load_event("iot_rule_original.json"), None)["status"] == "duplicate"
    # AND other content is its second occurrence
    other = {**load_event("iot_rule_original.json"), "energy_delivered_in_kWh": 31}
    assert handler(other, None)["status"] == "reused"
    assert len(session_items(dynamodb, sessions_table)) == 2


def test_same_session_id_on_another_connector_is_stored(sessions_table: str, dynamodb: Any) -> None:
    handler(load_event("iot_rule_original.json"), None)
    other = {**load_event("iot_rule_original.json"), "topic": "charger/1/connector/2/session/1"}
    assert handler(other, None)["status"] == "stored"
    assert len(session_items(dynamodb, sessions_table)) == 2


def test_invalid_message_raises_and_writes_nothing(sessions_table: str, dynamodb: Any) -> None:
    # GIVEN a message with no identity (its session id is not its topic's)
    event = load_event("iot_rule_invalid.json")
    # WHEN the listener runs
    with pytest.raises(InvalidSession) as excinfo:
        handler(event, None)
    # THEN it is a permanent error naming the field, and the table stays empty
    assert excinfo.value.field == "session_id"
    assert dynamodb.scan(TableName=sessions_table)["Items"] == []


def test_unreachable_database_is_a_transient_error(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a DynamoDB endpoint where nothing listens (no mock)
    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SESSIONS_TABLE", "SessionsTable")
    # WHEN a valid message arrives
    with pytest.raises(StorageUnavailable) as excinfo:
        handler(load_event("iot_rule_original.json"), None)
    # THEN the error is the retryable kind, not the dead-letter kind
    assert not isinstance(excinfo.value, InvalidSession)
    assert not issubclass(StorageUnavailable, InvalidSession)


def test_missing_table_is_a_transient_error(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a reachable database without the table (not created yet)
    monkeypatch.setenv("SESSIONS_TABLE", "NotCreatedYet")
    # WHEN a valid message arrives
    # THEN it is retried later rather than dead-lettered
    with pytest.raises(StorageUnavailable):
        handler(load_event("iot_rule_original.json"), None)
