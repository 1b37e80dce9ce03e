"""Small helpers for the integration tests: publish over MQTT, read the API, wait for a state."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from evsessions.mqtt.identity import charger_of_topic
from local_runner.system import LocalSystem


def charger_client(system: LocalSystem, charger: str, **options: Any) -> mqtt.Client:
    """A paho client with the charger's own identity, as the running system generated it."""
    assert system.access is not None
    identity = system.access.charger(charger)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=identity.client_id,
        protocol=options.pop("protocol", mqtt.MQTTv311),
        **options,
    )
    client.username_pw_set(identity.username, identity.password)
    return client


def publish(system: LocalSystem, topic: str, payload: bytes | str, qos: int = 1) -> None:
    """Publish one message with QoS 1, as the topic's charger, and wait for the PUBACK."""
    assert system.broker is not None
    client = charger_client(system, charger_of_topic(topic))
    client.connect(system.broker.host, system.broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=qos).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def served(url: str) -> Any:
    """The JSON body when the URL answers 200, else None (for `eventually`)."""
    status, body = get_json(url)
    return body if status == 200 else None


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until `check` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"condition not met within {timeout} s; last value: {value!r}")


def settled(system: LocalSystem, timeout: float = 30.0) -> None:
    """Wait until every rule bridge of the system acknowledged every message it received; a
    bridge acknowledges a message only after its handler returned (or it was dead-lettered).

    Batches are handled several at a time, so a later message stored says nothing of an earlier
    one's fate. Call this after something that shows the messages in question were received (a
    later message served: the broker delivers in order, and the bridge takes them in order)."""
    eventually(lambda: sum(bridge.in_flight for bridge in system.bridges) == 0, timeout)
