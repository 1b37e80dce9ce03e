"""Each function has an environment of its own, as on Lambda: the emulator builds it and hands it
over at each call (`evsessions.invocation`); nothing under local_runner/ writes os.environ."""

from __future__ import annotations

import ast
import os
import threading
from pathlib import Path

import pytest

from evsessions import invocation
from evsessions.aws_clients import aws_client
from evsessions.invocation import invoked_with
from evsessions.settings import Settings
from local_runner.environments import function_environments, operator_environment
from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[2]
_WRITES = {"update", "pop", "popitem", "clear", "setdefault", "__setitem__", "__delitem__"}


def _is_environ(node: ast.AST) -> bool:
    """`os.environ`, or `environ` imported from os."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def environ_writes(source: str) -> list[int]:
    """The lines of `source` that write the process environment."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript) and _is_environ(target.value):
                lines.append(node.lineno)  # environ[name] = ..., del environ[name]
            elif isinstance(target, ast.Attribute) and _is_environ(target):
                lines.append(node.lineno)  # os.environ = ..., os.environ |= ...
        if isinstance(node, ast.Call):
            called = node.func
            if isinstance(called, ast.Attribute) and (
                (called.attr in _WRITES and _is_environ(called.value))
                or (called.attr in ("putenv", "unsetenv") and _is_environ_module(called.value))
            ):
                lines.append(node.lineno)
            if isinstance(called, ast.Name | ast.Attribute) and _name(called) in (
                "load_dotenv",
                "putenv",
                "unsetenv",
            ):
                lines.append(node.lineno)
    return sorted(set(lines))


def _is_environ_module(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "os"


def _name(node: ast.Name | ast.Attribute) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr


def test_nothing_under_local_runner_writes_the_process_environment() -> None:
    # GIVEN every module of the emulator
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "local_runner").rglob("*.py"))
        if (lines := environ_writes(path.read_text(encoding="utf-8")))
    }
    # THEN none assigns, deletes or updates os.environ, calls putenv, or loads .env into it
    assert found == {}


@pytest.mark.parametrize(
    "line",
    [
        "os.environ['A'] = 'b'",
        "os.environ |= {'A': 'b'}",
        "del os.environ['A']",
        "os.environ.update(A='b')",
        "os.environ.setdefault('A', 'b')",
        "os.environ.pop('A')",
        "environ['A'] = 'b'",
        "os.putenv('A', 'b')",
        "load_dotenv('.env')",
        "dotenv.load_dotenv()",
    ],
)
def test_the_check_sees_each_way_of_writing_the_environment(line: str) -> None:
    assert environ_writes(f"import os\n{line}\n") == [2]


def test_reading_the_environment_is_no_write() -> None:
    source = (
        "import os\nx = os.environ.get('A')\ny = {**os.environ}\nz = os.environ['A']\n"
        "environ = dict(os.environ)\n"
    )
    assert environ_writes(source) == []


def test_a_call_sees_its_own_environment_and_a_thread_started_without_one_the_process() -> None:
    # GIVEN two calls on two threads at once, each handed its own environment
    seen: dict[str, str | None] = {}
    both_inside = threading.Barrier(3)

    def call(name: str, port: str) -> None:
        with invoked_with({"MQTT_PORT": port}):
            both_inside.wait(5)  # the other call is inside its own block meanwhile
            seen[name] = str(Settings.from_env().mqtt_port)

    def bystander() -> None:
        both_inside.wait(5)
        seen["bystander"] = "process" if invocation.environment() is os.environ else "other"

    threads = [
        threading.Thread(target=call, args=("a", "1001")),
        threading.Thread(target=call, args=("b", "1002")),
        threading.Thread(target=bystander),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # THEN each read its own, and a thread of nobody's call reads the process's
    assert seen == {"a": "1001", "b": "1002", "bystander": "process"}
    # AND outside any call the process's environment is back
    assert invocation.environment() is os.environ and not invocation.given()


def test_an_aws_client_made_in_a_call_takes_its_credentials_and_endpoint_from_it() -> None:
    # GIVEN a call whose environment names keys and an SQS endpoint the process has not
    environment = {
        "AWS_ACCESS_KEY_ID": "callkey",
        "AWS_SECRET_ACCESS_KEY": "callsecret",
        "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:9",
    }
    # WHEN a handler makes its clients there
    with invoked_with(environment):
        sqs = aws_client("sqs", "eu-north-1")
        dynamodb = aws_client("dynamodb", "eu-north-1", "http://127.0.0.1:8")
    # THEN they use them; an explicit endpoint still wins
    assert sqs.meta.endpoint_url == "http://127.0.0.1:9"
    assert sqs._request_signer._credentials.access_key == "callkey"
    assert dynamodb.meta.endpoint_url == "http://127.0.0.1:8"


def test_a_functions_environment_layers_the_template_the_operator_and_the_local_parts(
    tmp_path: Path,
) -> None:
    # GIVEN the template, an operator's .env and process environment, and the local parts
    template = load_template(ROOT / "template.yaml")
    dotenv = tmp_path / ".env"
    dotenv.write_text("FLEET_CHARGERS=7\nAPI_KEY=from-file\nMQTT_PORT=1\nCURSOR_SECRET=\n")
    operator = operator_environment(dotenv, {"API_KEY": "from-process", "TARIFF_AC": ""})
    # WHEN each function's environment is built
    environments = function_environments(
        template,
        operator,
        defaults={"CURSOR_SECRET": "the-data-folder's", "AWS_ACCESS_KEY_ID": "mine"},
        endpoints={"MQTT_PORT": "2000", "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:3"},
    )
    publisher, api = environments["PublisherFunction"], environments["ApiFunction"]
    # THEN the process beats .env, .env beats the template, and the local parts beat them all
    assert api["API_KEY"] == "from-process"
    assert publisher["FLEET_CHARGERS"] == "7"
    assert publisher["MQTT_PORT"] == "2000"
    # AND a blank value counts as unset: the default stands
    assert api["CURSOR_SECRET"] == "the-data-folder's"
    assert "TARIFF_AC" not in api
    # AND the template's values differ by function, as it declares them
    assert publisher["PUBLISH_TRANSPORT"] == "iot-data"
    assert "PUBLISH_TRANSPORT" not in api
    # AND each function has a mapping of its own: changing one changes no other
    publisher["API_KEY"] = "changed"
    assert api["API_KEY"] == "from-process"
    assert api["AWS_ACCESS_KEY_ID"] == "mine"
