"""AWS clients straight from botocore, one session per process.

boto3 adds nothing the handlers use, and importing it pulls in s3transfer: about a third of a
cold start's import time. botocore's Session is not safe to share between threads while it makes
clients, so client creation is serialised; the clients themselves are thread-safe.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
from botocore.config import Config

_lock = threading.Lock()
_session: botocore.session.Session | None = None


def aws_client(
    service: str, region: str, endpoint_url: str | None = None, config: Config | None = None
) -> Any:
    global _session
    with _lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session.create_client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        )
