"""Benchmark the store as the listener and the API use it: units per session, per request, and
batches in flight together. Prints a markdown report; `--json FILE` also writes the numbers.

    .venv/bin/python scripts/bench_store.py [--chargers 5000] [--in-flight 8,16] [--json FILE]

Why: issue 13 asks what a session costs on AWS and whether the design holds with many listener
batches in flight. Against a DynamoDB Local of its own (in a temporary folder), this measures:
- write units per stored session (table and each index, aggregates included; see
  scripts/consumed_capacity.py for how they are counted) for a day of a fleet seen as AWS would
  see a large one: `--day-chargers` chargers of one connector, a session each an hour, each
  hour saved as a batch, so a charger has one session a batch and its day item fills up;
- read units per API request, by route, through the unchanged Chalice app;
- concurrency: the same kind of backlog saved with 8 and 16 batches in flight, through
  `ConflictingClient` (DynamoDB Local serialises concurrent transactions where DynamoDB cancels
  them); per 1,000 sessions: transactions cancelled by reason, planned again, retried after a
  conflict, and batches failed; the fleet's totals are checked to the cent.
Each stage writes sessions of a day of its own. Progress goes to standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_api import machine
from consumed_capacity import CapacityMeter
from item_units import indexes

from evsessions.cdr_issuer import CdrIssuer, fallback_for
from evsessions.cdrs import Party
from evsessions.charger_tariffs import ChargerTariffs
from evsessions.contract import ChargingSession, parse_session
from evsessions.dynamodb.cdrs import DynamoDBCdrs
from evsessions.dynamodb.store import DynamoDbSessionStore, cached_store
from evsessions.dynamodb.tariffs import DynamoDBTariffs
from evsessions.errors import StorageUnavailable
from evsessions.fleet import simulate_tick
from evsessions.settings import Settings
from evsessions.storage import SaveOutcome, Totals
from harness.dynamodb_conflicts import ConflictingClient
from local_runner.infra.database import LOCAL_CREDENTIALS, create_tables, start_dynamodb_local
from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[1]

JARS = ROOT / ".local" / "dynamodb-local"
CONNECTORS_PER_CHARGER = 2
DAYS = {
    name: datetime(2025, 2, day, 1, tzinfo=UTC)
    for day, name in enumerate(("writes", "reads", "in-flight-8", "in-flight-16"), start=1)
}


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def fleet_sessions(
    day: datetime,
    chargers: int,
    ticks: int = 1,
    every: timedelta = timedelta(minutes=1),
    connectors: int = CONNECTORS_PER_CHARGER,
) -> list[ChargingSession]:
    """`ticks` publisher ticks of the simulated fleet, parsed as the listener parses them."""
    settings = Settings.from_env(fleet_chargers=chargers, fleet_connectors_per_charger=connectors)
    sessions = []
    for tick in range(ticks):
        moment = day + tick * every
        for simulated in simulate_tick(moment, settings):
            event = {
                **simulated.payload,
                "topic": simulated.key.topic,
                "received_at": int(moment.timestamp() * 1000),
            }
            sessions.append(parse_session(event))
    return sessions


def patient_client(endpoint: str, region: str) -> Any:
    """A client that waits: seven benchmarks share this machine, and a JVM's first transactions
    are slow; the figures here are units and counts, not times."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(read_timeout=120, retries={"max_attempts": 3}, max_pool_connections=32),
    )


def batches_of(sessions: list[ChargingSession], size: int) -> list[list[ChargingSession]]:
    return [sessions[i : i + size] for i in range(0, len(sessions), size)]


@dataclass
class WriteUnits:
    sessions: int
    seconds: float
    units: dict[str, float]
    cdr_units: dict[str, float]
    """What the listener's second step writes: each clean session's CDR (listener.billing)."""

    @property
    def per_session(self) -> float:
        return (sum(self.units.values()) + sum(self.cdr_units.values())) / self.sessions


