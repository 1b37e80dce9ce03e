"""The emulator page's "Local == cloud" table cannot rot: every test a row names exists.

A row whose test is still `TBD` must be one of PENDING (differences another change of issue 11
closes); once its test is named, it must leave PENDING too.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "pages" / "emulator.md"
HEADING = "## Local == cloud"
PENDING: tuple[str, ...] = ()
"""Rows whose closing test lands with another branch of issue 11."""
TEST_REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def table_rows() -> list[list[str]]:
    text = PAGE.read_text(encoding="utf-8")
    assert HEADING in text, f"{PAGE.name} has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    return [row for row in rows[2:]]  # the header and its rule first


@cache
def functions_in(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def test_the_table_has_rows_of_four_cells() -> None:
    rows = table_rows()
    assert len(rows) >= 10
    assert all(len(row) == 4 for row in rows), [row[0] for row in rows if len(row) != 4]


@pytest.mark.parametrize("row", table_rows(), ids=lambda row: row[0][:40])
def test_each_row_names_tests_that_exist(row: list[str]) -> None:
    difference, status, _, tests = row
    assert status in ("closed", "explained", "open")
    if tests == "TBD":
        assert difference in PENDING, f"{difference!r} names no test"
        return
    assert difference not in PENDING, f"{difference!r} names its test now: drop it from PENDING"
    references = TEST_REFERENCE.findall(tests)
    assert references, f"{difference!r}: no `tests/...py::test_name` in {tests!r}"
    for file, name in references:
        path = ROOT / file
        assert path.is_file(), f"{file} does not exist"
        assert name.startswith("test_") and name in functions_in(path), f"no {name} in {file}"


def test_every_pending_row_is_in_the_table() -> None:
    assert set(PENDING) <= {row[0] for row in table_rows()}
