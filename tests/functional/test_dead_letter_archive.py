"""The dead-letter archiver against moto: letters 10 days old go into the table with their reason
and leave the queue; younger ones stay; a run that died between the put and the delete archives
its letter once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from evsessions import metrics
from evsessions.dead_letters import Reason, SqsDeadLetters
from evsessions.dynamodb.dead_letter_archive import ARCHIVE_AFTER
from evsessions.dynamodb.keys import DEAD_LETTERS as PARTITION
from evsessions.metrics import Emission, Metric
from listener import archive
from local_runner.services.invoker import LambdaContext

REGION = "eu-north-1"


def context() -> LambdaContext:
    """A fresh invocation's context: its 60 s run from now (one made at import would have run
    out by the time a long suite reaches these tests, and the archiver would stop at once)."""
    return LambdaContext("DeadLetterArchiveFunction", 256, 60)


@pytest.fixture
def queue_url(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    url = str(boto3.client("sqs", region_name=REGION).create_queue(QueueName="dlq")["QueueUrl"])
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", url)
    return url


@pytest.fixture
def emitted() -> Iterator[list[Emission]]:
    received: list[Emission] = []
    with metrics.publishing_to(received.append):
        yield received


def send(url: str, body: str, source: str) -> None:
    reason = Reason("InvalidSession", "energy_delivered_in_kWh", "-3 must not be negative")
    SqsDeadLetters(url, REGION).send(body, reason, source)


def archived(table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb", region_name=REGION).query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": PARTITION}},
    )["Items"]
    return items


def waiting(url: str) -> int:
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_letters_ten_days_old_are_archived_with_their_reason_and_leave_the_queue(
    sessions_table: str, queue_url: str, emitted: list[Emission], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two dead letters with their reasons
    send(queue_url, '{"session_id": 7}', "m-7")
    send(queue_url, '{"session_id": 8}', "m-8")
    # WHEN the archiver runs 10 days after they were sent
    later = datetime.now(UTC) + ARCHIVE_AFTER + timedelta(minutes=1)
    monkeypatch.setattr(archive, "_now", lambda: later)
    assert archive.handler({}, context()) == {"archived": 2, "kept": 0}
    # THEN the table keeps both, bodies whole and reasons as fields, and the queue is empty
    items = sorted(archived(sessions_table), key=lambda item: item["body"]["S"])
    assert [item["body"]["S"] for item in items] == ['{"session_id": 7}', '{"session_id": 8}']
    assert {item["source_message_id"]["S"] for item in items} == {"m-7", "m-8"}
    assert items[0]["error_type"]["S"] == "InvalidSession"
    assert items[0]["field"]["S"] == "energy_delivered_in_kWh"
    assert items[0]["problem"]["S"] == "-3 must not be negative"
    assert waiting(queue_url) == 0
    # AND the run's metric counts them
    runs = [e.values for e in emitted if e.function == "DeadLetterArchiveFunction"]
    assert runs == [{Metric.DEAD_LETTERS_ARCHIVED: 2}]


def test_younger_letters_stay_in_the_queue(
    sessions_table: str, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    send(queue_url, '{"session_id": 9}', "m-9")
    nine_days = datetime.now(UTC) + ARCHIVE_AFTER - timedelta(days=1)
    monkeypatch.setattr(archive, "_now", lambda: nine_days)
    assert archive.handler({}, context()) == {"archived": 0, "kept": 1}
    assert archived(sessions_table) == []
    assert waiting(queue_url) == 1


def test_a_letter_archived_by_a_run_that_died_before_its_delete_is_kept_once(
    sessions_table: str, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a run that put the letter and died before deleting it from the queue
    send(queue_url, '{"session_id": 10}', "m-10")
    later = datetime.now(UTC) + ARCHIVE_AFTER + timedelta(minutes=1)
    monkeypatch.setattr(archive, "_now", lambda: later)
    monkeypatch.setattr(archive, "VISIBILITY_SECONDS", 0)

    def die(_self: SqsDeadLetters, _letter: Any) -> None:
        raise RuntimeError("timed out")

    with monkeypatch.context() as dying:
        dying.setattr(SqsDeadLetters, "delete", die)
        with pytest.raises(RuntimeError):
            archive.handler({}, context())
    # WHEN the next run finds the letter again
    assert archive.handler({}, context()) == {"archived": 1, "kept": 0}
    # THEN the table holds it once and the queue is empty
    assert len(archived(sessions_table)) == 1
    assert waiting(queue_url) == 0
