"""`dlq replay --stack`: a deployed stack's dead letters, from its queue and its archive, go back
to the session queue and only then leave; the listener stores them once or dead-letters them
again with their reason, as the local replay does."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from evsessions.dynamodb.dead_letter_archive import ARCHIVE_AFTER
from listener import archive
from listener.handler import handle_batch
from local_runner.commands.deployed_replay import StackQueues, archived, queued, replay
from local_runner.services.invoker import LambdaContext
from tests.functional.conftest import rule_event

REGION = "eu-north-1"


@pytest.fixture
def stack(sessions_table: str, monkeypatch: pytest.MonkeyPatch) -> StackQueues:
    sqs = boto3.client("sqs", region_name=REGION)
    session_queue = sqs.create_queue(QueueName="SessionQueue")["QueueUrl"]
    dead_letters = sqs.create_queue(QueueName="DeadLetterQueue")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", dead_letters)
    return StackQueues(session_queue, dead_letters, sessions_table)


def listener_batch(sqs: Any, url: str) -> dict[str, Any]:
    """What the session queue holds now, as the listener's SQS event."""
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    return {
        "Records": [
            {"messageId": m["MessageId"], "body": m["Body"], "attributes": {}} for m in messages
        ]
    }


def test_letters_from_the_queue_and_the_archive_go_back_through_the_listener(
    stack: StackQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, dynamodb = (
        boto3.client("sqs", region_name=REGION),
        boto3.client("dynamodb", region_name=REGION),
    )
    # GIVEN an invalid record the listener dead-lettered, since archived
    invalid = {  # its session id is not its topic's: no identity
        **rule_event("9", "1", "1", "2025-11-27T17:00:00.000Z"),
        "session_id": "30",
    }
    context = LambdaContext("ListenerFunction", 256, 30)
    handle_batch({"Records": [{"messageId": "old", "body": json.dumps(invalid)}]}, context)
    later = datetime.now(UTC) + ARCHIVE_AFTER + timedelta(minutes=1)
    monkeypatch.setattr(archive, "_now", lambda: later)
    assert archive.handler({}, None)["archived"] == 1
    # AND a valid one that failed for a cause since fixed, waiting in the queue
    valid = rule_event("9", "1", "2", "2025-11-27T18:00:00.000Z")
    sqs.send_message(QueueUrl=stack.dead_letter_queue_url, MessageBody=json.dumps(valid))
    # AND one the rule's error action sent (base64)
    error_action = base64.b64encode(b'{"failures": []}').decode()
    sqs.send_message(QueueUrl=stack.dead_letter_queue_url, MessageBody=error_action)
    # WHEN every dead letter is replayed
    letters = [*queued(sqs, stack.dead_letter_queue_url, 0), *archived(dynamodb, stack.table)]
    results = replay(letters, sqs, dynamodb, stack)
    # THEN the two rule outputs were sent to the session queue and left their places; the error
    # action's is kept, with why
    assert sorted((r.letter.where, r.replayed) for r in results) == [
        ("archive", True), ("queue", False), ("queue", True),
    ]  # fmt: skip
    assert list(archived(dynamodb, stack.table)) == []
    [kept] = [r for r in results if not r.replayed]
    assert "not the rule's output" in kept.outcome
    # AND the listener stores the valid one and dead-letters the invalid one again, with its reason
    assert handle_batch(listener_batch(sqs, stack.session_queue_url), context) == {
        "batchItemFailures": []
    }
    letters_now = queued(sqs, stack.dead_letter_queue_url, 0)
    again = [letter for letter in letters_now if letter.body != error_action]
    assert [json.loads(letter.body)["session_id"] for letter in again] == ["30"]
    assert again[0].reason.startswith("InvalidSession: ")
