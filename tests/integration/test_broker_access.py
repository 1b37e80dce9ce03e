"""The same access rules on both local brokers, mosquitto and the embedded amqtt fallback: no
anonymous clients, a charger's messages only under its own topics, a bridge that cannot publish,
TLS that only a client trusting the local CA gets through."""

from __future__ import annotations

import contextlib
import queue
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from evsessions.mqtt.identity import MqttIdentity
from local_runner.infra.broker import Broker, start_embedded, start_mosquitto
from local_runner.infra.broker_access import BrokerAccess, broker_access
from local_runner.infra.certificates import ensure_tls_files
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration

RULE = "SessionMessagesRule"
FILTER = "charger/+/connector/+/session/+"


@pytest.fixture(params=["mosquitto", "embedded"], scope="module")
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Broker, BrokerAccess]]:
    data_dir = tmp_path_factory.mktemp(request.param)
    access = broker_access(
        data_dir,
        fleet_chargers=2,
        extra_chargers=(),
        rule_filters={RULE: FILTER},
        fleet_secret=None,
        bridge_password=None,
    )
    tls, _ = ensure_tls_files(data_dir / "tls")
    start = start_mosquitto if request.param == "mosquitto" else None
    if start is not None:
        broker = start(data_dir, 0, 0, "127.0.0.1", tls, access)
    else:
        broker = start_embedded(0, 0, "127.0.0.1", tls, access)
    try:
        yield broker, access
    finally:
        broker.stop()


def _client(identity: MqttIdentity | None, clean: bool = True) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=identity.client_id if identity else "",
        clean_session=clean,
        protocol=mqtt.MQTTv311,
    )
    if identity is not None:
        client.username_pw_set(identity.username, identity.password)
    return client


def _connect(client: mqtt.Client, host: str, port: int) -> str:
    answers: queue.Queue[str] = queue.Queue()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        answers.put("accepted" if not reason.is_failure else str(reason))

    client.on_connect = on_connect
    client.on_disconnect = lambda *_: answers.put("disconnected")
    try:
        client.connect(host, port)
    except (OSError, ssl.SSLError) as error:
        return f"failed: {error}"
    client.loop_start()
    try:
        return answers.get(timeout=10)
    except queue.Empty:
        return "no answer"


class _Subscriber:
    """The rule bridge's identity, subscribed to the rule's filter, collecting what arrives."""

    def __init__(self, broker: Broker, access: BrokerAccess) -> None:
        self.received: queue.Queue[str] = queue.Queue()
        self.client = _client(access.bridge(RULE))
        self.client.on_message = lambda _c, _u, message: self.received.put(message.topic)
        assert _connect(self.client, broker.host, broker.port) == "accepted"
        subscribed: queue.Queue[Any] = queue.Queue()
        self.client.on_subscribe = lambda _c, _u, _m, reasons, _p: subscribed.put(reasons)
        self.client.subscribe(FILTER, qos=1)
        assert not subscribed.get(timeout=10)[0].is_failure

    def topics_until(self, last: str) -> list[str]:
        """Everything received up to and including `last` (which must arrive)."""
        seen = []
        while not seen or seen[-1] != last:
            seen.append(self.received.get(timeout=10))
        return seen

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _publish(client: mqtt.Client, topic: str) -> None:
    client.publish(topic, b"{}", qos=1).wait_for_publish(10)


def test_anonymous_and_unknown_clients_are_refused(secured: tuple[Broker, BrokerAccess]) -> None:
    broker, _ = secured
    assert broker.tls_port is not None
    wrong = MqttIdentity("1", "1", "not-the-password")
    for identity, port, tls in (
        (None, broker.port, False),
        (None, broker.tls_port, True),
        (wrong, broker.port, False),
    ):
        client = _client(identity)
        if tls:
            client.tls_set(ca_certs=str(broker.ca_file))
        answer = _connect(client, "localhost" if tls else broker.host, port)
        client.loop_stop()
        assert answer != "accepted", (identity, port)


def test_a_charger_publishes_under_its_own_topics_only(
    secured: tuple[Broker, BrokerAccess],
) -> None:
    broker, access = secured
    subscriber = _Subscriber(broker, access)
    charger = _client(access.charger("1"))
    assert _connect(charger, broker.host, broker.port) == "accepted"
    try:
        # WHEN charger 1 publishes under charger 2's topic, then under its own
        _publish(charger, "charger/2/connector/1/session/1")
        _publish(charger, "charger/1/connector/1/session/1")
        # THEN only its own message reaches the rule's subscription
        assert subscriber.topics_until("charger/1/connector/1/session/1") == [
            "charger/1/connector/1/session/1"
        ]
    finally:
        charger.disconnect()
        charger.loop_stop()
        subscriber.close()


