"""AWS clients straight from botocore, one session per process.

boto3 adds nothing the handlers use, and importing it pulls in s3transfer: about a third of a
cold start's import time. botocore's Session is not safe to share between threads while it makes
clients, so client creation is serialised; the clients themselves are thread-safe.

botocore reads credentials and `AWS_ENDPOINT_URL_<SERVICE>` from os.environ. When the host handed
the invocation an environment of its own (`evsessions.invocation`), those are read from it and
passed explicitly instead, so each function gets its own; on Lambda nothing changes.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
from botocore.config import Config

from evsessions import invocation

_lock = threading.Lock()
_session: botocore.session.Session | None = None
_CREDENTIALS = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}


def aws_client(
    service: str, region: str, endpoint_url: str | None = None, config: Config | None = None
) -> Any:
    global _session
    explicit: dict[str, Any] = {}
    if invocation.given():
        environment = invocation.environment()
        explicit = {key: environment.get(name) for key, name in _CREDENTIALS.items()}
        endpoint_url = endpoint_url or (
            environment.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}")
            or environment.get("AWS_ENDPOINT_URL")
        )
    with _lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session.create_client(
            service, region_name=region, endpoint_url=endpoint_url, config=config, **explicit
        )
