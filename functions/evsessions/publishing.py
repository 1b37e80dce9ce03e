"""The publishing port and its two adapters: paho-mqtt for any broker, AWS IoT's data plane.

Both publish with QoS 1 and report how many messages the broker confirmed, within a bounded
wait: a message counts as published only once its PUBACK (or the data plane's 200) came back.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from evsessions.settings import Settings

MAX_INFLIGHT = 1000
"""Unacknowledged QoS 1 messages on the wire at once; paho's default of 20 caps a tick's speed."""


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


class MqttPublisher:
    """One short MQTT connection per call: a Lambda-style handler keeps nothing between ticks."""

    def __init__(self, settings: Settings, clock: Any = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock

    def _client(self) -> Any:
        import paho.mqtt.client as mqtt  # imported here: the deployed publisher never needs it
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"publisher-{uuid.uuid4().hex[:12]}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        if self.settings.mqtt_username:
            client.username_pw_set(self.settings.mqtt_username, self.settings.mqtt_password)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        return client

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> PublishReport:
        report = PublishReport()
        deadline = self.clock() + self.settings.publish_ack_timeout_seconds
        client = self._client()
        connected = threading.Event()
        refusal: list[str] = []

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:
                refusal.append(f"broker refused the connection: {reason}")
            connected.set()

        client.on_connect = on_connect
        address = f"{self.settings.mqtt_host}:{self.settings.mqtt_port}"
        try:
            client.connect(self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30)
        except OSError as error:
            for _ in messages:
                report.add_failure(f"cannot connect to the MQTT broker at {address}: {error}")
            return report
        client.loop_start()
        try:
            if not connected.wait(max(0.0, deadline - self.clock())) or refusal:
                reason = refusal[0] if refusal else f"no CONNACK from {address} in time"
                for _ in messages:
                    report.add_failure(reason)
                return report
            infos = [client.publish(m.topic, m.payload, qos=1) for m in messages]
            for info in infos:
                try:
                    info.wait_for_publish(max(0.0, deadline - self.clock()))
                except (RuntimeError, ValueError) as error:
                    report.add_failure(f"publish failed: {error}")
                    continue
                if info.is_published():
                    report.published += 1
                else:
                    report.add_failure(
                        f"no PUBACK within {self.settings.publish_ack_timeout_seconds:g} s"
                    )
            return report
        finally:
            client.disconnect()
            client.loop_stop()


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
