"""Bursts against the local API: answered, refused (503) and timed out, beside the old server.

    .venv/bin/python scripts/bench_burst.py [--bursts 100,300,1000] [--timeout 10]
        [--sessions 500] [--path '/sessions?limit=5'] [--before-reads f5e9a7d]

Why: issue 16 found that 300 concurrent requests to the local API left 81 timed out: Python's HTTP
server listens with a backlog of 5 and the rest of a burst waits on SYN retransmissions. This
starts DynamoDB Local in a temporary folder, bulk-loads a small fleet, and serves the unchanged
Chalice app with local_runner.services.api_server in a subprocess, twice: with the old configuration
(backlog 5, a thread per connection, no limit) as the baseline and with today's `Capacity`. Each
burst opens every connection at once (one request each, `Connection: close`) from one asyncio
client and waits at most --timeout seconds per request. Goals: no timeouts at 300; at 1,000 every
request answered or refused fast. Issue 22 adds a third server: today's `Capacity` serving the
functions as they were before the shards' Queries ran at once (`--before-reads`, a commit whose
`functions/` folder is extracted with `git archive`), so old and new read code meet the same
bursts in one run; its goal: at least 3x the fleet listings answered a second. Progress goes to
standard error, the report to standard output; the script never fails on a goal.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
from bench_api import extract_functions, machine  # a sibling script
from botocore.config import Config
from dotenv import load_dotenv

from evsessions.settings import Settings
from harness.bulk_load import Aggregates, BatchWriter, SyntheticFleet, load, window_end
from local_runner.infra.database import (
    LOCAL_CREDENTIALS,
    create_tables,
    start_dynamodb_local,
)
from local_runner.infra.processes import ManagedProcess, free_port, port_open
from local_runner.services.api_server import Capacity
from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
BURSTS = (100, 300, 1000)
NOW_CODE = "now"
BEFORE_READS = "f5e9a7d"
"""The last commit whose fleet reads ran their shards' Queries one after another (issue 22)."""
READS_BEFORE = "reads before: `Capacity()`, shard Queries one after another"
READS_NOW = "now: `Capacity()`, shard Queries at once"
CONFIGURATIONS = {
    "old: backlog 5, a thread per connection": Capacity(backlog=5, workers=None),
    READS_BEFORE: Capacity(),
    READS_NOW: Capacity(),
}
"""The servers measured, in order; the second serves the functions of `--before-reads`."""
LISTINGS_GOAL = 3.0
"""Issue 22: fleet listings answered a second, now over before, under the same burst."""
FAST_SECONDS = 5.0
"""A refusal slower than this is not 'fast' (the goal at 1,000)."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# --- serving -----------------------------------------------------------------------------------


def serve(port: int, configuration: str) -> int:
    """The API subprocess: the unchanged Chalice app until SIGTERM or SIGINT."""
    from api.app import app
    from local_runner.services.api_server import ApiServer

    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # the server thread inherits the mask
    server = ApiServer(app, HOST, port, "api_handler", CONFIGURATIONS[configuration])
    server.start()
    signal.sigwait(stop_signals)
    server.shutdown()
    return 0


def start_api(
    work_dir: Path, configuration: str, functions: Path = ROOT / "functions"
) -> tuple[ManagedProcess, int]:
    """The server subprocess, importing the deployed code from `functions`."""
    port = free_port()
    path = os.pathsep.join([str(functions), str(ROOT)])
    process = ManagedProcess(
        "API server",
        [
            "env",
            f"PYTHONPATH={path}",
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve",
            str(port),
            configuration,
        ],
        work_dir / "logs" / f"api-{port}.log",
    )
    try:
        process.wait_until(lambda: port_open(HOST, port), timeout=60)
    except BaseException:
        process.stop()
        raise
    return process, port


# --- measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # "answered", "503", "timed out", "error", or "status N"
    seconds: float


async def one_request(port: int, request: bytes, timeout: float) -> Outcome:
    started = time.monotonic()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            await reader.read()  # to the end: Connection: close
        status = int(status_line.split()[1])
        kind = "answered" if status == 200 else "503" if status == 503 else f"status {status}"
        return Outcome(kind, time.monotonic() - started)
    except TimeoutError:
        return Outcome("timed out", time.monotonic() - started)
    except (OSError, ValueError, IndexError):
        return Outcome("error", time.monotonic() - started)
    finally:
        if writer is not None:
            writer.close()


async def burst(
    port: int, path: str, headers: dict[str, str], size: int, timeout: float
) -> list[Outcome]:
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return await asyncio.gather(*(one_request(port, request, timeout) for _ in range(size)))


def percentile(samples: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile in milliseconds of samples in seconds."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))] * 1000


@dataclass(frozen=True)
class Row:
    configuration: str
    size: int
    outcomes: list[Outcome]
    seconds: float

    def count(self, kind: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.kind == kind)

    def latencies(self, kind: str) -> list[float]:
        return [outcome.seconds for outcome in self.outcomes if outcome.kind == kind]

    @property
    def other(self) -> int:
        return len(self.outcomes) - sum(map(self.count, ("answered", "503", "timed out")))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(rows: list[Row]) -> str:
    lines = [
        "| server | burst | answered | 503 | timed out | other errors "
        "| answered p50 / p99 ms | 503 p99 ms | burst done in s | answered a second |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        answered = row.latencies("answered")
        lines.append(
            f"| {row.configuration} | {row.size:,} | {row.count('answered'):,} | "
            f"{row.count('503'):,} | {row.count('timed out'):,} | {row.other:,} | "
            f"{_ms(percentile(answered, 0.5))} / {_ms(percentile(answered, 0.99))} | "
            f"{_ms(percentile(row.latencies('503'), 0.99))} | {row.seconds:,.1f} | "
            f"{listings_per_second(row):,.1f} |"
        )
    return "\n".join(lines)


def listings_per_second(row: Row) -> float:
    return row.count("answered") / row.seconds if row.seconds > 0 else 0.0


def goals(rows: list[Row]) -> list[str]:
    now = [row for row in rows if row.configuration.startswith("now")]
    said = []
    before = {row.size: row for row in rows if row.configuration == READS_BEFORE}
    for row in now:
        if row.size in before:
            old, new = listings_per_second(before[row.size]), listings_per_second(row)
            ratio = new / old if old > 0 else math.inf
            said.append(
                f"- {'PASS' if ratio >= LISTINGS_GOAL else 'MISS'}: listings answered a second "
                f"in a burst of {row.size:,}: {new:,.1f} now vs {old:,.1f} with the reads before"
                f" = {ratio:.1f}x (goal >= {LISTINGS_GOAL:g}x)"
            )
    for row in now:
        if row.size == 300:
            ok = row.count("timed out") == 0 and row.other == 0
            said.append(
                f"- {'PASS' if ok else 'MISS'}: no timeouts at 300 ({row.count('timed out')})"
            )
        if row.size == 1000:
            refusals = percentile(row.latencies("503"), 0.99)
            fast = refusals is None or refusals <= FAST_SECONDS * 1000
            ok = row.count("timed out") == 0 and row.other == 0 and fast
            said.append(
                f"- {'PASS' if ok else 'MISS'}: every request of 1,000 answered or refused fast "
                f"({row.count('answered')} answered, {row.count('503')} refused, p99 of a "
                f"refusal {_ms(refusals)} ms, {row.count('timed out')} timed out)"
            )
    return said


# --- the run -----------------------------------------------------------------------------------


def load_sessions(endpoint: str, region: str, table_name: str, sessions: int) -> None:
    patient = Config(read_timeout=60, retries={"max_attempts": 5, "mode": "standard"})
    loader = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=patient,
    )
    writer = BatchWriter(table_name, [loader])
    load(SyntheticFleet(end=window_end(), seed=1), Aggregates(), writer, 0, sessions)


def machine_now() -> str:
    """The benchmarks' machine line, and the load this burst run starts under."""
    return f"{machine()}, load {os.getloadavg()[0]:.1f} at start"


