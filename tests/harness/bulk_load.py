"""Bulk-load synthetic sessions into DynamoDB: the listener's items, written in batches.

A benchmark at a million sessions cannot wait for the pipeline (hundreds a second on DynamoDB
Local). This writes the very items the listener would write (the session item from
`dynamodb.items.session_item`; every aggregate of `counters`, with the counters its ADDs would sum
and the max end times it would keep), but with BatchWriteItem from several threads, and each
aggregate computed in memory and written once.
"""

from __future__ import annotations

import math
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from evsessions.contract import ChargingSession, SessionKey, format_time, parse_session
from evsessions.dynamodb.items import (
    COUNTER_FIELDS,
    counters,
    last_ended_fields,
    session_item,
    typed,
)
from evsessions.dynamodb.keys import month_marker
from evsessions.dynamodb.shards import shard_of
from evsessions.fleet import simulate_session
from evsessions.settings import Settings

BATCH_SIZE = 25
"""BatchWriteItem's limit of items per request."""


def _coprime_multiplier(rng: random.Random, modulus: int) -> int:
    """A multiplier that makes `i -> (a * i + b) % modulus` a permutation (gcd(a, modulus) = 1)."""
    for _ in range(10_000):
        candidate = rng.randrange(modulus // 3, modulus)
        if math.gcd(candidate, modulus) == 1:
            return candidate
    raise ValueError(f"no multiplier coprime with {modulus} found")


@dataclass(frozen=True)
class SyntheticFleet:
    """Session number i of a deterministic fleet history; any prefix is spread over the window.

    Slot (connector, minute) of session i is a fixed permutation of all slots, so identities
    never repeat (the session id is the tick's epoch second, as the publisher makes it), and the
    first 10,000 sessions cover the same chargers and days as the first million, only thinner.
    Loading 0..n and then n..m gives the same table as loading 0..m.
    """

    end: datetime
    """Sessions end at or before this moment (a whole minute, UTC)."""
    chargers: int = 2000
    connectors: int = 2
    days: int = 120
    seed: int = 1
    settings: Settings = field(default_factory=Settings)
    _multiplier: int = field(init=False, repr=False, compare=False)
    _offset: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        object.__setattr__(self, "_multiplier", _coprime_multiplier(rng, self.capacity))
        object.__setattr__(self, "_offset", rng.randrange(self.capacity))

    @property
    def slots(self) -> int:
        return self.chargers * self.connectors

    @property
    def capacity(self) -> int:
        """How many distinct sessions the window holds: one per connector per minute."""
        return self.slots * self.days * 24 * 60

    def _place(self, index: int) -> tuple[int, int, datetime]:
        if not 0 <= index < self.capacity:
            raise IndexError(f"session {index} is outside 0..{self.capacity - 1}")
        position = (self._multiplier * index + self._offset) % self.capacity
        slot, minute = position % self.slots, position // self.slots
        charger, connector = slot // self.connectors + 1, slot % self.connectors + 1
        return charger, connector, self.end - timedelta(minutes=minute)

    def key(self, index: int) -> SessionKey:
        """The identity of session `index`, without simulating it (for picking reads)."""
        charger, connector, scheduled = self._place(index)
        return SessionKey(str(charger), str(connector), str(int(scheduled.timestamp())))

    def session(self, index: int) -> ChargingSession:
        """Session `index`, parsed from its MQTT message plus the rule's fields, as the listener
        parses it."""
        charger, connector, scheduled = self._place(index)
        simulated = simulate_session(scheduled, charger, connector, self.settings)
        received_ms = int(scheduled.timestamp()) * 1000 + 20 + index % 977
        return parse_session(
            {**simulated.payload, "topic": simulated.key.topic, "received_at": received_ms}
        )


class Aggregates:
    """The aggregate items of every session added so far, kept in memory until written.

    Each item holds what the listener's ADDs would have summed, under each of its counter
    prefixes; CHARGERS items also the latest end times; and the month markers. `dirty_items`
    yields only the items changed since its last call, with their full values, so a second load
    on top of a first rewrites each changed item once.
    """

    def __init__(self) -> None:
        # (pk, sk) -> prefix -> [sessions, energy in Wh (exact: 3 decimals), cents, seconds]
        self._counters: dict[tuple[str, str], dict[str, list[int]]] = {}
        self._last_ended: dict[tuple[str, str], dict[str, str]] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._months: set[str] = set()
        self._new_months: set[str] = set()

    def __len__(self) -> int:
        return len(self._counters)

    def add(self, session: ChargingSession) -> None:
        wh = int(session.energy_delivered_in_kWh * 1000)
        month = format_time(session.ended_at)[:7]
        if month not in self._months:
            self._months.add(month)
            self._new_months.add(month)
        # the listener's transactions add to a shard drawn each time; any spread sums the same
        for counter in counters(session, shard_of(session.key.charger_id)):
            pair = (counter.pk, counter.sk)
            item = self._counters.setdefault(pair, {})
            sums = item.setdefault(counter.prefix, [0, 0, 0, 0])
            sums[0] += 1
            sums[1] += wh
            sums[2] += session.session_cost_in_cents
            sums[3] += session.duration_in_seconds
            self._dirty.add(pair)
        ended = format_time(session.ended_at)
        for pk, sk, attribute in last_ended_fields(session):
            latest = self._last_ended.setdefault((pk, sk), {})
            latest[attribute] = max(latest.get(attribute, ended), ended)

    def sessions(self, pk: str, first_sk: str, last_sk: str) -> int:
        """Sessions counted in the items of `pk` with sk from first_sk to last_sk (inclusive)."""
        return sum(
            item[""][0]
            for (item_pk, sk), item in self._counters.items()
            if item_pk == pk and first_sk <= sk <= last_sk
        )

    def dirty_items(self) -> Iterator[dict[str, Any]]:
        """Plain items changed since the last call; each is yielded once."""
        dirty, self._dirty = self._dirty, set()
        new_months, self._new_months = self._new_months, set()
        for month in sorted(new_months):
            yield month_marker(month)
        for pair in sorted(dirty):
            item: dict[str, Any] = {"pk": pair[0], "sk": pair[1]}
            for prefix, (sessions, wh, cents, seconds) in self._counters[pair].items():
                values = (sessions, Decimal(wh).scaleb(-3), cents, seconds)
                item.update(zip((prefix + f for f in COUNTER_FIELDS), values, strict=True))
            item.update(self._last_ended.get(pair, {}))
            yield item


class BatchWriter:
    """Typed items to one table through BatchWriteItem, 25 a request, one client per thread.

    UnprocessedItems are retried with capped exponential backoff and jitter (DynamoDB Local never
    throttles, AWS does). A failure in any thread stops the load: the next `put` or `close`
    raises it. The queue is bounded, so the producer cannot run ahead of the writers.
    """

    def __init__(
        self,
        table: str,
        clients: Sequence[Any],
        *,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not clients:
            raise ValueError("BatchWriter needs at least one client")
        self.table = table
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.written = 0
        self.retried_batches = 0
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(4 * len(clients))
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._run, args=(c,), name=f"batch-writer-{n}", daemon=True)
            for n, c in enumerate(clients)
        ]
        for thread in self._threads:
            thread.start()

    def put(self, item: dict[str, Any]) -> None:
        """Queue one typed item; it is sent when 25 are pending."""
        self._pending.append(item)
        if len(self._pending) == BATCH_SIZE:
            self._send()

    def _send(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"a batch write failed: {self._error}") from self._error
        if self._pending:
            self._queue.put(self._pending)
            self._pending = []

    def close(self) -> None:
        """Send what is pending, wait for every writer, and raise the first failure."""
        try:
            self._send()
        finally:
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join()
        if self._error is not None:
            raise RuntimeError(f"a batch write failed: {self._error}") from self._error

    def _run(self, client: Any) -> None:
        for batch in iter(self._queue.get, None):
            if self._error is not None:
                continue  # drain, so the producer never blocks on a full queue
            try:
                self._write(client, batch)
            except BaseException as error:  # handed to the producer, which raises it
                self._error = error

    def _write(self, client: Any, batch: list[dict[str, Any]]) -> None:
        requests = {self.table: [{"PutRequest": {"Item": item}} for item in batch]}
        for attempt in range(self.max_attempts):
            response = client.batch_write_item(RequestItems=requests)
            unprocessed = response.get("UnprocessedItems") or {}
            left = sum(len(entries) for entries in unprocessed.values())
            with self._lock:
                self.written += sum(len(entries) for entries in requests.values()) - left
                self.retried_batches += 1 if left else 0
            if not left:
                return
            requests = unprocessed
            self.sleep(min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
        raise RuntimeError(f"{left} items still unprocessed after {self.max_attempts} attempts")


@dataclass(frozen=True)
class LoadResult:
    sessions: int
    aggregate_items: int
    seconds: float

    @property
    def items(self) -> int:
        return self.sessions + self.aggregate_items

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


def load(
    fleet: SyntheticFleet,
    aggregates: Aggregates,
    writer: BatchWriter,
    first: int,
    stop: int,
    progress: Callable[[int, int, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    every: float = 2.0,
) -> LoadResult:
    """Write sessions first..stop-1, then the aggregates they changed (with their full totals).

    Closes `writer`. About every `every` seconds, `progress(items_written, sessions_made,
    seconds)` tells how far it got (aggregates are written after the last session is made).
    """
    started = last_report = clock()
    written_before = writer.written
    sessions = changed = 0

    def report(force: bool = False) -> None:
        nonlocal last_report
        now = clock()
        if progress is not None and (force or now - last_report >= every):
            last_report = now
            progress(writer.written - written_before, sessions, now - started)

    try:
        for index in range(first, stop):
            session = fleet.session(index)
            aggregates.add(session)
            writer.put(typed(session_item(session)))
            sessions += 1
            if sessions % 500 == 0:
                report()
        for item in aggregates.dirty_items():
            writer.put(typed(item))
            changed += 1
            if changed % 500 == 0:
                report()
    finally:
        writer.close()
    report(force=True)
    return LoadResult(sessions, changed, clock() - started)


def window_end(now: datetime | None = None) -> datetime:
    """The current whole minute in UTC: where a synthetic history ends."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(second=0, microsecond=0)
