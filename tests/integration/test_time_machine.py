"""The time machine, status, and record and replay, with real mosquitto and DynamoDB Local."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_runner.infra.processes import free_port
from local_runner.observers.recorder import read_recording
from local_runner.services.clock import ManualClock, ScaledClock
from local_runner.system import LocalSystem
from tests.integration.conftest import (
    ROOT,
    prepare_data_dir,
    runner_settings,
    running_system,
    up_environment,
)
from tests.integration.helpers import eventually, get_json, served

pytestmark = pytest.mark.integration

RUNNER = [sys.executable, "-m", "local_runner"]


def _ended(sessions: list[dict[str, Any]]) -> list[datetime]:
    return sorted(datetime.fromisoformat(s["ended_at"]) for s in sessions)


def _status(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUNNER, "status"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_up_at_speed_600_runs_simulated_minutes_in_real_seconds_and_status_shows_it(
    tmp_path: Path,
) -> None:
    # GIVEN `up --speed 600` (a simulated minute every 0.1 s) recording to a file
    data_dir = prepare_data_dir(tmp_path / "data")
    recording = tmp_path / "run.jsonl"
    api_port = free_port()
    env = up_environment(data_dir, api_port)
    started = time.monotonic()
    runner = subprocess.Popen(
        [*RUNNER, "up", "--speed", "600", "--record", str(recording)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # WHEN it has stored a dozen sessions (rows the API serves: the status file's delivered
        # count also counts the duplicates of a tick retried after a late PUBACK)
        def stored() -> int:
            try:
                return int(get_json(f"http://127.0.0.1:{api_port}/sessions?limit=500")[1]["count"])
            except (OSError, ValueError, KeyError):
                return 0

        eventually(lambda: stored() >= 12 or runner.poll() is not None, timeout=90)
        assert runner.poll() is None, "up exited early"
        real_seconds = time.monotonic() - started
        # THEN the sessions' end times span simulated minutes, more than the real time waited
        _, body = get_json(f"http://127.0.0.1:{api_port}/sessions?limit=500")
        ended = _ended(body["sessions"])
        assert len(ended) >= 12
        assert ended[-1] - ended[0] >= timedelta(minutes=10)
        assert (ended[-1] - ended[0]).total_seconds() > real_seconds
        # AND status shows every part up, and the counts
        shown = _status(env)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        for part in ("runner", "DynamoDB Local", "mosquitto", "API"):
            assert any(
                line.startswith(part) and " up " in line for line in shown.stdout.splitlines()
            )
        assert "(x600)" in shown.stdout
        assert "dead letters 0" in shown.stdout
    finally:
        runner.send_signal(signal.SIGINT)
        output, _ = runner.communicate(timeout=60)
    assert runner.returncode == 0, output
    # AND a stopped runner is "not running", with a non-zero exit code
    stopped = _status(env)
    assert stopped.returncode == 1
    assert "not running" in stopped.stdout
    # AND the recording holds every stored session's message, at simulated receipt times
    recorded = read_recording(recording)
    assert len(recorded) >= 12
    assert recorded[-1].time - recorded[0].time >= timedelta(minutes=10)


def _settled(system: LocalSystem) -> None:
    """Stop the ticks and wait until everything published has been handled."""
    assert system.scheduler is not None
    system.scheduler.shutdown()
    board = system.board
    eventually(
        lambda: (
            board.delivered >= board.published and sum(b.in_flight for b in system.bridges) == 0
        ),
        timeout=30,
    )


def _rows(url: str) -> list[dict[str, Any]]:
    """Every stored session, without the rule's receipt time (the recorder's receipt differs
    from the bridge's by milliseconds; the session's own fields must match exactly)."""
    _, body = get_json(f"{url}/sessions?limit=500")
    return [{k: v for k, v in s.items() if k != "received_at"} for s in body["sessions"]]


def _totals(url: str, day: datetime) -> Any:
    window = f"from={day:%Y-%m-%d}&to={day + timedelta(days=2):%Y-%m-%d}"
    return get_json(f"{url}/totals?{window}&bucket=hour")[1]


def test_a_recorded_run_replays_into_a_fresh_store_with_identical_rows_and_totals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = tmp_path / "run.jsonl"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monkeypatch.setenv("FLEET_CONNECTORS_PER_CHARGER", "2")
    # GIVEN a run at speed 600 with two connectors, recorded, that stored some twenty sessions
    source_runner = runner_settings(prepare_data_dir(tmp_path / "recorded"))
    with running_system(
        source_runner, say=lambda line: None, clock=ScaledClock(600), record=recording
    ) as source:
        assert source.api is not None
        eventually(lambda: source.board.delivered >= 20, timeout=60)
        _settled(source)
        rows, totals = _rows(source.api.url), _totals(source.api.url, today)
    assert len(rows) >= 20
    assert {row["connector_id"] for row in rows} == {"1", "2"}
    # (a tick retried after a publish that went unacknowledged sends its sessions again: the
    # recording holds every message, the store each session once)
    recorded = read_recording(recording)
    assert len({message.topic for message in recorded}) == len(rows)

    # WHEN the recording is replayed (through the CLI) into a fresh store that runs no ticks
    fresh = runner_settings(prepare_data_dir(tmp_path / "fresh"))
    with running_system(fresh, say=lambda line: None, clock=ManualClock(today)) as replica:
        assert replica.api is not None
        assert _rows(replica.api.url) == []
        assert replica.database is not None
        env = {  # the replay reaches the fresh system's database, as `replay` beside `up` does
            **os.environ,
            "LOCAL_DATA_DIR": str(tmp_path / "fresh"),
            "DYNAMODB_ENDPOINT_URL": replica.database.endpoint_url,
        }
        command = [*RUNNER, "replay", str(recording)]
        runs = [
            subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            for _ in range(2)
        ]
        # THEN both delivered every message (the second only found duplicates) ...
        assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
        assert f": delivered {len(recorded)}\n" in runs[0].stdout, runs[0].stdout
        assert f": delivered {len(recorded)}\n" in runs[1].stdout, runs[1].stdout
        # ... with the same rows and the same totals as the recorded run
        assert _rows(replica.api.url) == rows
        assert _totals(replica.api.url, today) == totals


def test_advancing_a_manual_clock_ten_minutes_publishes_and_stores_ten_sessions(
    tmp_path: Path,
) -> None:
    # GIVEN the whole system on a manual clock, on a January morning
    morning = datetime(2026, 1, 5, 8, 0, 30, tzinfo=UTC)
    clock = ManualClock(morning)
    runner = runner_settings(prepare_data_dir(tmp_path / "data"))
    with running_system(runner, say=lambda line: None, clock=clock) as system:
        assert system.api is not None
        # WHEN the clock is advanced ten minutes
        clock.advance(minutes=10)
        # THEN the real publisher ran exactly ten times, before advance returned
        assert system.board.published == 10
        # AND ten sessions were stored, ending in those ten simulated minutes
        url = f"{system.api.url}/sessions?limit=500"
        body = eventually(lambda: (b := served(url)) and b["count"] >= 10 and b)
        ended = _ended(body["sessions"])
        assert len(ended) == 10
        start = morning.replace(second=0)
        assert start <= ended[0] and ended[-1] <= start + timedelta(minutes=10)
        assert len({e.minute for e in ended}) >= 5  # spread over the simulated minutes
        # AND the rule's receipt time is the simulated clock's, not the real one
        received = [datetime.fromisoformat(s["received_at"]) for s in body["sessions"]]
        assert all(start < r <= clock.now() for r in received)
