"""The listener's second step: each clean session it stored (or found stored: a redelivery)
is issued as a CDR (`evsessions.cdr_issuer`). A suspect session waits for an operator.

After the sessions' transactions, not inside them: a failure here raises StorageUnavailable,
the batch comes back, its sessions are duplicates, and their CDRs are issued then (issuing is
idempotent), so a stored clean session never stays without its CDR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from evsessions.cdr_issuer import cached_issuer
from evsessions.contract import ChargingSession
from evsessions.dynamodb.store import DynamoDbSessionStore
from evsessions.settings import Settings
from evsessions.storage import SaveOutcome

MAX_OCCURRENCES_READ = 20
"""How many occurrences of a reused session id are read to find which one a message is."""


def _occurrence(
    store: DynamoDbSessionStore, session: ChargingSession, outcome: SaveOutcome
) -> int | None:
    """Which occurrence of its identity the stored session is: 1 when it was stored first,
    else the one holding its content (a reused id, or a redelivery of one)."""
    if outcome is SaveOutcome.STORED:
        return 1
    for occurrence in range(1, MAX_OCCURRENCES_READ + 1):
        found = store.get(session.key, occurrence, consistent=True)
        if found is None:
            return None
        if found.content == session.content:
            return occurrence
    return None


def issue_clean(
    settings: Settings,
    store: DynamoDbSessionStore,
    sessions: Sequence[ChargingSession],
    outcomes: Sequence[SaveOutcome],
) -> int:
    """Issue the CDR of each clean session of a stored batch; how many were new."""
    stored: list[ChargingSession] = []
    for session, outcome in zip(sessions, outcomes, strict=True):
        if session.findings:
            continue
        occurrence = _occurrence(store, session, outcome)
        if occurrence is not None:
            stored.append(replace(session, occurrence=occurrence))
    if not stored:
        return 0
    return cached_issuer(settings, store.client).issue(stored)
