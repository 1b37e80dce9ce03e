"""Benchmark the query API against DynamoDB Local at growing sizes; print a markdown table.

    .venv/bin/python scripts/bench_api.py [--sizes 10000,1000000] [--seconds 10] [--threads 4]
        [--requests 300] [--warm-up 3] [--load-threads 4] [--seed 1] [--keep-data DIR]
        [--functions-from COMMIT] [--in-memory]

Why: issue 4 asks that the API answer as fast with a million sessions as with ten thousand, and
that the HTTP layer not be the bottleneck. So this starts its own DynamoDB Local (in a temporary
folder), bulk-loads the listener's items (tests/harness/bulk_load.py), serves the unchanged Chalice
app with local_runner.services.api_server in a subprocess, and measures each route over
kept-alive HTTP next to the equivalent raw boto3 call (the floor) in the same run. Each larger
size is loaded on top of the previous one. Progress goes to standard error, the report to
standard output. Goals are reported as PASS or MISS; the script never fails on them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import boto3
from botocore.config import Config
from dotenv import load_dotenv

from evsessions.contract import SessionKey, format_time
from evsessions.dynamodb.items import typed
from evsessions.dynamodb.keys import (
    BY_CONNECTOR_TIME,
    BY_MONTH,
    CHARGE_POINTS,
    CHARGERS,
    FLEET_TOTALS,
    REUSE_COUNTER,
    connector_partition,
    session_key,
)
from evsessions.dynamodb.shards import SHARDS, sharded
from evsessions.dynamodb.store import create_client
from evsessions.settings import Settings
from evsessions.storage import bucket_start
from harness.bulk_load import (
    Aggregates,
    BatchWriter,
    LoadResult,
    SyntheticFleet,
    load,
    window_end,
)
from local_runner.infra.database import (
    LOCAL_CREDENTIALS,
    Database,
    create_tables,
    start_dynamodb_local,
)
from local_runner.infra.processes import ManagedProcess, free_port
from local_runner.observers.progress import Progress
from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[1]

JARS = ROOT / ".local" / "dynamodb-local"
HOST = "127.0.0.1"
DEFAULT_SIZES = (10_000, 1_000_000)
"""Sessions loaded for each run: the API must answer as fast at the second as at the first."""
LATENCY_REQUESTS = 300
WARM_UP_REQUESTS = 100
"""Sequential requests (and raw calls) made and discarded before each latency run."""
LOAD_THREADS = 4
"""BatchWriteItem threads: DynamoDB Local gains little beyond 4 on 2 cores (GUIDE section 3)."""
P99_GROWTH_GOAL = 1.3
FLOOR_RATIO_GOAL = 1.5
ROUTES = (
    "list-recent",
    "dashboard list",
    "charger list",
    "get-one",
    "30-day total",
    "24-hour totals",
    "chargers",
    "chargepoints",
    "health",
)
"""Issue 22: the issue's routes and every request the dashboard makes, each with its floor."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def extract_functions(ref: str, into: Path) -> Path:
    """The `functions/` folder of commit `ref`, written under `into` (to serve older code)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "functions"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "functions"


# --- serving -----------------------------------------------------------------------------------


def serve(port: int) -> int:
    """The API subprocess: the unchanged Chalice app until SIGTERM or SIGINT.

    A separate process, so the benchmark's client threads do not share the server's interpreter.
    """
    from api.app import app
    from local_runner.services.api_server import ApiServer

    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # the server thread inherits the mask
    server = ApiServer(app, HOST, port, "api_handler")
    server.start()
    print(f"serving {server.url}", flush=True)
    signal.sigwait(stop_signals)
    server.shutdown()
    return 0


def _healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        finally:
            connection.close()
    except (OSError, http.client.HTTPException):
        return False


def start_api(work_dir: Path) -> tuple[ManagedProcess, int]:
    """`--serve` in a subprocess that inherits this process's settings; wait for /health."""
    port = free_port()
    process = ManagedProcess(
        "API server",
        [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)],
        work_dir / "logs" / "api.log",
    )
    try:
        process.wait_until(lambda: _healthy(port), timeout=60)
    except BaseException:
        process.stop()
        raise
    return process, port


