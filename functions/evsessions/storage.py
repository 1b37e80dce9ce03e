"""The storage port: what the handlers and the API need from a session store.

Two adapters keep the same semantics: `dynamodb_store` (deployed and local) and the in-memory one
below (unit tests, examples). A duplicate identity is a success that changes nothing, and the
aggregates behind totals and charger summaries count each session exactly once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from evsessions.contract import ChargingSession, SessionKey, format_time

Bucket = Literal["hour", "day"]
Position = dict[str, str]
"""Where a listing stopped: the adapter's own resume point (the API signs it into a cursor)."""


class SaveOutcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"


def bucket_start(moment: datetime, bucket: Bucket | Literal["month"]) -> str:
    """The bucket a moment falls in, as sortable text: 2026-11-27T18, 2026-11-27 or 2026-11."""
    text = format_time(moment)
    return {"hour": text[:13], "day": text[:10], "month": text[:7]}[bucket]


@dataclass(frozen=True)
class SessionQuery:
    limit: int
    charger_id: str | None = None
    connector_id: str | None = None
    start: datetime | None = None
    """Inclusive lower bound on the end time."""
    end: datetime | None = None
    """Exclusive upper bound on the end time."""
    after: Position | None = None


@dataclass(frozen=True)
class SessionPage:
    sessions: list[ChargingSession]
    next: Position | None


@dataclass(frozen=True)
class Totals:
    sessions: int = 0
    energy_kwh: Decimal = Decimal(0)
    cost_cents: int = 0
    duration_seconds: int = 0

    def add(self, other: Totals) -> Totals:
        return Totals(
            self.sessions + other.sessions,
            self.energy_kwh + other.energy_kwh,
            self.cost_cents + other.cost_cents,
            self.duration_seconds + other.duration_seconds,
        )

    @classmethod
    def of(cls, session: ChargingSession) -> Totals:
        return cls(
            1,
            session.energy_delivered_in_kWh,
            session.session_cost_in_cents,
            session.duration_in_seconds,
        )


@dataclass(frozen=True)
class BucketTotals:
    start: str
    totals: Totals


@dataclass(frozen=True)
class ConnectorSummary:
    connector_id: str
    totals: Totals
    last_ended_at: str | None


@dataclass(frozen=True)
class ChargerSummary:
    charger_id: str
    totals: Totals
    last_ended_at: str | None
    connectors: list[ConnectorSummary] = field(default_factory=list)


class SessionStore(Protocol):
    def save(self, session: ChargingSession) -> SaveOutcome:
        """Store a session once; the same identity again is DUPLICATE and changes nothing."""
        ...

    def save_many(self, sessions: Sequence[ChargingSession]) -> list[SaveOutcome]:
        """`save` for each session, in order (a key repeated in the batch is a DUPLICATE), at
        the cost of far fewer writes. On an error, some may be stored: save the batch again."""
        ...

    def get(self, key: SessionKey) -> ChargingSession | None: ...

    def list_sessions(self, query: SessionQuery) -> SessionPage:
        """Newest first by end time, for the fleet, a charger or a connector, in a window."""
        ...

    def totals(
        self, charger_id: str | None, bucket: Bucket, first: str, last: str
    ) -> list[BucketTotals]:
        """Buckets from `first` to `last` (inclusive, as bucket_start gives them) that have data."""
        ...

    def chargers(self, limit: int, after: str | None) -> tuple[list[ChargerSummary], str | None]:
        """Chargers in id order with their connectors, and the id to continue after."""
        ...

    def ping(self) -> None:
        """Raise StorageUnavailable when the store cannot serve requests."""
        ...


def _newest_first(sessions: Iterable[ChargingSession]) -> list[ChargingSession]:
    return sorted(sessions, key=lambda s: (s.ended_at, s.key), reverse=True)


class InMemorySessionStore:
    """Dicts behind the port, computing at read time what DynamoDB keeps at write time."""

    def __init__(self) -> None:
        self.sessions: dict[SessionKey, ChargingSession] = {}

    def save(self, session: ChargingSession) -> SaveOutcome:
        if session.key in self.sessions:
            return SaveOutcome.DUPLICATE
        self.sessions[session.key] = session
        return SaveOutcome.STORED

    def save_many(self, sessions: Sequence[ChargingSession]) -> list[SaveOutcome]:
        return [self.save(session) for session in sessions]

    def get(self, key: SessionKey) -> ChargingSession | None:
        return self.sessions.get(key)

    def list_sessions(self, query: SessionQuery) -> SessionPage:
        chosen = _newest_first(
            s
            for s in self.sessions.values()
            if query.charger_id in (None, s.key.charger_id)
            and query.connector_id in (None, s.key.connector_id)
            and (query.start is None or s.ended_at >= query.start)
            and (query.end is None or s.ended_at < query.end)
        )
        if query.after is not None:
            marker = (query.after["ended_at"], query.after["key"])
            chosen = [s for s in chosen if (format_time(s.ended_at), s.key.topic) < marker]
        page = chosen[: query.limit]
        more = len(chosen) > query.limit
        last = page[-1] if page else None
        position = (
            {"ended_at": format_time(last.ended_at), "key": last.key.topic}
            if more and last
            else None
        )
        return SessionPage(page, position)

    def totals(
        self, charger_id: str | None, bucket: Bucket, first: str, last: str
    ) -> list[BucketTotals]:
        found: dict[str, Totals] = {}
        for session in self.sessions.values():
            start = bucket_start(session.ended_at, bucket)
            if charger_id in (None, session.key.charger_id) and first <= start <= last:
                found[start] = found.get(start, Totals()).add(Totals.of(session))
        return [BucketTotals(start, totals) for start, totals in sorted(found.items())]

    def chargers(self, limit: int, after: str | None) -> tuple[list[ChargerSummary], str | None]:
        summaries: dict[str, ChargerSummary] = {}
        for session in sorted(self.sessions.values(), key=lambda s: s.ended_at):
            charger, connector = session.key.charger_id, session.key.connector_id
            ended = format_time(session.ended_at)
            summary = summaries.get(charger, ChargerSummary(charger, Totals(), None))
            connectors = {c.connector_id: c for c in summary.connectors}
            previous = connectors.get(connector, ConnectorSummary(connector, Totals(), None))
            connectors[connector] = ConnectorSummary(
                connector, previous.totals.add(Totals.of(session)), ended
            )
            summaries[charger] = replace(
                summary,
                totals=summary.totals.add(Totals.of(session)),
                last_ended_at=ended,
                connectors=sorted(connectors.values(), key=lambda c: c.connector_id),
            )
        ordered = [summaries[c] for c in sorted(summaries) if after is None or c > after]
        page = ordered[:limit]
        return page, (page[-1].charger_id if len(ordered) > limit else None)

    def ping(self) -> None:
        return None
