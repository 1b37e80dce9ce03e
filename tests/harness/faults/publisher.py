"""The charger side: a persistent-session paho client that counts a message as published only
when its PUBACK arrived, and a throw-away client for probes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from evsessions.mqtt.identity import MqttIdentity
from harness.faults.messages import Message


class FaultSetupError(RuntimeError):
    """The harness could not build a scenario's world (a part did not start)."""


class Publisher:
    """The chargers: QoS 1 with a persistent session (clean_session=False, a fixed client id), so
    paho re-sends what the broker did not acknowledge after a reconnect. A message counts as
    published only when its PUBACK arrived, as a charger only then may forget it."""

    def __init__(
        self,
        host: str,
        port: int,
        identity: MqttIdentity,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._host, self._port = host, port
        self._clock, self._sleep = clock, sleep
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=identity.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self._client.username_pw_set(identity.username, identity.password)
        self._client.max_inflight_messages_set(50)
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[int, Message] = {}  # mid -> message awaiting its PUBACK
        self._early: set[int] = set()  # PUBACKs that beat publish() returning its mid
        self._sent: list[Message] = []
        self._confirmed: set[str] = set()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def __enter__(self) -> Publisher:
        self._client.connect(self._host, self._port, keepalive=10)
        self._client.loop_start()
        if not self._connected.wait(15):
            self.close()
            raise FaultSetupError(f"publisher: no connection to {self._host}:{self._port}")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        # Runs under paho's message lock: take only our own short lock here.
        with self._lock:
            message = self._pending.pop(mid, None)
            if message is None:
                self._early.add(mid)
            else:
                self._confirmed.add(message.topic)

    def send(self, messages: Sequence[Message], rate: float | None = None) -> None:
        """Publish in the background, `rate` messages a second (None: as fast as paho can)."""
        self._thread = threading.Thread(
            target=self._send, args=(list(messages), rate), name="fault-publisher", daemon=True
        )
        self._thread.start()

    def _send(self, messages: list[Message], rate: float | None) -> None:
        started = self._clock()
        for index, message in enumerate(messages):
            if self._stop.is_set():
                return
            if rate:
                ahead = started + index / rate - self._clock()
                if ahead > 0:
                    self._sleep(ahead)
            # While disconnected paho keeps a QoS 1 message and sends it after the reconnect.
            info = self._client.publish(message.topic, message.payload, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self.errors.append(f"{message.topic}: {mqtt.error_string(info.rc)}")
                continue
            with self._lock:
                self._sent.append(message)
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self._confirmed.add(message.topic)
                else:
                    self._pending[info.mid] = message

    @property
    def sent(self) -> int:
        with self._lock:
            return len(self._sent)

    def confirmed(self) -> set[str]:
        with self._lock:
            return set(self._confirmed)

    def finish(self, timeout: float, ack_timeout: float = 60) -> bool:
        """Wait until everything was sent (`timeout`) and then acknowledged (`ack_timeout`);
        False if time ran out first."""
        deadline = self._clock() + timeout
        if self._thread is not None:
            while self._thread.is_alive() and self._clock() < deadline:
                self._thread.join(0.5)
        deadline = min(deadline, self._clock() + ack_timeout)
        while self._clock() < deadline:
            with self._lock:
                if not self._pending and (self._thread is None or not self._thread.is_alive()):
                    return True
            self._sleep(0.2)
        return False


def publish_one(
    host: str, port: int, identity: MqttIdentity, topic: str, payload: bytes, timeout: float = 15
) -> None:
    """One QoS 1 message from a throw-away client, PUBACK awaited (probes, not measured)."""
    probe = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=identity.client_id, protocol=mqtt.MQTTv311
    )
    probe.username_pw_set(identity.username, identity.password)
    probe.connect(host, port)
    probe.loop_start()
    try:
        probe.publish(topic, payload, qos=1).wait_for_publish(timeout)
    finally:
        probe.disconnect()
        probe.loop_stop()
