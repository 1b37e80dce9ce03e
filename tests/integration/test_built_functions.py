"""The packages `sam build` makes run on their own, the way Lambda runs them.

Each handler is imported from its built folder in a fresh interpreter that has nothing but the
Lambda runtime's boto3 and botocore (.local/lambda-runtime, made by ./dev setup), is given the
environment the template gives it, and is invoked with a real event against moto's server on
loopback: the publisher publishes a tick through the IoT data plane, the listener stores an SQS
batch, and the API answers an API Gateway proxy event for the session the listener stored. The
build is `sam build` itself, cached in .local/sam-build until one of its inputs changes.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.iotdata.models import iotdata_backends

from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.mqtt.identity import charger_password
from evsessions.registry_seed import listed_record
from local_runner.infra.built_functions import (
    BuiltFunction,
    Invocation,
    cached_build,
    invoke,
    lambda_environment,
    tool,
)
from local_runner.infra.database import create_tables, start_moto_server
from local_runner.services.template import load_template

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / ".local"
EVENTS = ROOT / "tests" / "events"
REGION = "eu-north-1"
ACCOUNT = "123456789012"
OCPP_SCHEMAS = (
    "ocpp",
    "jsonschema",
    "jsonschema_specifications",
    "referencing",
    "rpds",
    "attrs",
    "attr",
)
"""The ocpp package's schemas and what validating with them imports."""
PACKED = {
    "PublisherFunction": {"publisher", "evsessions"},
    "DeadLetterArchiveFunction": {"listener", "evsessions"},
    "ListenerFunction": {"listener", "evsessions"},
    "ApiFunction": {"api", "evsessions", "centralsystem", "chalice", *OCPP_SCHEMAS},
    "OcppFunction": {"centralsystem", "evsessions", *OCPP_SCHEMAS},
    "OcppAuthorizerFunction": {"centralsystem", "evsessions"},
    "ChargerAuthorizerFunction": {"brokerauth", "evsessions"},
}
"""What each package holds: our modules and, for the API, Chalice's runtime module, the central
system's store (for /chargepoints) and commands, and the ocpp package's schemas an operator's
command is validated with; for the central system, the ocpp package's schemas."""
ELF_MACHINES = {"arm64": 183, "x86_64": 62}
"""The ELF header's e_machine for each Lambda architecture: EM_AARCH64, EM_X86_64."""


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built() -> dict[str, BuiltFunction]:
    return cached_build(DATA_DIR)


