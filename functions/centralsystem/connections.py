"""Replies to a charge point through API Gateway's management API (POST @connections/{id}), and
closes a connection a newer one of the same charge point replaced (DELETE @connections/{id}).

Deployed, the endpoint is the API's own (`https://{domainName}/{stage}` of the event); the
emulator sets OCPP_MANAGEMENT_ENDPOINT_URL to its local stand-in. One client per endpoint is
kept for the container's life, as Lambda keeps warm containers.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from evsessions.aws_clients import aws_client
from evsessions.errors import PipelineError

_clients: dict[str, Any] = {}
_lock = threading.Lock()


class ConnectionGone(PipelineError):
    """The charge point hung up before its answer could be sent (410 Gone)."""


def _client(endpoint_url: str, region: str) -> Any:
    with _lock:
        if endpoint_url not in _clients:
            _clients[endpoint_url] = aws_client(
                "apigatewaymanagementapi",
                region,
                endpoint_url,
                Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2}),
            )
        return _clients[endpoint_url]


def post_to_connection(endpoint_url: str, region: str, connection_id: str, data: str) -> None:
    try:
        _client(endpoint_url, region).post_to_connection(
            ConnectionId=connection_id, Data=data.encode()
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "GoneException":
            raise ConnectionGone(connection_id) from None
        raise PipelineError(f"PostToConnection failed: {error}") from error
    except BotoCoreError as error:
        raise PipelineError(f"PostToConnection failed: {error}") from error


def delete_connection(endpoint_url: str, region: str, connection_id: str) -> None:
    """Close a connection; one already gone is what was wanted."""
    try:
        _client(endpoint_url, region).delete_connection(ConnectionId=connection_id)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "GoneException":
            return
        raise PipelineError(f"DeleteConnection failed: {error}") from error
    except BotoCoreError as error:
        raise PipelineError(f"DeleteConnection failed: {error}") from error
