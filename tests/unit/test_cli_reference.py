"""The docs site's CLI reference is the command line's own help, kept in step by a script."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import cli_reference  # noqa: E402


def test_the_cli_reference_page_matches_the_command_lines_help() -> None:
    written = cli_reference.section(cli_reference.PAGE.read_text())
    assert written == cli_reference.render(), (
        "docs/pages/cli.md is stale: run .venv/bin/python scripts/cli_reference.py"
    )


def test_the_reference_covers_every_command() -> None:
    rendered = cli_reference.render()
    for command in ("up", "status", "replay", "invoke", "generate-event", "dlq list", "dlq replay"):
        assert f"$ python -m local_runner {command} --help" in rendered
    assert "--speed K" in rendered
    assert "--record FILE" in rendered
