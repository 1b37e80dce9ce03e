"""Capacity model: which DynamoDB partition or AWS limit a fleet of a given size hits first.

    .venv/bin/python scripts/capacity.py --chargers 1000000 [--sessions-per-day 20] [--peak 10]
    .venv/bin/python scripts/capacity.py --docs-table

Why: on one machine the pipeline runs at DynamoDB Local's speed; deployed, it meets DynamoDB's
per-partition limits long before AWS's account limits. This model derives every partition-key
value the pipeline writes from the code itself, not from a hand copy: it plans one second of the
fleet's peak with the store's own planner (`dynamodb.planning.pack` and `plan`), reads each
transaction item's table key and, for every index template.yaml declares, the item's index key,
and adds up write units per partition-key value (2 a KB for a transactional write on the table,
1 a KB on each index the item appears in: see scripts/item_units.py). It prints, per kind of
key, the hottest value's peak write units/s against the 1,000 a second one partition takes,
the AWS service limits, and the first limit the fleet hits (a fleet-wide load at x% of its
limit is hit at 100/x times the fleet; a key of one charger does not grow with the fleet, and
transactions grow in size with it, so those are judged at the size asked for).

Assumptions, named and overridable: sessions arrive evenly over the peak second; the listener
takes them in batches of the template's BatchSize; a transaction takes `--transaction-ms` on
AWS, so one listener batch stores (sessions a transaction) / (that time) a second, and one item
can take at most 1,000 / `--transaction-ms` transactions a second before they queue or conflict.
Aggregate items are sized by what a transaction writes to them, not by what they already hold.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from item_units import indexes, item_size, write_units

from evsessions.contract import ChargingSession, SessionKey
from evsessions.dynamodb.items import plain
from evsessions.dynamodb.planning import pack, plan
from evsessions.dynamodb.shards import SHARDS
from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[1]

PARTITION_WRITE_UNITS = 1000
"""DynamoDB: write units a second one partition (one partition-key value) takes."""
IOT_INBOUND_PUBLISHES = 20_000
IOT_RULE_EXECUTIONS = 20_000
SQS_LAMBDA_MAX_CONCURRENCY = 1000
"""SQS event source's MaximumConcurrency: 2 to 1,000."""
DOCS_FLEETS = (1_000, 10_000, 100_000, 1_000_000)
PEAK_MOMENT = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Limit:
    name: str
    scope: str
    peak: float
    limit: float
    unit: str
    kind: str
    """'design' (ours to change), 'quota' (adjustable by AWS), 'hard' (not adjustable)."""
    grows_with_fleet: bool = True
    """The load is proportional to the fleet, so its limit is hit at 100/use % of this fleet;
    otherwise (one charger's keys; transactions, whose size grows with the fleet) it is judged
    at this size only."""

    @property
    def use(self) -> float:
        return self.peak / self.limit

    def hit_at(self, chargers: int) -> float:
        """Chargers at which the load reaches the limit (inf if it never does)."""
        if not self.grows_with_fleet:
            return 0.0 if self.use >= 1 else math.inf
        return chargers / self.use if self.use else math.inf


def label(value: str) -> str:
    """A partition-key value as its kind: ids and times replaced by what they stand for."""
    value = re.sub(r"CP\d{7}", "{charger}", value)
    value = re.sub(r"^CONNECTOR#\{charger\}#\d+$", "CONNECTOR#{charger}#{connector}", value)
    value = re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}", "{hour}", value)
    value = re.sub(r"\d{4}-\d{2}-\d{2}", "{day}", value)
    value = re.sub(r"\d{4}-\d{2}", "{month}", value)
    return re.sub(r"(?<=#)\d{1,3}$", "{shard}", value)


def peak_second(chargers: int, per_day: float, peak: float, seed: int) -> list[ChargingSession]:
    """The sessions of one peak second, from chargers drawn at random from the fleet."""
    rate = chargers * per_day * peak / 86_400
    count = max(1, round(rate))
    rng = random.Random(seed)
    sessions = []
    for n in range(count):
        charger = f"CP{rng.randrange(chargers):07d}"
        ended = PEAK_MOMENT + timedelta(milliseconds=rng.randrange(1000))
        sessions.append(
            ChargingSession(
                key=SessionKey(charger, str(1 + n % 2), str(1_764_000_000 + n)),
                session_id=1_764_000_000 + n,
                energy_delivered_in_kWh=Decimal("31.417"),
                duration_in_seconds=5400,
                session_cost_in_cents=1893,
                ended_at=ended,
                ended_at_source="payload",
                received_at=ended + timedelta(milliseconds=350),
            )
        )
    return sessions


def listener_trigger(template_path: Path) -> Any:
    template = load_template(template_path)
    [queue] = [q for f in template.functions.values() for q in f.queues]
    return queue


@dataclass
class Model:
    chargers: int
    rate: float
    partitions: dict[tuple[str, str], Counter[str]]
    """(table or index, key kind) -> hottest values' write units in the peak second."""
    item_transactions: float
    sessions_per_transaction: float
    limits: list[Limit]
    units_per_session: float
    """Write units a session at this fleet's peak: table and indexes, aggregates included."""

    def first_hit(self) -> Limit:
        return min(self.limits, key=lambda limit: limit.hit_at(self.chargers))


