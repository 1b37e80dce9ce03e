"""The bridge's promises, without a broker: a fake MQTT client that records acknowledgements, an
invoker the test holds and releases, and a sleep that records instead of waiting.

No acknowledgement before the handler returned; acknowledgements in arrival order; none for an
earlier connection's message ids; an outage retried with capped backoff and never
dead-lettered; a payload over 128 KB dead-lettered; a reported failure redelivered up to the
queue's maxReceiveCount; an invalid record dead-lettered at once with the reason the handler
sent to the dead-letter queue, as data.

The first promise is also kept by the real paho client the bridge makes (manual acknowledgement
on: paho would otherwise PUBACK a message as soon as it read it), on the wire of a broker the
test scripts (harness.scripted_broker).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from evsessions.dead_letters import Reason
from evsessions.errors import StorageUnavailable
from harness.scripted_broker import PUBACK, PUBREC, ScriptedBroker
from local_runner.services.bridge import MAX_PAYLOAD_BYTES, RuleBridge, _AckLedger, _Received
from local_runner.services.dead_letter_queue import SentLetter
from local_runner.services.dead_letters import DeadLetterStore
from local_runner.services.iot_sql import parse_rule
from local_runner.services.outcomes import Outcome
from local_runner.services.template import QueueBatching

WAIT = 10.0
"""Seconds a test waits for another thread before it calls the promise broken."""
RULE = parse_rule("SELECT *, topic() AS topic FROM 'charger/+/connector/+/session/+'")


class _Connected:
    is_failure = False


class FakeMqttClient:
    """paho's client as the bridge uses it; records acknowledgements; delivers on demand."""

    def __init__(self) -> None:
        self.acks: list[int] = []
        self.subscriptions: list[str] = []
        self.acked = threading.Condition()
        self.suppress_exceptions = False
        self.on_connect: Callable[..., None] | None = None
        self.on_disconnect: Callable[..., None] | None = None
        self.on_message: Callable[..., None] | None = None

    def connect(self, host: str, port: int, keepalive: int) -> None:
        pass

    def loop_start(self) -> None:
        self.reconnect()

    def reconnect(self) -> None:
        """A new connection: what was unacknowledged on the old one means nothing now."""
        assert self.on_connect is not None and self.on_disconnect is not None
        self.on_disconnect(self, None, None, None, None)
        self.on_connect(self, None, None, _Connected(), None)

    def deliver(self, mid: int, payload: bytes | None = None) -> None:
        message = mqtt.MQTTMessage(mid=mid, topic=f"charger/1/connector/1/session/{mid}".encode())
        message.payload = payload or json.dumps({"session_id": mid}).encode()
        message.qos = 1
        assert self.on_message is not None
        self.on_message(self, None, message)

    def ack(self, mid: int, qos: int) -> None:
        with self.acked:
            self.acks.append(mid)
            self.acked.notify_all()

    def wait_for_acks(self, count: int) -> list[int]:
        with self.acked:
            self.acked.wait_for(lambda: len(self.acks) >= count, WAIT)
            return list(self.acks)

    def subscribe(self, topic_filter: str, qos: int) -> None:
        self.subscriptions.append(topic_filter)

    def disconnect(self) -> None:
        pass

    def loop_stop(self) -> None:
        pass

    def enable_logger(self, logger: Any) -> None:
        pass

    def username_pw_set(self, username: str, password: str | None) -> None:
        pass

    def tls_set_context(self, context: Any) -> None:
        pass

    def reconnect_delay_set(self, min_delay: int, max_delay: int) -> None:
        pass


