"""MQTT connections for a whole simulated fleet, one per charger identity, driven from one thread.

Each charger publishes under its own identity, so a tick for 5,000 chargers needs 5,000
connections: no thread per client, and no connect per tick. Connections are kept in a module-level
pool (alive across warm invocations, as a Lambda container keeps its clients), and one selector
loop drives all of them through paho's external-loop API (`socket`, `loop_read`, `loop_write`,
`loop_misc`).
"""

from __future__ import annotations

import contextlib
import selectors
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evsessions.mqtt.identity import MqttIdentity

KEEPALIVE_SECONDS = 120
"""Longer than a one-minute tick: a pool idle between ticks keeps its connections."""
CONNECT_WINDOW = 64
"""Connections opened and not yet acknowledged at once: more overflow the broker's listen backlog,
and every dropped SYN costs a one-second retransmission."""
MAX_INFLIGHT = 1000
"""Unacknowledged QoS 1 messages per connection; paho's default of 20 caps a shared identity."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    ca_file: str | None = None
    tls: bool = False


@dataclass
class _Connection:
    identity: MqttIdentity
    client: Any = None
    connected: bool = False
    refusal: str | None = None
    waiting: bool = False  # CONNECT sent, no CONNACK yet
    outbox: list[tuple[str, bytes]] = field(default_factory=list)
    infos: list[Any] = field(default_factory=list)
    acked: int = 0


@dataclass
class Delivery:
    """What happened to one identity's messages in one call."""

    identity: MqttIdentity
    published: int = 0
    failed: int = 0
    error: str | None = None


class ConnectionPool:
    """Connections by client id to one broker; `publish` is serialised by a lock."""

    def __init__(self, endpoint: Endpoint, clock: Callable[[], float] = time.monotonic) -> None:
        self.endpoint = endpoint
        self.clock = clock
        self._connections: dict[str, _Connection] = {}
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._tls_context: ssl.SSLContext | None = None

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                if connection.client is not None:
                    connection.client.disconnect()
            self._connections.clear()
            self._selector.close()

    # the clients -----------------------------------------------------------------------------

    def _tls(self) -> ssl.SSLContext:
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context(cafile=self.endpoint.ca_file)
            self._tls_context.minimum_version = ssl.TLSVersion.TLSv1_2
        return self._tls_context

    def _new_client(self, connection: _Connection) -> Any:
        import paho.mqtt.client as mqtt  # here: the deployed publisher never needs paho
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=connection.identity.client_id,
            clean_session=True,
            protocol=mqtt.MQTTv311,
            userdata=connection,
        )
        client.suppress_exceptions = True
        if connection.identity.username:
            client.username_pw_set(connection.identity.username, connection.identity.password)
        if self.endpoint.tls:
            client.tls_set_context(self._tls())
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        return client

    @staticmethod
    def _on_connect(_c: Any, connection: _Connection, _f: Any, reason: Any, _p: Any) -> None:
        connection.waiting = False
        if reason.is_failure:
            connection.refusal = f"broker refused the connection: {reason}"
        else:
            connection.connected = True

    @staticmethod
    def _on_disconnect(_c: Any, connection: _Connection, *_args: Any) -> None:
        connection.connected = False
        connection.waiting = False

    @staticmethod
    def _on_publish(_c: Any, connection: _Connection, *_args: Any) -> None:
        connection.acked += 1

    def _on_socket_open(self, _c: Any, connection: _Connection, sock: Any) -> None:
        self._selector.register(sock, selectors.EVENT_READ, connection)

    def _on_socket_close(self, _c: Any, _connection: _Connection, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)

    def _open(self, connection: _Connection) -> None:
        """Blocking TCP (and TLS) connect; CONNACK arrives through the selector loop."""
        connection.refusal = None
        try:
            if connection.client is None:
                connection.client = self._new_client(connection)
                connection.client.connect(
                    self.endpoint.host, self.endpoint.port, keepalive=KEEPALIVE_SECONDS
                )
            else:
                connection.client.reconnect()
            connection.waiting = True
        except (OSError, ssl.SSLError) as error:
            address = f"{self.endpoint.host}:{self.endpoint.port}"
            connection.refusal = f"cannot connect to the MQTT broker at {address}: {error}"

    # the loop --------------------------------------------------------------------------------

    def _service(self, timeout: float) -> None:
        for key, _mask in self._selector.select(timeout):
            connection: _Connection = key.data
            client = connection.client
            client.loop_read()
            sock = client.socket()
            while isinstance(sock, ssl.SSLSocket) and sock.pending():
                client.loop_read()
                sock = client.socket()
            if client.want_write():
                client.loop_write()

    def _keep_alive(self, connections: Sequence[_Connection]) -> None:
        for connection in connections:
            if connection.client is not None and connection.client.socket() is not None:
                connection.client.loop_misc()
                if connection.client.want_write():
                    connection.client.loop_write()

    def _send(self, connection: _Connection) -> None:
        for topic, payload in connection.outbox:
            connection.infos.append(connection.client.publish(topic, payload, qos=1))
        connection.outbox = []

    def publish(
        self, batches: dict[MqttIdentity, list[tuple[str, bytes]]], timeout: float
    ) -> list[Delivery]:
        """Publish each identity's messages over its own connection with QoS 1 and wait, at most
        `timeout` seconds in all, for every PUBACK."""
        with self._lock:
            deadline = self.clock() + timeout
            self._service(0)  # notice connections the broker closed while we were idle
            connections = [self._prepare(identity, m) for identity, m in batches.items()]
            to_open = deque(c for c in connections if not c.connected)
            pending = [c for c in connections if c.connected]
            opening: list[_Connection] = []
            last_misc = self.clock()
            while (pending or to_open) and self.clock() < deadline:
                opening = [c for c in opening if c.waiting]
                while to_open and len(opening) < CONNECT_WINDOW:
                    connection = to_open.popleft()
                    self._open(connection)
                    opening.append(connection)
                    pending.append(connection)
                for connection in pending:
                    if connection.connected and connection.outbox:
                        self._send(connection)
                pending = [c for c in pending if not _settled(c)]
                if not pending and not to_open:
                    break
                self._service(min(0.2, max(0.0, deadline - self.clock())))
                if self.clock() - last_misc >= 1.0:
                    self._keep_alive(pending)
                    last_misc = self.clock()
            return [_outcome(c, self.endpoint, timeout) for c in connections]

    def _prepare(self, identity: MqttIdentity, messages: list[tuple[str, bytes]]) -> _Connection:
        connection = self._connections.get(identity.client_id)
        if connection is not None and connection.identity != identity:  # a new secret
            if connection.client is not None:
                connection.client.disconnect()
            connection = None
        if connection is None:
            connection = self._connections[identity.client_id] = _Connection(identity)
        connection.outbox, connection.infos, connection.acked = list(messages), [], 0
        connection.refusal = None
        return connection


