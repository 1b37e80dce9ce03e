"""Handlers and the API in-process against moto: the sessions table exactly as template.yaml has it.

Clients are created only after `mock_aws` started, and the DynamoDB adapter's per-Settings cache is
cleared around every test so no client outlives its mock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from evsessions.dynamodb_store import cached_store
from local_runner.template import TableSpec, load_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
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
    yield
    cached_store.cache_clear()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region, and no endpoint or .env leaking in from the shell."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "DYNAMODB_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def sessions_table(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The template's sessions table in moto; SESSIONS_TABLE names it. Returns the name."""
    spec = sessions_table_spec()
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(**create_table_kwargs(spec))
    monkeypatch.setenv("SESSIONS_TABLE", spec.name)
    return spec.name


@pytest.fixture
def dynamodb(aws: None) -> Any:
    """A client for looking at the table behind the handlers' backs."""
    return boto3.client("dynamodb", region_name=REGION)


def session_items(client: Any, table: str) -> list[dict[str, Any]]:
    """Every session item in the table (month markers excluded)."""
    items: list[dict[str, Any]] = client.scan(TableName=table)["Items"]
    return [item for item in items if item["pk"]["S"].startswith("CHARGER#")]
