"""Handlers and the API in-process against moto: the sessions table exactly as template.yaml has it.

Clients are created only after `mock_aws` started, and the DynamoDB adapter's per-Settings cache is
cleared around every test so no client outlives its mock.

Every API response the helpers here see is checked against the OpenAPI document the API serves
(`api.openapi`): the documented status exists for the route, and the body matches its schema.
No body may carry a traceback or the table's name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from api.app import app
from api.openapi import openapi_document
from evsessions.cdr_issuer import cached_issuer
from evsessions.contract import parse_time
from evsessions.dead_letters import dead_letter_queue
from evsessions.dynamodb.store import cached_store
from evsessions.registry_cache import cached_registry
from listener.handler import handler as listener
from local_runner.services.api_server import ApiServer
from local_runner.services.template import TableSpec, load_template
from publisher.handler import _charger_tariffs as charger_tariffs

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
API_DIR = ROOT / "functions" / "api"
REGION = "eu-north-1"
CREATE_TABLE_ARGUMENTS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "BillingMode",
)


def load_event(name: str) -> dict[str, Any]:
    """A JSON event fixture from tests/events/."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def sessions_table_spec() -> TableSpec:
    return load_template(ROOT / "template.yaml").tables["SessionsTable"]


def create_table_kwargs(spec: TableSpec) -> dict[str, Any]:
    """create_table arguments from the template's properties, as the local runner builds them."""
    arguments = {k: v for k, v in spec.properties.items() if k in CREATE_TABLE_ARGUMENTS}
    return {"TableName": spec.name, **arguments}


@pytest.fixture(autouse=True)
def fresh_store_cache() -> Iterator[None]:
    cached_store.cache_clear()
    cached_issuer.cache_clear()
    charger_tariffs.cache_clear()
    dead_letter_queue.cache_clear()
    cached_registry.cache_clear()
    yield
    cached_store.cache_clear()
    cached_issuer.cache_clear()
    charger_tariffs.cache_clear()
    dead_letter_queue.cache_clear()
    cached_registry.cache_clear()


LEAKING_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "DYNAMODB_ENDPOINT_URL",
    "AWS_SESSION_TOKEN",
    "API_KEY",
    "CORS_ALLOWED_ORIGINS",
    "CURSOR_SECRET",
    "DEAD_LETTER_QUEUE_URL",
    "AWS_ENDPOINT_URL_SQS",
)


def set_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region, and no endpoint, key or .env leaking in from the shell."""
    for name in LEAKING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)


def create_sessions_table(monkeypatch: pytest.MonkeyPatch, name: str | None = None) -> str:
    """The template's sessions table in moto (under another name if given), named by
    SESSIONS_TABLE. Call inside mock_aws."""
    arguments = create_table_kwargs(sessions_table_spec())
    if name is not None:
        arguments["TableName"] = name
    boto3.client("dynamodb", region_name=REGION).create_table(**arguments)
    monkeypatch.setenv("SESSIONS_TABLE", arguments["TableName"])
    return str(arguments["TableName"])


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_aws_environment(monkeypatch)


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def sessions_table(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The template's sessions table in moto; SESSIONS_TABLE names it. Returns the name."""
    return create_sessions_table(monkeypatch)


@contextmanager
def shared_api(rows: list[tuple[str, str, str, str]]) -> Iterator[Client]:
    """For a module of read-only tests: one moto table holding `rows`, and a client of the API.

    moto copies the whole table in every transaction, so storing is slow; storing once per
    module keeps the suite fast. Tests must not write through it.
    """
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        set_aws_environment(monkeypatch)
        create_sessions_table(monkeypatch)
        cached_store.cache_clear()
        store_sessions(rows)
        with Client(app, stage_name="dev", project_dir=str(API_DIR)) as client:
            yield client


@contextmanager
def serving_api(rows: list[tuple[str, str, str, str]]) -> Iterator[ApiServer]:
    """For a module: the API over real HTTP (the emulator's server, in this process, on a free
    port) on a moto table holding `rows`. moto's mock reaches the server's threads: it patches
    botocore, not sockets."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        set_aws_environment(monkeypatch)
        create_sessions_table(monkeypatch)
        cached_store.cache_clear()
        store_sessions(rows)
        server = ApiServer(app, "127.0.0.1", 0, "ApiFunction")
        server.start()
        try:
            yield server
        finally:
            server.shutdown()


@pytest.fixture
def dynamodb(aws: None) -> Any:
    """A client for looking at the table behind the handlers' backs."""
    return boto3.client("dynamodb", region_name=REGION)


