"""The storage port: what the handlers and the API need from a session store.

Two adapters keep the same semantics: `dynamodb.store` (deployed and local) and the in-memory one
below (unit tests, examples). A duplicate (a stored identity with the same content) is a success
that changes nothing; the same identity with other content is another session (the charger reused
its session id) and is stored as the identity's next occurrence. The aggregates behind totals and
charger summaries count each session exactly once.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from evsessions.contract import ChargingSession, SessionKey, format_time
from evsessions.errors import PipelineError
from evsessions.integrity import Billed, Resolution, Verdict

Bucket = Literal["hour", "day"]
Position = dict[str, str]
"""Where a listing stopped: the adapter's own resume point (the API signs it into a cursor)."""


class SaveOutcome(enum.Enum):
    STORED = "stored"
    REUSED = "reused"
    """Stored as a later occurrence of an identity that holds other content: a reused id."""
    DUPLICATE = "duplicate"


def rounds(sessions: Sequence[ChargingSession]) -> list[list[ChargingSession]]:
    """The distinct (identity, content) of a batch, each identity once a round: round i holds
    the i-th content sent under each identity, so later contents find the earlier ones stored."""
    found: list[list[ChargingSession]] = []
    contents: dict[SessionKey, list[tuple[object, ...]]] = {}
    for session in sessions:
        seen = contents.setdefault(session.key, [])
        if session.content in seen:
            continue
        if len(seen) == len(found):
            found.append([])
        found[len(seen)].append(session)
        seen.append(session.content)
    return found


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
    verdict: Verdict | None = None
    """Only sessions judged so on arrival (whatever an operator decided since)."""
    open_review: bool = False
    """Only suspect sessions no operator has resolved yet, fleet-wide (no other filter)."""


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

    def negated(self) -> Totals:
        return Totals(-self.sessions, -self.energy_kwh, -self.cost_cents, -self.duration_seconds)

    @classmethod
    def of(cls, session: ChargingSession) -> Totals:
        return cls.billing(session.billed)

    @classmethod
    def billing(cls, billed: Billed) -> Totals:
        return cls(1, billed.energy_kwh, billed.cost_cents, billed.duration_seconds)


@dataclass(frozen=True)
class BucketTotals:
    start: str
    totals: Totals
    """Revenue: clean sessions and suspect ones an operator accepted or corrected."""
    suspect: Totals = Totals()
    """Suspect sessions not resolved yet: counted apart, never in revenue."""


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
    suspect: Totals = Totals()


class ResolutionRefused(PipelineError):
    """A resolution that cannot be made: the session is clean, or already resolved (`session`
    holds it as it is)."""

    def __init__(self, problem: str, session: ChargingSession) -> None:
        super().__init__(problem)
        self.session = session


def resolved(
    session: ChargingSession, resolution: Resolution, corrected: Billed | None
) -> ChargingSession:
    """The session after an operator's decision; refused when there is nothing to decide."""
    if session.verdict == "clean":
        raise ResolutionRefused("the session is clean: there is nothing to resolve", session)
    if session.resolution is not None:
        raise ResolutionRefused(
            f"the session was already resolved ({session.resolution.action})", session
        )
    if resolution.action != "correct":
        return replace(session, resolution=resolution)
    assert corrected is not None, "a correction carries the values to bill"
    return replace(
        session,
        resolution=replace(resolution, original=session.billed),
        energy_delivered_in_kWh=corrected.energy_kwh,
        duration_in_seconds=corrected.duration_seconds,
        session_cost_in_cents=corrected.cost_cents,
    )


@dataclass(frozen=True)
class FleetCounts:
    """The fleet's counters the health check shows."""

    reused_session_ids: int
    """How many sessions were stored under an identity that already held another one."""
    open_suspects: int
    """How many suspect sessions wait for an operator's decision."""


class SessionStore(Protocol):
    def save(self, session: ChargingSession) -> SaveOutcome:
        """Store a session once: the same identity with content already stored is DUPLICATE and
        changes nothing; with other content it is REUSED, stored as the next occurrence."""
        ...

    def save_many(self, sessions: Sequence[ChargingSession]) -> list[SaveOutcome]:
        """`save` for each session, in order (a repeat within the batch is a DUPLICATE), at the
        cost of far fewer writes. On an error, some may be stored: save the batch again."""
        ...

    def get(self, key: SessionKey, occurrence: int = 1) -> ChargingSession | None: ...

    def resolve(
        self,
        key: SessionKey,
        occurrence: int,
        resolution: Resolution,
        corrected: Billed | None = None,
    ) -> ChargingSession | None:
        """Record an operator's decision on a suspect session, exactly once, moving it from the
        suspect totals to revenue (accept, correct) or out of both (void). None when there is no
        such session; ResolutionRefused when it is clean or already resolved."""
        ...

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

    def fleet_counts(self) -> FleetCounts:
        """Both fleet counts in one read; raises StorageUnavailable when the store cannot serve
        requests, so the health check needs no other call."""
        ...


