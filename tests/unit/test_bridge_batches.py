"""The bridge's batch delivery without a broker: ordered acknowledgement, partial batch failures,
redelivery up to the queue's maxReceiveCount, dead letters with the handler's reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from local_runner.bridge import RuleBridge, _AckLedger, _Received, _Record
from local_runner.dead_letters import DeadLetterStore
from local_runner.iot_sql import parse_rule
from local_runner.template import QueueBatching

BATCHING = QueueBatching(
    "SessionQueue", size=10, window_seconds=0.0, in_flight=2, max_receive_count=3
)


def received(mid: int) -> _Received:
    message = mqtt.MQTTMessage(mid=mid, topic=f"charger/1/connector/1/session/{mid}".encode())
    message.payload = json.dumps({"session_id": mid}).encode()
    return _Received(message, connection=-1, received_at_ms=1_764_268_500_000)


def test_acknowledgements_go_out_in_arrival_order_whatever_order_batches_finish() -> None:
    # GIVEN three messages, in flight in different batches
    acked: list[int] = []
    ledger = _AckLedger(lambda r: acked.append(r.message.mid))
    first, second, third = received(1), received(2), received(3)
    for message in (first, second, third):
        ledger.add(message)
    # WHEN the later ones finish first
    ledger.done(third)
    ledger.done(second)
    # THEN nothing is acknowledged until the first is done, and then all in order
    assert acked == []
    assert ledger.in_flight == 3
    ledger.done(first)
    assert acked == [1, 2, 3]
    assert ledger.in_flight == 0


def bridge(tmp_path: Path, invoke: Any) -> tuple[RuleBridge, list[tuple[str, str]]]:
    results: list[tuple[str, str]] = []
    rule = parse_rule("SELECT *, topic() AS topic FROM 'charger/+/connector/+/session/+'")
    return (
        RuleBridge(
            rule_name="SessionMessagesRule",
            rule=rule,
            invoke=invoke,
            host="127.0.0.1",
            port=1,
            dead_letters=DeadLetterStore(tmp_path / "dead-letters.jsonl"),
            client_id="iot-rule-test",
            batching=BATCHING,
            on_result=lambda topic, outcome, _s: results.append((topic, outcome)),
        ),
        results,
    )


def records(*mids: int) -> list[_Record]:
    return [_Record(received(mid), {"session_id": mid}, message_id=str(mid)) for mid in mids]


def test_a_reported_failure_is_redelivered_until_max_receive_count_then_dead_lettered(
    tmp_path: Path,
) -> None:
    # GIVEN a handler that always reports record 2 failed, with no reason
    events: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        events.append(event)
        failed = [
            {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["messageId"] == "2"
        ]
        return {"batchItemFailures": failed, "duplicates": []}

    subject, results = bridge(tmp_path, invoke)
    # WHEN a batch of three is delivered
    subject._deliver(records(1, 2, 3))
    # THEN 1 and 3 are stored at once; 2 comes back alone until its third receipt, then is a
    # dead letter that says how often it was tried
    assert [len(e["Records"]) for e in events] == [3, 1, 1]
    assert [e["Records"][0]["attributes"]["ApproximateReceiveCount"] for e in events] == [
        "1",
        "2",
        "3",
    ]
    outcomes = dict(results)
    assert outcomes["charger/1/connector/1/session/1"] == "stored"
    assert outcomes["charger/1/connector/1/session/2"].startswith("dead-lettered (RuntimeError")
    [letter] = subject.dead_letters.all()
    assert letter.attempts == 3


def test_an_invalid_record_is_dead_lettered_at_once_with_the_handlers_reason(
    tmp_path: Path,
) -> None:
    # GIVEN a handler that calls record 1 invalid, and reports record 2 a duplicate
    calls = 0

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {
            "batchItemFailures": [{"itemIdentifier": "1"}],
            "invalid": {"1": "duration_in_seconds: must be a whole number"},
            "duplicates": ["2"],
        }

    subject, results = bridge(tmp_path, invoke)
    subject._deliver(records(1, 2))
    # THEN one invocation; the reason is kept with the dead letter
    assert calls == 1
    [letter] = subject.dead_letters.all()
    assert letter.error_type == "InvalidSession"
    assert letter.error_message == "duration_in_seconds: must be a whole number"
    assert dict(results)["charger/1/connector/1/session/2"] == "duplicate"
