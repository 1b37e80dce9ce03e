"""The dead letters' archive: the sessions table keeps each dead letter, with its reason, before
the queue's retention would drop it.

SQS deletes a message 14 days after it was first sent, read or not. The archiver runs once a day
and moves every dead letter older than ARCHIVE_AFTER into the table (partition `DEADLETTERS`,
sorted by when it was first sent), then deletes it from the queue: what is archived outlives the
queue and the stack (the table is retained, with point-in-time recovery). The put is
conditional on the item being new, so an archiver that dies between the put and the delete
archives that letter once when it runs again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from evsessions.dead_letters import ReceivedLetter
from evsessions.dynamodb.items import typed
from evsessions.dynamodb.keys import dead_letter_key
from evsessions.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

ARCHIVE_AFTER = timedelta(days=10)
"""Four days before the queue's 14-day retention: three daily runs may fail and nothing is lost;
until then a dead letter stays in the queue, where its alarm fires and a replay finds it."""


def due(letter: ReceivedLetter, now: datetime) -> bool:
    return now - datetime.fromtimestamp(letter.sent_at_ms / 1000, UTC) >= ARCHIVE_AFTER


def archive_item(letter: ReceivedLetter, archived_at: datetime) -> dict[str, Any]:
    """The table item that keeps one dead letter: its body whole, its reason as fields."""
    sent_at = datetime.fromtimestamp(letter.sent_at_ms / 1000, UTC)
    return {
        **dead_letter_key(sent_at.isoformat(timespec="milliseconds"), letter.message_id),
        "body": letter.body,
        "error_type": letter.reason.error_type,
        "field": letter.reason.field,
        "problem": letter.reason.problem,
        "source_message_id": letter.source_message_id,
        "sent_at": sent_at.isoformat(timespec="milliseconds"),
        "archived_at": archived_at.isoformat(timespec="milliseconds"),
    }


class DeadLetterArchive:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self.table = table
        self.client = client

    def put(self, letter: ReceivedLetter, archived_at: datetime) -> None:
        """Keep the letter; one already kept (an earlier run died before its delete) stays."""
        from botocore.exceptions import BotoCoreError, ClientError

        from evsessions.dynamodb.errors import error_code, raise_translated

        try:
            self.client.put_item(
                TableName=self.table,
                Item=typed(archive_item(letter, archived_at)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return
            raise_translated("PutItem", error)
        except BotoCoreError as error:
            raise StorageUnavailable(f"DynamoDB PutItem failed: {error}") from error
