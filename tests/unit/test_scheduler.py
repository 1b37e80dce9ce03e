"""The local EventBridge: a failed tick is retried with the same event, like async Lambda."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_runner.services.clock import ManualClock, ScaledClock
from local_runner.services.schedule_expressions import parse_schedule
from local_runner.services.scheduler import ScheduledTarget, Scheduler


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


def _ticking(clock: ManualClock, expression: str = "rate(1 minute)") -> list[str]:
    """A started scheduler on `clock` whose target records each event's time."""
    times: list[str] = []
    target = ScheduledTarget("Tick", parse_schedule(expression), lambda e: times.append(e["time"]))
    Scheduler([target], clock=clock, retry_delay_seconds=0).start()
    return times


def test_advancing_a_manual_clock_ten_minutes_gives_exactly_ten_ticks_at_once() -> None:
    # GIVEN a scheduler on a manual clock at 08:00:30
    clock = ManualClock(datetime(2026, 1, 5, 8, 0, 30, tzinfo=UTC))
    times = _ticking(clock)
    # WHEN the clock is advanced ten minutes
    clock.advance(minutes=10)
    # THEN the publisher ran ten times, each event carrying its own simulated minute
    assert times == [f"2026-01-05T08:{minute:02}:00Z" for minute in range(1, 11)]
    assert clock.now() == datetime(2026, 1, 5, 8, 10, 30, tzinfo=UTC)


def test_a_manual_clock_fires_nothing_before_the_tick_is_due() -> None:
    clock = ManualClock(datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC))
    times = _ticking(clock, "rate(5 minutes)")
    clock.advance(minutes=4, seconds=59)
    assert times == []
    clock.advance(seconds=1)
    assert times == ["2026-01-05T08:05:00Z"]


def test_a_handler_sees_the_simulated_time_while_it_runs() -> None:
    clock = ManualClock(datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC))
    seen: list[datetime] = []
    target = ScheduledTarget(
        "Tick", parse_schedule("rate(1 minute)"), lambda e: seen.append(clock.now())
    )
    Scheduler([target], clock=clock).start()
    clock.advance(minutes=2)
    assert seen == [datetime(2026, 1, 5, 8, m, tzinfo=UTC) for m in (1, 2)]


def test_a_stopped_scheduler_fires_no_more() -> None:
    clock = ManualClock(datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC))
    fired: list[dict[str, Any]] = []
    target = ScheduledTarget("Tick", parse_schedule("rate(1 minute)"), fired.append)
    scheduler = Scheduler([target], clock=clock)
    scheduler.start()
    clock.advance(minutes=1)
    scheduler.shutdown()
    clock.advance(minutes=5)
    assert len(fired) == 1


def test_a_scaled_clock_runs_k_times_faster_from_its_start() -> None:
    # GIVEN a clock at speed 60 over a fake monotonic time source
    real = [100.0]
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    clock = ScaledClock(60, start=start, monotonic=lambda: real[0])
    # WHEN 1.5 real seconds pass
    real[0] += 1.5
    # THEN 90 simulated seconds passed, and the next minute is half a real second away
    assert clock.now() == start + timedelta(seconds=90)
    assert clock.real_seconds(start + timedelta(minutes=2)) == 0.5
    assert clock.real_seconds(start) == 0


def test_a_scaled_clock_refuses_a_speed_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


def test_a_scaled_scheduler_runs_simulated_minutes_in_real_fractions_of_a_second() -> None:
    # GIVEN a scheduler at speed 6000 (a simulated minute every 10 ms)
    times: list[str] = []
    done = threading.Event()

    def tick(event: dict[str, Any]) -> None:
        times.append(event["time"])
        if len(times) == 3:
            done.set()

    target = ScheduledTarget("Tick", parse_schedule("rate(1 minute)"), tick)
    scheduler = Scheduler([target], clock=ScaledClock(6000))
    scheduler.start()
    try:
        # THEN three consecutive simulated minutes fire (bounded wait, not a timing assertion)
        assert done.wait(30)
    finally:
        scheduler.shutdown()
    minutes = [datetime.fromisoformat(t) for t in times[:3]]
    assert [b - a for a, b in itertools.pairwise(minutes)] == [timedelta(minutes=1)] * 2


def test_a_scaled_clock_without_a_start_begins_at_the_real_now_when_first_read() -> None:
    real = [100.0]
    clock = ScaledClock(600, monotonic=lambda: real[0])
    real[0] += 10  # start-up takes ten real seconds before anything reads the clock
    before = datetime.now(UTC)
    first = clock.now()
    assert before <= first <= datetime.now(UTC)
    real[0] += 0.1
    assert clock.now() - first == timedelta(minutes=1)
