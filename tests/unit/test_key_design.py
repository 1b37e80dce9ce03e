"""Every key of the sessions table is built in one module, `evsessions.dynamodb.keys`: a key
prefix written anywhere else in the deployed code is a second copy of the key design."""

from __future__ import annotations

import ast
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
KEYS = FUNCTIONS / "evsessions" / "dynamodb" / "keys.py"
PREFIXES = (
    "CHARGER#",
    "CHARGERS",
    "CONNECTOR#",
    "COUNTERS",
    "DEADLETTERS",
    "MONTH#",
    "MONTHS",
    "OCPP#",
    "REGISTRY#",
    "SESSION#",
    "START#",
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
        f"{path.relative_to(FUNCTIONS)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and node.value.startswith(PREFIXES)
    ]


def test_no_key_prefix_is_written_outside_the_keys_module() -> None:
    # GIVEN every deployed module but the keys module
    modules = [p for p in FUNCTIONS.rglob("*.py") if p != KEYS and ".egg-info" not in str(p)]
    # WHEN their string literals are read THEN none is a key prefix
    found = [hit for path in modules for hit in key_literals(path)]
    assert found == []


def test_the_keys_module_is_where_the_prefixes_are() -> None:
    # The check above looks at something: the keys module itself holds the prefixes.
    assert len(key_literals(KEYS)) >= 10
