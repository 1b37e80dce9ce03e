"""The run command as a user runs it, and the start-up paths a fresh machine can take."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from local_runner.infra.processes import free_port
from tests.functional.test_charger_registry_store import charger_json
from tests.integration.conftest import (
    ROOT,
    prepare_data_dir,
    runner_settings,
    running_system,
    up_environment,
)
from tests.integration.helpers import eventually, get_json, publish, served

pytestmark = pytest.mark.integration


def _processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line mentions `text` (java, mosquitto name the data dir)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line:
            found.append(line)
    return found


def test_up_serves_a_session_within_seconds_and_ctrl_c_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    # GIVEN the run command on free ports with its own data folder
    data_dir = prepare_data_dir(tmp_path / "data")
    api_port = free_port()
    env = up_environment(data_dir, api_port)
    runner = subprocess.Popen(
        [sys.executable, "-m", "local_runner", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # WHEN it has started
        lines = []
        assert runner.stdout is not None
        for line in runner.stdout:
            lines.append(line)
            if "ready. Ctrl-C" in line or runner.poll() is not None:
                break
        output = "".join(lines)
        assert "ready. Ctrl-C stops everything." in output, output
        for component in (
            "DynamoDB Local ready at",
            "mosquitto ready at",
            "API (ApiFunction) ready",
        ):
            assert component in output
        # THEN the tick published at start-up is served within seconds
        url = f"http://127.0.0.1:{api_port}/sessions"
        eventually(lambda: (served(url) or {"count": 0})["count"] >= 1, timeout=10)
        assert _processes_mentioning(str(data_dir)), "java and mosquitto should be running"
    finally:
        # AND Ctrl-C stops everything it started
        runner.send_signal(signal.SIGINT)
        rest, _ = runner.communicate(timeout=60)
    assert runner.returncode == 0, rest
    assert "stopped" in rest
    eventually(lambda: _processes_mentioning(str(data_dir)) == [], timeout=10)


def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    runner = runner_settings(prepare_data_dir(tmp_path / "data"), dynamodb_local_port=free_port())
    message = {
        "session_id": 1,
        "energy_delivered_in_kWh": 12.5,
        "duration_in_seconds": 600,
        "session_cost_in_cents": 540,
    }
    # GIVEN a system that stored a session in DynamoDB Local's data folder
    with running_system(runner) as system:
        assert system.api is not None
        publish(system, "charger/restart/connector/1/session/1", json.dumps(message))
        eventually(lambda: served(f"{system.api.url}/sessions/restart/1/1"))
    # WHEN it is started again
    with running_system(runner) as system:
        # THEN the session is still there
        assert system.api is not None
        assert get_json(f"{system.api.url}/sessions/restart/1/1")[0] == 200


def test_fallbacks_embedded_broker_and_moto_carry_a_message(tmp_path: Path) -> None:
    # GIVEN a machine without mosquitto and Java: the embedded broker and moto's server
    said: list[str] = []
    runner = runner_settings(tmp_path / "data", broker="embedded", database="moto")
    with running_system(runner, say=said.append) as system:
        assert any("embedded amqtt ready" in line for line in said)
        assert any(line.startswith("moto") for line in said)
        # WHEN a charger publishes
        message = {
            "session_id": 3,
            "energy_delivered_in_kWh": 30,
            "duration_in_seconds": 45,
            "session_cost_in_cents": 70,
        }
        publish(system, "charger/fallback/connector/1/session/3", json.dumps(message))
        # THEN the session is served
        assert system.api is not None
        body = eventually(lambda: served(f"{system.api.url}/sessions/fallback/1/3"))
        assert body["energy_delivered_in_kWh"] == 30


def test_template_passes_cfn_lint() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_invoke_calls_the_listener_against_dynamodb_local_like_sam_local_invoke(
    tmp_path: Path,
) -> None:
    # GIVEN no running system, only the data folder and a queue batch of the original message
    env = {
        **os.environ,
        "LOCAL_DATA_DIR": str(prepare_data_dir(tmp_path / "data")),
        "DYNAMODB_LOCAL_PORT": str(free_port()),
    }
    command = [
        sys.executable,
        "-m",
        "local_runner",
        "invoke",
        "ListenerFunction",
        "--event",
        "tests/events/sqs_session_batch.json",
    ]
    # WHEN the listener is invoked twice with the same event
    runs = [
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        for _ in range(2)
    ]
    # THEN both answered SQS's partial batch response with no failure (the second found a
    # duplicate, a success), and left no DynamoDB Local running
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    results = [json.loads(r.stdout[r.stdout.index("{") :]) for r in runs]
    assert results == [{"batchItemFailures": []}] * 2
    assert _processes_mentioning(str(tmp_path / "data")) == []


def test_idtags_sets_lists_and_removes_a_tag_in_the_local_database(tmp_path: Path) -> None:
    # GIVEN no running system, only the data folder
    env = {
        **os.environ,
        "LOCAL_DATA_DIR": str(prepare_data_dir(tmp_path / "data")),
        "DYNAMODB_LOCAL_PORT": str(free_port()),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "local_runner", "idtags", *args]
        return subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    # WHEN an operator blocks a card, gives another an expiry date, and lists them
    assert run("set", "STOLEN", "Blocked").stdout.strip().endswith("STOLEN: Blocked")
    assert run("set", "OLD", "Accepted", "--expires", "2026-01-01T00:00:00Z").returncode == 0
    printed = run("list", "--json").stdout  # after the lines of a database started for it
    listed = json.loads(printed[printed.index("[") :])
    # THEN each answers its status now, kept in the database between runs
    assert {t["id_tag"]: t["status_now"] for t in listed} == {"OLD": "Expired", "STOLEN": "Blocked"}
    # AND a removed tag is gone, and removing it again says so
    assert run("delete", "STOLEN").returncode == 0
    assert run("delete", "STOLEN").returncode == 1
    assert _processes_mentioning(str(tmp_path / "data")) == []


def test_chargers_lists_puts_retires_and_shows_the_registry(tmp_path: Path) -> None:
    # GIVEN no running system, only the data folder, and a record in a file
    env = {
        **os.environ,
        "LOCAL_DATA_DIR": str(prepare_data_dir(tmp_path / "data")),
        "DYNAMODB_LOCAL_PORT": str(free_port()),
    }
    record = tmp_path / "depot-7.json"
    record.write_text(json.dumps(charger_json()))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "local_runner", "chargers", *args]
        return subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )

    # WHEN an operator adds depot-7 from the file, then retires it
    assert run("put", "depot-7", str(record)).returncode == 0
    assert run("retire", "depot-7").stdout.strip().endswith("depot-7: RETIRED")
    # THEN it is listed retired with its place and tariff, and shown with every field
    listed = run("list").stdout
    assert "depot-7" in listed and "RETIRED" in listed and "Kaigata 1, Bergen" in listed
    shown = run("show", "depot-7").stdout
    assert json.loads(shown[shown.index("{") :])["tariff_id"] == "dc-standard"
    # AND an unknown charger says so
    assert run("retire", "depot-9").returncode == 1
    assert _processes_mentioning(str(tmp_path / "data")) == []
