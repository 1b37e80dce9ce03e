"""Messages through the real pipeline: mosquitto -> bridge -> listener -> DynamoDB Local -> HTTP."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime

import pytest

from local_runner.system import LocalSystem
from tests.integration.helpers import (
    charger_client,
    eventually,
    get_json,
    publish,
    served,
    settled,
)

pytestmark = pytest.mark.integration

ORIGINAL = {
    "session_id": 1,
    "energy_delivered_in_kWh": 30,
    "duration_in_seconds": 45,
    "session_cost_in_cents": 70,
}


def _api(system: LocalSystem) -> str:
    assert system.api is not None
    return system.api.url


def test_a_message_in_the_original_format_is_stored_and_served(local_system: LocalSystem) -> None:
    # GIVEN a charger written for the original challenge
    # WHEN it publishes its exact four-field message with QoS 1
    publish(local_system, "charger/orig/connector/1/session/1", json.dumps(ORIGINAL))
    # THEN the API serves it, with the receive time standing in for the end time
    body = eventually(lambda: served(f"{_api(local_system)}/sessions/orig/1/1"))
    assert {k: body[k] for k in ORIGINAL} == ORIGINAL
    assert body["ended_at_source"] == "received"
    assert body["ended_at"] == body["received_at"]


def test_the_same_message_twice_makes_one_row(local_system: LocalSystem) -> None:
    # GIVEN a message that arrives twice (a QoS 1 redelivery has a new packet id)
    message = json.dumps({**ORIGINAL, "session_id": 5})
    publish(local_system, "charger/dup/connector/1/session/5", message)
    publish(local_system, "charger/dup/connector/1/session/5", message)
    # WHEN a later message is served (so both copies were received) and every message the
    # bridge received is handled (batches run side by side: the later one may finish first)
    publish(
        local_system, "charger/dup/connector/1/session/6", json.dumps({**ORIGINAL, "session_id": 6})
    )
    eventually(lambda: served(f"{_api(local_system)}/sessions/dup/1/6"))
    settled(local_system)
    # THEN the charger has exactly two sessions
    status, body = get_json(f"{_api(local_system)}/sessions?charger=dup")
    assert status == 200
    assert sorted(s["session_id"] for s in body["sessions"]) == [5, 6]


def test_an_invalid_message_is_dead_lettered_and_the_next_one_is_stored(
    local_system: LocalSystem,
) -> None:
    # GIVEN a poison message (its session id is not its topic's: no identity) and a valid one
    bad = json.dumps({**ORIGINAL, "session_id": 70})
    publish(local_system, "charger/poison/connector/1/session/7", bad)
    publish(
        local_system,
        "charger/poison/connector/1/session/8",
        json.dumps({**ORIGINAL, "session_id": 8}),
    )
    # THEN the valid one is served and, once the bridge handled both, the invalid one is not
    eventually(lambda: served(f"{_api(local_system)}/sessions/poison/1/8"))
    settled(local_system)
    assert get_json(f"{_api(local_system)}/sessions/poison/1/7")[0] == 404
    # AND the dead letter keeps the original payload and says why
    assert local_system.dead_letters is not None
    letters = [
        d
        for d in local_system.dead_letters.all()
        if d.topic.endswith("poison/connector/1/session/7")
    ]
    assert len(letters) == 1
    assert base64.b64decode(letters[0].payload_base64).decode() == bad
    assert letters[0].error_type == "InvalidSession"
    assert letters[0].error_field == "session_id"
    assert "topic" in letters[0].error_message
    # AND, as on AWS where the listener sends it to the dead-letter queue itself, at its first try
    assert letters[0].attempts == 1


def test_non_json_bytes_are_dead_lettered_without_stopping_the_bridge(
    local_system: LocalSystem,
) -> None:
    publish(local_system, "charger/bytes/connector/1/session/1", b"\xff\xfe not json")
    publish(
        local_system,
        "charger/bytes/connector/1/session/2",
        json.dumps({**ORIGINAL, "session_id": 2}),
    )
    eventually(lambda: served(f"{_api(local_system)}/sessions/bytes/1/2"))
    assert local_system.dead_letters is not None
    assert any(
        d.topic == "charger/bytes/connector/1/session/1" for d in local_system.dead_letters.all()
    )


def test_a_scheduled_tick_publishes_sessions_that_the_api_serves(local_system: LocalSystem) -> None:
    # GIVEN the publisher's schedule from template.yaml
    assert local_system.scheduler is not None
    target = local_system.scheduler.targets[0]
    tick = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    # WHEN EventBridge (the local scheduler) fires it, twice, as a retry would
    local_system.scheduler.fire(target, tick)
    local_system.scheduler.fire(target, tick)
    # THEN the session is served once, with the id derived from the tick
    session_id = int(tick.timestamp())
    body = eventually(lambda: served(f"{_api(local_system)}/sessions/1/1/{session_id}"))
    assert body["session_id"] == session_id
    _, listing = get_json(f"{_api(local_system)}/sessions?charger=1&limit=500")
    assert [s["session_id"] for s in listing["sessions"]].count(session_id) == 1


def test_errors_are_json_and_never_leak_internals(local_system: LocalSystem) -> None:
    for path, code in [
        ("/sessions?limit=0", 400),
        ("/sessions?limit=9999", 400),
        ("/sessions?charger=a%23b", 400),
        ("/sessions?colour=red", 400),
        ("/sessions/none/1/1", 404),
    ]:
        status, body = get_json(f"{_api(local_system)}{path}")
        assert status == code, path
        assert set(body) == {"error", "message"}, path
        assert "Traceback" not in body["message"]
        assert "SessionsTable" not in body["message"]


def test_health_reports_the_database_and_the_dead_letters(local_system: LocalSystem) -> None:
    assert local_system.dead_letters is not None
    status, body = get_json(f"{_api(local_system)}/health")
    assert status == 200
    assert body == {
        "status": "ok",
        "database": "reachable",
        "dead_letters": len(local_system.dead_letters.all()),
        "reused_session_ids": body["reused_session_ids"],
        "suspect_sessions_open": body["suspect_sessions_open"],
        "alarms": body["alarms"],
    }
    # the template's alarms the emulator evaluates, the dead letters' among them
    assert {alarm["logical_id"] for alarm in body["alarms"]} >= {"DeadLettersAlarm"}
    # (other tests of the shared system reuse ids and store suspect sessions: they count them)
    assert isinstance(body["reused_session_ids"], int)
    assert isinstance(body["suspect_sessions_open"], int)


def test_qos_2_is_refused_as_aws_iot_refuses_it(local_system: LocalSystem) -> None:
    # GIVEN a client that publishes with QoS 2, which AWS IoT Core does not support
    assert local_system.broker is not None
    client = charger_client(local_system, "qos2")
    disconnected = threading.Event()
    client.on_disconnect = lambda *_: disconnected.set()
    client.connect(local_system.broker.host, local_system.broker.port)
    client.loop_start()
    try:
        info = client.publish("charger/qos2/connector/1/session/1", json.dumps(ORIGINAL), qos=2)
        # THEN the broker drops the connection and never completes the publish
        assert disconnected.wait(10)
        assert not info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    # AND nothing is stored
    publish(
        local_system,
        "charger/qos2/connector/1/session/2",
        json.dumps({**ORIGINAL, "session_id": 2}),
    )
    eventually(lambda: served(f"{_api(local_system)}/sessions/qos2/1/2"))
    assert get_json(f"{_api(local_system)}/sessions/qos2/1/1")[0] == 404
