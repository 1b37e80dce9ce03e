"""Benchmark ingestion: the broker's and the database's ceilings, the naive design, our pipeline.

    .venv/bin/python scripts/bench_ingest.py [--messages 20000] [--chargers 1000]
        [--fleet-connectors 10000] [--latency-seconds 15] [--naive-messages 4000]

Why: issue 5 asks that the pipeline ingest at the database's batch speed. In one run (the
baselines against a mosquitto and a DynamoDB Local of their own, the pipeline against the system
`./dev up` starts; all in a temporary folder, all stopped at the end), this measures:
- the fleet tick: the publisher handler publishing one tick of `--fleet-connectors` connectors,
  every PUBACK awaited, to a subscriber that does nothing; two such ticks give the broker ceiling;
- the storage ceiling: session items/s that BatchWriteItem puts into the real table (25 items a
  request, 4 threads); the transactional-write ceiling for the same items: the store's own
  transactions (sessions and their aggregates, as the listener plans them), as many batches in
  flight as the template's listener takes; and for reference the session items alone in
  transactions of 100, no aggregates;
- the naive baseline: a subscriber that does one PutItem per message (the original design);
- our pipeline, as `up` runs it (rule -> queue batches -> listener -> DynamoDB Local): messages/s
  from the first publish until all N are stored, then the totals are checked to the cent, and
  publish-to-stored latency at half that rate;
- each handler module's import time (a cold start), next to boto3's alone.
The publisher runs in a subprocess, as it would in its own Lambda. Each stage writes sessions of its
own day, so stages never see each other's data. Progress goes to standard error, the report to
standard output. Goals are reported as PASS or MISS; the script never fails on them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from bench_api import machine  # (a sibling script: the same machine line)
from paho.mqtt.enums import CallbackAPIVersion

from evsessions.contract import parse_session
from evsessions.dynamodb.items import session_item, typed
from evsessions.dynamodb.store import DynamoDbSessionStore, cached_store
from evsessions.errors import PublishIncomplete
from evsessions.fleet import simulate_tick
from evsessions.mqtt.identity import MqttIdentity
from evsessions.settings import Settings
from evsessions.storage import Totals
from local_runner.environments import broker_endpoint, function_environments
from local_runner.infra.broker import start_mosquitto
from local_runner.infra.broker_access import broker_access
from local_runner.infra.certificates import ensure_tls_files
from local_runner.infra.database import client as dynamodb_client
from local_runner.infra.database import create_tables, start_dynamodb_local
from local_runner.infra.processes import free_port
from local_runner.runner_settings import RunnerSettings
from local_runner.services.events import scheduled_event
from local_runner.services.outcomes import ACKNOWLEDGED, Outcome
from local_runner.services.template import load_template
from local_runner.system import LocalSystem, raise_open_file_limit, start_system

ROOT = Path(__file__).resolve().parents[1]

JARS = ROOT / ".local" / "dynamodb-local"
TOPICS = "charger/+/connector/+/session/+"
CONNECTORS_PER_CHARGER = 2
STORAGE_THREADS = 4
STORAGE_GOAL = 0.9
NAIVE_GOAL = 3.0
TRANSACTION_GOAL = 0.8
FLEET_TICK_GOAL_SECONDS = 5.0
COLD_START_GOAL_MS = 300.0
TICK_ATTEMPTS = 3
"""A tick the broker did not fully acknowledge is published again, duplicates and all."""
# Each stage's sessions end on a day of their own, far from today's scheduled ticks. The first
# tick is at 01:00, as a session may end up to a minute before its tick.
DAYS = {
    name: datetime(2026, 1, day, 1, tzinfo=UTC)
    for day, name in enumerate(
        ("fleet", "storage", "naive", "pipeline", "latency", "transactions", "store"), start=1
    )
}


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _quiet(_line: str) -> None:
    return None


# --- the publisher, in a subprocess ---------------------------------------------------------


def publish_ticks(first: str, count: int, chargers: int, pace_seconds: float) -> None:
    """Subprocess mode: call the publisher handler for `count` ticks, one a minute of simulated
    time from `first`; print one JSON line per tick with when it started and how long it took."""
    os.environ["FLEET_CHARGERS"] = str(chargers)
    os.environ["FLEET_CONNECTORS_PER_CHARGER"] = str(CONNECTORS_PER_CHARGER)
    from publisher.handler import handler

    start = datetime.fromisoformat(first)
    began = time.time()
    for tick in range(count):
        if pace_seconds:
            time.sleep(max(0.0, began + tick * pace_seconds - time.time()))
        moment = start + timedelta(minutes=tick)
        event = scheduled_event(moment, "bench")
        started = time.time()
        for attempt in range(1, TICK_ATTEMPTS + 1):  # as the scheduler retries a failed tick
            try:
                result = handler(event, None)
                break
            except PublishIncomplete as incomplete:
                print(f"tick {tick} attempt {attempt}: {incomplete}", file=sys.stderr, flush=True)
                if attempt == TICK_ATTEMPTS:
                    raise
        line = {"tick": int(moment.timestamp()), "started": started, "attempts": attempt}
        line["seconds"] = time.time() - started
        line["published"] = result["published"]
        print(json.dumps(line), flush=True)


def run_publisher(
    day: datetime, ticks: int, chargers: int, pace_seconds: float = 0.0
) -> list[dict[str, Any]]:
    command = [
        sys.executable,
        __file__,
        "--publish-ticks",
        f"{day.isoformat()},{ticks},{chargers},{pace_seconds}",
    ]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"the publisher failed:\n{finished.stderr[-2000:]}")
    return [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]


# --- counting subscribers ---------------------------------------------------------------------


@dataclass
class Arrivals:
    """Messages of one stage's day seen by a subscriber, and when the last one came."""

    day: datetime
    expected: int
    seen: set[str] = field(default_factory=set)
    times: dict[str, float] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, topic: str) -> None:
        session_id = int(topic.rsplit("/", 1)[1])
        if not self.day.timestamp() <= session_id < self.day.timestamp() + 82_800:
            return  # a scheduled tick of today, not this stage's
        with self.lock:
            if topic not in self.seen:
                self.seen.add(topic)
                self.times[topic] = time.time()
            if len(self.seen) >= self.expected:
                self.done.set()

    def last(self) -> float:
        return max(self.times.values())


