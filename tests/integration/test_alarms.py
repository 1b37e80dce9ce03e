"""The template's alarms, locally: a poison message sets off the dead-letter alarm on `status`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_runner.observers.status import report, status_path, write_atomically
from local_runner.system import LocalSystem
from tests.integration.helpers import eventually, publish, served

pytestmark = pytest.mark.integration


def test_a_poison_message_shows_the_dead_letter_alarm_on_the_status_line(
    local_system: LocalSystem, tmp_path: Path
) -> None:
    # GIVEN the running system WHEN a charger sends a message that breaks the contract
    bad = {  # its session id is not its topic's: no identity
        "session_id": 707,
        "energy_delivered_in_kWh": 3,
        "duration_in_seconds": 45,
        "session_cost_in_cents": 70,
    }
    publish(local_system, "charger/poison/connector/1/session/77", json.dumps(bad))
    # THEN the listener's metric reaches the system as data, not as a log line
    assert local_system.metrics is not None
    eventually(lambda: local_system.metrics.totals.get(("ListenerFunction", "DeadLetters")))

    def dead_letter_alarm() -> list[str]:
        return [
            state.line()
            for state in local_system.alarm_states()
            if state.logical_id == "DeadLettersAlarm" and state.state == "ALARM"
        ]

    [line] = eventually(dead_letter_alarm)
    assert line.startswith("ALARM dead letters: ")
    # AND the health route, which the dashboard reads, reports it from the same evaluation
    assert local_system.api is not None
    health = served(f"{local_system.api.url}/health")
    [alarm] = [a for a in health["alarms"] if a["logical_id"] == "DeadLettersAlarm"]
    assert alarm["state"] == "ALARM" and alarm["label"] == "dead letters"
    # AND `status` shows it, from the snapshot the running system writes
    write_atomically(status_path(tmp_path), local_system.status_snapshot())
    shown = report(tmp_path, probe=lambda _address: True).lines
    assert any(text.startswith("ALARM dead letters: ") for text in shown), shown