class HeldInvoker:
    """Each invocation waits until the test releases it; `answer` shapes the result."""

    def __init__(self, answer: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.answer = answer or (lambda event: {"batchItemFailures": []})
        self.events: list[dict[str, Any]] = []
        self._released: list[threading.Event] = []
        self._called = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> Any:
        release = threading.Event()
        with self._called:
            self.events.append(event)
            self._released.append(release)
            self._called.notify_all()
        assert release.wait(WAIT), "never released"
        return self.answer(event)

    def wait_for_calls(self, count: int) -> None:
        with self._called:
            assert self._called.wait_for(lambda: len(self.events) >= count, WAIT)

    def release(self, call: int) -> None:
        self._released[call].set()


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        invoke: Callable[[dict[str, Any]], Any],
        *,
        size: int = 1,
        in_flight: int = 1,
        letters: dict[str, SentLetter] | None = None,
    ) -> None:
        self.client = FakeMqttClient()
        self.outcomes: list[Outcome] = []
        self.delays: list[float] = []
        self.letters = {} if letters is None else letters
        self.bridge = RuleBridge(
            rule_name="SessionMessagesRule",
            rule=RULE,
            invoke=invoke,
            host="127.0.0.1",
            port=1,
            dead_letters=DeadLetterStore(tmp_path / "dead-letters.jsonl"),
            client_id="iot-rule-test",
            batching=QueueBatching("SessionQueue", size, 0.0, in_flight, max_receive_count=3),
            backoff_cap_seconds=10.0,
            on_outcomes=self._record,
            letters=self._claim,
            function_name="ListenerFunction",
            sleep=self.delays.append,
            client=self.client,
        )
        self._settled = threading.Condition()

    def _claim(self, message_ids: list[str]) -> dict[str, SentLetter]:
        return {m: self.letters.pop(m) for m in message_ids if m in self.letters}

    def _record(self, outcomes: Sequence[Outcome]) -> None:
        with self._settled:
            self.outcomes.extend(outcomes)
            self._settled.notify_all()

    def wait_for_outcomes(self, count: int) -> list[Outcome]:
        with self._settled:
            assert self._settled.wait_for(lambda: len(self.outcomes) >= count, WAIT)
            return list(self.outcomes)


@pytest.fixture
def harnesses() -> Iterator[list[Harness]]:
    started: list[Harness] = []
    yield started
    for harness in started:
        harness.bridge.shutdown()


def start(harnesses: list[Harness], harness: Harness) -> Harness:
    harness.bridge.start(timeout=WAIT)
    harnesses.append(harness)
    return harness


def test_no_acknowledgement_before_the_handler_returned(
    tmp_path: Path, harnesses: list[Harness]
) -> None:
    # GIVEN a bridge whose handler call is held
    invoker = HeldInvoker()
    harness = start(harnesses, Harness(tmp_path, invoker))
    # WHEN a message arrives and its handler is running
    harness.client.deliver(1)
    invoker.wait_for_calls(1)
    # THEN nothing is acknowledged; once the handler returned, the message is
    assert harness.client.acks == []
    invoker.release(0)
    assert harness.client.wait_for_acks(1) == [1]


def test_the_real_paho_client_acknowledges_only_after_the_handler_returned(
    tmp_path: Path,
) -> None:
    # GIVEN a bridge with the paho client it makes itself, subscribed at a scripted broker, and
    # a handler that is held
    broker = ScriptedBroker(WAIT)
    invoker = HeldInvoker()
    bridge = RuleBridge(
        rule_name="SessionMessagesRule",
        rule=RULE,
        invoke=invoker,
        host=broker.host,
        port=broker.port,
        dead_letters=DeadLetterStore(tmp_path / "dead-letters.jsonl"),
        client_id="iot-rule-test",
        batching=QueueBatching("SessionQueue", 1, 0.0, 1, max_receive_count=3),
        function_name="ListenerFunction",
    )
    try:
        bridge.start(timeout=WAIT)
        broker.wait_until_subscribed()
        # WHEN a QoS 1 message arrives, and after it a QoS 2 one, whose PUBREC paho writes the
        # moment it reads it, in any acknowledgement mode: a mark in the client's outgoing
        # packets, which paho writes in the order it makes them
        broker.publish("charger/1/connector/1/session/1", b'{"session_id": 1}', packet_id=1)
        broker.publish("charger/1/connector/1/session/2", b'{"session_id": 2}', 2, qos=2)
        mark = broker.next_packet()
        invoker.wait_for_calls(1)
        # THEN nothing acknowledged the first message when paho had read it, nor while its
        # handler runs
        assert (mark.kind, mark.packet_id) == (PUBREC, 2), "a packet came before the mark"
        # AND once the handler returned, the PUBACK goes out
        invoker.release(0)
        ack = broker.next_packet()
        assert (ack.kind, ack.packet_id) == (PUBACK, 1)
    finally:
        bridge.shutdown()
        broker.close()


