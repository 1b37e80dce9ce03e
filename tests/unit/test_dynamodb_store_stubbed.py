"""The DynamoDB adapter's error translation, with botocore's Stubber (no sockets, no moto).

DynamoDB Local never throttles or conflicts, so these paths can only be shown with stubs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from evsessions.contract import ChargingSession, SessionKey
from evsessions.dynamodb_store import DynamoDbSessionStore, session_from_item, session_item
from evsessions.errors import StorageUnavailable
from evsessions.storage import SaveOutcome

ENDED = datetime(2025, 11, 27, 18, 34, 10, 250_000, tzinfo=UTC)
SESSION = ChargingSession(
    key=SessionKey("1", "2", "1764268440"),
    session_id=1764268440,
    energy_delivered_in_kWh=Decimal("42.125"),
    duration_in_seconds=3120,
    session_cost_in_cents=1693,
    ended_at=ENDED,
    ended_at_source="payload",
    received_at=datetime(2025, 11, 27, 18, 34, 10, 500_000, tzinfo=UTC),
)


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoDbSessionStore, Stubber]]:
    client = boto3.client(
        "dynamodb",
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield DynamoDbSessionStore("Sessions", client), stubber


def cancelled(stubber: Stubber, *codes: str) -> None:
    """The next TransactWriteItems is cancelled with one reason per item."""
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled",
        http_status_code=400,
        modeled_fields={"CancellationReasons": [{"Code": code} for code in codes]},
    )


def test_item_round_trips_to_the_same_session() -> None:
    # GIVEN a session turned into its item
    item = session_item(SESSION)
    # THEN the keys are the documented ones and reading it back gives the session again
    assert item["pk"] == "CHARGER#1"
    assert item["sk"] == "SESSION#2#1764268440"
    assert item["charger_time"] == "2025-11-27T18:34:10.250Z#2#1764268440"
    assert item["fleet_time"] == "2025-11-27T18:34:10.250Z#1#2#1764268440"
    assert item["month"] == "2025-11"
    numeric = {**item, "session_id": Decimal(item["session_id"])}  # as DynamoDB returns numbers
    assert session_from_item(numeric) == SESSION


def test_failed_condition_on_the_session_is_a_duplicate(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN DynamoDB reports the session item already exists
    store, stubber = stubbed
    cancelled(stubber, "ConditionalCheckFailed", "None")
    # WHEN the session is saved THEN it is a duplicate, not an error
    assert store.save(SESSION) is SaveOutcome.DUPLICATE


def test_throttling_is_storage_unavailable(stubbed: tuple[DynamoDbSessionStore, Stubber]) -> None:
    store, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="ProvisionedThroughputExceededException",
        http_status_code=400,
    )
    with pytest.raises(StorageUnavailable, match="ProvisionedThroughputExceededException"):
        store.save(SESSION)


def test_conflicting_transaction_is_storage_unavailable(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN another listener invocation writing the same month marker at the same moment
    # (every save writes FLEET / MONTH#YYYY-MM, so concurrent saves conflict on it)
    store, stubber = stubbed
    cancelled(stubber, "None", "TransactionConflict")
    # WHEN the session is saved
    # THEN the failure is the transient, retryable kind, not a raw botocore error
    with pytest.raises(StorageUnavailable):
        store.save(SESSION)


def test_other_client_errors_are_not_hidden(stubbed: tuple[DynamoDbSessionStore, Stubber]) -> None:
    # GIVEN a request DynamoDB refuses as invalid (a bug on our side, not an outage)
    store, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code="ValidationException")
    # THEN it surfaces as it is, not as a retryable outage
    with pytest.raises(ClientError) as excinfo:
        store.get(SESSION.key)
    assert not isinstance(excinfo.value, StorageUnavailable)


def test_recent_of_a_charger_queries_its_index_newest_first(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    store, stubber = stubbed
    expected: dict[str, Any] = {
        "TableName": "Sessions",
        "ScanIndexForward": False,
        "Limit": 5,
        "IndexName": "ByChargerTime",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "CHARGER#1"}},
    }
    stubber.add_response("query", {"Items": []}, expected)
    assert store.recent(5, charger_id="1") == []
    stubber.assert_no_pending_responses()
