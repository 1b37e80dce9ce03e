"""The publishing port and its two adapters: paho-mqtt for any broker, AWS IoT's data plane.

Both publish with QoS 1 and report how many messages the broker confirmed, within a bounded
wait: a message counts as published only once its PUBACK (or the data plane's 200) came back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from evsessions.mqtt.connections import ConnectionPool, Endpoint, shared_pool
from evsessions.mqtt.identity import MqttIdentity, charger_identity, charger_of_topic
from evsessions.settings import Settings


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    payload: bytes


@dataclass
class PublishReport:
    published: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add_failure(self, reason: str) -> None:
        self.failed += 1
        if reason not in self.errors:
            self.errors.append(reason)


class MessagePublisher(Protocol):
    def publish_all(self, messages: Sequence[OutgoingMessage]) -> PublishReport: ...


_PROCESS_CLIENT_ID = f"publisher-{uuid.uuid4().hex[:12]}"
"""Without per-charger identities, one connection per process, kept like the others."""


class MqttPublisher:
    """Publishes each charger's messages under that charger's own identity when a fleet secret is
    set (MQTT_FLEET_SECRET), else everything under MQTT_USERNAME. Connections are kept between
    calls in a shared pool (see mqtt.connections), as a warm Lambda container keeps its clients."""

    def __init__(self, settings: Settings, pool: ConnectionPool | None = None) -> None:
        self.settings = settings
        self.pool = pool or shared_pool(
            Endpoint(
                settings.mqtt_host, settings.mqtt_port, settings.mqtt_ca_file, settings.mqtt_tls
            )
        )
        self._shared_identity = MqttIdentity(
            _PROCESS_CLIENT_ID, settings.mqtt_username or "", settings.mqtt_password
        )

    def _identity(self, topic: str) -> MqttIdentity:
        if self.settings.mqtt_fleet_secret is None:
            return self._shared_identity
        return charger_identity(self.settings.mqtt_fleet_secret, charger_of_topic(topic))

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> PublishReport:
        report = PublishReport()
        batches: dict[MqttIdentity, list[tuple[str, bytes]]] = {}
        for message in messages:
            try:
                identity = self._identity(message.topic)
            except ValueError as error:
                report.add_failure(str(error))
                continue
            batches.setdefault(identity, []).append((message.topic, message.payload))
        for delivery in self.pool.publish(batches, self.settings.publish_ack_timeout_seconds):
            report.published += delivery.published
            for _ in range(delivery.failed):
                report.add_failure(delivery.error or "not published")
        return report


class IotDataPublisher:
    """AWS IoT Core's data plane: each publish returns once IoT Core accepted the message."""

    def __init__(self, settings: Settings, client: Any = None, workers: int = 8) -> None:
        self.settings = settings
        self._client = client
        self.workers = workers

    @property
    def client(self) -> Any:
        if self._client is None:
            from evsessions.aws_clients import aws_client

            self._client = aws_client(
                "iot-data", self.settings.aws_region, self.settings.iot_data_endpoint_url
            )
        return self._client

    def _publish(self, message: OutgoingMessage) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.publish(topic=message.topic, qos=1, payload=message.payload)
        except (BotoCoreError, ClientError) as error:
            return f"iot-data publish failed: {error}"
        return None

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> PublishReport:
        report = PublishReport()
        _ = self.client  # create the client once, before the threads share it
        with ThreadPoolExecutor(self.workers) as pool:
            for error in pool.map(self._publish, messages):
                if error is None:
                    report.published += 1
                else:
                    report.add_failure(error)
        return report


def publisher_for(settings: Settings) -> MessagePublisher:
    """The adapter the settings choose (PUBLISH_TRANSPORT)."""
    if settings.publish_transport == "iot-data":
        return IotDataPublisher(settings)
    return MqttPublisher(settings)
