"""One error policy for every DynamoDB adapter: a retry for what a retry can fix, the error
itself for what it cannot (the central system's store once turned every error into "try again")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from evsessions.contract import SessionKey
from evsessions.dead_letters import Reason, ReceivedLetter
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.dead_letter_archive import DeadLetterArchive
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.store import DynamoDbSessionStore
from evsessions.errors import StorageUnavailable

KEY = SessionKey("1", "1", "1")


def _client_failing_with(code: str, operation: str) -> Any:
    client = boto3.client(
        "dynamodb",
        region_name="eu-north-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    stubber = Stubber(client)
    stubber.add_client_error(operation, service_error_code=code, http_status_code=400)
    stubber.activate()
    return client


LETTER = ReceivedLetter("m-1", "r-1", "{}", Reason("InvalidSession", "x", "y"), "s-1", 0)
READS: dict[str, tuple[str, Callable[[Any], object]]] = {
    "sessions": ("get_item", lambda client: DynamoDbSessionStore("t", client).get(KEY)),
    "central system": (
        "get_item",
        lambda client: CentralSystemStore("t", client).transaction("CP-1", 1),
    ),
    "registry": ("get_item", lambda client: DynamoDBChargerRegistry("t", client).get("1")),
    "dead-letter archive": (
        "put_item",
        lambda client: DeadLetterArchive("t", client).put(LETTER, datetime.now(UTC)),
    ),
}


@pytest.mark.parametrize("adapter", list(READS))
@pytest.mark.parametrize(
    "code", ["ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError"]
)
def test_a_transient_failure_is_storage_unavailable(adapter: str, code: str) -> None:
    with pytest.raises(StorageUnavailable):
        operation, call = READS[adapter]
        call(_client_failing_with(code, operation))


@pytest.mark.parametrize("adapter", list(READS))
@pytest.mark.parametrize("code", ["AccessDeniedException", "ValidationException"])
def test_a_permanent_failure_is_the_error_itself_not_a_retry(adapter: str, code: str) -> None:
    with pytest.raises(ClientError) as raised:
        operation, call = READS[adapter]
        call(_client_failing_with(code, operation))
    assert not isinstance(raised.value, StorageUnavailable)
    assert raised.value.response["Error"]["Code"] == code
