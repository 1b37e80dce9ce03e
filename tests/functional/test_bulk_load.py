"""The benchmarks' bulk loader writes the table the listener would have written.

bench-api and bench-burst measure reads against items loaded with BatchWriteItem, not through the
pipeline; their figures mean something only if those items are the listener's. GIVEN the same
sessions WHEN saved by the store (the listener's transactions) into one table and bulk-loaded into
another THEN every session item and every charger item is the same, the month markers are the
same, and the fleet's totals add up to the same per bucket (the listener draws a totals shard per
transaction, the loader uses the charger's: any spread sums the same, and readers sum them all).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from evsessions.dynamodb.fan_out import in_order
from evsessions.dynamodb.items import plain
from evsessions.dynamodb.keys import FLEET_TOTALS
from evsessions.dynamodb.store import DynamoDbSessionStore
from harness.bulk_load import Aggregates, BatchWriter, SyntheticFleet, load
from tests.functional.conftest import REGION, create_sessions_table

SAMPLE = 120


def _items(client: Any, table: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("scan").paginate(TableName=table)
    return [plain(item) for page in pages for item in page["Items"]]


def _split(items: list[dict[str, Any]]) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Items keyed by (pk, sk), fleet totals apart: those summed per (bucket, attribute)."""
    exact: dict[Any, Any] = {}
    totals: dict[Any, Decimal] = defaultdict(Decimal)
    for item in items:
        if item["pk"].startswith(FLEET_TOTALS + "#"):
            for name, value in item.items():
                if name not in ("pk", "sk"):
                    totals[(item["sk"], name)] += Decimal(value)
        else:
            exact[(item["pk"], item["sk"])] = item
    return exact, dict(totals)


def test_the_bulk_loader_writes_what_the_listener_writes(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a sample of the benchmark's synthetic fleet, dense enough that chargers and buckets
    # hold several sessions
    fleet = SyntheticFleet(end=datetime(2026, 11, 30, tzinfo=UTC), chargers=6, days=2, seed=3)
    sessions = [fleet.session(index) for index in range(SAMPLE)]
    client = boto3.client("dynamodb", region_name=REGION)
    by_listener = create_sessions_table(monkeypatch, "ByListener")
    bulk = create_sessions_table(monkeypatch, "Bulk")
    # WHEN the store saves them in listener-sized batches, and the loader loads them
    store = DynamoDbSessionStore(by_listener, client, fan_out=in_order)
    for start in range(0, SAMPLE, 40):
        store.save_many(sessions[start : start + 40])
    load(fleet, Aggregates(), BatchWriter(bulk, [client]), 0, SAMPLE)
    # THEN the tables hold the same items, the fleet's totals summed over their shards
    listener_exact, listener_totals = _split(_items(client, by_listener))
    bulk_exact, bulk_totals = _split(_items(client, bulk))
    assert len(listener_exact) > SAMPLE  # sessions, chargers and months, not only sessions
    assert bulk_exact == listener_exact
    assert bulk_totals == listener_totals