def parse_bursts(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("bursts are positive whole numbers, e.g. 100,300,1000")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bursts", type=parse_bursts, default=list(BURSTS))
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--sessions", type=int, default=500, help="sessions loaded first")
    parser.add_argument("--path", default="/sessions?limit=5", help="what every request asks")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between bursts")
    parser.add_argument(
        "--before-reads",
        default=BEFORE_READS,
        help="commit whose functions/ serve the reads before",
    )
    parser.add_argument(
        "--serve", nargs=2, metavar=("PORT", "CONFIGURATION"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.serve is not None:
        return serve(int(args.serve[0]), args.serve[1])
    load_dotenv(ROOT / ".env")
    jars = ROOT / ".local" / "dynamodb-local"
    if not (jars / "DynamoDBLocal.jar").exists():
        parser.error(f"DynamoDB Local is not installed in {jars}: run ./dev setup")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # a burst of 1,000 is 1,000 sockets on each side (the server inherits this)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work_dir = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    data_dir = work_dir / "data"
    data_dir.mkdir()
    (data_dir / "dynamodb-local").symlink_to(jars, target_is_directory=True)
    database = None
    started_at = datetime.now(UTC)
    where = machine_now()
    try:
        settings = Settings.from_env()
        region = settings.aws_region
        _say(f"starting DynamoDB Local in {data_dir}")
        database = start_dynamodb_local(data_dir, free_port(), region)
        template = load_template(ROOT / "template.yaml")
        create_tables(database.endpoint_url, region, list(template.tables.values()))
        table_name = template.tables["SessionsTable"].name
        _say(f"loading {args.sessions:,} sessions")
        load_sessions(database.endpoint_url, region, table_name, args.sessions)
        os.environ |= {  # the API subprocess inherits these
            "SESSIONS_TABLE": table_name,
            "DYNAMODB_ENDPOINT_URL": database.endpoint_url,
            "AWS_REGION": region,
            "CURSOR_SECRET": os.environ.get("CURSOR_SECRET") or secrets.token_hex(32),
            "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
            **LOCAL_CREDENTIALS,
        }
        headers = {"x-api-key": settings.api_key} if settings.api_key else {}
        before = extract_functions(args.before_reads, work_dir / "before")
        rows: list[Row] = []
        for configuration in CONFIGURATIONS:
            code = before if configuration == READS_BEFORE else ROOT / "functions"
            api, port = start_api(work_dir, configuration, code)
            try:
                for size in args.bursts:
                    time.sleep(args.pause)  # the previous burst's stragglers are gone
                    _say(f"{configuration}: burst of {size:,}")
                    began = time.monotonic()
                    outcomes = asyncio.run(burst(port, args.path, headers, size, args.timeout))
                    rows.append(Row(configuration, size, outcomes, time.monotonic() - began))
            finally:
                api.stop()
        print(f"## Local API under bursts ({started_at:%Y-%m-%d %H:%M} UTC)\n")
        print(table(rows))
        print("\nGoals (issues 16 and 22):\n")
        print("\n".join(goals(rows)))
        print(
            f"\nEach request: `GET {args.path}` on its own connection, all of a burst at once, "
            f"timed out after {args.timeout:g} s; {args.sessions:,} sessions in DynamoDB Local. "
            f"Today's capacity: {Capacity()}. The reads before: the functions of commit "
            f"`{args.before_reads}`. Answered a second: answered / burst done in s.\n"
        )
        print(f"Machine: {where}\n")
        print(f"Command: `{shlex.join([Path(sys.executable).name, *sys.argv])}`")
        return 0
    finally:
        if database is not None:
            database.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