def _settled(connection: _Connection) -> bool:
    """Nothing more can happen to this call's messages on this connection."""
    if connection.waiting:
        return False
    if not connection.connected:
        return True
    return not connection.outbox and connection.acked >= len(connection.infos)


def _acknowledged(info: Any) -> bool:
    """Whether the PUBACK came. paho's is_published() raises for a publish that failed outright
    (the connection was lost, the queue full): that one was not acknowledged either."""
    from paho.mqtt.enums import MQTTErrorCode

    if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
        return False
    return bool(info.is_published())


def _outcome(connection: _Connection, endpoint: Endpoint, timeout: float) -> Delivery:
    delivery = Delivery(connection.identity)
    delivery.published = sum(1 for info in connection.infos if _acknowledged(info))
    delivery.failed = len(connection.infos) - delivery.published + len(connection.outbox)
    if delivery.failed:
        if connection.refusal:
            delivery.error = connection.refusal
        elif connection.waiting or connection.client is None or not connection.infos:
            delivery.error = f"no CONNACK from {endpoint.host}:{endpoint.port} in time"
        elif not connection.connected:
            delivery.error = "connection lost before every PUBACK"
        else:
            delivery.error = f"no PUBACK within {timeout:g} s"
    connection.outbox = []
    return delivery


_POOLS: dict[Endpoint, ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(endpoint: Endpoint) -> ConnectionPool:
    """The process's pool for this broker, kept across warm invocations."""
    with _POOLS_LOCK:
        if endpoint not in _POOLS:
            _POOLS[endpoint] = ConnectionPool(endpoint)
        return _POOLS[endpoint]


def close_shared_pools(which: Callable[[Endpoint], bool]) -> None:
    """Close the pools of the brokers `which` selects (a stopping local system: its own)."""
    with _POOLS_LOCK:
        for endpoint in [endpoint for endpoint in _POOLS if which(endpoint)]:
            _POOLS.pop(endpoint).close()
