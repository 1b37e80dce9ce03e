"""The publisher Lambda on a scheduled event: IoT data plane in moto, and dead MQTT brokers."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends

from evsessions.contract import parse_session
from evsessions.errors import PublishIncomplete
from evsessions.fleet import simulate_tick
from evsessions.mqtt.connections import Delivery
from evsessions.mqtt.identity import charger_password
from evsessions.mqtt.publishing import MqttPublisher, OutgoingMessage
from evsessions.settings import Settings
from publisher.handler import handler
from tests.functional.conftest import REGION, load_event

TICK_EPOCH = 1_764_268_500  # the fixture's "time": 2025-11-27T18:35:00Z
TICK_MS = TICK_EPOCH * 1000


@pytest.fixture
def iot_fleet(sessions_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fleet of 3 chargers x 2 connectors publishing through the IoT data plane (moto)."""
    monkeypatch.setenv("PUBLISH_TRANSPORT", "iot-data")
    monkeypatch.setenv("FLEET_CHARGERS", "3")
    monkeypatch.setenv("FLEET_CONNECTORS_PER_CHARGER", "2")


def published() -> list[tuple[str, bytes]]:
    return list(iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_scheduled_tick_publishes_one_message_per_connector(iot_fleet: None) -> None:
    # GIVEN the scheduled event EventBridge sends each minute
    event = load_event("schedule.json")
    # WHEN the publisher runs
    summary = handler(event, None)
    # THEN all six connectors published, and the summary says so
    assert summary == {"scheduled_time": "2025-11-27T18:35:00Z", "published": 6, "failed": 0}
    topics = sorted(topic for topic, _ in published())
    assert topics == sorted(
        f"charger/{c}/connector/{n}/session/{TICK_EPOCH}" for c in (1, 2, 3) for n in (1, 2)
    )


def test_published_payloads_pass_the_contract(iot_fleet: None) -> None:
    # GIVEN one published tick
    handler(load_event("schedule.json"), None)
    for topic, payload in published():
        # WHEN the rule's output for each message is validated as the listener would
        event: dict[str, Any] = {**json.loads(payload), "topic": topic, "received_at": TICK_MS}
        session = parse_session(event)
        # THEN it is accepted with the topic's identity and its own end time
        assert session.key.topic == topic
        assert session.ended_at_source == "payload"


def test_retried_tick_publishes_identical_payloads(iot_fleet: None) -> None:
    # GIVEN a tick that was published
    event = load_event("schedule.json")
    handler(event, None)
    first = published()
    # WHEN EventBridge retries the same event
    handler(event, None)
    # THEN the same six messages go out again, byte for byte
    again = published()[len(first) :]
    assert len(first) == 6
    assert sorted(again) == sorted(first)


def test_next_tick_publishes_new_sessions(iot_fleet: None) -> None:
    handler(load_event("schedule.json"), None)
    handler({**load_event("schedule.json"), "time": "2025-11-27T18:36:00Z"}, None)
    topics = {topic for topic, _ in published()}
    assert len(topics) == 12
    assert f"charger/1/connector/1/session/{TICK_EPOCH + 60}" in topics


def test_event_without_time_is_refused(iot_fleet: None) -> None:
    event = load_event("schedule.json")
    del event["time"]
    with pytest.raises(ValueError, match="'time'"):
        handler(event, None)
    assert published() == []


def test_unreachable_mqtt_broker_raises_publish_incomplete(
    sessions_table: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the MQTT transport pointed at a port where no broker listens
    monkeypatch.setenv("PUBLISH_TRANSPORT", "mqtt")
    monkeypatch.setenv("MQTT_HOST", "127.0.0.1")
    monkeypatch.setenv("MQTT_PORT", str(closed_port()))
    monkeypatch.setenv("PUBLISH_ACK_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("FLEET_CHARGERS", "2")
    monkeypatch.setenv("FLEET_CONNECTORS_PER_CHARGER", "1")
    started = time.monotonic()
    # WHEN a tick runs
    with pytest.raises(PublishIncomplete) as excinfo:
        handler(load_event("schedule.json"), None)
    # THEN every message is reported unconfirmed, so the invocation is retried, and fast
    assert (excinfo.value.published, excinfo.value.failed) == (0, 2)
    assert "cannot connect" in str(excinfo.value)
    assert time.monotonic() - started < 10


def test_silent_broker_raises_publish_incomplete_after_the_timeout(
    sessions_table: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a port that accepts TCP connections but never answers MQTT
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("PUBLISH_TRANSPORT", "mqtt")
        monkeypatch.setenv("MQTT_PORT", str(silent.getsockname()[1]))
        monkeypatch.setenv("PUBLISH_ACK_TIMEOUT_SECONDS", "0.3")
        monkeypatch.setenv("FLEET_CHARGERS", "1")
        monkeypatch.setenv("FLEET_CONNECTORS_PER_CHARGER", "1")
        # WHEN a tick runs
        with pytest.raises(PublishIncomplete) as excinfo:
            handler(load_event("schedule.json"), None)
    # THEN the message counts as failed once the wait ran out
    assert excinfo.value.failed == 1
    assert "no CONNACK" in str(excinfo.value)


class _RecordingPool:
    """Stands in for the connection pool: records which identity carries which messages."""

    def __init__(self) -> None:
        self.batches: dict[Any, list[tuple[str, bytes]]] = {}

    def publish(self, batches: dict[Any, list[tuple[str, bytes]]], timeout: float) -> list[Any]:
        self.batches = batches
        return [Delivery(identity, published=len(m)) for identity, m in batches.items()]


def test_each_charger_publishes_its_messages_under_its_own_identity() -> None:
    # GIVEN a fleet secret and 3 chargers x 2 connectors
    settings = Settings(mqtt_fleet_secret="fleet", fleet_chargers=3, fleet_connectors_per_charger=2)
    pool = _RecordingPool()
    messages = [
        OutgoingMessage(s.key.topic, b"{}")
        for s in simulate_tick(datetime(2026, 1, 1, tzinfo=UTC), settings)
    ]
    # WHEN a tick is published
    report = MqttPublisher(settings, pool=pool).publish_all(messages)  # type: ignore[arg-type]
    # THEN every charger's two messages travel under its id and its derived password
    assert report.published == 6
    assert {i.client_id: [t.split("/")[1] for t, _ in m] for i, m in pool.batches.items()} == {
        "1": ["1", "1"],
        "2": ["2", "2"],
        "3": ["3", "3"],
    }
    for identity in pool.batches:
        assert identity.username == identity.client_id
        assert identity.password == charger_password("fleet", identity.client_id)
