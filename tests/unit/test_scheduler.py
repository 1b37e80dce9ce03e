"""The local EventBridge: a failed tick is retried with the same event, like async Lambda."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from local_runner.schedule_expressions import parse_schedule
from local_runner.scheduler import ScheduledTarget, Scheduler


def test_a_failing_tick_is_retried_with_the_same_event_then_reported() -> None:
    # GIVEN a target that fails twice, then succeeds
    events: list[dict[str, Any]] = []

    def flaky(event: dict[str, Any]) -> str:
        events.append(event)
        if len(events) < 3:
            raise ConnectionError("broker down")
        return "published"

    reports: list[tuple[Any, BaseException | None]] = []
    scheduler = Scheduler(
        [ScheduledTarget("Tick", parse_schedule("rate(1 minute)"), flaky, max_retries=2)],
        on_result=lambda name, moment, result, error: reports.append((result, error)),
        retry_delay_seconds=0,
    )
    # WHEN the tick at 08:00 fires
    scheduler.fire(scheduler.targets[0], datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    # THEN it was invoked three times with one identical event, and the last attempt succeeded
    assert len(events) == 3
    assert events[0] == events[1] == events[2]
    assert events[0]["time"] == "2026-01-05T08:00:00Z"
    assert [type(e) for _, e in reports] == [ConnectionError, ConnectionError, type(None)]
    assert reports[-1][0] == "published"


def test_retries_stop_after_max_retries() -> None:
    calls = []

    def broken(event: dict[str, Any]) -> None:
        calls.append(event)
        raise RuntimeError("bug")

    scheduler = Scheduler(
        [ScheduledTarget("Tick", parse_schedule("rate(1 minute)"), broken, max_retries=2)],
        retry_delay_seconds=0,
    )
    scheduler.fire(scheduler.targets[0], datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    assert len(calls) == 3