def subscriber(
    port: int, on_message: Callable[[mqtt.MQTTMessage], None], identity: MqttIdentity
) -> mqtt.Client:
    """A QoS 1 subscriber with a clean session that acks after its callback, as paho does; under
    the rule bridge's identity, the one the broker lets read the session topics."""
    name = identity.client_id
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=name, clean_session=True)
    client.username_pw_set(identity.username, identity.password)
    connected = threading.Event()
    client.on_connect = lambda c, *_: (c.subscribe(TOPICS, qos=1), connected.set())
    client.on_message = lambda _c, _u, message: on_message(message)
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError(f"{name}: no connection to the broker")
    time.sleep(0.3)  # the SUBACK
    return client


def stop_client(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


# --- stages -----------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    messages: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def two_ticks_to(
    port: int,
    reader: MqttIdentity,
    on_message: Callable[[mqtt.MQTTMessage], None],
    arrivals: Arrivals,
    chargers: int,
    timeout: float,
) -> list[dict[str, Any]]:
    """Two publisher ticks of `chargers` chargers on the arrivals' day, to a subscriber of our
    own; returns the ticks once every message arrived."""
    client = subscriber(port, on_message, reader)
    try:
        ticks = run_publisher(arrivals.day, 2, chargers)
        if not arrivals.done.wait(timeout):
            raise RuntimeError(f"the subscriber saw {len(arrivals.seen)} of {arrivals.expected}")
    finally:
        stop_client(client)
    return ticks


def fleet_and_broker(
    port: int, fleet_connectors: int, reader: MqttIdentity
) -> tuple[Stage, list[float]]:
    """Two fleet ticks to a subscriber that does nothing: the tick times and the broker ceiling."""
    chargers = fleet_connectors // CONNECTORS_PER_CHARGER
    arrivals = Arrivals(DAYS["fleet"], 2 * chargers * CONNECTORS_PER_CHARGER)
    ticks = two_ticks_to(port, reader, lambda m: arrivals.add(m.topic), arrivals, chargers, 120)
    seconds = arrivals.last() - ticks[0]["started"]
    stage = Stage(
        "broker ceiling (publisher -> mosquitto -> null subscriber)", arrivals.expected, seconds
    )
    return stage, [t["seconds"] for t in ticks]


