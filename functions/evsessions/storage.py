"""The storage port: what the handlers need from a session store, and an in-memory adapter.

The DynamoDB adapter lives in `dynamodb_store`; the in-memory one serves unit tests and shows
the semantics every adapter must keep: a duplicate identity is a success that changes nothing.
"""

from __future__ import annotations

import enum
from typing import Protocol

from evsessions.contract import ChargingSession, SessionKey


class SaveOutcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"


class SessionStore(Protocol):
    def save(self, session: ChargingSession) -> SaveOutcome:
        """Store a session once; the same identity again is DUPLICATE and changes nothing."""
        ...

    def get(self, key: SessionKey) -> ChargingSession | None: ...

    def recent(self, limit: int, charger_id: str | None = None) -> list[ChargingSession]:
        """Newest first by end time, for the whole fleet or one charger."""
        ...

    def ping(self) -> None:
        """Raise StorageUnavailable when the store cannot serve requests."""
        ...


class InMemorySessionStore:
    """A dict behind the port. Not thread-safe; for tests and examples only."""

    def __init__(self) -> None:
        self.sessions: dict[SessionKey, ChargingSession] = {}

    def save(self, session: ChargingSession) -> SaveOutcome:
        if session.key in self.sessions:
            return SaveOutcome.DUPLICATE
        self.sessions[session.key] = session
        return SaveOutcome.STORED

    def get(self, key: SessionKey) -> ChargingSession | None:
        return self.sessions.get(key)

    def recent(self, limit: int, charger_id: str | None = None) -> list[ChargingSession]:
        chosen = [s for s in self.sessions.values() if charger_id in (None, s.key.charger_id)]
        chosen.sort(key=lambda s: (s.ended_at, s.key), reverse=True)
        return chosen[:limit]

    def ping(self) -> None:
        return None