@pytest.fixture(scope="module")
def runtime_python() -> Path:
    return tool(DATA_DIR, "python")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = start_moto_server(0)
    try:
        yield server.endpoint_url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def aws(moto_endpoint: str) -> dict[str, str]:
    """The template's table and dead-letter queue in moto; the endpoints that stand in for AWS."""
    create_tables(
        moto_endpoint, REGION, list(load_template(ROOT / "template.yaml").tables.values())
    )
    sqs = boto3.client(
        "sqs",
        region_name=REGION,
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queue_url = sqs.create_queue(QueueName="DeadLetterQueue")["QueueUrl"]
    return {
        "DYNAMODB_ENDPOINT_URL": moto_endpoint,
        "IOT_DATA_ENDPOINT_URL": moto_endpoint,
        "DEAD_LETTER_QUEUE_URL": queue_url,
        "CURSOR_SECRET": "a-cursor-secret-of-at-least-32-characters",
    }


def run(function: BuiltFunction, python: Path, aws: dict[str, str], payload: Any) -> Invocation:
    environment = lambda_environment(function, REGION, aws)
    return invoke(function, python, environment, payload)


@pytest.fixture(scope="module")
def stored_batch(
    built: dict[str, BuiltFunction], runtime_python: Path, aws: dict[str, str]
) -> Invocation:
    return run(built["ListenerFunction"], runtime_python, aws, event("sqs_session_batch.json"))


def test_each_package_holds_only_what_its_function_imports(built: dict[str, BuiltFunction]) -> None:
    for name, function in built.items():
        assert {path.name for path in function.folder.iterdir()} == PACKED[name], name
    api = built["ApiFunction"].folder
    assert sorted(path.name for path in (api / "chalice").iterdir()) == ["__init__.py", "app.py"]
    assert (api / "api" / "dashboard" / "vendor" / "chart.umd.min.js").is_file()


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", path
    return int.from_bytes(header[18:20], "little")


def test_compiled_modules_are_built_for_their_functions_architecture(
    built: dict[str, BuiltFunction],
) -> None:
    """The build machine is x86_64; the functions run on the template's Architectures."""
    compiled = {
        name: {
            str(path.relative_to(function.folder)): elf_machine(path)
            for path in function.folder.rglob("*.so")
        }
        for name, function in built.items()
    }
    for name, modules in compiled.items():
        expected = ELF_MACHINES[built[name].architecture]
        assert all(machine == expected for machine in modules.values()), (name, modules)
    assert built["OcppFunction"].architecture == "arm64"
    # CPython 3.13's ABI for aarch64, from the template's Runtime: a cp311 module would not import
    assert built["OcppFunction"].runtime == "python3.13"
    for name in ("OcppFunction", "ApiFunction"):
        assert list(compiled[name]) == ["rpds/rpds.cpython-313-aarch64-linux-gnu.so"], name
    assert {name for name, modules in compiled.items() if modules} == {
        "OcppFunction",
        "ApiFunction",
    }


def test_the_runtime_stand_in_runs_the_templates_python(
    built: dict[str, BuiltFunction], runtime_python: Path
) -> None:
    """The built-package tests run each handler on the Python version Lambda runs it on
    (scripts/setup.sh finds a python3.13; without one it warns and this fails)."""
    version = "import sys; print(f'python{sys.version_info[0]}.{sys.version_info[1]}')"
    completed = subprocess.run(
        [str(runtime_python), "-c", version], capture_output=True, text=True, check=True
    )
    assert {function.runtime for function in built.values()} == {completed.stdout.strip()}


def test_built_publisher_publishes_a_tick_through_iot_data(
    built: dict[str, BuiltFunction], runtime_python: Path, aws: dict[str, str]
) -> None:
    function = built["PublisherFunction"]
    assert function.environment["PUBLISH_TRANSPORT"] == "iot-data"  # as the template sets it
    backend = iotdata_backends[ACCOUNT][REGION]
    before = len(backend.published_payloads)

    invocation = run(function, runtime_python, aws, event("schedule.json"))

    published = backend.published_payloads[before:]
    assert [topic.rsplit("/", 1)[0] for topic, _ in published] == ["charger/1/connector/1/session"]
    message = json.loads(published[0][1])
    assert message["energy_delivered_in_kWh"] > 0
    assert_isolated(invocation, "PublisherFunction")


def test_built_listener_stores_an_sqs_batch(stored_batch: Invocation, moto_endpoint: str) -> None:
    assert stored_batch.result["batchItemFailures"] == []
    assert_isolated(stored_batch, "ListenerFunction")
    dynamodb = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = load_template(ROOT / "template.yaml").tables["SessionsTable"].name
    assert dynamodb.scan(TableName=table, Select="COUNT")["Count"] > 0


def test_built_api_answers_a_proxy_event_with_the_stored_session(
    built: dict[str, BuiltFunction],
    runtime_python: Path,
    aws: dict[str, str],
    stored_batch: Invocation,
) -> None:
    invocation = run(built["ApiFunction"], runtime_python, aws, event("api_get_session.json"))

    assert invocation.result["statusCode"] == 200, invocation.result
    body = json.loads(invocation.result["body"])
    assert (body["charger_id"], body["connector_id"], body["session_id"]) == ("1", "1", 1)
    assert body["energy_delivered_in_kWh"] == 30
    assert_isolated(invocation, "ApiFunction")


def assert_isolated(invocation: Invocation, name: str) -> None:
    """Our modules came from the package, the SDK from the runtime, and nothing from elsewhere."""
    from_package = {module for module, origin in invocation.modules.items() if origin == "package"}
    assert from_package <= PACKED[name]
    assert invocation.modules["botocore"] == "runtime"
    assert set(invocation.modules.values()) <= {"package", "runtime"}, invocation.modules


def test_built_charger_authorizer_admits_a_registered_charger_only(
    built: dict[str, BuiltFunction], runtime_python: Path, aws: dict[str, str], moto_endpoint: str
) -> None:
    # GIVEN depot-7 in the registry, read from the table as deployed
    table = load_template(ROOT / "template.yaml").tables["SessionsTable"].name
    dynamodb = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    DynamoDBChargerRegistry(table, dynamodb).put(listed_record("depot-7"))
    secret = "fleet-secret-of-the-built-authorizer"
    settings = {**aws, "MQTT_FLEET_SECRET": secret}

    def connect(charger: str) -> Invocation:
        password = base64.b64encode(charger_password(secret, charger).encode()).decode()
        mqtt = {"username": charger, "clientId": charger, "password": password}
        payload = {"protocols": ["mqtt"], "protocolData": {"mqtt": mqtt}}
        return invoke(
            built["ChargerAuthorizerFunction"],
            runtime_python,
            lambda_environment(built["ChargerAuthorizerFunction"], REGION, settings),
            payload,
        )

    # WHEN IoT Core asks about it and about a charger nobody registered
    admitted, refused = connect("depot-7"), connect("depot-8")
    # THEN the registered one gets its policy, the other nothing, from the package alone
    assert admitted.result["isAuthenticated"] is True
    assert ":client/depot-7" in admitted.result["policyDocuments"][0]
    assert refused.result == {"isAuthenticated": False}
    assert_isolated(admitted, "ChargerAuthorizerFunction")