def _in_threads(write: Callable[[int], None], requests: int) -> float:
    """Seconds to make every request, `STORAGE_THREADS` at a time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(STORAGE_THREADS) as pool:
        list(pool.map(write, range(requests)))
    return time.perf_counter() - started


def storage_ceiling(endpoint: str, region: str, table: str, messages: int) -> Stage:
    """BatchWriteItem of session items, 25 a request, from 4 threads."""
    sessions = _sessions(DAYS["storage"], messages)
    requests = [sessions[i : i + 25] for i in range(0, len(sessions), 25)]
    clients = [dynamodb_client(endpoint, region) for _ in range(STORAGE_THREADS)]

    def write(index: int) -> None:
        pending = {
            table: [{"PutRequest": {"Item": typed(session_item(s))}} for s in requests[index]]
        }
        while pending:
            response = clients[index % STORAGE_THREADS].batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}

    seconds = _in_threads(write, len(requests))
    return Stage(
        "storage ceiling (BatchWriteItem of session items)",
        len(sessions),
        seconds,
        f"{STORAGE_THREADS} threads, 25 items a request",
    )


def transaction_ceiling(endpoint: str, region: str, table: str, messages: int) -> Stage:
    """TransactWriteItems of 100 conditional session puts, from 4 threads: what DynamoDB Local
    gives the way the listener writes, with no aggregate items at all."""
    sessions = _sessions(DAYS["transactions"], messages)
    requests = [sessions[i : i + 100] for i in range(0, len(sessions), 100)]
    clients = [dynamodb_client(endpoint, region) for _ in range(STORAGE_THREADS)]

    def write(index: int) -> None:
        clients[index % STORAGE_THREADS].transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": typed(session_item(s)),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for s in requests[index]
            ]
        )

    seconds = _in_threads(write, len(requests))
    return Stage(
        "for reference: TransactWriteItems of session items alone",
        len(sessions),
        seconds,
        f"{STORAGE_THREADS} threads, 100 items a request, no aggregates",
    )


def store_ceiling(endpoint: str, region: str, table: str, messages: int, in_flight: int) -> Stage:
    """The transactional-write ceiling for the pipeline's items: the store's own transactions
    (each session's put and the aggregates it adds to, as the listener plans them), as many
    batches at once as the template lets the listener run, straight to DynamoDB Local: no
    broker, queue or handler in between."""
    sessions = _sessions(DAYS["store"], messages)
    size = max(1, len(sessions) // (2 * in_flight))  # every slot busy, twice over
    batches = [sessions[i : i + size] for i in range(0, len(sessions), size)]
    # one store for all, as the listener's batches in flight share its cached store
    store = DynamoDbSessionStore(table, dynamodb_client(endpoint, region))
    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(store.save_many, batches))
    return Stage(
        "transactional-write ceiling for the same items (the store's transactions, direct)",
        len(sessions),
        time.perf_counter() - started,
        f"{in_flight} batches in flight of {size:,} sessions, aggregates included",
    )


def naive_baseline(
    port: int, endpoint: str, region: str, table: str, messages: int, reader: MqttIdentity
) -> Stage:
    """The original design: a subscriber that puts each message as it arrives."""
    chargers = max(1, messages // (CONNECTORS_PER_CHARGER * 2))
    arrivals = Arrivals(DAYS["naive"], 2 * chargers * CONNECTORS_PER_CHARGER)
    dynamodb = dynamodb_client(endpoint, region)

    def put(message: mqtt.MQTTMessage) -> None:
        event = {
            **json.loads(message.payload),
            "topic": message.topic,
            "received_at": int(time.time() * 1000),
        }
        item = typed(session_item(parse_session(event)))
        dynamodb.put_item(TableName=table, Item=item)
        arrivals.add(message.topic)

    ticks = two_ticks_to(port, reader, put, arrivals, chargers, 600)
    return Stage(
        "naive baseline (one PutItem per message)",
        arrivals.expected,
        arrivals.last() - ticks[0]["started"],
        "no aggregates",
    )


class StoredWatch:
    """Counts what the running system's rule delivered, per stage day, from the bridge's
    outcome records."""

    def __init__(self) -> None:
        self.arrivals: Arrivals | None = None
        self.outcomes: Counter[str] = Counter()

    def __call__(self, outcomes: Sequence[Outcome]) -> None:
        self.outcomes.update(outcome.status for outcome in outcomes)
        if self.arrivals is not None:
            for outcome in outcomes:
                if outcome.status in ACKNOWLEDGED:
                    self.arrivals.add(outcome.topic)


def pipeline(system: LocalSystem, watch: StoredWatch, messages: int, chargers: int) -> Stage:
    ticks = max(1, messages // (chargers * CONNECTORS_PER_CHARGER))
    watch.arrivals = arrivals = Arrivals(
        DAYS["pipeline"], ticks * chargers * CONNECTORS_PER_CHARGER
    )
    published = run_publisher(DAYS["pipeline"], ticks, chargers)
    if not arrivals.done.wait(900):
        raise RuntimeError(f"the pipeline stored {len(arrivals.seen)} of {arrivals.expected}")
    seconds = arrivals.last() - published[0]["started"]
    exact = totals_are_exact(DAYS["pipeline"], ticks, chargers)
    return Stage(
        "our pipeline (publisher -> mosquitto -> rule -> listener -> DynamoDB Local)",
        arrivals.expected,
        seconds,
        "totals exact" if exact else "TOTALS WRONG",
    )


def totals_are_exact(day: datetime, ticks: int, chargers: int) -> bool:
    """The fleet's day totals against the sum of what the publisher simulated."""
    settings = Settings.from_env(
        fleet_chargers=chargers, fleet_connectors_per_charger=CONNECTORS_PER_CHARGER
    )
    simulated = [
        s for t in range(ticks) for s in simulate_tick(day + timedelta(minutes=t), settings)
    ]
    expected = (
        len(simulated),
        sum(Decimal(str(s.payload["energy_delivered_in_kWh"])) for s in simulated),
        sum(s.payload["session_cost_in_cents"] for s in simulated),
    )
    store = cached_store(Settings.from_env())
    found = store.totals(None, "day", f"{day:%Y-%m-%d}", f"{day:%Y-%m-%d}")
    got = found[0].totals if found else Totals()
    actual = (got.sessions, got.energy_kwh, got.cost_cents)
    if actual != expected:
        _say(f"totals differ: stored {actual}, simulated {expected}")
    return actual == expected


def latency(
    system: LocalSystem, watch: StoredWatch, rate: float, seconds: float
) -> tuple[float, float, int]:
    """Publish-to-stored p50 and p99 (ms) at `rate` messages/s, in ticks of 100 messages."""
    chargers = 50
    per_tick = chargers * CONNECTORS_PER_CHARGER
    pace = per_tick / rate
    ticks = max(2, int(seconds / pace))
    watch.arrivals = arrivals = Arrivals(DAYS["latency"], ticks * per_tick)
    published = run_publisher(DAYS["latency"], ticks, chargers, pace)
    if not arrivals.done.wait(300):
        raise RuntimeError(f"stored {len(arrivals.seen)} of {arrivals.expected} at half load")
    started = {t["tick"]: t["started"] for t in published}
    samples = sorted(
        (stored - started[int(topic.rsplit("/", 1)[1])]) * 1000
        for topic, stored in arrivals.times.items()
    )
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))], len(samples)


