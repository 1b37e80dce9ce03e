"""The local stand-in for an AWS IoT topic rule: MQTT in, the rule's SELECT out, a handler call.

A QoS 1 subscription with a persistent session (clean_session=False) and manual acknowledgement:
a message is acknowledged only after the handler returned or the message was dead-lettered, in
arrival order, by one worker thread. paho's network thread only queues messages, so a slow
handler never blocks keepalives, and an exception can never kill the network loop.

Failure handling follows Lambda's asynchronous invocation: a transient error (database down) is
retried with capped exponential backoff and jitter, unacknowledged, for as long as it takes; any
other handler error is retried `max_retries` times; an invalid message is dead-lettered at once.
"""

from __future__ import annotations

import logging
import queue
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from evsessions.errors import InvalidSession, PublishIncomplete, StorageUnavailable
from local_runner.dead_letters import DeadLetterStore
from local_runner.iot_sql import MessageContext, PayloadNotJson, Rule

log = logging.getLogger("local_runner.bridge")

_paho_log = logging.getLogger("local_runner.bridge.paho")
_paho_log.addFilter(
    # paho's network loop, racing our own disconnect at shutdown, reports it as an error.
    lambda record: not record.getMessage().startswith("Client is not connected")
)

MAX_PAYLOAD_BYTES = 128 * 1024
"""AWS IoT Core refuses larger payloads."""
TRANSIENT = (StorageUnavailable, PublishIncomplete, TimeoutError, ConnectionError)
PERMANENT = (InvalidSession, PayloadNotJson)


@dataclass(frozen=True)
class _Received:
    message: mqtt.MQTTMessage
    connection: int
    received_at_ms: int


class PayloadTooLarge(ValueError):
    pass


class RuleBridge:
    def __init__(
        self,
        *,
        rule_name: str,
        rule: Rule,
        invoke: Callable[[dict[str, Any]], Any],
        host: str,
        port: int,
        dead_letters: DeadLetterStore,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        max_retries: int = 2,
        backoff_cap_seconds: float = 10.0,
        on_result: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.rule_name = rule_name
        self.rule = rule
        self.invoke = invoke
        self.dead_letters = dead_letters
        self.client_id = client_id
        self.max_retries = max_retries
        self.backoff_cap_seconds = backoff_cap_seconds
        self.on_result = on_result or (lambda topic, outcome, seconds: None)
        self._queue: queue.Queue[_Received | None] = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._connection = 0
        self._host, self._port = host, port
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self._client.suppress_exceptions = True  # a callback error is logged, the loop lives on
        self._client.enable_logger(_paho_log)
        self._client.username_pw_set(username or client_id, password)
        if tls_context is not None:
            self._client.tls_set_context(tls_context)
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._worker = threading.Thread(target=self._work, name=f"bridge-{rule_name}", daemon=True)

    def start(self, timeout: float = 15) -> None:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        self._worker.start()
        if not self._connected.wait(timeout):
            raise RuntimeError(f"rule {self.rule_name}: no connection to the broker")

    def shutdown(self) -> None:
        """Stop after the message in hand; unacknowledged ones stay with the broker."""
        self._stop.set()
        self._queue.put(None)
        self._worker.join(30)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("rule %s: broker refused the connection: %s", self.rule_name, reason)
            return
        self._connection += 1
        client.subscribe(self.rule.topic_filter, qos=1)
        self._connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._queue.put(_Received(message, self._connection, int(time.time() * 1000)))

    def _ack(self, received: _Received) -> None:
        # A message id from an earlier connection means nothing now: the broker redelivers it.
        if received.connection == self._connection:
            self._client.ack(received.message.mid, received.message.qos)

    def _work(self) -> None:
        while not self._stop.is_set():
            received = self._queue.get()
            if received is None:
                return
            try:
                self._process(received)
            except Exception:  # a bug here must not stop the bridge; the message stays unacked
                log.exception(
                    "rule %s: unexpected error; message left for redelivery", self.rule_name
                )

    def _process(self, received: _Received) -> None:
        started = time.monotonic()
        attempts = [0]
        try:
            outcome = self._deliver(received, attempts)
        except Exception as failure:
            self.dead_letters.add(
                rule_name=self.rule_name,
                topic=received.message.topic,
                client_id=self.client_id,
                payload=bytes(received.message.payload),
                error=failure,
                attempts=max(attempts[0], 1),
            )
            outcome = f"dead-lettered ({type(failure).__name__}: {failure})"
        if outcome is None:  # stopping: leave it unacknowledged for redelivery
            return
        self._ack(received)
        self.on_result(received.message.topic, outcome, time.monotonic() - started)

    def _deliver(self, received: _Received, attempts: list[int]) -> str | None:
        """The handler's outcome; raises what should be dead-lettered; None when stopping."""
        message = received.message
        if len(message.payload) > MAX_PAYLOAD_BYTES:
            raise PayloadTooLarge(
                f"payload of {len(message.payload)} bytes exceeds AWS IoT's 128 KB limit"
            )
        context = MessageContext(message.topic, self.client_id, received.received_at_ms)
        event = self.rule.evaluate(bytes(message.payload), context)
        if event is None:
            return "filtered out by WHERE"
        while not self._stop.is_set():
            attempts[0] += 1
            try:
                result = self.invoke(event)
            except TRANSIENT as transient:
                delay = min(self.backoff_cap_seconds, 0.2 * 2 ** min(attempts[0], 10))
                log.warning("rule %s: %s; retrying in %.1f s", self.rule_name, transient, delay)
                self._stop.wait(delay * random.uniform(0.5, 1.0))
                continue
            except PERMANENT:
                raise
            except Exception as failure:
                if attempts[0] > self.max_retries:
                    raise
                log.warning("rule %s: attempt %d failed: %r", self.rule_name, attempts[0], failure)
                continue
            return str(result.get("status", "ok")) if isinstance(result, dict) else "ok"
        return None