def test_the_bridge_identity_cannot_publish(secured: tuple[Broker, BrokerAccess]) -> None:
    broker, access = secured
    subscriber = _Subscriber(broker, access)
    charger = _client(access.charger("2"))
    assert _connect(charger, broker.host, broker.port) == "accepted"
    try:
        # WHEN the bridge publishes a session (which its own subscription would receive)
        _publish(subscriber.client, "charger/1/connector/1/session/2")
        _publish(charger, "charger/2/connector/1/session/2")
        # THEN only the charger's message arrives
        assert subscriber.topics_until("charger/2/connector/1/session/2") == [
            "charger/2/connector/1/session/2"
        ]
    finally:
        charger.disconnect()
        charger.loop_stop()
        subscriber.close()


def test_tls_admits_only_a_client_trusting_the_local_ca(
    secured: tuple[Broker, BrokerAccess], tmp_path: Path
) -> None:
    broker, access = secured
    assert broker.tls_port is not None and broker.ca_file is not None
    trusting = _client(access.charger("1"))
    trusting.tls_set(ca_certs=str(broker.ca_file))
    assert _connect(trusting, "localhost", broker.tls_port) == "accepted"
    sock = trusting.socket()
    assert isinstance(sock, ssl.SSLSocket) and sock.version() in ("TLSv1.2", "TLSv1.3")
    trusting.disconnect()
    trusting.loop_stop()
    other, _ = ensure_tls_files(tmp_path / "other")
    doubting = _client(access.charger("1"))
    doubting.tls_set(ca_certs=str(other.ca_cert))
    assert "certificate verify failed" in _connect(doubting, "localhost", broker.tls_port)


def test_reloaded_identities_admit_a_new_charger_and_refuse_a_removed_one(
    secured: tuple[Broker, BrokerAccess],
) -> None:
    # GIVEN the running broker (either kind), which knows chargers 1 and 2 but not depot-7
    broker, access = secured
    assert broker.reload is not None
    added = replace(access, charger_ids=("1", "depot-7"))

    def connects(charger: str) -> bool:
        client = _client(added.charger(charger))
        try:
            return _connect(client, broker.host, broker.port) == "accepted"
        finally:
            client.disconnect()
            client.loop_stop()

    try:
        assert not connects("depot-7")
        # WHEN it is handed identities with depot-7 and without charger 2, without a restart
        broker.reload(added)
        # THEN depot-7 gets in and charger 2 no longer does (mosquitto reloads on SIGHUP:
        # waited for, with a deadline)
        eventually(lambda: connects("depot-7") and not connects("2"))
    finally:
        broker.reload(access)
        eventually(lambda: connects("2"))


def test_a_charger_removed_while_connected_publishes_nothing_more(
    secured: tuple[Broker, BrokerAccess],
) -> None:
    # GIVEN charger 2 connected, and the rule's subscription
    broker, access = secured
    assert broker.reload is not None
    subscriber = _Subscriber(broker, access)
    retired = _client(access.charger("2"))
    active = _client(access.charger("1"))
    assert _connect(retired, broker.host, broker.port) == "accepted"
    assert _connect(active, broker.host, broker.port) == "accepted"
    try:
        # WHEN its identity is removed (retired in the registry) while it stays connected
        broker.reload(replace(access, charger_ids=("1",)))

        def delivered(n: int) -> list[str]:
            """What arrives of charger 2's n-th message, charger 1's marker after it."""
            # mosquitto disconnects it: paho then says "not currently connected"
            with contextlib.suppress(RuntimeError):
                _publish(retired, f"charger/2/connector/1/session/{100 + n}")
            _publish(active, f"charger/1/connector/1/session/{100 + n}")
            return subscriber.topics_until(f"charger/1/connector/1/session/{100 + n}")

        # THEN, once the broker took the new identities (mosquitto reloads on SIGHUP and drops
        # the connection; amqtt refuses its publishes: waited for, with a deadline), its
        # messages no longer reach the rule
        attempts = iter(range(50))
        eventually(lambda: len(delivered(next(attempts))) == 1)
    finally:
        for client in (retired, active):
            client.disconnect()
            client.loop_stop()
        subscriber.close()
        broker.reload(access)