def cold_starts() -> dict[str, float]:
    """Median import time (ms) of each handler module in a fresh interpreter, and of boto3."""
    return cold_import_medians(
        {
            "boto3 alone": "boto3",
            "publisher": "publisher.handler",
            "listener": "listener.handler",
            "api": "api.app",
        }
    )


def cold_import_medians(modules: dict[str, str]) -> dict[str, float]:
    """Name -> median import time (ms) of its module over five fresh interpreters, no bytecode
    written, with the handlers' source folder first on the path."""
    result = {}
    for name, module in modules.items():
        runs = []
        for _ in range(5):
            code = (
                f"import sys,time; sys.path[:0]=[{str(ROOT / 'functions')!r}]; "
                f"t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
            )
            out = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
            runs.append(float(out.stdout) * 1000)
        result[name] = statistics.median(runs)
    return result


# --- helpers and report -----------------------------------------------------------------------


def _sessions(day: datetime, count: int) -> list[Any]:
    chargers = 1000
    settings = Settings.from_env(
        fleet_chargers=chargers, fleet_connectors_per_charger=CONNECTORS_PER_CHARGER
    )
    found: list[Any] = []
    tick = 0
    while len(found) < count:
        moment = day + timedelta(minutes=tick)
        for simulated in simulate_tick(moment, settings):
            event = {
                **simulated.payload,
                "topic": simulated.key.topic,
                "received_at": int(moment.timestamp() * 1000),
            }
            found.append(parse_session(event))
        tick += 1
    return found[:count]