def test_acknowledgements_go_out_in_arrival_order_whatever_order_batches_finish(
    tmp_path: Path, harnesses: list[Harness]
) -> None:
    # GIVEN two batches of one in flight at once
    invoker = HeldInvoker()
    harness = start(harnesses, Harness(tmp_path, invoker, in_flight=2))
    harness.client.deliver(1)
    harness.client.deliver(2)
    invoker.wait_for_calls(2)
    # WHEN the later one finishes first
    invoker.release(1)
    harness.wait_for_outcomes(1)
    # THEN it waits for the earlier one, and then both go out in arrival order
    assert harness.client.acks == []
    invoker.release(0)
    assert harness.client.wait_for_acks(2) == [1, 2]


def test_the_ack_ledger_releases_in_arrival_order() -> None:
    acked: list[int] = []
    ledger = _AckLedger(lambda r: acked.append(r.message.mid))
    first, second, third = (_Received(mqtt.MQTTMessage(mid=m), 1, 0) for m in (1, 2, 3))
    for message in (first, second, third):
        ledger.add(message)
    ledger.done(third)
    ledger.done(second)
    assert acked == [] and ledger.in_flight == 3
    ledger.done(first)
    assert acked == [1, 2, 3] and ledger.in_flight == 0


def test_no_acknowledgement_for_an_earlier_connections_message_id(
    tmp_path: Path, harnesses: list[Harness]
) -> None:
    # GIVEN a message in the handler when the connection drops and comes back
    invoker = HeldInvoker()
    harness = start(harnesses, Harness(tmp_path, invoker))
    harness.client.deliver(7)
    invoker.wait_for_calls(1)
    harness.client.reconnect()
    # WHEN the handler returns, and a message of the new connection is handled after it
    invoker.release(0)
    harness.wait_for_outcomes(1)
    harness.client.deliver(8)
    invoker.wait_for_calls(2)
    invoker.release(1)
    # THEN only the new connection's id is acknowledged (the broker redelivers the old one)
    assert harness.client.wait_for_acks(1) == [8]


def test_an_outage_is_retried_with_capped_backoff_and_never_dead_lettered(
    tmp_path: Path, harnesses: list[Harness]
) -> None:
    # GIVEN a database down for twenty invocations, far more than maxReceiveCount
    calls = 0

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls <= 20:
            raise StorageUnavailable("database down")
        return {"batchItemFailures": []}

    harness = start(harnesses, Harness(tmp_path, invoke))
    # WHEN a message arrives
    harness.client.deliver(1)
    [outcome] = harness.wait_for_outcomes(1)
    # THEN it is delivered once the database is back, never dead-lettered, and acknowledged
    assert outcome.status == "delivered" and outcome.attempts == 1
    assert harness.bridge.dead_letters.all() == []
    assert harness.client.wait_for_acks(1) == [1]
    # AND the waits grew, then stayed at or under the cap (with jitter down to half)
    assert len(harness.delays) == 20
    assert harness.delays[0] < harness.delays[-1]
    assert max(harness.delays) <= 10.0
    assert min(harness.delays[-5:]) >= 5.0