# --- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One API route and the raw boto3 call it boils down to, each taking a random source."""

    name: str
    path: Callable[[random.Random], str]
    raw: Callable[[random.Random], Any]


@dataclass(frozen=True)
class Row:
    size: int
    route: str
    api_p50: float
    api_p99: float
    api_rps: float
    raw_p50: float
    raw_p99: float
    errors: int


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile in milliseconds of samples in seconds."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank] * 1000


class HttpClient:
    """One kept-alive connection; reconnects after an error (and counts it)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.errors = 0
        self._connection = http.client.HTTPConnection(HOST, port, timeout=30)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            self._connection.request("GET", path, headers=self.headers)
            response = self._connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.errors += 1
            self._connection.close()
            self._connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
            return 0, b""
        if response.status != 200:
            self.errors += 1
        return response.status, body

    def close(self) -> None:
        self._connection.close()


def latencies(
    route: Route, client: HttpClient, seed: int, requests: int
) -> tuple[list[float], list[float]]:
    """One client, sequential: an API request, then the raw call, alternating, after a warm-up.

    Alternating puts both under the same background load; they draw different random keys so
    the raw call never reads what the API request just warmed.
    """
    api_rng, raw_rng = random.Random(seed), random.Random(seed + 1)
    api: list[float] = []
    raw: list[float] = []
    for n in range(WARM_UP_REQUESTS + requests):
        path = route.path(api_rng)
        started = time.perf_counter()
        client.get(path)
        between = time.perf_counter()
        route.raw(raw_rng)
        ended = time.perf_counter()
        if n >= WARM_UP_REQUESTS:
            api.append(between - started)
            raw.append(ended - between)
    return api, raw


def throughput(
    route: Route, port: int, headers: dict[str, str], threads: int, seconds: float, seed: int
) -> tuple[float, int]:
    """Requests per second of `threads` kept-alive clients for `seconds`, and their errors."""
    counts = [0] * threads
    errors = [0] * threads
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def client_loop(number: int) -> None:
        rng = random.Random(seed + number)
        client = HttpClient(port, headers)
        try:
            barrier.wait(timeout=60)
            while time.monotonic() < deadline[0]:  # bounded by the deadline
                client.get(route.path(rng))
                counts[number] += 1
        finally:
            errors[number] = client.errors
            client.close()

    workers = [threading.Thread(target=client_loop, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    deadline[0] = time.monotonic() + seconds
    started = time.monotonic()
    barrier.wait(timeout=60)
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    return sum(counts) / elapsed, sum(errors)


def warm_up(route: Route, port: int, headers: dict[str, str], threads: int, seconds: float) -> None:
    """Load the route for a while first, so DynamoDB Local's JVM has compiled its paths.

    A cold JVM inflates the first size's p99, which flatters the p99-growth goal (in our runs
    the first size's p99 came out 2-3x the second's; a busy machine adds noise of its own).
    """
    if seconds <= 0:
        return
    throughput(route, port, headers, threads, seconds, seed=-1)
    rng = random.Random(-1)
    for _ in range(WARM_UP_REQUESTS):
        route.raw(rng)


def make_routes(
    fleet: SyntheticFleet, size: int, table: str, raw_client: Any
) -> tuple[list[Route], dict[str, str]]:
    """The three measured routes at this size, and the 30-day window they use."""
    newest_month = format_time(fleet.end)[:7]
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=30)
    window = {
        "from": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    # As the API computes its day buckets (app.totals): [start, end) in whole days.
    first_day = bucket_start(start, "day")
    last_day = bucket_start(now - timedelta(microseconds=1), "day")
    window |= {"first_day": first_day, "last_day": last_day}

    def random_key(rng: random.Random) -> SessionKey:
        return fleet.key(rng.randrange(size))

    def one_path(rng: random.Random) -> str:
        key = random_key(rng)
        return "/sessions/" + "/".join(
            quote(part, safe="") for part in (key.charger_id, key.connector_id, key.session_id)
        )

    hour_start = now - timedelta(hours=24)
    first_hour = bucket_start(hour_start, "hour")
    last_hour = bucket_start(now - timedelta(microseconds=1), "hour")
    hours = urlencode({"bucket": "hour", "from": hour_start.strftime("%Y-%m-%dT%H:%M:%SZ")})

    def one_shard_query(pk: str, first: str, last: str) -> Callable[[random.Random], Any]:
        """One of the 16 totals shards the API sums (the floor is one of them)."""
        return lambda _rng: raw_client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues=typed({":pk": pk, ":first": first, ":last": last}),
        )

    def month_page(limit: int) -> Callable[[random.Random], Any]:
        """One shard of the newest month, a page of `limit` (the API merges all 16)."""
        return lambda _rng: raw_client.query(
            TableName=table,
            IndexName=BY_MONTH,
            KeyConditionExpression="#m = :m",
            ExpressionAttributeNames={"#m": "month"},
            ExpressionAttributeValues=typed({":m": sharded(newest_month, 0)}),
            ScanIndexForward=False,
            Limit=limit,
        )

    def charger_path(rng: random.Random) -> str:
        return f"/sessions?charger={random_key(rng).charger_id}&limit=50"

    def connector_page(rng: random.Random) -> Any:
        """One connector's partition, a page of 50 (the API reads its lifetime item, then
        merges its connectors')."""
        key = random_key(rng)
        return raw_client.query(
            TableName=table,
            IndexName=BY_CONNECTOR_TIME,
            KeyConditionExpression="connector_pk = :p",
            ExpressionAttributeValues=typed(
                {":p": connector_partition(key.charger_id, key.connector_id)}
            ),
            ScanIndexForward=False,
            Limit=50,
        )

    def partition_page(pk: str, limit: int) -> Callable[[random.Random], Any]:
        return lambda _rng: raw_client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=typed({":pk": pk}),
            Limit=limit,
        )

    routes = [
        Route("list-recent", lambda _rng: "/sessions?limit=50", month_page(50)),
        Route("dashboard list", lambda _rng: "/sessions?limit=25", month_page(25)),
        Route("charger list", charger_path, connector_page),
        Route(
            "get-one",
            one_path,
            lambda rng: raw_client.get_item(
                TableName=table, Key=typed(session_key(random_key(rng)))
            ),
        ),
        Route(
            "30-day total",
            lambda _rng: "/totals?" + urlencode({"from": window["from"], "to": window["to"]}),
            one_shard_query(sharded(FLEET_TOTALS, 0), f"DAY#{first_day}", f"DAY#{last_day}"),
        ),
        Route(
            "24-hour totals",
            lambda _rng: "/totals?" + hours,
            one_shard_query(sharded(FLEET_TOTALS, 0), f"HOUR#{first_hour}", f"HOUR#{last_hour}"),
        ),
        Route(
            "chargers",
            lambda _rng: "/chargers?limit=100",
            partition_page(sharded(CHARGERS, 0), 100),  # one of the 16 shards the API merges
        ),
        Route(
            "chargepoints",
            lambda _rng: "/chargepoints?limit=100",
            # the charge points' partition: the bench's fleet has none, so its floor and the
            # route read an empty partition
            partition_page(CHARGE_POINTS, 100),
        ),
        Route(
            "health",
            lambda _rng: "/health",
            lambda _rng: raw_client.get_item(
                TableName=table, Key=typed({"pk": REUSE_COUNTER[0], "sk": REUSE_COUNTER[1]})
            ),
        ),
    ]
    return routes, window


