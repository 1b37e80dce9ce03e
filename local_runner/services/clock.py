"""Clocks for the emulator: real time, time K times faster, and time a test moves by hand.

The scheduler never sleeps on its own: it hands its loop to a clock (`Clock.run`), so
`up --speed 60` runs a simulated minute every real second and a test's `ManualClock.advance`
fires every due tick at once, in the test's thread, with no real waiting. What the handlers see
is the clock's time: it is the scheduled event's `time` and the rule's receipt time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

Step = Callable[[], datetime | None]
"""Does what is due now; returns the clock time when it wants to run next, or None to end."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time on this clock (UTC)."""
        ...

    def run(self, step: Step, stop: threading.Event) -> None:
        """Call `step` now and then whenever the clock reaches the time it returned, until it
        returns None or `stop` is set."""
        ...


class ScaledClock:
    """Time that runs `speed` times faster (speed 1: real time). It starts at `start`, or at the
    real now when it is first read, so the seconds a system takes to start up are not
    multiplied into a jump of simulated minutes before its first tick."""

    def __init__(
        self,
        speed: float = 1.0,
        *,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive number, got {speed}")
        self.speed = speed
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._anchor: tuple[datetime, float] | None = None
        if start is not None:
            self._anchor = (start.astimezone(UTC), monotonic())

    def now(self) -> datetime:
        with self._lock:
            if self._anchor is None:
                self._anchor = (datetime.now(UTC), self._monotonic())
            start, started = self._anchor
        return start + timedelta(seconds=(self._monotonic() - started) * self.speed)

    def real_seconds(self, moment: datetime) -> float:
        """Real seconds from now until the clock shows `moment` (0 when it is past)."""
        return max(0.0, (moment - self.now()).total_seconds() / self.speed)

    def run(self, step: Step, stop: threading.Event) -> None:
        while not stop.is_set():
            wanted = step()
            if wanted is None:
                return
            while not stop.is_set() and (wait := self.real_seconds(wanted)) > 0:
                stop.wait(wait)


def real_clock() -> ScaledClock:
    return ScaledClock(1.0)


class ManualClock:
    """A clock that moves only when told: `advance(minutes=10)` runs every step due in those ten
    minutes, in time order, before it returns (each sees `now()` at its own due time)."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._steps: list[tuple[Step, threading.Event]] = []
        self._wanted: list[datetime | None] = []
        self._lock = threading.RLock()

    def now(self) -> datetime:
        return self._now

    def run(self, step: Step, stop: threading.Event) -> None:
        """Take `step` on and return at once: `advance` drives it from now on."""
        with self._lock:
            self._steps.append((step, stop))
            self._wanted.append(None if stop.is_set() else step())

    def advance(self, **delta: float) -> None:
        """Move time forward by `timedelta(**delta)`, running what falls due on the way."""
        with self._lock:
            target = self._now + timedelta(**delta)
            while True:
                due = [
                    (wanted, index)
                    for index, wanted in enumerate(self._wanted)
                    if wanted is not None
                    and wanted <= target
                    and not self._steps[index][1].is_set()
                ]
                if not due:
                    break
                moment, index = min(due)
                self._now = max(self._now, moment)
                self._wanted[index] = self._steps[index][0]()
            self._now = target
