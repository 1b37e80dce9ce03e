"""Run the fault-injection scenarios at a larger size than the tests and print a markdown table.

    .venv/bin/python scripts/faults.py [--size N] [--only NAME ...]

Each scenario starts its own mosquitto, DynamoDB Local and runner (see tests/harness/faults/).
Progress goes to standard error, the table to standard output. The exit status is 0 when every
scenario lost nothing and counted nothing twice, and the lossy control was seen losing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dotenv import load_dotenv

from harness.faults import LOSSY, SCENARIOS, Options, markdown_table, run_scenario

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_SIZE = 10_000
MIN_KILL_SIZE = 5_000
"""The issue's floor for the bridge-kill scenario."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--size", type=int, default=DEFAULT_SIZE, help="messages per scenario (good ones)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(SCENARIOS), metavar="NAME", help="run only these"
    )
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--outage-seconds", type=float, default=Options.outage_seconds)
    parser.add_argument("--keep", action="store_true", help="keep each scenario's temp folder")
    args = parser.parse_args(argv)
    if args.size < 10:
        parser.error("--size must be at least 10")
    load_dotenv(ROOT / ".env")
    options = Options(seed=args.seed, outage_seconds=args.outage_seconds, keep=args.keep, say=_say)
    results = []
    for name in args.only or list(SCENARIOS):
        size = max(args.size, MIN_KILL_SIZE) if name == "bridge-sigkill" else args.size
        _say(f"--- {name}: {size:,} messages")
        results.append(run_scenario(name, size, options))
    print(markdown_table(results))
    failed = False
    for result in results:
        if result.scenario in LOSSY:
            ok = result.lost > 0
            verdict = "lossy, as it must be" if ok else "NO LOSS SEEN: the harness is blind"
        else:
            ok = result.lossless
            verdict = "ok" if ok else f"FAILED: {result.summary()}"
        failed |= not ok
        print(f"\n{result.scenario}: {verdict}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