def session_items(client: Any, table: str) -> list[dict[str, Any]]:
    """Every session item in the table (aggregate and charger items excluded)."""
    items: list[dict[str, Any]] = client.scan(TableName=table)["Items"]
    return [item for item in items if item["pk"]["S"].startswith("CHARGER#")]


# --- the API ------------------------------------------------------------------------------------

DOCUMENT = openapi_document()
TABLE_NAMES = ("SessionsTable", "NotCreatedYet")
"""Names no response body may contain: the template's table and the one tests use for outages."""


def rule_event(charger: str, connector: str, session: str, ended_at: str) -> dict[str, Any]:
    """What the IoT rule hands the listener for a session that ended at `ended_at`."""
    event = load_event("iot_rule_with_ended_at.json")
    event.update(
        session_id=session,
        topic=f"charger/{charger}/connector/{connector}/session/{session}",
        ended_at=ended_at,
        # received a few seconds after it ended, as a real charger's message is
        received_at=int(parse_time(ended_at, "ended_at").timestamp() * 1000) + 5_000,
    )
    return event


def store_sessions(rows: list[tuple[str, str, str, str]]) -> None:
    """(charger, connector, session, ended_at) rows, each stored once through the listener."""
    for row in rows:
        assert listener(rule_event(*row), None)["status"] == "stored"


@pytest.fixture
def client(sessions_table: str) -> Iterator[Client]:
    with Client(app, stage_name="dev", project_dir=str(API_DIR)) as test_client:
        yield test_client


OPERATOR_KEY = "operator-" + "k" * 32
OPERATOR = {"x-operator-key": OPERATOR_KEY, "content-type": "application/json"}
"""The headers of an operator's write (the operator_client's OPERATOR_KEY)."""


@pytest.fixture
def operator_client(sessions_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """The API with an operator key set, for the routes that change what it holds."""
    monkeypatch.setenv("OPERATOR_KEY", OPERATOR_KEY)
    with Client(app, stage_name="dev", project_dir=str(API_DIR)) as test_client:
        yield test_client


def resolved(node: Any) -> Any:
    """The node with every local $ref replaced by what it points at (the document has no cycles)."""
    if isinstance(node, list):
        return [resolved(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return resolved(target)
    return {key: resolved(value) for key, value in node.items()}


def _route_of(path: str) -> str | None:
    """The document's path template a concrete path falls under (None: the catch-all)."""
    for template in DOCUMENT["paths"]:
        pattern = re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            return str(template)
    return None


def assert_documented(path: str, status: int, body: Any, media_type: str) -> None:
    """The status is documented for the route and the body matches the documented schema."""
    route = _route_of(path.split("?", 1)[0])
    if route is None:  # /{proxy+}: left out of the document, answers only with errors
        response = resolved(DOCUMENT["components"]["responses"]["NotFound"])
        assert status in (401, 404), f"the catch-all answered {status}"
    else:
        item = DOCUMENT["paths"][route]
        responses = (item.get("get") or item["post"])["responses"]
        assert str(status) in responses, f"{status} is not documented for {route}"
        response = resolved(responses[str(status)])
    schema = response["content"][media_type]["schema"]
    if media_type == "application/json":
        OAS30Validator(schema, format_checker=oas30_format_checker).validate(body)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any
    text: str


def call(
    client: Client, path: str, method: str = "GET", headers: Mapping[str, str] | None = None
) -> Reply:
    """One request; the reply is checked against the document and for leaked internals."""
    response = client.http.request(method, path, headers=dict(headers or {}))
    text = response.body.decode("utf-8")
    assert "Traceback" not in text
    for name in TABLE_NAMES:
        assert name not in text
    is_html = response.headers.get("Content-Type", "").startswith("text/html")
    body = text if is_html else json.loads(text)
    if method == "GET":
        assert_documented(
            path, response.status_code, body, "text/html" if is_html else "application/json"
        )
    elif response.status_code >= 400:
        assert set(body) == {"error", "message"}
    return Reply(response.status_code, response.headers, body, text)


def get(client: Client, path: str) -> tuple[int, Any]:
    reply = call(client, path)
    return reply.status, reply.body
