"""Creating the template's tables survives a create that botocore retried after a timeout."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_runner.infra import database
from local_runner.services.template import TableSpec


class RetriedCreate:
    """A DynamoDB client whose first CreateTable timed out and whose retry met the table."""

    def __init__(self) -> None:
        self.described: list[str] = []

    def list_tables(self) -> dict[str, Any]:
        return {"TableNames": []}

    def create_table(self, **arguments: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ResourceInUseException", "Message": "preexisting table"}},
            "CreateTable",
        )

    def describe_table(self, TableName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.described.append(TableName)
        return {"Table": {"TableStatus": "ACTIVE"}}


def test_a_table_made_by_a_timed_out_first_attempt_counts_as_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a client whose CreateTable answers "preexisting table" (its first attempt made it)
    stub = RetriedCreate()
    monkeypatch.setattr(database, "client", lambda endpoint, region: stub)
    # WHEN the template's table is created
    created = database.create_tables(
        "http://127.0.0.1:1", "eu-west-1", [TableSpec("SessionsTable", "T", {})]
    )
    # THEN it is taken as created and waited for
    assert created == ["T"]
    assert stub.described == ["T"]


def test_other_create_errors_still_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = RetriedCreate()

    def refuse(**arguments: Any) -> None:
        raise ClientError({"Error": {"Code": "ValidationException"}}, "CreateTable")

    stub.create_table = refuse  # type: ignore[method-assign]
    monkeypatch.setattr(database, "client", lambda endpoint, region: stub)
    with pytest.raises(ClientError):
        database.create_tables(
            "http://127.0.0.1:1", "eu-west-1", [TableSpec("SessionsTable", "T", {})]
        )
