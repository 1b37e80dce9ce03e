"""The charger registry as its readers see it: each answer reused for at most a bound.

The OCPP authorizer asks about one charger per connection, the publisher lists the fleet every
tick, the local broker's identities are rebuilt from the list: none of them should cost a
DynamoDB read each time, and none may act on a stale answer for longer than
REGISTRY_CACHE_SECONDS. So a charger added or retired through the API is seen by every reader
within that bound, without a restart; a bound of 0 reads every time.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from botocore.config import Config

from evsessions.aws_clients import aws_client
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.registry import ChargerRecord, ChargerRegistry
from evsessions.settings import Settings

MAX_CACHED_CHARGERS = 10_000
"""Answers kept per process: unknown ids a caller invents must not grow the cache for ever."""


class CachedRegistry:
    """Reads through to `registry`, keeping each answer (a missing charger too) for
    `bound_seconds` of `monotonic` time. Writes go straight through and forget the charger."""

    def __init__(
        self,
        registry: ChargerRegistry,
        bound_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.bound_seconds = bound_seconds
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._one: dict[str, tuple[float, ChargerRecord | None]] = {}
        self._all: tuple[float, list[ChargerRecord]] | None = None

    def _fresh(self, read_at: float) -> bool:
        return self.monotonic() - read_at < self.bound_seconds

    def get(self, charger_id: str) -> ChargerRecord | None:
        with self._lock:
            kept = self._one.get(charger_id)
        if kept is not None and self._fresh(kept[0]):
            return kept[1]
        read_at = self.monotonic()
        record = self.registry.get(charger_id)
        with self._lock:
            if len(self._one) >= MAX_CACHED_CHARGERS:
                self._one.clear()
            self._one[charger_id] = (read_at, record)
        return record

    def records(self) -> list[ChargerRecord]:
        with self._lock:
            kept = self._all
        if kept is not None and self._fresh(kept[0]):
            return list(kept[1])
        read_at = self.monotonic()
        records = self.registry.records()
        with self._lock:
            self._all = (read_at, records)
        return list(records)

    def put(self, record: ChargerRecord) -> ChargerRecord:
        stamped = self.registry.put(record)
        self._forget(record.charger_id)
        return stamped

    def put_if_absent(self, record: ChargerRecord) -> bool:
        written = self.registry.put_if_absent(record)
        self._forget(record.charger_id)
        return written

    def _forget(self, charger_id: str) -> None:
        with self._lock:
            self._one.pop(charger_id, None)
            self._all = None


@functools.lru_cache(maxsize=4)
def cached_registry(settings: Settings) -> CachedRegistry:
    """One registry reader per configuration, created on first use (never at import): its
    cache outlives an invocation, as a warm Lambda container's module state does. It needs
    only botocore's DynamoDB client, not the session store's module (the authorizer's cold
    start imports this and nothing else of the storage)."""
    client = aws_client(
        "dynamodb",
        settings.aws_region,
        settings.dynamodb_endpoint_url,
        Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"}),
    )
    return CachedRegistry(
        DynamoDBChargerRegistry(settings.sessions_table, client), settings.registry_cache_seconds
    )
