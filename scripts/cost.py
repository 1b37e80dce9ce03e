"""Dollars per million sessions ingested, and per million API requests, from measured counts.

    .venv/bin/python scripts/cost.py --measured bench-store.json [--price dynamodb_write_unit=...]

Why: issue 13 asks what a session costs on AWS. The counts that depend on our code are measured
(`scripts/bench_store.py --json`: write units per session, read units per request, listener
seconds per session); the ones the pipeline's shape fixes are named below (one MQTT message,
one rule execution and one SQS action a session; Lambda's SQS poller receives and deletes ten
messages a request). Prices are AWS list prices for US East (N. Virginia), on-demand, looked up
on 2026-11-29; every one is named and can be overridden with `--price name=value`. Free tiers
are left out: this is the cost at scale.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[1]

MILLION = 1_000_000


@dataclass(frozen=True)
class Prices:
    """US dollars per unit, us-east-1, on-demand list prices as of 2026-11-29."""

    iot_message: float = 1.00 / MILLION
    """IoT Core messaging, first billion messages a month, per message of up to 5 KB."""
    iot_rule_triggered: float = 0.15 / MILLION
    iot_action_executed: float = 0.15 / MILLION
    sqs_request: float = 0.40 / MILLION
    """SQS standard queue, per request of up to 64 KB."""
    lambda_request: float = 0.20 / MILLION
    lambda_gb_second_arm: float = 0.0000133334
    dynamodb_write_unit: float = 0.625 / MILLION
    """On-demand write request unit (after AWS's November 2024 price cut)."""
    dynamodb_read_unit: float = 0.125 / MILLION


@dataclass(frozen=True)
class PerSession:
    """What one session uses on its way in."""

    iot_messages: float = 1.0
    iot_rules: float = 1.0
    iot_actions: float = 1.0
    sqs_requests: float = 1.0 + 2 / 10
    """One SendMessage by the rule's action; a ReceiveMessage and a DeleteMessageBatch a ten."""
    lambda_invocations: float = 1 / 100
    """One invocation a batch; set from the measured sessions a batch."""
    lambda_seconds: float = 0.002
    """Listener time a session on AWS: a transaction of ~50 sessions takes tens of ms. Not taken
    from the benchmark: there DynamoDB Local shares the two cores (override with
    --lambda-ms-per-session)."""
    write_units: float = 12.0


def listener_memory_gb(template_path: Path = ROOT / "template.yaml") -> float:
    """The listener's memory, from template.yaml (Globals or the function)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    document = yaml.load(template_path.read_text(), Loader=Loader)
    memory = document["Globals"]["Function"].get("MemorySize", 128)
    listener = document["Resources"]["ListenerFunction"]["Properties"]
    load_template(template_path)  # the emulator's own checks of the same file
    return float(listener.get("MemorySize", memory)) / 1024


def breakdown(usage: PerSession, prices: Prices, memory_gb: float) -> dict[str, float]:
    """Dollars per million sessions, by part."""
    return {
        "IoT Core messages": usage.iot_messages * prices.iot_message * MILLION,
        "IoT rule executions and SQS actions": (
            usage.iot_rules * prices.iot_rule_triggered
            + usage.iot_actions * prices.iot_action_executed
        )
        * MILLION,
        "SQS requests": usage.sqs_requests * prices.sqs_request * MILLION,
        "Lambda invocations": usage.lambda_invocations * prices.lambda_request * MILLION,
        "Lambda duration": usage.lambda_seconds * memory_gb * prices.lambda_gb_second_arm * MILLION,
        "DynamoDB writes": usage.write_units * prices.dynamodb_write_unit * MILLION,
    }


def from_measured(path: Path) -> tuple[PerSession, dict[str, float]]:
    measured = json.loads(path.read_text())
    usage = replace(
        PerSession(),
        write_units=measured["write_units_per_session"],
        lambda_invocations=1 / measured["sessions_per_batch"],
    )
    return usage, measured["read_units_per_request"]


def report(usage: PerSession, reads: dict[str, float], prices: Prices, memory_gb: float) -> str:
    parts = breakdown(usage, prices, memory_gb)
    lines = [
        f"Per session: {', '.join(f'{k} {v:g}' for k, v in asdict(usage).items())}; "
        f"listener memory {memory_gb * 1024:.0f} MB (template.yaml).",
        "",
        "| part | dollars per million sessions |",
        "|---|---:|",
        *(f"| {name} | {dollars:,.2f} |" for name, dollars in parts.items()),
        f"| **total** | **{sum(parts.values()):,.2f}** |",
    ]
    if reads:
        lines += [
            "",
            "| API route | read units | DynamoDB dollars per million requests |",
            "|---|---:|---:|",
            *(
                f"| {route} | {units:.1f} | {units * prices.dynamodb_read_unit * MILLION:,.2f} |"
                for route, units in reads.items()
            ),
        ]
    return "\n".join(lines)


def parse_prices(overrides: list[str]) -> Prices:
    names = {f.name for f in fields(Prices)}
    changes = {}
    for override in overrides:
        name, _, value = override.partition("=")
        if name not in names:
            raise SystemExit(f"unknown price {name!r}; known: {', '.join(sorted(names))}")
        changes[name] = float(value)
    return replace(Prices(), **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measured", type=Path, help="the JSON of scripts/bench_store.py --json")
    parser.add_argument("--price", action="append", default=[], metavar="NAME=DOLLARS")
    parser.add_argument("--lambda-ms-per-session", type=float, default=2.0)
    args = parser.parse_args(argv)
    usage, reads = from_measured(args.measured) if args.measured else (PerSession(), {})
    usage = replace(usage, lambda_seconds=args.lambda_ms_per_session / 1000)
    print(report(usage, reads, parse_prices(args.price), listener_memory_gb()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