def test_a_payload_over_128_kb_is_dead_lettered_without_a_call(
    tmp_path: Path, harnesses: list[Harness]
) -> None:
    invoker = HeldInvoker()
    harness = start(harnesses, Harness(tmp_path, invoker))
    # GIVEN one payload of exactly the limit and one a byte over it (JSON with padding)
    at_limit = json.dumps({"session_id": 1, "pad": ""}).encode()
    at_limit = at_limit.replace(b'""', b'"' + b"x" * (MAX_PAYLOAD_BYTES - len(at_limit)) + b'"')
    over = at_limit.replace(b'"x', b'"xx', 1)
    assert (len(at_limit), len(over)) == (MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 1)
    # WHEN both arrive
    harness.client.deliver(1, over)
    harness.client.deliver(2, at_limit)
    invoker.wait_for_calls(1)
    invoker.release(0)
    outcomes = harness.wait_for_outcomes(2)
    # THEN the one over the limit is a dead letter, acknowledged, and never reached the handler
    assert [o.status for o in outcomes] == ["dead-lettered", "delivered"]
    assert outcomes[0].error_type == "PayloadTooLarge"
    [letter] = harness.bridge.dead_letters.all()
    assert letter.topic.endswith("/session/1")
    assert len(invoker.events) == 1
    assert harness.client.wait_for_acks(2) == [1, 2]


def test_a_reported_failure_is_redelivered_until_max_receive_count_then_dead_lettered(
    tmp_path: Path, harnesses: list[Harness]
) -> None:
    # GIVEN a handler that always reports the record of message 2 failed
    events: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        failed = [r for r in event["Records"] if json.loads(r["body"])["session_id"] == 2]
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failed]}

    harness = start(harnesses, Harness(tmp_path, invoke, size=3))
    # WHEN three messages arrive (a batch waits for its size or its window)
    for mid in (1, 2, 3):
        harness.client.deliver(mid)
    outcomes = harness.wait_for_outcomes(3)
    # THEN the others are delivered; 2 comes back alone until its third receipt, then is a dead
    # letter that says how often it was tried
    receipts = [r["attributes"]["ApproximateReceiveCount"] for e in events for r in e["Records"]]
    assert sorted(receipts) == ["1", "1", "1", "2", "3"]
    [dead] = [o for o in outcomes if o.status == "dead-lettered"]
    assert dead.topic.endswith("/session/2") and dead.attempts == 3
    [letter] = harness.bridge.dead_letters.all()
    assert letter.attempts == 3
    assert harness.client.wait_for_acks(3) == [1, 2, 3]


def test_an_invalid_record_is_dead_lettered_at_once_with_the_reason_it_was_sent_with(
    tmp_path: Path, harnesses: list[Harness]
) -> None:
    # GIVEN a handler that sends the record of message 1 to the dead-letter queue
    letters: dict[str, SentLetter] = {}

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        record = event["Records"][0]
        reason = Reason("InvalidSession", "duration_in_seconds", "must not be negative")
        letters[record["messageId"]] = SentLetter(record["body"], reason)
        return {"batchItemFailures": []}

    harness = start(harnesses, Harness(tmp_path, invoke, letters=letters))
    # WHEN it arrives
    harness.client.deliver(1)
    [outcome] = harness.wait_for_outcomes(1)
    # THEN one attempt, and the reason is data in the outcome and in the dead letter
    assert (outcome.status, outcome.attempts) == ("dead-lettered", 1)
    assert (outcome.error_type, outcome.field, outcome.problem) == (
        "InvalidSession",
        "duration_in_seconds",
        "must not be negative",
    )
    [letter] = harness.bridge.dead_letters.all()
    assert (letter.error_field, letter.error_problem, letter.attempts) == (
        "duration_in_seconds",
        "must not be negative",
        1,
    )
    assert harness.client.wait_for_acks(1) == [1]