def check_answers(
    client: HttpClient, routes: list[Route], window: dict[str, str], aggregates: Aggregates
) -> list[str]:
    """What the API answered is what was loaded: a full page, a found session, the right count."""
    rng = random.Random(7)
    notes = []
    named = {route.name: route for route in routes}
    status, body = client.get(named["list-recent"].path(rng))
    listed = json.loads(body)["sessions"] if status == 200 else []
    ends = [s["ended_at"] for s in listed]
    ordered = ends == sorted(ends, reverse=True)
    notes.append(f"list-recent: HTTP {status}, {len(listed)} sessions, newest first: {ordered}")
    status, _ = client.get(named["get-one"].path(rng))
    notes.append(f"get-one: HTTP {status}")
    for name in ("dashboard list", "charger list", "24-hour totals", "chargers", "chargepoints"):
        status, _ = client.get(named[name].path(rng))
        notes.append(f"{name}: HTTP {status}")
    status, body = client.get(named["30-day total"].path(rng))
    got = json.loads(body)["totals"]["sessions"] if status == 200 else None
    expected = sum(
        aggregates.sessions(
            sharded(FLEET_TOTALS, shard), f"DAY#{window['first_day']}", f"DAY#{window['last_day']}"
        )
        for shard in range(SHARDS)
    )
    verdict = "ok" if got == expected else "WRONG"
    notes.append(f"30-day total: HTTP {status}, {got} sessions, {expected} loaded: {verdict}")
    return notes


