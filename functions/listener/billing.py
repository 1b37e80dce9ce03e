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


def issue_clean(
    settings: Settings,
    store: DynamoDbSessionStore,
    sessions: Sequence[ChargingSession],
    placed: Sequence[tuple[SaveOutcome, int]],
) -> int:
    """Issue the CDR of each clean session of a stored batch, at the occurrence the store placed
    it (`save_placed`); how many were new."""
    stored = [
        replace(session, occurrence=occurrence)
        for session, (_, occurrence) in zip(sessions, placed, strict=True)
        if not session.findings
    ]
    if not stored:
        return 0
    return cached_issuer(settings, store.client).issue(stored)