def write_units(client: Any, table: str, batches: list[list[ChargingSession]]) -> WriteUnits:
    """The listener's writes for these batches: the sessions' transactions, then their CDRs,
    each metered apart."""
    meter = CapacityMeter(client, client, indexes(ROOT / "template.yaml"))
    cdr_meter = CapacityMeter(client, client, indexes(ROOT / "template.yaml"))
    store = DynamoDbSessionStore(table, meter)
    settings = replace(Settings.from_env(), sessions_table=table)
    issuer = CdrIssuer(
        DynamoDBCdrs(table, cdr_meter),
        ChargerTariffs(lambda _charger: None, DynamoDBTariffs(table, client)),
        Party(settings.ocpi_country_code, settings.ocpi_party_id),
        fallback_for(settings),
    )
    started = time.perf_counter()
    for part in batches:
        outcomes = store.save_many(part)
        issuer.issue([s for s, o in zip(part, outcomes, strict=True) if o is SaveOutcome.STORED])
    seconds = time.perf_counter() - started
    sessions = [s for part in batches for s in part]
    return WriteUnits(len(sessions), seconds, dict(meter.write_units), dict(cdr_meter.write_units))


def read_units(table: str, endpoint: str, region: str, day: datetime) -> dict[str, float]:
    """Read units of one request to each route, through the Chalice app in-process."""
    from chalice.test import Client

    from api.app import app

    os.environ.update(
        {
            **LOCAL_CREDENTIALS,
            "SESSIONS_TABLE": table,
            "DYNAMODB_ENDPOINT_URL": endpoint,
            "AWS_REGION": region,
            "CURSOR_SECRET": "b" * 40,
        }
    )
    os.environ.pop("API_KEY", None)
    cached_store.cache_clear()
    store = cached_store(Settings.from_env())
    meter = CapacityMeter(store.client, store.client, indexes(ROOT / "template.yaml"))
    store.client = meter  # type: ignore[assignment]
    start, end = day.isoformat().replace("+00:00", "Z"), (day + timedelta(days=1)).isoformat()
    end = end.replace("+00:00", "Z")
    routes = {
        "GET /sessions?limit=50 (fleet)": f"/sessions?limit=50&from={start}&to={end}",
        "GET /sessions?charger=1&limit=50": f"/sessions?charger=1&limit=50&from={start}&to={end}",
        "GET /sessions?charger=1&connector=1": f"/sessions?charger=1&connector=1&from={start}",
        "GET /sessions/{charger}/{connector}/{session}": "",
        "GET /chargers?limit=50": "/chargers?limit=50",
        "GET /totals (fleet, 24 hours)": f"/totals?bucket=hour&from={start}&to={end}",
        "GET /totals?charger=1 (24 hours)": f"/totals?charger=1&bucket=hour&from={start}&to={end}",
    }
    first = fleet_sessions(day, 1)[0]
    key = first.key
    routes["GET /sessions/{charger}/{connector}/{session}"] = (
        f"/sessions/{key.charger_id}/{key.connector_id}/{key.session_id}"
    )
    result = {}
    with Client(app) as client:
        for name, path in routes.items():
            meter.reset()
            response = client.http.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.body[:200]!r}")
            result[name] = sum(meter.read_units.values())
    cached_store.cache_clear()
    return result


@dataclass
class InFlight:
    in_flight: int
    sessions: int
    batches: int
    failed_batches: int
    seconds: float
    counts: dict[str, Any]
    exact: bool


def in_flight(
    client: Any, table: str, sessions: list[ChargingSession], batch: int, slots: int
) -> InFlight:
    """Save the backlog with `slots` batches in flight; a failed batch is saved again, as SQS
    would redeliver it, and counted."""
    conflicting = ConflictingClient(client)
    store = DynamoDbSessionStore(table, conflicting)
    failed = 0

    def save(part: list[ChargingSession]) -> None:
        nonlocal failed
        while True:
            try:
                store.save_many(part)
                return
            except StorageUnavailable:
                failed += 1

    parts = batches_of(sessions, batch)
    started = time.perf_counter()
    with ThreadPoolExecutor(slots) as pool:
        list(pool.map(save, parts))
    seconds = time.perf_counter() - started
    counts = store.counts.snapshot()
    expected = Totals()
    for session in sessions:
        expected = expected.add(Totals.of(session))
    day = sessions[0].ended_at.strftime("%Y-%m-%d")
    stored = store.totals(None, "day", day, day)
    exact = len(stored) == 1 and stored[0].totals == expected
    return InFlight(
        slots,
        len(sessions),
        len(parts),
        failed,
        seconds,
        {
            "committed": counts.committed,
            "cancelled": dict(counts.cancelled),
            "replanned": counts.replanned,
            "conflict_retries": counts.conflict_retries,
        },
        exact,
    )