def measure(
    size: int,
    fleet: SyntheticFleet,
    table: str,
    port: int,
    headers: dict[str, str],
    args: argparse.Namespace,
    aggregates: Aggregates,
) -> tuple[list[Row], list[str]]:
    raw_client = create_client(Settings.from_env())  # the API's own client configuration
    routes, window = make_routes(fleet, size, table, raw_client)
    client = HttpClient(port, headers)
    rows = []
    try:
        notes = check_answers(client, routes, window, aggregates)
        for number, route in enumerate(routes):
            _say(f"size {size:,}: warming up and measuring {route.name}")
            warm_up(route, port, headers, args.threads, args.warm_up)
            api, raw = latencies(route, client, args.seed + 100 * number, args.requests)
            rps, errors = throughput(
                route, port, headers, args.threads, args.seconds, args.seed + 1000 * number
            )
            rows.append(
                Row(
                    size,
                    route.name,
                    percentile(api, 0.50),
                    percentile(api, 0.99),
                    rps,
                    percentile(raw, 0.50),
                    percentile(raw, 0.99),
                    errors,
                )
            )
        if client.errors:
            notes.append(f"{client.errors} API errors during the sequential latency runs")
    finally:
        client.close()
    return rows, notes


# --- loading -----------------------------------------------------------------------------------


def loader_clients(endpoint: str, region: str, count: int) -> list[Any]:
    """Bulk-load clients: generous timeouts and retries, no parameter validation (CPU-bound)."""
    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 5, "mode": "standard"},
        parameter_validation=False,
        max_pool_connections=2,
    )
    return [
        boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=config,
        )
        for _ in range(count)
    ]


def load_up_to(
    fleet: SyntheticFleet,
    aggregates: Aggregates,
    table: str,
    clients: list[Any],
    first: int,
    stop: int,
) -> LoadResult:
    """Sessions first..stop-1 and the aggregates they change; a progress bar (a terminal) or a
    line every 15 s (a log)."""
    bar = Progress(stop - first, f"loading {first:,}..{stop:,}")

    def progress(written: int, made: int, seconds: float) -> None:
        if bar.drawn:
            bar.update(made)
            return
        rate = written / seconds if seconds > 0 else 0.0
        _say(
            f"loading {first:,}..{stop:,}: {made:,}/{stop - first:,} sessions made, "
            f"{written:,} items written, {rate:,.0f} items/s, {seconds:,.0f} s"
        )

    writer = BatchWriter(table, clients)
    with bar:
        result = load(
            fleet, aggregates, writer, first, stop, progress, every=0.5 if bar.drawn else 15.0
        )
    _say(
        f"loaded {result.sessions:,} sessions + {result.aggregate_items:,} aggregate items in "
        f"{result.seconds:,.1f} s: {result.items_per_second:,.0f} items/s"
    )
    return result


