"""The emulator's alarms: read from template.yaml, evaluated on the metrics it receives as data."""

from __future__ import annotations

from pathlib import Path

from evsessions.metrics import Emission, Metric
from local_runner.observers.alarm_board import MetricsBoard, alarm_lines, as_documents, evaluate
from local_runner.services.alarms import AlarmSpec, dead_letter_queues, load_alarms

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def alarms() -> dict[str, AlarmSpec]:
    return {alarm.logical_id: alarm for alarm in load_alarms(TEMPLATE)}


def states(board: MetricsBoard, dead_letters: int | None = 0) -> dict[str, str]:
    evaluated = evaluate(
        list(alarms().values()), board, lambda: dead_letters, dead_letter_queues(TEMPLATE)
    )
    return {state.logical_id: state.line() for state in evaluated}


def test_the_emulator_measures_the_dead_letter_listener_error_and_conflict_alarms() -> None:
    # GIVEN nothing measured yet
    board = MetricsBoard(ManualClock())
    # THEN the alarms the emulator has a stand-in for are OK; the rest are left to CloudWatch
    assert states(board) == {
        "DeadLettersAlarm": "OK dead letters: 0 (> 0)",
        "ListenerErrorsAlarm": "OK listener errors: 0 (> 0)",
        "OcppErrorsAlarm": "OK OCPP errors: 0 (> 0)",
        "ConflictRetriesAlarm": "OK conflict retries: 0 (> 100)",
        "DeadLettersArchivedAlarm": "OK archived dead letters: 0 (> 0)",
    }


def test_three_dead_letters_set_off_the_dead_letter_alarm() -> None:
    board = MetricsBoard(ManualClock())
    assert states(board, dead_letters=3)["DeadLettersAlarm"] == "ALARM dead letters: 3 (> 0)"


def test_conflict_retries_count_over_the_templates_window_only() -> None:
    # GIVEN 101 conflicts retried by the listener, in two invocations
    clock = ManualClock()
    board = MetricsBoard(clock)
    board.emission(Emission("ListenerFunction", {Metric.CONFLICTS_RETRIED: 60}, 0))
    board.emission(Emission("ListenerFunction", {Metric.CONFLICTS_RETRIED: 41}, 0))
    # THEN above the template's threshold of 100 in 5 minutes the alarm fires
    assert states(board)["ConflictRetriesAlarm"] == "ALARM conflict retries: 101 (> 100)"
    # AND a retry by another function is not the listener's
    board.emission(Emission("OcppFunction", {Metric.CONFLICTS_RETRIED: 500}, 0))
    assert states(board)["ConflictRetriesAlarm"].endswith(": 101 (> 100)")
    # AND once the window has passed, it clears
    clock.now += alarms()["ConflictRetriesAlarm"].window_seconds + 1
    assert states(board)["ConflictRetriesAlarm"] == "OK conflict retries: 0 (> 100)"


def test_a_listener_call_that_raised_sets_off_the_listener_errors_alarm() -> None:
    board = MetricsBoard(ManualClock())
    board.error("ListenerFunction")
    assert states(board)["ListenerErrorsAlarm"] == "ALARM listener errors: 1 (> 0)"
    assert states(board)["OcppErrorsAlarm"].startswith("OK")


def test_status_shows_each_alarm_in_alarm_or_one_line_when_all_are_ok() -> None:
    board = MetricsBoard(ManualClock())
    evaluated = evaluate(list(alarms().values()), board, lambda: 2, dead_letter_queues(TEMPLATE))
    assert alarm_lines(as_documents(evaluated)) == ["ALARM dead letters: 2 (> 0)"]
    quiet = evaluate(list(alarms().values()), board, lambda: 0, dead_letter_queues(TEMPLATE))
    assert alarm_lines(as_documents(quiet)) == [
        "alarms OK (dead letters, listener errors, OCPP errors, conflict retries, "
        "archived dead letters)"
    ]
