"""Every key of the sessions table is built in one module, `evsessions.dynamodb.keys`: a key
prefix written anywhere else in the deployed code is a second copy of the key design."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
KEYS = FUNCTIONS / "evsessions" / "dynamodb" / "keys.py"
READERS = (FUNCTIONS, ROOT / "local_runner", ROOT / "scripts", ROOT / "tests" / "harness")
"""The deployed code, the emulator, the scripts and the test harness: whatever reads or writes
the table builds its keys with the keys module."""
PEOPLE = {"scripts/capacity.py": "labels a key's shape for a reader of the capacity model"}
PREFIXES = (
    "CDRMONTHS",
    "CDRS#",
    "CHARGER#",
    "CHARGERS",
    "CMD#",
    "CONNECTOR#",
    "COUNTERS",
    "DEADLETTERS",
    "MONTH#",
    "MONTHS",
    "OCPP#",
    "REGISTRY#",
    "REMOTESTART#",
    "REMOTESTOP#",
    "SESSION#",
    "SESSIONCDRS#",
    "START#",
    "TARIFF#",
    "TARIFFS",
    "TOTALS#",
    "TX#",
    "UNMATCHED#",
)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings or bare string statements (prose, not keys)."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def key_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    prose = _docstrings(tree)
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and node.value.startswith(PREFIXES)
    ]


def test_no_key_prefix_is_written_outside_the_keys_module() -> None:
    # GIVEN every module that reaches the table, but the keys module
    modules = [
        path
        for folder in READERS
        for path in folder.rglob("*.py")
        if path != KEYS and str(path.relative_to(ROOT)) not in PEOPLE
    ]
    # WHEN their string literals are read THEN none is a key prefix
    found = [hit for path in modules for hit in key_literals(path)]
    assert found == []


def test_the_keys_module_is_where_the_prefixes_are() -> None:
    # The check above looks at something: the keys module itself holds the prefixes.
    assert len(key_literals(KEYS)) >= 10