# --- report ------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (nproc), {model}, Python {platform.python_version()},"
        f" {platform.system()} {platform.release()}"
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| size | route | API p50 ms | API p99 ms | API req/s | raw p50 ms | raw p99 ms "
        "| API p50 / raw p50 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.size:,} | {r.route} | {r.api_p50:.1f} | {r.api_p99:.1f} | {r.api_rps:.0f} "
            f"| {r.raw_p50:.1f} | {r.raw_p99:.1f} | {r.api_p50 / r.raw_p50:.1f}x |"
        )
    return "\n".join(lines)


def goals(rows: list[Row], sizes: list[int]) -> list[str]:
    """Each goal of issue 4 with PASS or MISS and its numbers; never raises."""
    found = {(r.size, r.route): r for r in rows}
    small, large = sizes[0], sizes[-1]
    lines = []
    for route in ROUTES:
        a, b = found[(small, route)], found[(large, route)]
        ratio = b.api_p99 / a.api_p99
        verdict = "PASS" if ratio <= P99_GROWTH_GOAL else "MISS"
        lines.append(
            f"- {verdict} p99 growth, {route}: {b.api_p99:.1f} ms at {large:,} vs "
            f"{a.api_p99:.1f} ms at {small:,} = {ratio:.2f}x (goal <= {P99_GROWTH_GOAL}x)"
        )
    for r in rows:
        ratio = r.api_p50 / r.raw_p50
        verdict = "PASS" if ratio <= FLOOR_RATIO_GOAL else "MISS"
        lines.append(
            f"- {verdict} API p50 vs raw floor, {r.route} at {r.size:,}: {r.api_p50:.1f} ms vs "
            f"{r.raw_p50:.1f} ms = {ratio:.2f}x (goal <= {FLOOR_RATIO_GOAL}x)"
        )
    for size in sizes:
        total, recent = found[(size, "30-day total")], found[(size, "list-recent")]
        verdict = "PASS" if total.api_p50 <= recent.api_p50 else "MISS"
        lines.append(
            f"- {verdict} 30-day total no slower than list-recent at {size:,}: p50 "
            f"{total.api_p50:.1f} ms vs {recent.api_p50:.1f} ms"
        )
    return lines


def command() -> str:
    executable = Path(sys.executable)
    shown = os.path.relpath(executable) if executable.is_relative_to(Path.cwd()) else executable
    return shlex.join([str(shown), *sys.argv])


