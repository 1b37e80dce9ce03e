"""What is deployed knows nothing of the emulator: no import of it, none of its settings, files
or modes. The emulator reaches the handlers only as AWS does: events, environment, endpoints."""

from __future__ import annotations

import ast
from pathlib import Path

from local_runner.runner_settings import RunnerSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = sorted((ROOT / "functions").glob("*/**/*.py"))
EMULATOR_WORDS = (
    "local_runner",
    "dead-letters.jsonl",
    "DEAD_LETTER_FILE",
    "dynamodb-local",
    "mosquitto",
    "amqtt",
    *(name.upper() for name in RunnerSettings.__dataclass_fields__),
)


def test_deployed_code_imports_nothing_from_the_emulator() -> None:
    assert DEPLOYED
    for path in DEPLOYED:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(m.split(".")[0] == "local_runner" for m in modules), path


def test_deployed_code_names_none_of_the_emulators_settings_files_or_modes() -> None:
    for path in DEPLOYED:
        text = path.read_text()
        assert [word for word in EMULATOR_WORDS if word in text] == [], path
