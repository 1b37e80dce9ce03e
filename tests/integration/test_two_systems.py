"""Two local systems in one process, like two stacks: each function runs in its own environment
(handed over at each call, never through os.environ), so neither system's ticks, rules or API
reach the other's broker or table, even while both run at once."""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_runner.services.clock import ManualClock
from local_runner.system import LocalSystem
from tests.integration.conftest import prepare_data_dir, runner_settings, running_system
from tests.integration.helpers import eventually

KEY = "the-second-systems-key"


def _get(system: LocalSystem, path: str, key: str | None = None) -> tuple[int, Any]:
    assert system.api is not None
    request = urllib.request.Request(f"{system.api.url}{path}", headers={"x-api-key": key or ""})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _sessions(system: LocalSystem, key: str | None = None) -> list[dict[str, Any]]:
    status, body = _get(system, "/sessions?limit=500", key)
    assert status == 200, body
    return list(body["sessions"])


def _quiet(_line: str) -> None:
    return None


def _advance_together(clocks: list[ManualClock], minutes: int) -> None:
    """Both clocks at once, from two threads: the two systems' handlers run interleaved."""
    start = threading.Barrier(len(clocks))

    def advance(clock: ManualClock) -> None:
        start.wait(10)
        clock.advance(minutes=minutes)

    threads = [threading.Thread(target=advance, args=(clock,)) for clock in clocks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()


def test_two_systems_in_one_process_each_publish_and_store_only_into_their_own(
    tmp_path: Path,
) -> None:
    # GIVEN two systems started in this process on clocks of different days: A as the template
    # says (one connector), B with two connectors per charger and an API key
    day_a = datetime(2026, 2, 2, 8, 0, 30, tzinfo=UTC)
    day_b = datetime(2026, 2, 3, 8, 0, 30, tzinfo=UTC)
    clock_a, clock_b = ManualClock(day_a), ManualClock(day_b)
    b_environ = {**os.environ, "FLEET_CONNECTORS_PER_CHARGER": "2", "API_KEY": KEY}
    runner_a = runner_settings(prepare_data_dir(tmp_path / "a"))
    runner_b = runner_settings(prepare_data_dir(tmp_path / "b"))
    with running_system(runner_b, say=_quiet, clock=clock_b, environ=b_environ) as b:
        with running_system(runner_a, say=_quiet, clock=clock_a) as a:
            # WHEN both clocks advance ten minutes at the same time
            _advance_together([clock_a, clock_b], minutes=10)
            # THEN each publisher published its own fleet's ticks
            assert (a.board.published, b.board.published) == (10, 20)
            # AND each store holds exactly its own system's sessions, of its day and connectors
            stored_a = eventually(lambda: (s := _sessions(a)) and len(s) >= 10 and s, timeout=60)
            stored_b = eventually(
                lambda: (s := _sessions(b, KEY)) and len(s) >= 20 and s, timeout=60
            )
            assert len(stored_a) == 10 and len(stored_b) == 20
            assert {s["ended_at"][:10] for s in stored_a} == {"2026-02-02"}
            assert {s["ended_at"][:10] for s in stored_b} == {"2026-02-03"}
            assert {s["connector_id"] for s in stored_a} == {"1"}
            assert {s["connector_id"] for s in stored_b} == {"1", "2"}
            # AND each API serves with its own function's environment: only B's asks for a key
            assert _get(a, "/sessions?limit=1")[0] == 200
            assert _get(b, "/sessions?limit=1")[0] == 401
        # WHEN A stops THEN B ticks and stores on
        clock_b.advance(minutes=1)
        assert b.board.published == 22
        eventually(lambda: len(_sessions(b, KEY)) == 22, timeout=60)
