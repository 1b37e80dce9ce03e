"""`dlq replay --stack NAME`: replays a deployed stack's dead letters, from its dead-letter queue
and from the table's archive, with the same safety as the local replay.

Each letter's body (the rule's output, as the session queue carried it) is sent to the session
queue again, and only then deleted from where it was kept: the listener stores it once (a
session already stored is a duplicate, a success) or dead-letters it again with its reason, so a
replay never loses a letter and is safe to repeat. A body the rule's error action sent (base64,
not the rule's output) is left where it is: its payload must be published again on its topic.
The stack's resources come from its outputs; the calls use the operator's AWS credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evsessions.dynamodb.keys import DEAD_LETTERS as PARTITION


@dataclass(frozen=True)
class StackQueues:
    session_queue_url: str
    dead_letter_queue_url: str
    table: str

    @classmethod
    def of_stack(cls, cloudformation: Any, stack: str) -> StackQueues:
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
        }
        return cls(
            outputs["SessionQueueUrl"], outputs["DeadLetterQueueUrl"], outputs["SessionsTableName"]
        )


@dataclass(frozen=True)
class DeployedLetter:
    id: str
    """The queue's message id, or the archive item's sort key."""
    where: str
    """`queue` or `archive`."""
    body: str
    reason: str
    handle: str
    """The receipt handle (queue) or the sort key (archive): what deletes it."""


def _reason(error_type: str, field: str, problem: str) -> str:
    return f"{error_type or 'no reason'}: {field + ': ' if field else ''}{problem}".strip()


def queued(sqs: Any, url: str, visibility_seconds: int = 300) -> Iterator[DeployedLetter]:
    """Every letter in the queue, each hidden from others for `visibility_seconds` (one that
    shows up again, its visibility over, ends the listing: it was listed already)."""
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility_seconds,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(str(message["MessageId"]))
            attributes = {
                k: v.get("StringValue", "")
                for k, v in (message.get("MessageAttributes") or {}).items()
            }
            yield DeployedLetter(
                str(message["MessageId"]),
                "queue",
                str(message.get("Body", "")),
                _reason(
                    attributes.get("error_type", ""),
                    attributes.get("field", ""),
                    attributes.get("problem", ""),
                ),
                str(message["ReceiptHandle"]),
            )


def archived(dynamodb: Any, table: str) -> Iterator[DeployedLetter]:
    arguments: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": PARTITION}},
    }
    while True:
        page = dynamodb.query(**arguments)
        for item in page.get("Items", []):
            text = {k: str(v.get("S", "")) for k, v in item.items()}
            yield DeployedLetter(
                text["sk"],
                "archive",
                text.get("body", ""),
                _reason(text.get("error_type", ""), text.get("field", ""), text.get("problem", "")),
                text["sk"],
            )
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _rule_output(body: str) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


@dataclass(frozen=True)
class DeployedReplay:
    letter: DeployedLetter
    outcome: str
    replayed: bool


def replay(
    letters: list[DeployedLetter], sqs: Any, dynamodb: Any, stack: StackQueues
) -> list[DeployedReplay]:
    """Send each letter's body to the session queue, then delete it from where it was kept."""
    results = []
    for letter in letters:
        if not _rule_output(letter.body):
            results.append(
                DeployedReplay(
                    letter, "kept: not the rule's output (the error action's base64?)", False
                )
            )
            continue
        sqs.send_message(QueueUrl=stack.session_queue_url, MessageBody=letter.body)
        if letter.where == "queue":
            sqs.delete_message(QueueUrl=stack.dead_letter_queue_url, ReceiptHandle=letter.handle)
        else:
            dynamodb.delete_item(
                TableName=stack.table, Key={"pk": {"S": PARTITION}, "sk": {"S": letter.handle}}
            )
        results.append(DeployedReplay(letter, "sent to the session queue", True))
    return results
