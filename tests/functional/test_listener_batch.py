"""The listener's SQS batch handler against moto: dead letters with reasons, partial failures,
duplicates, exact aggregates.

The aggregates DynamoDB keeps at write time are compared with what the in-memory adapter computes
at read time from the same sessions: totals per hour and day, charger and connector summaries.
"""

from __future__ import annotations

import random
from typing import Any

import boto3
import pytest

from evsessions.contract import parse_session
from evsessions.dead_letters import Reason, SqsDeadLetters
from evsessions.dynamodb.store import cached_store
from evsessions.errors import StorageUnavailable
from evsessions.settings import Settings
from evsessions.storage import InMemorySessionStore
from listener.handler import handle_batch
from local_runner.services.events import sqs_event
from tests.functional.conftest import rule_event


def batch(*records: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return sqs_event("SessionQueue", [(mid, body, 1_764_268_500_000, 1) for mid, body in records])


def event_of(charger: int, connector: int, session: int, minute: int) -> dict[str, Any]:
    ended = f"2025-11-27T{17 + minute // 60:02d}:{minute % 60:02d}:{session % 60:02d}.000Z"
    return rule_event(str(charger), str(connector), str(session), ended)


@pytest.fixture
def dead_letter_queue_url(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    url = str(
        boto3.client("sqs", region_name="eu-north-1").create_queue(QueueName="dlq")["QueueUrl"]
    )
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", url)
    return url


def dead_letters(url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = (
        boto3.client("sqs", region_name="eu-north-1")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages", [])
    )
    return messages


def test_an_invalid_record_is_dead_lettered_with_its_reason_at_once(
    sessions_table: str, dead_letter_queue_url: str
) -> None:
    # GIVEN a batch of two valid records and one that cannot be a session
    invalid = {**event_of(1, 1, 3, 0), "session_id": "30"}  # not its topic's: no identity
    event = batch(("a", event_of(1, 1, 1, 0)), ("b", invalid), ("c", event_of(2, 1, 2, 0)))
    # WHEN the listener handles it
    result = handle_batch(event, None)
    # THEN the answer is SQS's partial batch response alone, with no failure to redeliver
    assert result == {"batchItemFailures": []}
    # AND the invalid record is in the dead-letter queue, its body intact, the reason as data
    [letter] = dead_letters(dead_letter_queue_url)
    assert letter["Body"] == event["Records"][1]["body"]
    attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attributes["error_type"] == "InvalidSession"
    assert attributes["field"] == "session_id"
    assert attributes["problem"]
    assert attributes["source_message_id"] == "b"
    # AND the valid ones are stored
    store = cached_store(Settings.from_env())
    assert store.totals(None, "day", "2025-11-27", "2025-11-27")[0].totals.sessions == 2


def test_without_a_dead_letter_queue_an_invalid_record_is_reported_failed(
    sessions_table: str,
) -> None:
    # GIVEN no dead-letter queue configured (or one that cannot be reached)
    invalid = {**event_of(1, 1, 3, 0), "session_id": "30"}  # not its topic's: no identity
    # WHEN the listener handles an invalid record
    result = handle_batch(batch(("a", event_of(1, 1, 1, 0)), ("b", invalid)), None)
    # THEN it stays on the session queue, whose redrive policy is the last resort
    assert result == {"batchItemFailures": [{"itemIdentifier": "b"}]}


def test_every_invalid_record_that_could_not_be_dead_lettered_is_reported_once(
    sessions_table: str,
) -> None:
    # GIVEN a batch with three invalid records among valid ones, and no dead-letter queue
    invalid = {**event_of(1, 1, 3, 0), "session_id": "30"}  # not its topic's: no identity
    event = batch(
        ("a", event_of(1, 1, 1, 0)),
        ("b", invalid),
        ("c", event_of(2, 1, 2, 0)),
        ("d", {**invalid, "topic": "charger/1/connector/1"}),
        ("e", {**invalid, "session_id": None}),
    )
    # WHEN the listener handles it
    result = handle_batch(event, None)
    # THEN each of the three is reported, by its own id, once, so all three come back (an id
    # missing from the answer is deleted from the queue: lost without a dead letter)
    assert result == {"batchItemFailures": [{"itemIdentifier": m} for m in ("b", "d", "e")]}


def test_of_several_invalid_records_only_those_not_dead_lettered_are_reported(
    sessions_table: str, dead_letter_queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN three invalid records, and a dead-letter queue that takes all but the middle one
    refused = "d"
    send = SqsDeadLetters.send

    def send_unless_refused(
        queue: SqsDeadLetters, body: str, reason: Reason, message_id: str
    ) -> None:
        if message_id == refused:
            raise StorageUnavailable("dead-letter queue unreachable: throttled")
        send(queue, body, reason, message_id)

    monkeypatch.setattr(SqsDeadLetters, "send", send_unless_refused)
    invalid = {**event_of(1, 1, 3, 0), "session_id": "30"}  # not its topic's: no identity
    event = batch(("b", invalid), ("c", event_of(2, 1, 2, 0)), ("d", invalid), ("e", invalid))
    # WHEN the listener handles the batch
    result = handle_batch(event, None)
    # THEN only the refused one is reported, to come back; the other two are dead letters
    assert result == {"batchItemFailures": [{"itemIdentifier": refused}]}
    sources = sorted(
        letter["MessageAttributes"]["source_message_id"]["StringValue"]
        for letter in dead_letters(dead_letter_queue_url)
    )
    assert sources == ["b", "e"]


def test_an_unreachable_dead_letter_queue_leaves_the_record_to_come_back(
    sessions_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a dead-letter queue that does not exist
    monkeypatch.setenv(
        "DEAD_LETTER_QUEUE_URL", "https://sqs.eu-north-1.amazonaws.com/123456789012/missing"
    )
    invalid = {**event_of(1, 1, 3, 0), "session_id": "30"}  # not its topic's: no identity
    # WHEN the listener handles an invalid record
    result = handle_batch(batch(("b", invalid)), None)
    # THEN it is reported failed, to be delivered again, not lost
    assert result == {"batchItemFailures": [{"itemIdentifier": "b"}]}


def test_a_redelivered_batch_changes_nothing(sessions_table: str) -> None:
    # GIVEN a batch already stored, as after a crash before SQS heard of it
    event = batch(("a", event_of(1, 1, 1, 0)), ("b", event_of(1, 2, 1, 0)))
    handle_batch(event, None)
    store = cached_store(Settings.from_env())
    before = store.totals(None, "day", "2025-11-27", "2025-11-27")
    # WHEN the same batch comes again
    result = handle_batch(event, None)
    # THEN nothing fails and the totals are unchanged
    assert result == {"batchItemFailures": []}
    assert store.totals(None, "day", "2025-11-27", "2025-11-27") == before


def test_aggregates_match_the_in_memory_adapter_over_shuffled_overlapping_batches(
    sessions_table: str,
) -> None:
    # GIVEN 300 sessions from 12 chargers of 3 connectors over three hours, delivered in shuffled
    # batches of up to 100 in which a fifth of the records are repeats (redeliveries)
    rng = random.Random(7)
    events = [
        event_of(charger, connector, session, rng.randrange(180))
        for session in range(1, 301)
        for charger, connector in [(rng.randint(1, 12), rng.randint(1, 3))]
    ]
    deliveries = events + rng.sample(events, 60)
    rng.shuffle(deliveries)
    memory = InMemorySessionStore()
    for event in events:
        memory.save(parse_session(event))
    # WHEN the listener stores them batch by batch
    for start in range(0, len(deliveries), 100):
        chunk = deliveries[start : start + 100]
        result = handle_batch(batch(*((str(i), e) for i, e in enumerate(chunk))), None)
        assert result["batchItemFailures"] == []
    # THEN each session counted once, and every aggregate equals the one computed from scratch
    dynamodb = cached_store(Settings.from_env())
    for charger in (None, *map(str, range(1, 13))):
        for bucket, first, last in (
            ("hour", "2025-11-27T17", "2025-11-27T19"),
            ("day", "2025-11-27", "2025-11-27"),
        ):
            expected = memory.totals(charger, bucket, first, last)
            assert dynamodb.totals(charger, bucket, first, last) == expected
    assert dynamodb.chargers(100, None) == memory.chargers(100, None)


def test_reused_ids_match_the_in_memory_adapter_over_shuffled_overlapping_batches(
    sessions_table: str,
) -> None:
    # GIVEN 120 sessions of 6 chargers, then chargers restarting: 50 of the identities sent
    # again with other content (some of them twice, with two other contents), all delivered in
    # shuffled batches of up to 40 in which a quarter of the records are repeats
    rng = random.Random(11)
    events = [
        event_of(charger, connector, session, rng.randrange(180))
        for session in range(1, 121)
        for charger, connector in [(rng.randint(1, 6), rng.randint(1, 2))]
    ]
    reused = [
        {**event, "session_cost_in_cents": 10_000 + generation * 1000 + n}
        for generation in (1, 2)
        for n, event in enumerate(rng.sample(events, 50 if generation == 1 else 15))
    ]
    deliveries = events + reused + rng.sample(events + reused, 46)
    rng.shuffle(deliveries)
    memory = InMemorySessionStore()
    for event in deliveries:
        memory.save(parse_session(event))
    # WHEN the listener stores them batch by batch
    for start in range(0, len(deliveries), 40):
        chunk = deliveries[start : start + 40]
        result = handle_batch(batch(*((str(i), e) for i, e in enumerate(chunk))), None)
        assert result == {"batchItemFailures": []}
    # THEN every distinct session counted once, as many reuses as the in-memory adapter found
    distinct = {(e["topic"], e["session_cost_in_cents"]) for e in events + reused}
    assert len(distinct) == len(memory.sessions)
    dynamodb = cached_store(Settings.from_env())
    [day] = dynamodb.totals(None, "day", "2025-11-27", "2025-11-27")
    assert day.totals.sessions == len(distinct)
    reused_count = dynamodb.fleet_counts().reused_session_ids
    assert reused_count == memory.fleet_counts().reused_session_ids == len(distinct) - len(events)
    # AND every aggregate equals the one computed from scratch
    for charger in (None, *map(str, range(1, 7))):
        for bucket, first, last in (
            ("hour", "2025-11-27T17", "2025-11-27T19"),
            ("day", "2025-11-27", "2025-11-27"),
        ):
            expected = memory.totals(charger, bucket, first, last)
            assert dynamodb.totals(charger, bucket, first, last) == expected
    assert dynamodb.chargers(100, None) == memory.chargers(100, None)
    # AND each identity's occurrences hold the same contents in both adapters
    for key, occurrence in memory.sessions:
        found = dynamodb.get(key, occurrence)
        assert found is not None
        assert found.content in {s.content for (k, _), s in memory.sessions.items() if k == key}
