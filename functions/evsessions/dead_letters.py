"""The dead-letter queue as a port: the listener puts an invalid record there with its reason, and
the API's health route counts what waits there.

One adapter, SQS (DEAD_LETTER_QUEUE_URL). An invalid record goes there at its first delivery,
with the reason as message attributes, so it is neither redelivered nor dead-lettered without a
reason by the queue's redrive policy. Wherever the endpoint is (botocore's AWS_ENDPOINT_URL_SQS
may point elsewhere), this module does not know or care.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from evsessions import metrics
from evsessions.errors import InvalidSession, StorageUnavailable
from evsessions.metrics import Metric

SOURCE_MESSAGE_ID = "source_message_id"
"""The attribute naming the queue record that was dead-lettered (SQS's messageId)."""


@dataclass(frozen=True)
class Reason:
    """Why a record was dead-lettered, as message attributes carry it."""

    error_type: str
    field: str
    problem: str

    @classmethod
    def of(cls, error: InvalidSession) -> Reason:
        return cls(type(error).__name__, error.field, error.problem)

    def attributes(self) -> dict[str, dict[str, str]]:
        return {
            name: {"DataType": "String", "StringValue": value or "-"}
            for name, value in (
                ("error_type", self.error_type),
                ("field", self.field),
                ("problem", self.problem[:1000]),
            )
        }

    @classmethod
    def from_attributes(cls, attributes: dict[str, Any]) -> Reason:
        def text(name: str) -> str:
            return str((attributes.get(name) or {}).get("StringValue", ""))

        return cls(text("error_type"), text("field"), text("problem"))


@dataclass(frozen=True)
class ReceivedLetter:
    """A dead letter as the queue hands it out: its body, why, when it was first sent."""

    message_id: str
    receipt_handle: str
    body: str
    reason: Reason
    source_message_id: str
    sent_at_ms: int
    """SQS's SentTimestamp: the queue's retention counts from the first send, even after a
    redrive moved the message here."""


class SqsDeadLetters:
    """SendMessage and GetQueueAttributes on one queue (and, for the archive, ReceiveMessage and
    DeleteMessage); botocore errors become StorageUnavailable (transient: the caller retries)."""

    def __init__(self, queue_url: str, region: str, client: Any = None) -> None:
        self.queue_url = queue_url
        self.region = region
        self._client = client

    def _sqs(self) -> Any:
        if self._client is None:
            from evsessions.aws_clients import aws_client

            self._client = aws_client("sqs", self.region)
        return self._client

    def send(self, body: str, reason: Reason, message_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        attributes = reason.attributes()
        attributes[SOURCE_MESSAGE_ID] = {"DataType": "String", "StringValue": message_id}
        try:
            self._sqs().send_message(
                QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=attributes
            )
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(f"dead-letter queue unreachable: {error}") from error
        metrics.record(Metric.DEAD_LETTERS)

    def count(self) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            attributes = self._sqs().get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(f"dead-letter queue unreachable: {error}") from error
        return int(attributes["ApproximateNumberOfMessages"])

    def receive(self, visibility_seconds: int) -> list[ReceivedLetter]:
        """Up to 10 letters, hidden from other receivers for `visibility_seconds`; a second's
        long poll asks every SQS server, so an empty answer means none is visible."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            messages = (
                self._sqs()
                .receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=visibility_seconds,
                    WaitTimeSeconds=1,
                    AttributeNames=["SentTimestamp"],
                    MessageAttributeNames=["All"],
                )
                .get("Messages", [])
            )
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(f"dead-letter queue unreachable: {error}") from error
        return [_received(message) for message in messages]

    def delete(self, letter: ReceivedLetter) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._sqs().delete_message(QueueUrl=self.queue_url, ReceiptHandle=letter.receipt_handle)
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(f"dead-letter queue unreachable: {error}") from error


def _received(message: dict[str, Any]) -> ReceivedLetter:
    attributes = message.get("MessageAttributes") or {}
    return ReceivedLetter(
        message_id=str(message["MessageId"]),
        receipt_handle=str(message["ReceiptHandle"]),
        body=str(message.get("Body", "")),
        reason=Reason.from_attributes(attributes),
        source_message_id=str((attributes.get(SOURCE_MESSAGE_ID) or {}).get("StringValue", "")),
        sent_at_ms=int((message.get("Attributes") or {}).get("SentTimestamp", 0)),
    )


@lru_cache(maxsize=4)
def dead_letter_queue(queue_url: str | None, region: str) -> SqsDeadLetters | None:
    """The configured queue (one client per warm container), or None: then the count is unknown
    and the queue's redrive policy is the last resort for an invalid record."""
    return SqsDeadLetters(queue_url, region) if queue_url else None
