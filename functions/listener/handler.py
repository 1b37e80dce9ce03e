"""Listener Lambda: stores each session the IoT rule selected, once.

Two triggers: the rule's SQS queue hands `handle_batch` up to a hundred messages at a time (the
deployed path: one write per aggregate per batch instead of per message), and a rule's direct
Lambda action hands `handler` one message. Both log a session stored under a reused session id
(a charger whose counter restarted), for the operator.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from evsessions.contract import ChargingSession, SessionKey, parse_session
from evsessions.dynamodb_store import cached_store
from evsessions.errors import InvalidSession
from evsessions.settings import Settings
from evsessions.storage import SaveOutcome

log = logging.getLogger(__name__)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raises InvalidSession (permanent: dead-letter) or StorageUnavailable (transient: retry)."""
    session = parse_session(event)
    outcome = cached_store(Settings.from_env()).save(session)
    if outcome is SaveOutcome.REUSED:
        _log_reuse(session.key)
    return {"status": outcome.value, "topic": session.key.topic}


def handle_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An SQS batch: valid records are stored together; invalid ones are reported as failed
    (SQS's partial batch response), with their reasons under `invalid` for the emulator's dead
    letters. StorageUnavailable is raised: the whole batch comes back, and what was already stored
    then counts as duplicates."""
    sessions: list[ChargingSession] = []
    valid_ids: list[str] = []
    invalid: dict[str, str] = {}
    for record in event["Records"]:
        try:
            sessions.append(parse_session(_body(record)))
            valid_ids.append(record["messageId"])
        except InvalidSession as error:
            invalid[record["messageId"]] = str(error)
            log.warning("invalid session message %s: %s", record["messageId"], error)
    outcomes = cached_store(Settings.from_env()).save_many(sessions) if sessions else []
    for session, outcome in zip(sessions, outcomes, strict=True):
        if outcome is SaveOutcome.REUSED:
            _log_reuse(session.key)
    by_outcome: dict[SaveOutcome, list[str]] = {kind: [] for kind in SaveOutcome}
    for message_id, outcome in zip(valid_ids, outcomes, strict=True):
        by_outcome[outcome].append(message_id)
    return {
        "batchItemFailures": [{"itemIdentifier": message_id} for message_id in invalid],
        "invalid": invalid,
        "stored": len(by_outcome[SaveOutcome.STORED]) + len(by_outcome[SaveOutcome.REUSED]),
        "duplicates": by_outcome[SaveOutcome.DUPLICATE],
        "reused": by_outcome[SaveOutcome.REUSED],
    }


def _log_reuse(key: SessionKey) -> None:
    log.warning(
        "session id reused: %s carried other content than the session stored under it; "
        "stored as another occurrence of that id (GET /sessions?charger=%s&connector=%s)",
        key.topic,
        key.charger_id,
        key.connector_id,
    )


def _body(record: dict[str, Any]) -> dict[str, Any]:
    """The rule's output that the queue carried; anything else is an invalid message."""
    try:
        body = json.loads(record["body"])
    except (TypeError, ValueError) as error:
        raise InvalidSession("body", f"the queued message is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidSession("body", "the queued message is not a JSON object")
    return body
