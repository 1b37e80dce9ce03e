"""The pipeline's metrics, as CloudWatch Embedded Metric Format (EMF).

Deployed, an invocation's metrics leave as one JSON line on stdout with an `_aws` block, which
CloudWatch Logs turns into metrics: no API call on the hot path and no IAM permission. Where they
go is a seam, a sink held in the invocation's context (a ContextVar): stdout unless a caller
installs another with `publishing_to`. The local emulator installs its own around each call, as it
passes the Lambda context, and receives the same metrics as data; nobody parses log lines.

Handlers open an invocation with `@recorded(...)` (its metrics then leave together, under the
function's name from the Lambda context); code below them calls `record`. Standard library only:
a handler's cold start pays for nothing new.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from evsessions.invocation import environment

NAMESPACE = "EvSessions"
"""The CloudWatch namespace; every metric has the dimension FunctionName (Lambda's name)."""
DIMENSION = "FunctionName"


class Metric(StrEnum):
    SESSIONS_STORED = "SessionsStored"
    DUPLICATES = "Duplicates"
    REUSED_SESSION_IDS = "ReusedSessionIds"
    DEAD_LETTERS = "DeadLetters"
    DEAD_LETTERS_ARCHIVED = "DeadLettersArchived"
    CONFLICTS_RETRIED = "ConflictsRetried"
    BATCH_DURATION = "BatchDuration"
    SUSPECT_SESSIONS = "SuspectSessions"

    @property
    def unit(self) -> str:
        return "Milliseconds" if self is Metric.BATCH_DURATION else "Count"


@dataclass(frozen=True)
class Emission:
    """One invocation's metrics (or one metric recorded outside any invocation)."""

    function: str
    values: dict[Metric, float]
    timestamp_ms: int


Sink = Callable[[Emission], None]


def emf_document(emission: Emission) -> dict[str, Any]:
    """The EMF JSON object CloudWatch reads: the metrics' names and units, then their values."""
    return {
        "_aws": {
            "Timestamp": emission.timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [{"Name": m.value, "Unit": m.unit} for m in emission.values],
                }
            ],
        },
        DIMENSION: emission.function,
        **{metric.value: value for metric, value in emission.values.items()},
    }


def stdout_sink(emission: Emission) -> None:
    """Deployed: one line on stdout, which Lambda hands to CloudWatch Logs as it is."""
    sys.stdout.write(json.dumps(emf_document(emission), separators=(",", ":")) + "\n")
    sys.stdout.flush()


_sink: ContextVar[Sink | None] = ContextVar("evsessions_metrics_sink", default=None)


@dataclass
class _Invocation:
    function: str
    values: dict[Metric, float] = field(default_factory=dict)


_invocation: ContextVar[_Invocation | None] = ContextVar("evsessions_invocation", default=None)


@contextmanager
def publishing_to(sink: Sink) -> Iterator[None]:
    """Send the metrics of what runs inside to `sink` instead of stdout (the emulator's seam)."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def record(metric: Metric, value: float = 1) -> None:
    """Add `value` to `metric` in the current invocation (sent once it ends). Outside one, it is
    sent at once under the function Lambda names in its environment (AWS_LAMBDA_FUNCTION_NAME,
    which Lambda sets); off Lambda with no sink installed (a benchmark driving the store
    directly), it goes nowhere."""
    current = _invocation.get()
    if current is not None:
        current.values[metric] = current.values.get(metric, 0) + value
        return
    sink = _sink.get()
    name = environment().get("AWS_LAMBDA_FUNCTION_NAME")
    if sink is None and name is None:
        return
    (sink or stdout_sink)(Emission(name or "unknown", {metric: value}, _now_ms()))


def suspect_sessions(count: int = 1) -> None:
    """Sessions stored with an integrity verdict that wants a person to look."""
    if count:
        record(Metric.SUSPECT_SESSIONS, count)


def saved(outcomes: Iterable[object]) -> None:
    """A batch's save outcomes: stored, duplicate, reused (storage.SaveOutcome's values)."""
    names = {
        "stored": Metric.SESSIONS_STORED,
        "duplicate": Metric.DUPLICATES,
        "reused": Metric.REUSED_SESSION_IDS,
    }
    for outcome in outcomes:
        metric = names.get(str(getattr(outcome, "value", outcome)))
        if metric is not None:
            record(metric)


@contextmanager
def invocation(function: str, duration: Metric | None = None) -> Iterator[None]:
    """Gather what is recorded inside and send it as one emission when it ends, raised or not;
    `duration` names a metric that gets the invocation's milliseconds."""
    current = _Invocation(function)
    token = _invocation.set(current)
    started = time.perf_counter()
    try:
        yield
    finally:
        _invocation.reset(token)
        if duration is not None:
            current.values[duration] = round((time.perf_counter() - started) * 1000, 1)
        if current.values:
            (_sink.get() or stdout_sink)(Emission(function, current.values, _now_ms()))


Handler = TypeVar("Handler", bound=Callable[[Any, Any], Any])


def recorded(duration: Metric | None = None) -> Callable[[Handler], Handler]:
    """A Lambda handler whose metrics leave together, under its function's name."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            name = str(getattr(context, "function_name", None) or "unknown")
            with invocation(name, duration):
                return handler(event, context)

        return wrapper  # type: ignore[return-value]

    return decorate


def _now_ms() -> int:
    return int(time.time() * 1000)