# --- main --------------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or sizes != sorted(set(sizes)) or sizes[0] < 100:
        raise argparse.ArgumentTypeError("sizes must increase and start at 100 or more")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES))
    parser.add_argument("--seconds", type=float, default=10.0, help="per route, for requests/s")
    parser.add_argument("--threads", type=int, default=4, help="HTTP clients for requests/s")
    parser.add_argument(
        "--requests", type=int, default=LATENCY_REQUESTS, help="sequential requests for p50/p99"
    )
    parser.add_argument(
        "--warm-up", type=float, default=3.0, help="seconds of load per route before measuring"
    )
    parser.add_argument("--load-threads", type=int, default=LOAD_THREADS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-data", type=Path, metavar="DIR", help="keep the data folder here")
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="DynamoDB Local keeps the table in memory: loads ~3.4x faster (a million sessions "
        "in minutes, not most of an hour); floors and routes are measured on it alike",
    )
    parser.add_argument(
        "--functions-from",
        metavar="COMMIT",
        help="serve the API from this commit's functions/ (e.g. the reads before issue 22)",
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        return serve(args.serve)
    if min(args.threads, args.load_threads, args.requests) < 1 or args.seconds <= 0:
        parser.error("--threads, --load-threads, --requests and --seconds must be positive")
    load_dotenv(ROOT / ".env")
    if not (JARS / "DynamoDBLocal.jar").exists():
        parser.error(f"DynamoDB Local is not installed in {JARS}: run ./dev setup")
    if args.keep_data is not None and args.in_memory:
        parser.error("--keep-data keeps a table on disk; --in-memory keeps none")
    if args.keep_data is not None and args.keep_data.exists():
        parser.error(f"--keep-data {args.keep_data} exists; name a new folder")

    work_dir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    data_dir = work_dir / "data"
    data_dir.mkdir()
    (data_dir / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
    database: Database | None = None
    api: ManagedProcess | None = None
    try:
        settings = Settings.from_env()
        region = settings.aws_region
        _say(f"starting DynamoDB Local in {data_dir}")
        database = start_dynamodb_local(data_dir, free_port(), region, in_memory=args.in_memory)
        template = load_template(ROOT / "template.yaml")
        create_tables(database.endpoint_url, region, list(template.tables.values()))
        table_name = template.tables["SessionsTable"].name
        served = ROOT / "functions"
        if args.functions_from:
            served = extract_functions(args.functions_from, work_dir / "served")
        # The API subprocess inherits these: the bench's settings are the API's.
        os.environ |= {
            "SESSIONS_TABLE": table_name,
            "DYNAMODB_ENDPOINT_URL": database.endpoint_url,
            "AWS_REGION": region,
            "CURSOR_SECRET": os.environ.get("CURSOR_SECRET") or secrets.token_hex(32),
            "PYTHONPATH": os.pathsep.join([str(served), str(ROOT)]),
            **LOCAL_CREDENTIALS,
        }
        api, port = start_api(work_dir)
        _say(f"API serving on http://{HOST}:{port}")
        headers = {"x-api-key": settings.api_key} if settings.api_key else {}

        fleet = SyntheticFleet(end=window_end(), seed=args.seed)
        aggregates = Aggregates()
        clients = loader_clients(database.endpoint_url, region, args.load_threads)
        rows: list[Row] = []
        notes: list[str] = []
        loaded = 0
        for size in args.sizes:
            result = load_up_to(fleet, aggregates, table_name, clients, loaded, size)
            loaded = size
            notes.append(
                f"load to {size:,}: {result.sessions:,} sessions + {result.aggregate_items:,} "
                f"aggregate items in {result.seconds:,.1f} s = {result.items_per_second:,.0f} "
                f"items/s ({args.load_threads} threads)"
            )
            size_rows, size_notes = measure(
                size, fleet, table_name, port, headers, args, aggregates
            )
            rows += size_rows
            notes += [f"checks at {size:,}: {note}" for note in size_notes]
            notes += [
                f"{r.errors} API errors during the requests/s run of {r.route} at {size:,}"
                for r in size_rows
                if r.errors
            ]

        print(f"## Query API benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n")
        print(table(rows))
        print("\nGoals (issues 4 and 22):\n")
        print("\n".join(goals(rows, args.sizes)))
        print("\nNotes:\n")
        print("\n".join(f"- {note}" for note in notes))
        print(
            f"- latency: {args.requests} sequential requests after {args.warm_up:g} s of load"
            f" and {WARM_UP_REQUESTS} warm-up requests,"
            " one kept-alive client, API and raw call alternating; req/s: "
            f"{args.threads} kept-alive clients for {args.seconds:g} s"
        )
        if args.functions_from:
            print(f"- the API served the functions of commit `{args.functions_from}`")
        print(f"\nMachine: {machine()}, load {os.getloadavg()[0]:.1f} at the end\n")
        print(f"Command: `{command()}`")
        return 0
    finally:
        if api is not None:
            api.stop()
        if database is not None:
            database.stop()
        if args.keep_data is not None:
            shutil.move(str(work_dir), str(args.keep_data))
            _say(f"kept {args.keep_data} (DynamoDB Local -dbPath: data/dynamodb-data, logs)")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
