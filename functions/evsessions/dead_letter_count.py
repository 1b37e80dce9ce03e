"""How many messages wait in the dead letters, for the API's health route.

Deployed, they are in an SQS queue (DEAD_LETTER_QUEUE_URL); locally, the emulator keeps them in a
JSON-lines file (DEAD_LETTER_FILE). Neither set: the count is unknown (None), not zero.
"""

from __future__ import annotations

from pathlib import Path

from evsessions.errors import StorageUnavailable
from evsessions.settings import Settings


def count_dead_letters(settings: Settings) -> int | None:
    if settings.dead_letter_queue_url:
        from botocore.exceptions import BotoCoreError, ClientError

        from evsessions.aws_clients import aws_client

        try:
            attributes = aws_client("sqs", settings.aws_region).get_queue_attributes(
                QueueUrl=settings.dead_letter_queue_url,
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]
        except (BotoCoreError, ClientError) as error:
            raise StorageUnavailable(f"dead-letter queue unreachable: {error}") from error
        return int(attributes["ApproximateNumberOfMessages"])
    if settings.dead_letter_file:
        path = Path(settings.dead_letter_file)
        if not path.exists():
            return 0
        with path.open("rb") as file:
            return sum(1 for line in file if line.strip())
    return None
