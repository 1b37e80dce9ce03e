"""The local stand-in for EventBridge schedules: fires each function's schedules on time.

One thread for all schedules; it sleeps on a stop event until the next fire time, so it never
busy-waits and stops at once. The clock is injected so tests can drive time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local_runner.events import scheduled_event
from local_runner.schedule_expressions import Schedule

log = logging.getLogger("local_runner.scheduler")


@dataclass(frozen=True)
class ScheduledTarget:
    name: str
    schedule: Schedule
    invoke: Callable[[dict[str, Any]], Any]
    max_retries: int = 2
    """EventBridge invokes Lambda asynchronously: a failed tick is retried, the same event."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        targets: list[ScheduledTarget],
        *,
        clock: Callable[[], datetime] = _utc_now,
        on_result: Callable[[str, datetime, Any, BaseException | None], None] | None = None,
        retry_delay_seconds: float = 5.0,
    ) -> None:
        self.retry_delay_seconds = retry_delay_seconds
        self.targets = targets
        self.clock = clock
        self.on_result = on_result or (lambda name, moment, result, error: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def fire(self, target: ScheduledTarget, moment: datetime) -> None:
        """Invoke one target for the tick at `moment`, retrying a failure with the same event
        (a retried tick republishes the same session ids); errors are reported, never raised."""
        event = scheduled_event(moment, target.name)
        for attempt in range(target.max_retries + 1):
            try:
                result = target.invoke(event)
            except Exception as error:
                self.on_result(target.name, moment, None, error)
                if self._stop.wait(self.retry_delay_seconds * 2**attempt):
                    return
            else:
                self.on_result(target.name, moment, result, None)
                return

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        upcoming = {t.name: t.schedule.next_after(self.clock()) for t in self.targets}
        while not self._stop.is_set():
            pending = [(moment, name) for name, moment in upcoming.items() if moment is not None]
            if not pending:
                return
            moment, name = min(pending)
            wait = (moment - self.clock()).total_seconds()
            if wait > 0:
                self._stop.wait(wait)
                continue
            target = next(t for t in self.targets if t.name == name)
            self.fire(target, moment)
            upcoming[name] = target.schedule.next_after(moment)