def model(
    chargers: int,
    per_day: float,
    peak: float,
    transaction_ms: float = 30.0,
    template_path: Path = ROOT / "template.yaml",
    seed: int = 1,
) -> Model:
    rate = chargers * per_day * peak / 86_400
    sessions = peak_second(chargers, per_day, peak, seed)
    scale = rate / len(sessions)  # below one session a second, one stands for the fraction
    trigger = listener_trigger(template_path)
    index_list = indexes(template_path)
    units: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    touches: Counter[tuple[str, str]] = Counter()
    transactions = 0
    for start in range(0, len(sessions), trigger.batch_size):
        for group in pack(sessions[start : start + trigger.batch_size]):
            # the store draws each transaction's fleet shard at random: here, in turn
            planned = plan("Sessions", group, {}, {}, transactions % SHARDS)
            transactions += 1
            for action in planned.items:
                [(kind, body)] = action.items()
                item = plain(body["Item"] if kind == "Put" else body["Key"])
                if kind == "Update":
                    item.update(plain(body.get("ExpressionAttributeValues", {})))
                touches[(item["pk"], item["sk"])] += 1
                size = item_size(item)
                units[("table", label(item["pk"]))][item["pk"]] += write_units(size)
                for index in index_list:
                    projected = index.projected(item)
                    if projected is not None:
                        value = str(item[index.partition])
                        units[(index.name, label(value))][value] += write_units(
                            item_size(projected), transactional=False
                        )
    per_transaction = len(sessions) / transactions
    limits = []
    for (where, kind), values in sorted(units.items()):
        hottest = max(values.values()) * scale
        limits.append(
            Limit(
                f"{where}: partition `{kind}`",
                f"{len(values):,} value(s) written in the peak second",
                hottest,
                PARTITION_WRITE_UNITS,
                "write units/s",
                "design",
                "{charger}" not in kind,
            )
        )
    hottest_item = max(touches.values()) * scale
    limits += [
        Limit(
            "one item: transactions/s (serial at "
            f"{transaction_ms:.0f} ms each; more conflict or queue)",
            "the most written item",
            hottest_item,
            1000 / transaction_ms,
            "transactions/s",
            "design",
            grows_with_fleet=False,
        ),
        Limit(
            "listener batches in flight needed (template MaximumConcurrency)",
            f"{per_transaction:.0f} sessions a transaction",
            rate / (per_transaction * 1000 / transaction_ms),
            trigger.max_concurrency,
            "batches",
            "design",
            grows_with_fleet=False,
        ),
        Limit(
            "SQS -> Lambda MaximumConcurrency ceiling",
            "per event source",
            rate / (per_transaction * 1000 / transaction_ms),
            SQS_LAMBDA_MAX_CONCURRENCY,
            "batches",
            "hard",
            grows_with_fleet=False,
        ),
        Limit(
            "IoT Core inbound publishes/s (account)",
            "one a session",
            rate,
            IOT_INBOUND_PUBLISHES,
            "publishes/s",
            "quota",
        ),
        Limit(
            "IoT Core rule executions/s (account)",
            "one a session",
            rate,
            IOT_RULE_EXECUTIONS,
            "executions/s",
            "quota",
        ),
    ]
    total = sum(sum(values.values()) for values in units.values())
    return Model(
        chargers, rate, units, hottest_item, per_transaction, limits, total / len(sessions)
    )


def _fleet(value: float) -> str:
    if math.isinf(value):
        return "never"
    if value == 0:
        return "any size"
    return f"{value:,.0f}"


def report(result: Model) -> str:
    lines = [
        f"{result.chargers:,} chargers: peak {result.rate:,.1f} sessions/s, "
        f"{result.sessions_per_transaction:.0f} sessions a transaction, "
        f"{result.units_per_session:.2f} write units a session",
        "",
        "| limit | scope | peak | limit | use | kind | hit at chargers |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for limit in sorted(result.limits, key=lambda x: x.hit_at(result.chargers)):
        lines.append(
            f"| {limit.name} | {limit.scope} | {limit.peak:,.1f} {limit.unit} | "
            f"{limit.limit:,.0f} | {limit.use:.1%} | {limit.kind} | "
            f"{_fleet(limit.hit_at(result.chargers))} |"
        )
    first = result.first_hit()
    lines += [
        "",
        f"First limit hit: {first.name} ({first.kind}), at "
        f"{_fleet(first.hit_at(result.chargers))} chargers.",
    ]
    return "\n".join(lines)


def docs_table(per_day: float = 20, peak: float = 10) -> str:
    """The table of docs/pages/performance.md: one row a fleet size."""
    lines = [
        "| chargers | peak sessions/s | hottest partition (write units/s, limit "
        f"{PARTITION_WRITE_UNITS:,}) | hottest item (transactions/s) "
        "| first limit hit (kind) | at chargers (linear from this size) |",
        "|---:|---:|---|---:|---|---:|",
    ]
    for chargers in DOCS_FLEETS:
        result = model(chargers, per_day, peak)
        partitions = [x for x in result.limits if x.unit == "write units/s"]
        hottest = max(partitions, key=lambda x: x.peak)
        first = result.first_hit()
        lines.append(
            f"| {chargers:,} | {result.rate:,.1f} | {hottest.name} {hottest.peak:,.0f} | "
            f"{result.item_transactions:,.1f} | {first.name} ({first.kind}) | "
            f"{_fleet(first.hit_at(chargers))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=1_000_000)
    parser.add_argument("--sessions-per-day", type=float, default=20)
    parser.add_argument("--peak", type=float, default=10, help="peak rate / average rate")
    parser.add_argument("--transaction-ms", type=float, default=30.0)
    parser.add_argument("--docs-table", action="store_true")
    args = parser.parse_args(argv)
    if args.docs_table:
        print(docs_table(args.sessions_per_day, args.peak))
        return 0
    print(report(model(args.chargers, args.sessions_per_day, args.peak, args.transaction_ms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
