"""The local stand-in for EventBridge schedules: fires each function's schedules on time.

One thread for all schedules, driven by a clock (`services/clock.py`): the real one, a faster one
for `up --speed K`, or a test's manual clock. It never busy-waits and stops at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from local_runner.services.clock import Clock, real_clock
from local_runner.services.events import scheduled_event
from local_runner.services.schedule_expressions import Schedule

log = logging.getLogger("local_runner.services.scheduler")


@dataclass(frozen=True)
class ScheduledTarget:
    name: str
    schedule: Schedule
    invoke: Callable[[dict[str, Any]], Any]
    max_retries: int = 2
    """EventBridge invokes Lambda asynchronously: a failed tick is retried, the same event."""


class Scheduler:
    def __init__(
        self,
        targets: list[ScheduledTarget],
        *,
        clock: Clock | None = None,
        on_result: Callable[[str, datetime, Any, BaseException | None], None] | None = None,
        retry_delay_seconds: float = 5.0,
    ) -> None:
        self.retry_delay_seconds = retry_delay_seconds
        self.targets = targets
        self.clock = clock or real_clock()
        self._upcoming: dict[str, datetime | None] | None = None
        self.on_result = on_result or (lambda name, moment, result, error: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drive, name="scheduler", daemon=True)

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

    def _drive(self) -> None:
        self.clock.run(self.run_due, self._stop)

    def run_due(self) -> datetime | None:
        """Fire every tick that is due, oldest first; the time of the next one (None: no more).
        The first call only plans: schedules start after the moment the scheduler starts."""
        if self._upcoming is None:
            now = self.clock.now()
            self._upcoming = {t.name: t.schedule.next_after(now) for t in self.targets}
        while not self._stop.is_set():
            pending = [
                (moment, name) for name, moment in self._upcoming.items() if moment is not None
            ]
            if not pending:
                return None
            moment, name = min(pending)
            if moment > self.clock.now():
                return moment
            target = next(t for t in self.targets if t.name == name)
            self.fire(target, moment)
            self._upcoming[name] = target.schedule.next_after(moment)
        return None
