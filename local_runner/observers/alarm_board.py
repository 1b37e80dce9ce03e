"""The template's alarms, evaluated on what the local system measures.

The functions' metrics arrive as data: each invoker installs `MetricsBoard.emission` as the
metrics sink around its calls (evsessions.metrics.publishing_to) and reports a call that raised
(Lambda's `Errors`). The dead-letter alarm reads the local dead-letter store, which stands in for
the queue CloudWatch would measure. Each alarm keeps the template's statistic, period and
threshold (local_runner/services/alarms.py); an alarm whose metric the emulator has no stand-in
for (IoT, API Gateway, DynamoDB, metric math) is left to CloudWatch and not shown.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from evsessions.metrics import NAMESPACE, Emission
from local_runner.services.alarms import AlarmSpec

_LAMBDA = "AWS/Lambda"
_DEAD_LETTER_DEPTH = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")


@dataclass(frozen=True)
class _Point:
    at: float
    namespace: str
    function: str
    metric: str
    value: float


class MetricsBoard:
    """Metric points by function, kept as long as the longest alarm window; safe from any
    thread. `totals` counts everything since start."""

    def __init__(self, clock: Callable[[], float] = time.time, keep_seconds: float = 3600) -> None:
        self._clock = clock
        self._keep = keep_seconds
        self._lock = threading.Lock()
        self._points: deque[_Point] = deque()
        self.totals: dict[tuple[str, str], float] = {}
        """(function, metric) -> sum since start."""

    def emission(self, emission: Emission) -> None:
        """A metrics sink: one invocation's metrics, as the deployed function would send them."""
        for metric, value in emission.values.items():
            self._add(NAMESPACE, emission.function, metric.value, value)

    def error(self, function: str) -> None:
        """A call of `function` that raised: Lambda counts it in `Errors`."""
        self._add(_LAMBDA, function, "Errors", 1)

    def _add(self, namespace: str, function: str, metric: str, value: float) -> None:
        now = self._clock()
        with self._lock:
            self._points.append(_Point(now, namespace, function, metric, value))
            self.totals[(function, metric)] = self.totals.get((function, metric), 0) + value
            while self._points and self._points[0].at < now - self._keep:
                self._points.popleft()

    def statistic(
        self, namespace: str, function: str, metric: str, seconds: float, statistic: str
    ) -> float:
        """The statistic over the last `seconds` (0 with no data: the template's alarms treat
        missing data as not breaching)."""
        since = self._clock() - seconds
        with self._lock:
            values = [
                p.value
                for p in self._points
                if p.at >= since
                and (p.namespace, p.function, p.metric) == (namespace, function, metric)
            ]
        if not values:
            return 0.0
        if statistic == "Sum":
            return sum(values)
        if statistic == "Maximum":
            return max(values)
        if statistic == "Minimum":
            return min(values)
        if statistic == "SampleCount":
            return float(len(values))
        return sum(values) / len(values)  # Average


@dataclass(frozen=True)
class AlarmState:
    logical_id: str
    label: str
    state: str
    """ALARM or OK."""
    value: float
    condition: str

    def line(self) -> str:
        return f"{self.state} {self.label}: {self.value:g} ({self.condition})"


def evaluate(
    alarms: Sequence[AlarmSpec],
    board: MetricsBoard,
    dead_letters: Callable[[], int | None],
    dead_letter_queues: set[str],
) -> list[AlarmState]:
    """Each alarm the emulator can measure, in the template's order, with its state now."""
    states = []
    for alarm in alarms:
        value = _local_value(alarm, board, dead_letters, dead_letter_queues)
        if value is None:
            continue
        state = "ALARM" if alarm.breaching(value) else "OK"
        states.append(AlarmState(alarm.logical_id, alarm.label, state, value, alarm.condition()))
    return states


def _local_value(
    alarm: AlarmSpec,
    board: MetricsBoard,
    dead_letters: Callable[[], int | None],
    dead_letter_queues: set[str],
) -> float | None:
    if alarm.metric is None or alarm.namespace is None:
        return None
    if alarm.namespace in (NAMESPACE, _LAMBDA) and "FunctionName" in alarm.dimensions:
        if alarm.namespace == _LAMBDA and alarm.metric != "Errors":
            return None  # throttles, duration: nothing stands in for them locally
        return board.statistic(
            alarm.namespace,
            alarm.dimensions["FunctionName"],
            alarm.metric,
            alarm.window_seconds,
            alarm.statistic,
        )
    if (alarm.namespace, alarm.metric) == _DEAD_LETTER_DEPTH and (
        alarm.dimensions.get("QueueName") in dead_letter_queues
    ):
        count = dead_letters()
        return None if count is None else float(count)
    return None


def as_documents(states: Sequence[AlarmState]) -> list[dict[str, Any]]:
    """For the status snapshot: plain JSON."""
    return [asdict(state) for state in states]


def alarm_lines(documents: Sequence[dict[str, Any]]) -> list[str]:
    """What `status` shows: a line per alarm in ALARM, or one line saying all are OK."""
    firing = [AlarmState(**d).line() for d in documents if d.get("state") == "ALARM"]
    if firing:
        return firing
    if not documents:
        return []
    return [f"alarms OK ({', '.join(str(d['label']) for d in documents)})"]
