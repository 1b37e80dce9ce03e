"""Overlapping identical reads share one read; nothing outlives it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from evsessions.dynamodb.single_flight import SingleFlight


def test_callers_that_overlap_a_read_share_its_answer() -> None:
    # GIVEN a read that holds until released, and a caller already inside it
    flights = SingleFlight()
    inside, release = threading.Event(), threading.Event()
    reads = []

    def read() -> list[str]:
        reads.append(1)
        inside.set()
        assert release.wait(10)
        return ["page"]

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(flights.run, "fleet", read)
        assert inside.wait(10)
        # WHEN three more ask the same while it runs
        others = [pool.submit(flights.run, "fleet", read) for _ in range(3)]
        deadline = time.monotonic() + 10
        while flights.joined < 3 and time.monotonic() < deadline:
            time.sleep(0.001)  # waits for an event with a deadline: the three joined
        assert flights.joined == 3
        release.set()
        answers = [first.result(10), *(f.result(10) for f in others)]
    # THEN one read ran, and all four got its answer
    assert reads == [1]
    assert answers == [["page"]] * 4


def test_nothing_is_kept_after_the_read_and_other_keys_read_for_themselves() -> None:
    flights = SingleFlight()
    calls = []
    for key in ("a", "a", "b"):
        flights.run(key, lambda k=key: calls.append(k))  # type: ignore[misc]
    assert calls == ["a", "a", "b"]
    assert flights.joined == 0


def test_a_failed_read_fails_every_caller_and_the_next_reads_again() -> None:
    flights = SingleFlight()

    def failing() -> int:
        raise RuntimeError("throttled")

    with pytest.raises(RuntimeError, match="throttled"):
        flights.run("fleet", failing)
    assert flights.run("fleet", lambda: 7) == 7
