"""Listener batches in flight together against the real DynamoDB Local, with conflicts.

DynamoDB Local serialises concurrent transactions where DynamoDB cancels one of them with
`TransactionConflict`; `ConflictingClient` brings that behaviour back (see its docstring), and
makes the batches' first transactions meet, so the overlap is forced, never left to timing."""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from evsessions.contract import ChargingSession, SessionKey
from evsessions.dynamodb.backoff import ConflictBackoff
from evsessions.dynamodb.shards import SHARDS
from evsessions.dynamodb.store import DynamoDbSessionStore, cached_store
from evsessions.storage import SaveOutcome, Totals
from harness.dynamodb_conflicts import ConflictingClient
from local_runner.system import LocalSystem

DAY = datetime(2024, 3, 5, tzinfo=UTC)
BATCHES = 8
PER_BATCH = 60


def batch(number: int) -> list[ChargingSession]:
    """Sessions of chargers of their own on one day of this test's own: every batch shares the
    fleet's hour, day and month items with every other."""
    return [
        ChargingSession(
            key=SessionKey(f"conflict-{number}-{i % 7}", str(i % 2 + 1), f"{number}-{i}"),
            session_id=f"{number}-{i}",
            energy_delivered_in_kWh=Decimal(i % 40) + Decimal("0.125"),
            duration_in_seconds=60 + i,
            session_cost_in_cents=100 + i,
            ended_at=DAY + timedelta(minutes=i),
            ended_at_source="payload",
            received_at=None,
        )
        for i in range(PER_BATCH)
    ]


def first_draws_on_one_shard(draws: int) -> Callable[[], int]:
    """A fleet shard drawer whose first `draws` draws are shard 0, then any shard: the batches'
    first transactions all add to the same fleet items, and a retry moves away as it does in
    production."""
    counted = itertools.count()
    lock = threading.Lock()

    def draw() -> int:
        with lock:
            drawn = next(counted)
        return 0 if drawn < draws else random.randrange(SHARDS)

    return draw


def test_batches_in_flight_together_conflict_retry_and_count_exactly(
    local_system: LocalSystem,
) -> None:
    # GIVEN a store whose client cancels concurrent transactions on one item, as DynamoDB does,
    # and holds the batches' first transactions until all eight met, on one fleet shard's items
    with local_system.invoked_as("ListenerFunction") as settings:
        base = cached_store(settings)
    conflicting = ConflictingClient(base.client, meeting=BATCHES)
    # (a generous budget: on this shared 2-core machine a transaction can take a second)
    backoff = ConflictBackoff(budget_seconds=300.0)
    store = DynamoDbSessionStore(
        base.table,
        conflicting,  # type: ignore[arg-type]
        backoff=backoff,
        fleet_shard=first_draws_on_one_shard(BATCHES),
    )
    batches = [batch(n) for n in range(BATCHES)]
    # WHEN eight batches are saved at once, and then all of them again (a redelivery)
    with ThreadPoolExecutor(BATCHES) as pool:
        first = list(pool.map(store.save_many, batches))
        again = list(pool.map(store.save_many, batches))
    # THEN of the eight that met, one went through and seven were cancelled, and every
    # cancelled transaction was tried again rather than failing a batch
    counts = store.counts.snapshot()
    assert conflicting.conflicts >= BATCHES - 1
    assert counts.conflict_retries == conflicting.conflicts
    assert counts.cancelled["TransactionConflict"] == conflicting.conflicts
    # AND every session was stored once, and the second delivery counted nothing
    assert all(outcome is SaveOutcome.STORED for outcomes in first for outcome in outcomes)
    assert all(outcome is SaveOutcome.DUPLICATE for outcomes in again for outcome in outcomes)
    # AND the fleet's day totals are exactly the sum of the sessions
    expected = Totals()
    for session in (s for b in batches for s in b):
        expected = expected.add(Totals.of(session))
    [day] = store.totals(None, "day", "2024-03-05", "2024-03-05")
    assert day.totals == expected
