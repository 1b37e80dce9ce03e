"""One error policy for every DynamoDB adapter: which failures are worth a retry.

Throttling, capacity, a service hiccup, a transaction conflict, a table not there yet: transient,
StorageUnavailable (the caller retries, a message comes back). Anything else (AccessDenied, a
ValidationException) is a bug or a misconfiguration that a retry cannot fix: the ClientError
goes up as it is, loud, never dressed as "try again".
"""

from __future__ import annotations

from typing import NoReturn

from botocore.exceptions import ClientError

from evsessions.errors import StorageUnavailable

TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
        "ResourceNotFoundException",
        "UnrecognizedClientException",
    }
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def raise_translated(operation: str, error: ClientError) -> NoReturn:
    """StorageUnavailable for a transient failure; otherwise the ClientError itself."""
    code = error_code(error)
    if code in TRANSIENT_CODES:
        raise StorageUnavailable(f"DynamoDB {operation} failed: {code}") from error
    raise error
