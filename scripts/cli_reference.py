"""Renders the runner's own --help, for every command, into the docs site's CLI reference page.

    .venv/bin/python scripts/cli_reference.py          # rewrite the section
    .venv/bin/python scripts/cli_reference.py --check  # exit 1 when the section is stale

A unit test runs the check, so the page cannot drift from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from local_runner.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]

PAGE = ROOT / "docs" / "pages" / "cli.md"
START = "<!-- cli-reference:start (scripts/cli_reference.py writes this section) -->"
END = "<!-- cli-reference:end -->"
WIDTH = "100"


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every sub-command's parser, depth first, in declaration order."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):
                yield from _commands(command)


def render() -> str:
    """The section's body: each command's help in a code block, at a fixed width."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        blocks = [
            f"```\n$ {command.prog} --help\n{command.format_help().rstrip()}\n```"
            for command in _commands(build_parser())
        ]
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n\n".join(blocks)


def section(page: str) -> str:
    """What stands between the markers now."""
    if START not in page or END not in page:
        raise SystemExit(f"{PAGE.name} has no CLI reference markers ({START} ... {END})")
    return page.split(START, 1)[1].split(END, 1)[0].strip("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the section is stale")
    args = parser.parse_args()
    page = PAGE.read_text()
    fresh = render()
    if section(page) == fresh:
        print(f"the CLI reference in {PAGE.relative_to(ROOT)} is up to date")
        return 0
    if args.check:
        print(
            f"the CLI reference in {PAGE.relative_to(ROOT)} is stale: run scripts/cli_reference.py"
        )
        return 1
    before, rest = page.split(START, 1)
    after = rest.split(END, 1)[1]
    PAGE.write_text(f"{before}{START}\n{fresh}\n{END}{after}")
    print(f"rewrote the CLI reference in {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
