"""The alarms' states that the health route reports, through a seam like the metrics' sink.

Deployed, CloudWatch evaluates the alarms, notifies their topic and shows them on its dashboard;
the health route reports none (null), since reading them would cost every health check an API
call and the function a permission. The local emulator evaluates the same alarms from
template.yaml and installs a provider around each API request (`providing`), so the dashboard
shows them before anything is deployed. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

Provider = Callable[[], list[dict[str, Any]]]
"""Each alarm's state: logical_id, label, state (ALARM or OK), value, condition."""

_provider: ContextVar[Provider | None] = ContextVar("evsessions_alarm_states", default=None)


@contextmanager
def providing(provider: Provider) -> Iterator[None]:
    token = _provider.set(provider)
    try:
        yield
    finally:
        _provider.reset(token)


def current() -> list[dict[str, Any]] | None:
    """The alarms' states, or None where nobody evaluates them here (deployed)."""
    provider = _provider.get()
    return None if provider is None else provider()