def report(writes: WriteUnits, reads: dict[str, float], runs: list[InFlight], chargers: int) -> str:
    command = " ".join([".venv/bin/python scripts/bench_store.py", *map(shlex.quote, sys.argv[1:])])
    lines = [
        f"Machine: {machine()}.",
        f"Command: `{command}`",
        "",
        f"Write units per stored session ({writes.sessions:,} sessions: a day of {chargers:,} "
        "chargers, a session each an hour, an hour a batch):",
        "",
        "| where | units per session |",
        "|---|---:|",
        *(f"| {name} | {units / writes.sessions:.2f} |" for name, units in writes.units.items()),
        *(
            f"| its CDR: {name} | {units / writes.sessions:.2f} |"
            for name, units in writes.cdr_units.items()
        ),
        f"| **total** | **{writes.per_session:.2f}** |",
        "",
        "| route (one request) | read units |",
        "|---|---:|",
        *(f"| {name} | {units:.1f} |" for name, units in reads.items()),
        "",
        "| batches in flight | sessions | transactions committed | cancelled (by reason) "
        "per 1,000 sessions | planned again per 1,000 | retried after a conflict per 1,000 | "
        "batches failed | seconds | totals |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        per = 1000 / run.sessions
        reasons = ", ".join(
            f"{reason} {count * per:.1f}" for reason, count in run.counts["cancelled"].items()
        )
        lines.append(
            f"| {run.in_flight} | {run.sessions:,} | {run.counts['committed']:,} | "
            f"{reasons or 'none'} | {run.counts['replanned'] * per:.1f} | "
            f"{run.counts['conflict_retries'] * per:.1f} | {run.failed_batches} | "
            f"{run.seconds:.1f} | {'exact' if run.exact else 'WRONG'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--chargers", type=int, default=5000, help="of the backlogs in flight (2 connectors each)"
    )
    parser.add_argument("--day-chargers", type=int, default=100, help="of the write-units day")
    parser.add_argument("--in-flight", default="8,16")
    parser.add_argument("--backlog-ticks", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not (JARS / "DynamoDBLocal.jar").exists():
        _say(f"DynamoDB Local is not installed in {JARS}: run ./dev setup first")
        return 2
    template = load_template(ROOT / "template.yaml")
    [queue] = [q for f in template.functions.values() for q in f.queues]
    batch = queue.batch_size
    region = Settings.from_env().aws_region
    with tempfile.TemporaryDirectory(prefix="bench-store-") as work:
        data_dir = Path(work)
        (data_dir / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
        database = start_dynamodb_local(data_dir, 0, region)
        try:
            endpoint = database.endpoint_url
            create_tables(endpoint, region, list(template.tables.values()))
            [table] = [t.name for t in template.tables.values()]
            client = patient_client(endpoint, region)
            hourly = [
                fleet_sessions(
                    DAYS["writes"] + timedelta(hours=hour), args.day_chargers, 1, connectors=1
                )
                for hour in range(24)
            ]
            _say(f"write units: a day of {args.day_chargers:,} chargers, hour by hour ...")
            writes = write_units(client, table, hourly)
            _say(f"  {writes.per_session:.2f} units a session, {writes.seconds:.1f} s")
            _say("read units per route ...")
            reading = fleet_sessions(DAYS["reads"], 100, 24, timedelta(hours=1))
            write_units(client, table, batches_of(reading, batch))
            reads = read_units(table, endpoint, region, DAYS["reads"])
            runs = []
            for slots in (int(n) for n in args.in_flight.split(",")):
                day = DAYS[f"in-flight-{slots}"]
                backlog = fleet_sessions(day, args.chargers, args.backlog_ticks)
                size = max(1, len(backlog) // (2 * slots))  # every slot busy, twice over
                _say(f"{slots} in flight: {len(backlog):,} sessions, batches of {size:,} ...")
                run = in_flight(client, table, backlog, size, slots)
                _say(f"  {run.seconds:.1f} s, {run.counts}, failed {run.failed_batches}")
                runs.append(run)
        finally:
            database.stop()
    print(report(writes, reads, runs, args.day_chargers))
    if args.json:
        measured = {
            "write_units_per_session": writes.per_session,
            "listener_seconds_per_session": writes.seconds / writes.sessions,
            "sessions_per_batch": args.day_chargers,
            "write_units": {k: v / writes.sessions for k, v in writes.units.items()},
            "cdr_write_units": {k: v / writes.sessions for k, v in writes.cdr_units.items()},
            "read_units_per_request": reads,
            "in_flight": [run.__dict__ for run in runs],
        }
        args.json.write_text(json.dumps(measured, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