def _newest_first(sessions: Iterable[ChargingSession]) -> list[ChargingSession]:
    return sorted(sessions, key=lambda s: (s.ended_at, s.key, s.occurrence), reverse=True)


class InMemorySessionStore:
    """Dicts behind the port, computing at read time what DynamoDB keeps at write time."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[SessionKey, int], ChargingSession] = {}
        """(identity, occurrence) -> session."""
        self._occurrences: dict[SessionKey, int] = {}

    def save(self, session: ChargingSession) -> SaveOutcome:
        count = self._occurrences.get(session.key, 0)
        for occurrence in range(1, count + 1):
            if self.sessions[(session.key, occurrence)].content == session.content:
                return SaveOutcome.DUPLICATE
        self._occurrences[session.key] = count + 1
        self.sessions[(session.key, count + 1)] = replace(session, occurrence=count + 1)
        return SaveOutcome.STORED if count == 0 else SaveOutcome.REUSED

    def save_many(self, sessions: Sequence[ChargingSession]) -> list[SaveOutcome]:
        return [self.save(session) for session in sessions]

    def get(self, key: SessionKey, occurrence: int = 1) -> ChargingSession | None:
        return self.sessions.get((key, occurrence))

    def resolve(
        self,
        key: SessionKey,
        occurrence: int,
        resolution: Resolution,
        corrected: Billed | None = None,
    ) -> ChargingSession | None:
        session = self.sessions.get((key, occurrence))
        if session is None:
            return None
        after = resolved(session, resolution, corrected)
        self.sessions[(key, occurrence)] = after
        return after

    def list_sessions(self, query: SessionQuery) -> SessionPage:
        chosen = _newest_first(
            s
            for s in self.sessions.values()
            if query.charger_id in (None, s.key.charger_id)
            and query.connector_id in (None, s.key.connector_id)
            and (query.start is None or s.ended_at >= query.start)
            and (query.end is None or s.ended_at < query.end)
            and query.verdict in (None, s.verdict)
            and (not query.open_review or s.counts_as == "suspect")
        )
        if query.after is not None:
            after = query.after
            key = SessionKey(*after["key"].split("/")[1::2])
            marker = (after["ended_at"], key, int(after.get("occurrence", "1")))
            chosen = [s for s in chosen if (format_time(s.ended_at), s.key, s.occurrence) < marker]
        page = chosen[: query.limit]
        more = len(chosen) > query.limit
        last = page[-1] if page else None
        position = (
            {
                "ended_at": format_time(last.ended_at),
                "key": last.key.topic,
                "occurrence": str(last.occurrence),
            }
            if more and last
            else None
        )
        return SessionPage(page, position)

    def totals(
        self, charger_id: str | None, bucket: Bucket, first: str, last: str
    ) -> list[BucketTotals]:
        found: dict[str, dict[str, Totals]] = {}
        for session in self.sessions.values():
            start = bucket_start(session.ended_at, bucket)
            if charger_id in (None, session.key.charger_id) and first <= start <= last:
                kinds = found.setdefault(start, {})
                kind = session.counts_as
                kinds[kind] = kinds.get(kind, Totals()).add(Totals.of(session))
        return [
            BucketTotals(start, kinds.get("clean", Totals()), kinds.get("suspect", Totals()))
            for start, kinds in sorted(found.items())
        ]

    def chargers(self, limit: int, after: str | None) -> tuple[list[ChargerSummary], str | None]:
        summaries: dict[str, ChargerSummary] = {}
        for session in sorted(self.sessions.values(), key=lambda s: s.ended_at):
            charger, connector = session.key.charger_id, session.key.connector_id
            ended = format_time(session.ended_at)
            summary = summaries.get(charger, ChargerSummary(charger, Totals(), None))
            connectors = {c.connector_id: c for c in summary.connectors}
            previous = connectors.get(connector, ConnectorSummary(connector, Totals(), None))
            kind = session.counts_as
            adds = Totals.of(session) if kind == "clean" else Totals()
            connectors[connector] = ConnectorSummary(connector, previous.totals.add(adds), ended)
            summaries[charger] = replace(
                summary,
                totals=summary.totals.add(adds),
                suspect=summary.suspect.add(Totals.of(session) if kind == "suspect" else Totals()),
                last_ended_at=ended,
                connectors=sorted(connectors.values(), key=lambda c: c.connector_id),
            )
        ordered = [summaries[c] for c in sorted(summaries) if after is None or c > after]
        page = ordered[:limit]
        return page, (page[-1].charger_id if len(ordered) > limit else None)

    def fleet_counts(self) -> FleetCounts:
        return FleetCounts(
            reused_session_ids=sum(1 for _, occurrence in self.sessions if occurrence > 1),
            open_suspects=sum(1 for s in self.sessions.values() if s.counts_as == "suspect"),
        )
