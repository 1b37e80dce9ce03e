"""Listener Lambda: stores each session the IoT rule selected, once.

Two triggers: the rule's SQS queue hands `handle_batch` up to the template's BatchSize messages
at a time (the deployed path: one write per aggregate per batch instead of per message), and a
rule's direct Lambda action hands `handler` one message. A message whose values are doubtful is
stored suspect, never refused (its sender was told it is accepted); only what cannot be a session
at all is dead-lettered. Both log a session stored suspect or under a reused session id (a
charger whose counter restarted), for the operator.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from evsessions import metrics
from evsessions.contract import ChargingSession, Limits, SessionKey, parse_session
from evsessions.dead_letters import Reason, dead_letter_queue
from evsessions.dynamodb.store import cached_store
from evsessions.errors import InvalidSession, StorageUnavailable
from evsessions.log_fields import session_fields
from evsessions.settings import Settings
from evsessions.storage import SaveOutcome
from listener import billing

log = logging.getLogger(__name__)


@metrics.recorded()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raises InvalidSession (permanent: dead-letter) or StorageUnavailable (transient: retry)."""
    settings = Settings.from_env()
    session = parse_session(event, _limits(settings))
    store = cached_store(settings)
    [placed] = store.save_placed([session])
    outcome = placed[0]
    billing.issue_clean(settings, store, [session], [placed])
    metrics.saved([outcome])
    _log_suspects([session], [outcome])
    _log_saved(session.key, outcome, None)
    return {"status": outcome.value, "topic": session.key.topic}


@metrics.recorded(duration=metrics.Metric.BATCH_DURATION)
def handle_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An SQS batch, answered with SQS's partial batch response and nothing else.

    Valid records are stored together; StorageUnavailable is raised, so the whole batch comes
    back (what was already stored then counts as a duplicate). Then each invalid record goes to
    the dead-letter queue with its reason, at its first delivery; only one that could not be sent
    there is reported as failed, to come back."""
    settings = Settings.from_env()
    sessions: list[ChargingSession] = []
    message_ids: list[str] = []
    invalid: list[tuple[dict[str, Any], InvalidSession]] = []
    limits = _limits(settings)
    for record in event["Records"]:
        try:
            sessions.append(parse_session(_body(record), limits))
            message_ids.append(record["messageId"])
        except InvalidSession as error:
            invalid.append((record, error))
    store = cached_store(settings)
    placed = store.save_placed(sessions) if sessions else []
    outcomes = [outcome for outcome, _ in placed]
    billing.issue_clean(settings, store, sessions, placed)
    metrics.saved(outcomes)
    _log_suspects(sessions, outcomes)
    for session, outcome, message_id in zip(sessions, outcomes, message_ids, strict=True):
        _log_saved(session.key, outcome, message_id)
    dead_letters = dead_letter_queue(settings.dead_letter_queue_url, settings.aws_region)
    failed: list[str] = []
    for record, invalidity in invalid:
        log.warning(
            "invalid session message %s: %s",
            record["messageId"],
            invalidity,
            extra=session_fields(None, record["messageId"], outcome="invalid"),
        )
        try:
            if dead_letters is None:
                raise StorageUnavailable("no DEAD_LETTER_QUEUE_URL")
            body = str(record.get("body", ""))
            dead_letters.send(body, Reason.of(invalidity), record["messageId"])
        except StorageUnavailable as unsent:
            log.warning("message %s stays on the queue: %s", record["messageId"], unsent)
            failed.append(record["messageId"])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _limits(settings: Settings) -> Limits:
    return Limits(max_average_power_kw=settings.max_average_power_kw)


def _log_suspects(sessions: list[ChargingSession], outcomes: list[SaveOutcome]) -> None:
    suspects = 0
    for session, outcome in zip(sessions, outcomes, strict=True):
        if session.findings and outcome is not SaveOutcome.DUPLICATE:
            suspects += 1
            log.warning(
                "session %s stored suspect (%s): kept apart from revenue until an operator "
                "resolves it",
                session.key.topic,
                ", ".join(f.code for f in session.findings),
                extra=session_fields(session.key, outcome="suspect"),
            )
    metrics.suspect_sessions(suspects)


def _log_saved(key: SessionKey, outcome: SaveOutcome, message_id: str | None) -> None:
    """One log event per session, with its ids as fields (Lambda's JSON log format)."""
    fields = session_fields(key, message_id, outcome=outcome.value)
    if outcome is not SaveOutcome.REUSED:
        log.info("session %s %s", key.topic, outcome.value, extra=fields)
        return
    log.warning(
        "session id reused: %s carried other content than the session stored under it; "
        "stored as another occurrence of that id (GET /sessions?charger=%s&connector=%s)",
        key.topic,
        key.charger_id,
        key.connector_id,
        extra=fields,
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
