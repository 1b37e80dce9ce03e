"""Dead-letter archiver Lambda: once a day, every dead letter older than ARCHIVE_AFTER goes from
the dead-letter queue into the sessions table with its reason, before SQS's 14-day retention
would drop it (evsessions.dynamodb.dead_letter_archive).

Each letter is put first and deleted from the queue after, so a failure in between leaves it in
both places, never in neither. Younger letters are left where they are: received, they stay
hidden for the visibility timeout, so each receive brings others until none is left.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from evsessions import metrics
from evsessions.dead_letters import dead_letter_queue
from evsessions.dynamodb.dead_letter_archive import DeadLetterArchive, due
from evsessions.dynamodb.store import create_client
from evsessions.errors import StorageUnavailable
from evsessions.settings import Settings

log = logging.getLogger(__name__)

VISIBILITY_SECONDS = 300
"""How long a received letter stays hidden: past the run (the function's timeout is 60 s)."""
STOP_BEFORE_MS = 10_000
"""The run stops receiving with this much of its time left."""


def _now() -> datetime:
    """The run's moment (a test moves it days ahead instead of waiting)."""
    return datetime.now(UTC)


@metrics.recorded()
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    settings = Settings.from_env()
    queue = dead_letter_queue(settings.dead_letter_queue_url, settings.aws_region)
    if queue is None:
        raise StorageUnavailable("no DEAD_LETTER_QUEUE_URL")
    archive = DeadLetterArchive(settings.sessions_table, create_client(settings))
    now = _now()
    archived = kept = 0
    while _time_left(context):
        letters = queue.receive(VISIBILITY_SECONDS)
        if not letters:
            break
        for letter in letters:
            if not due(letter, now):
                kept += 1
                continue
            archive.put(letter, now)
            queue.delete(letter)
            metrics.record(metrics.Metric.DEAD_LETTERS_ARCHIVED)
            archived += 1
            log.warning(
                "dead letter %s archived before the queue's retention drops it: %s",
                letter.message_id,
                letter.reason.problem,
                extra={"message_id": letter.source_message_id, "outcome": "archived"},
            )
    return {"archived": archived, "kept": kept}


def _time_left(context: Any) -> bool:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining is None or remaining() > STOP_BEFORE_MS