def _data_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
    return path


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(
    stages: list[Stage],
    fleet_ticks: list[float],
    fleet_connectors: int,
    p50: float,
    p99: float,
    samples: int,
    half_rate: float,
    cold: dict[str, float],
) -> str:
    _, storage, naive, ours, store, _ = stages
    command = " ".join(
        [".venv/bin/python scripts/bench_ingest.py", *map(shlex.quote, sys.argv[1:])]
    )
    lines = [
        f"Machine: {machine()}.",
        f"Command: `{command}`",
        "",
        "| measurement | messages | seconds | messages/s | note |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {s.name} | {s.messages:,} | {s.seconds:.1f} | {s.rate:,.0f} | {s.note} |"
            for s in stages
        ),
        f"| publish-to-stored latency at half load ({half_rate:,.0f} msg/s) | {samples:,} | | | "
        f"p50 {p50:,.0f} ms, p99 {p99:,.0f} ms |",
        "",
        "| goal | measured | result |",
        "|---|---:|---|",
        f"| pipeline >= {STORAGE_GOAL:.0%} of the storage ceiling | "
        f"{ours.rate / storage.rate:.0%} | {verdict(ours.rate >= STORAGE_GOAL * storage.rate)} |",
        f"| pipeline >= {NAIVE_GOAL:.0f}x the naive baseline | {ours.rate / naive.rate:.1f}x | "
        f"{verdict(ours.rate >= NAIVE_GOAL * naive.rate)} |",
        f"| pipeline >= {TRANSACTION_GOAL}x the transactional-write ceiling for the same items | "
        f"{ours.rate / store.rate:.2f}x | "
        f"{verdict(ours.rate >= TRANSACTION_GOAL * store.rate)} |",
        f"| zero loss, totals exact | {ours.messages:,} stored, {ours.note} | "
        f"{verdict(ours.note == 'totals exact')} |",
        *(
            f"| one publisher tick of {fleet_connectors:,} connectors, every PUBACK, <= "
            f"{FLEET_TICK_GOAL_SECONDS:.0f} s (tick {i + 1}) | {t:.2f} s | "
            f"{verdict(t <= FLEET_TICK_GOAL_SECONDS)} |"
            for i, t in enumerate(fleet_ticks)
        ),
        *(
            f"| cold import of {name} <= {COLD_START_GOAL_MS:.0f} ms | {ms:.0f} ms | "
            f"{verdict(ms <= COLD_START_GOAL_MS)} |"
            for name, ms in cold.items()
            if name != "boto3 alone"
        ),
        "",
        f"For reference, importing boto3 alone takes {cold['boto3 alone']:.0f} ms here.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument(
        "--chargers", type=int, default=1000, help="the pipeline stage's fleet (2 connectors each)"
    )
    parser.add_argument("--fleet-connectors", type=int, default=10_000)
    parser.add_argument("--naive-messages", type=int, default=4000)
    parser.add_argument("--storage-items", type=int, default=10_000)
    parser.add_argument("--latency-seconds", type=float, default=15.0)
    parser.add_argument("--publish-ticks", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publish_ticks:
        first, count, chargers, pace = args.publish_ticks.split(",")
        publish_ticks(first, int(count), int(chargers), float(pace))
        return 0
    if not (JARS / "DynamoDBLocal.jar").exists():
        _say(f"DynamoDB Local is not installed in {JARS}: run ./dev setup first")
        return 2
    region = Settings.from_env().aws_region
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as work:
        # The baselines get a broker and a database of their own: the rule, subscribed with a
        # persistent session, would otherwise store their messages too.
        data_dir = _data_dir(Path(work) / "baselines")
        _say("baselines: starting mosquitto and DynamoDB Local ...")
        template = load_template(ROOT / "template.yaml")
        rules = {t.name: t.rule.topic_filter for f in template.functions.values() for t in f.rules}
        access = broker_access(
            data_dir,
            fleet_chargers=max(args.fleet_connectors, args.naive_messages) // 2,
            extra_chargers=(),
            rule_filters=rules,
            fleet_secret=None,
            bridge_password=None,
        )
        reader = access.bridge(next(iter(rules)))
        raise_open_file_limit()
        database = start_dynamodb_local(data_dir, 0, region)
        tls, _ = ensure_tls_files(data_dir / "tls")
        broker_process = start_mosquitto(data_dir, 0, 0, "127.0.0.1", tls, access)
        try:
            create_tables(database.endpoint_url, region, list(template.tables.values()))
            # this process and its publisher subprocess run as the publisher function would
            endpoints = {
                "DYNAMODB_ENDPOINT_URL": database.endpoint_url,
                **broker_endpoint(broker_process, False, access.fleet_secret),
            }
            os.environ.update(
                function_environments(template, os.environ, defaults={}, endpoints=endpoints)[
                    "PublisherFunction"
                ]
            )
            table = Settings.from_env().sessions_table
            port, endpoint = broker_process.port, database.endpoint_url
            _say(f"fleet ticks of {args.fleet_connectors:,} connectors and the broker ceiling ...")
            broker, fleet_ticks = fleet_and_broker(port, args.fleet_connectors, reader)
            _say(
                f"  {broker.rate:,.0f} msg/s; ticks {', '.join(f'{t:.2f} s' for t in fleet_ticks)}"
            )

            # Each storage stage writes into an empty table, as the pipeline's system starts
            # with one: DynamoDB Local slows down as its table fills.
            def empty() -> None:
                dynamodb_client(endpoint, region).delete_table(TableName=table)
                create_tables(endpoint, region, list(template.tables.values()))

            _say(f"storage ceiling: {args.storage_items:,} session items in batches ...")
            storage = storage_ceiling(endpoint, region, table, args.storage_items)
            _say(f"  {storage.rate:,.0f} items/s; the store's own transactions ...")
            empty()
            [in_flight] = [q.max_concurrency for f in template.functions.values() for q in f.queues]
            store = store_ceiling(endpoint, region, table, args.storage_items, in_flight)
            _say(f"  {store.rate:,.0f} sessions/s; session items alone in transactions of 100 ...")
            empty()
            transactions = transaction_ceiling(endpoint, region, table, args.storage_items)
            _say(f"  {transactions.rate:,.0f} items/s")
            empty()
            _say(f"naive baseline: {args.naive_messages:,} messages, one PutItem each ...")
            naive = naive_baseline(port, endpoint, region, table, args.naive_messages, reader)
            _say(f"  {naive.rate:,.0f} msg/s")
        finally:
            broker_process.stop()
            database.stop()
        runner = RunnerSettings(
            local_data_dir=_data_dir(Path(work) / "pipeline"),
            template_path=ROOT / "template.yaml",
            api_port=0,
            dynamodb_local_port=0,
            broker="mosquitto",
            database="dynamodb-local",
            publish_on_start=False,
            ocpp_port=0,
            ocpp_tls_port=0,
        )
        os.environ["MQTT_PORT"] = str(free_port())
        os.environ["FLEET_CHARGERS"] = str(args.chargers)  # the broker knows these chargers
        cached_store.cache_clear()
        _say("our pipeline: starting the system as ./dev up does ...")
        watch = StoredWatch()
        system = start_system(runner, say=_quiet)
        os.environ.update(system.invokers["PublisherFunction"].environment)  # as above
        for bridge in system.bridges:
            bridge.on_outcomes = watch
        try:
            _say(f"our pipeline: {args.messages:,} messages from {args.chargers:,} chargers ...")
            ours = pipeline(system, watch, args.messages, args.chargers)
            _say(f"  {ours.rate:,.0f} msg/s, {ours.note}")
            half = ours.rate / 2
            _say(f"latency at half load ({half:,.0f} msg/s for {args.latency_seconds:.0f} s) ...")
            p50, p99, samples = latency(system, watch, half, args.latency_seconds)
            _say(f"  p50 {p50:.0f} ms, p99 {p99:.0f} ms")
        finally:
            system.stop()
    _say("cold starts ...")
    cold = cold_starts()
    print(
        report(
            [broker, storage, naive, ours, store, transactions],
            fleet_ticks,
            args.fleet_connectors,
            p50,
            p99,
            samples,
            half,
            cold,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
