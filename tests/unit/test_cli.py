"""The runner's command line, in-process: sample events and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evsessions.contract import parse_session
from local_runner.cli import main
from publisher.handler import scheduled_time


def test_generate_event_schedule_prints_an_eventbridge_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["generate-event", "schedule"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert scheduled_time(event).second == 0


def test_generate_event_sqs_prints_a_batch_the_listener_takes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["generate-event", "sqs"]) == 0
    [record] = json.loads(capsys.readouterr().out)["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert parse_session(json.loads(record["body"])).key.topic == "charger/1/connector/1/session/1"


def test_generate_event_iot_prints_a_valid_rule_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate-event", "iot"]) == 0
    session = parse_session(json.loads(capsys.readouterr().out))
    assert session.key.topic == "charger/1/connector/1/session/1"
    assert session.ended_at_source == "received"


def test_invoke_an_unknown_function_names_the_ones_there_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["invoke", "NoSuchFunction", "--event", "tests/events/schedule.json"]) == 2
    error = capsys.readouterr().err
    assert "NoSuchFunction" in error
    assert "ListenerFunction" in error


@pytest.mark.parametrize("speed", ["0", "-5", "fast", "2000000"])
def test_up_refuses_a_speed_that_is_not_a_positive_number(
    speed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["up", "--speed", speed])
    assert exit_.value.code == 2
    assert "--speed" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["idtags", "set", "x" * 21, "Accepted"],
        ["idtags", "set", "CARD", "Accepted", "--expires", "next week"],
        ["idtags", "delete", ""],
    ],
)
def test_idtags_refuses_a_bad_tag_or_time_before_touching_the_database(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["chargers", "show", "depot/7"], "charger_id"),
        (["chargers", "retire", "x" * 37], "charger_id"),
        (["chargers", "put", "depot-7", "/tmp/registry-no-such-file.json"], "No such file"),
    ],
)
def test_chargers_refuses_a_bad_id_or_file_before_touching_the_database(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err


def test_chargers_put_refuses_a_bad_record_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = tmp_path / "record.json"
    record.write_text('{"name": "x", "connectors": []}')
    assert main(["chargers", "put", "depot-7", str(record)]) == 2
    assert "connectors" in capsys.readouterr().err
