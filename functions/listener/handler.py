"""Listener Lambda: the IoT rule hands it one message; it validates and stores it once."""

from __future__ import annotations

from typing import Any

from evsessions.contract import parse_session
from evsessions.dynamodb_store import cached_store
from evsessions.settings import Settings


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Raises InvalidSession (permanent: dead-letter) or StorageUnavailable (transient: retry)."""
    session = parse_session(event)
    outcome = cached_store(Settings.from_env()).save(session)
    return {"status": outcome.value, "topic": session.key.topic}
