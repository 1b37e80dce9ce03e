"""The local stand-in for an AWS IoT topic rule: MQTT in, the rule's SELECT out, a handler call.

A QoS 1 subscription with a persistent session (clean_session=False) and manual acknowledgement:
a message is acknowledged only after its handler call succeeded or it was dead-lettered, and
always in arrival order, even with several batches in flight. paho's network thread only queues
messages, so a slow handler never blocks keepalives, and an exception can never kill the loop.

Two deliveries, as the template's rule action chooses:
- a Lambda action: one message per invocation (Lambda's asynchronous invocation: a handler
  error is retried `max_retries` times, an invalid message is dead-lettered at once);
- an SQS action read by the function's SQS event: batches of up to `size` records or `window`
  seconds, `in_flight` batches at a time, with SQS's partial batch response (a record the handler
  reports as failed is redelivered, up to the queue's maxReceiveCount, then dead-lettered; one
  the handler sent to the dead-letter queue itself is dead-lettered with the reason it sent).
In both, a transient error (database down) is retried with capped exponential backoff and jitter,
unacknowledged, for as long as it takes.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from evsessions.errors import InvalidSession, PublishIncomplete, StorageUnavailable
from local_runner.services.dead_letter_queue import SentLetter
from local_runner.services.dead_letters import DeadLetterStore
from local_runner.services.events import sqs_event
from local_runner.services.iot_sql import MessageContext, PayloadNotJson, Rule
from local_runner.services.outcomes import Outcome, Status, Subscriber
from local_runner.services.template import QueueBatching

log = logging.getLogger("local_runner.services.bridge")

_paho_log = logging.getLogger("local_runner.services.bridge.paho")
_paho_log.addFilter(
    # paho's network loop, racing our own disconnect at shutdown, reports it as an error.
    lambda record: not record.getMessage().startswith("Client is not connected")
)

MAX_PAYLOAD_BYTES = 128 * 1024
"""AWS IoT Core refuses larger payloads."""
TRANSIENT = (StorageUnavailable, PublishIncomplete, TimeoutError, ConnectionError)
PERMANENT = (InvalidSession, PayloadNotJson)


_message_ids = itertools.count(1)
"""SQS message ids: unique within the process, which is all a batch response needs."""


@dataclass
class _Received:
    message: mqtt.MQTTMessage
    connection: int
    received_at_ms: int
    done: bool = False


@dataclass
class _Record:
    received: _Received
    event: dict[str, Any]
    message_id: str = field(default_factory=lambda: f"m{next(_message_ids)}")
    deliveries: int = 0


Delivery = tuple[str, dict[str, Any], int, int]
"""One record of an invocation: (message id, the rule's output, received at ms, delivery count)."""


def invocation_event(batching: QueueBatching | None, records: list[Delivery]) -> dict[str, Any]:
    """What the function receives: the rule's output itself, or the queue's batch of records."""
    if batching is None:
        return records[0][1]
    return sqs_event(batching.queue_name, records)


def reported_failures(
    batching: QueueBatching | None,
    result: Any,
    message_ids: list[str],
    letters: dict[str, SentLetter],
) -> dict[str, Exception]:
    """The records not done, and why: those the handler sent to the dead-letter queue (invalid,
    with the reason it sent), and those SQS's partial batch response reports as failed (to be
    delivered again)."""
    failed: dict[str, Exception] = {
        message_id: InvalidSession(letter.reason.field, letter.reason.problem)
        for message_id, letter in letters.items()
        if message_id in message_ids
    }
    if batching is None or not isinstance(result, dict):
        return failed
    for failure in result.get("batchItemFailures") or []:
        message_id = str(failure.get("itemIdentifier", ""))
        if message_id not in message_ids:  # SQS takes an unknown id as a failed batch
            unknown = RuntimeError(f"the handler reported an unknown itemIdentifier {message_id!r}")
            return dict.fromkeys(message_ids, unknown)
        failed.setdefault(message_id, RuntimeError("reported as failed"))
    return failed


def record_outcome(result: Any) -> Status:
    """`delivered`; a direct Lambda action's handler may say `stored` or `duplicate`."""
    status = result.get("status") if isinstance(result, dict) else None
    return status if status in ("stored", "duplicate") else "delivered"


def no_letters(message_ids: list[str]) -> dict[str, SentLetter]:
    return {}


class PayloadTooLarge(ValueError):
    pass


class _AckLedger:
    """Acknowledges messages in arrival order, each once it is done, whatever order they finish."""

    def __init__(self, ack: Callable[[_Received], None]) -> None:
        self._ack = ack
        self._waiting: deque[_Received] = deque()
        self._lock = threading.Lock()

    def add(self, received: _Received) -> None:
        with self._lock:
            self._waiting.append(received)

    def done(self, received: _Received) -> None:
        with self._lock:
            received.done = True
            while self._waiting and self._waiting[0].done:
                self._ack(self._waiting.popleft())

    @property
    def in_flight(self) -> int:
        return len(self._waiting)


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
        batching: QueueBatching | None = None,
        backoff_cap_seconds: float = 10.0,
        on_outcomes: Subscriber | None = None,
        letters: Callable[[list[str]], dict[str, SentLetter]] = no_letters,
        function_name: str = "",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] | None = None,
        client: Any = None,
    ) -> None:
        """`letters(message ids)` claims what the handler sent to the dead-letter queue for
        those records; `sleep` waits between retries (default: until stopped); `client` stands
        in for paho's (tests)."""
        self.rule_name = rule_name
        self.function_name = function_name
        self.rule = rule
        self.invoke = invoke
        self.dead_letters = dead_letters
        self.client_id = client_id
        self.batching = batching
        self.max_deliveries = batching.max_receive_count if batching else max_retries + 1
        self.backoff_cap_seconds = backoff_cap_seconds
        self.on_outcomes: Subscriber = on_outcomes or (lambda outcomes: None)
        self.letters = letters
        self.clock = clock  # epoch seconds of receipt: the rule's timestamp(), simulated or real
        self._queue: queue.Queue[_Received | None] = queue.Queue()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._connection = 0
        self._ledger = _AckLedger(self._ack)
        in_flight = batching.in_flight if batching else 1
        self._slots = threading.BoundedSemaphore(in_flight)
        self._workers = ThreadPoolExecutor(in_flight, thread_name_prefix=f"rule-{rule_name}")
        self._sleep = sleep or self._stop.wait
        self._host, self._port = host, port
        self._client = client or mqtt.Client(
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
        self._collector = threading.Thread(
            target=self._collect, name=f"bridge-{rule_name}", daemon=True
        )

    @property
    def in_flight(self) -> int:
        """Messages received and not yet acknowledged."""
        return self._ledger.in_flight + self._queue.qsize()

    def start(self, timeout: float = 15) -> None:
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        self._collector.start()
        if not self._connected.wait(timeout):
            raise RuntimeError(f"rule {self.rule_name}: no connection to the broker")

    def shutdown(self) -> None:
        """Stop after the batches in hand; unacknowledged messages stay with the broker."""
        self._stop.set()
        self._queue.put(None)
        self._collector.join(30)
        self._workers.shutdown(wait=True, cancel_futures=True)
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
        self._queue.put(_Received(message, self._connection, int(self.clock() * 1000)))

    def _ack(self, received: _Received) -> None:
        # A message id from an earlier connection means nothing now: the broker redelivers it.
        if received.connection == self._connection:
            self._client.ack(received.message.mid, received.message.qos)

    def _collect(self) -> None:
        """Gather records into batches and hand each to a free worker, in arrival order."""
        size = self.batching.size if self.batching else 1
        window = self.batching.window_seconds if self.batching else 0.0
        while not self._stop.is_set():
            first = self._queue.get()
            if first is None:
                return
            batch = self._admit([], first)
            deadline = time.monotonic() + window
            while len(batch) < size and not self._stop.is_set():
                try:
                    received = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if received is None:
                    return
                batch = self._admit(batch, received)
            if batch:
                self._slots.acquire()
                self._workers.submit(self._run, batch)

    def _admit(self, batch: list[_Record], received: _Received) -> list[_Record]:
        """The batch with this message's record; a message the rule cannot take is settled here."""
        self._ledger.add(received)
        message = received.message
        try:
            if len(message.payload) > MAX_PAYLOAD_BYTES:
                raise PayloadTooLarge(
                    f"payload of {len(message.payload)} bytes exceeds AWS IoT's 128 KB limit"
                )
            context = MessageContext(message.topic, self.client_id, received.received_at_ms)
            event = self.rule.evaluate(bytes(message.payload), context)
        except (PayloadTooLarge, PayloadNotJson) as failure:
            self.on_outcomes([self._dead_letter(_Record(received, {}), failure)])
            return batch
        if event is None:
            self.on_outcomes([self._settle(_Record(received, {}), "filtered")])
            return batch
        return [*batch, _Record(received, event)]

    def _run(self, batch: list[_Record]) -> None:
        try:
            self._deliver(batch)
        except Exception:  # a bug here must not stop the bridge; the messages stay unacked
            log.exception("rule %s: unexpected error; messages left for redelivery", self.rule_name)
        finally:
            self._slots.release()

    def _deliver(self, batch: list[_Record]) -> None:
        """Invoke until every record is settled; what is left when stopping stays unacked."""
        pending, transient_failures = batch, 0
        while pending and not self._stop.is_set():
            started = time.monotonic()
            failure: Exception | None = None
            try:
                result = self.invoke(self._event(pending))
            except TRANSIENT as transient:  # retried for as long as it takes, never counted
                transient_failures += 1
                delay = retry_delay(transient_failures, self.backoff_cap_seconds)
                log.warning("rule %s: %s; retrying in %.1f s", self.rule_name, transient, delay)
                self._sleep(delay * random.uniform(0.5, 1.0))
                continue
            except Exception as error:
                failure = error
            for record in pending:
                record.deliveries += 1
            outcomes: list[Outcome] = []
            if failure is not None:
                if not isinstance(failure, PERMANENT):
                    log.warning("rule %s: invocation failed: %r", self.rule_name, failure)
                failures = {r.message_id: failure for r in pending}
                pending = self._redeliverable(pending, failures, outcomes)
            else:
                failed = self._reported_failures(result, pending)
                seconds = time.monotonic() - started
                status = record_outcome(result)
                outcomes += [
                    self._settle(record, status, seconds)
                    for record in pending
                    if record.message_id not in failed
                ]
                pending = self._redeliverable(
                    [r for r in pending if r.message_id in failed], failed, outcomes
                )
            self.on_outcomes(outcomes)

    def _event(self, records: list[_Record]) -> dict[str, Any]:
        return invocation_event(
            self.batching,
            [(r.message_id, r.event, r.received.received_at_ms, r.deliveries + 1) for r in records],
        )

    def _reported_failures(self, result: Any, records: list[_Record]) -> dict[str, Exception]:
        ids = [r.message_id for r in records]
        return reported_failures(self.batching, result, ids, self.letters(ids))

    def _redeliverable(
        self, records: list[_Record], failures: dict[str, Exception], outcomes: list[Outcome]
    ) -> list[_Record]:
        """Records to deliver again; invalid or too often delivered ones are dead-lettered."""
        again = []
        for record in records:
            failure = failures[record.message_id]
            if isinstance(failure, PERMANENT) or record.deliveries >= self.max_deliveries:
                outcomes.append(self._dead_letter(record, failure))
            else:
                again.append(record)
        return again

    def _dead_letter(self, record: _Record, failure: BaseException) -> Outcome:
        """Kept durably before the message is acknowledged."""
        message = record.received.message
        attempts = max(record.deliveries, 1)
        self.dead_letters.add(
            rule_name=self.rule_name,
            topic=message.topic,
            client_id=self.client_id,
            payload=bytes(message.payload),
            error=failure,
            attempts=attempts,
        )
        self._ledger.done(record.received)
        return Outcome.dead_lettered(
            self.function_name, self.rule_name, message.topic, record.message_id, attempts, failure
        )

    def _settle(self, record: _Record, status: Status, seconds: float = 0.0) -> Outcome:
        self._ledger.done(record.received)
        return Outcome(
            self.function_name,
            self.rule_name,
            record.received.message.topic,
            record.message_id,
            status,
            record.deliveries,
            seconds,
        )


def retry_delay(failures: int, cap_seconds: float) -> float:
    """Capped exponential backoff before the next try after `failures` transient failures
    (the caller adds jitter)."""
    return min(cap_seconds, 0.2 * 2.0 ** min(failures, 10))
