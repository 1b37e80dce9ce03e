"""Counting PUBACKs: a publish that failed outright counts as unacknowledged, never as a crash."""

from __future__ import annotations

from paho.mqtt.client import MQTTMessageInfo
from paho.mqtt.enums import MQTTErrorCode

from evsessions.mqtt.connections import _acknowledged


def info(rc: MQTTErrorCode, published: bool) -> MQTTMessageInfo:
    message = MQTTMessageInfo(1)
    message.rc = rc
    if published:
        message._set_as_published()
    return message


def test_a_publish_lost_with_its_connection_is_unacknowledged_not_an_error() -> None:
    # GIVEN paho's record of a publish whose connection was lost (is_published() raises for it)
    lost = info(MQTTErrorCode.MQTT_ERR_CONN_LOST, published=False)
    # THEN it counts as not acknowledged, so the tick is reported incomplete and retried
    assert _acknowledged(lost) is False


def test_acknowledged_and_waiting_publishes() -> None:
    assert _acknowledged(info(MQTTErrorCode.MQTT_ERR_SUCCESS, published=True)) is True
    assert _acknowledged(info(MQTTErrorCode.MQTT_ERR_SUCCESS, published=False)) is False
    assert _acknowledged(info(MQTTErrorCode.MQTT_ERR_QUEUE_SIZE, published=False)) is False
