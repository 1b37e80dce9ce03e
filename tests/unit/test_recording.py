"""Recording lines and replaying them through the template's rules, with a stand-in handler."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evsessions.errors import StorageUnavailable
from local_runner.cli import main
from local_runner.commands.recording_replay import ReplayInterrupted, play
from local_runner.observers.recorder import (
    RecordedMessage,
    RecordingError,
    decode,
    encode,
    read_recording,
)
from local_runner.services.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TOPIC = "charger/7/connector/2/session/1"
PAYLOAD = (
    b'{"session_id":1,"energy_delivered_in_kWh":30,'
    b'"duration_in_seconds":45,"session_cost_in_cents":70}'
)


def _message(seconds: float = 0, topic: str = TOPIC, payload: bytes = PAYLOAD) -> RecordedMessage:
    return RecordedMessage(NOON + timedelta(seconds=seconds), topic, 1, payload)


def test_a_json_payload_is_recorded_as_text_and_read_back_byte_for_byte() -> None:
    line = encode(NOON, TOPIC, 1, PAYLOAD)
    record = json.loads(line)
    assert record == {
        "time": "2026-01-05T12:00:00.000Z",
        "topic": TOPIC,
        "qos": 1,
        "payload": PAYLOAD.decode(),
    }
    assert decode(line) == RecordedMessage(NOON, TOPIC, 1, PAYLOAD)


@pytest.mark.parametrize("payload", [b"\xff\xfe binary", b"not json", b""])
def test_a_payload_that_is_not_utf8_json_is_kept_in_base64(payload: bytes) -> None:
    line = encode(NOON, TOPIC, 0, payload)
    assert json.loads(line)["base64"] is True
    assert decode(line).payload == payload


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1]", "a JSON object"),
        ('{"topic": "a"}', "missing time, qos, payload"),
        ('{"time": "noon", "topic": "a", "qos": 1, "payload": "{}"}', "not ISO 8601"),
        ('{"time": "2026-01-05T12:00:00", "topic": "a", "qos": 1, "payload": "{}"}', "offset"),
        ('{"time": "2026-01-05T12:00:00Z", "topic": "a", "qos": 2, "payload": "{}"}', "qos"),
        ('{"time": "2026-01-05T12:00:00Z", "topic": "", "qos": 1, "payload": "{}"}', "topic"),
        (
            '{"time": "2026-01-05T12:00:00Z", "topic": "a", "qos": 1, "payload": "*", '
            '"base64": true}',
            "base64",
        ),
    ],
)
def test_a_bad_line_is_refused_with_its_number_and_reason(line: str, reason: str) -> None:
    with pytest.raises(RecordingError, match=reason) as refused:
        decode(line, 4)
    assert "line 4" in str(refused.value)


def test_a_file_with_one_bad_line_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(encode(NOON, TOPIC, 1, PAYLOAD) + "\n\n{oops\n")
    with pytest.raises(RecordingError, match="line 3"):
        read_recording(path)


def test_replay_refuses_a_bad_recording_before_touching_any_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"topic": "a"}\n')
    assert main(["replay", str(path)]) == 2
    assert "line 1: missing time" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "absent.jsonl")]) == 2
    assert "cannot read the recording" in capsys.readouterr().err


def test_replay_hands_the_rules_output_with_the_recorded_receipt_time_to_the_listener() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        calls.append((function, event))
        return {"status": "stored" if len(calls) == 1 else "duplicate"}

    result = play([_message(), _message(1), _message(2, topic="other/topic")], TEMPLATE, invoke)
    assert result.outcomes == {"stored": 1, "duplicate": 1}
    assert result.unselected == 1
    function, event = calls[0]
    assert function == "ListenerFunction"
    # the template's rule queues the message: the listener gets a batch of one SQS record
    [record] = event["Records"]
    body = json.loads(record["body"])
    assert body["topic"] == TOPIC
    assert body["received_at"] == int(NOON.timestamp() * 1000)
    assert body["energy_delivered_in_kWh"] == 30
    [second] = calls[1][1]["Records"]
    assert json.loads(second["body"])["received_at"] == int(NOON.timestamp() * 1000) + 1000


def test_a_message_the_handler_refuses_is_counted_and_the_replay_goes_on() -> None:
    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        return {"status": "stored"}

    result = play([_message(payload=b"not json"), _message(1)], TEMPLATE, invoke)
    assert result.outcomes == {"failed": 1, "stored": 1}
    assert "PayloadNotJson" in result.failures[0][1]


def test_an_unreachable_store_stops_the_replay_and_says_where() -> None:
    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        raise StorageUnavailable("connection refused")

    with pytest.raises(ReplayInterrupted, match="0 of 1 replayed"):
        play([_message()], TEMPLATE, invoke)


def test_at_speed_k_the_recorded_gaps_are_kept_k_times_shorter() -> None:
    # GIVEN messages 0 s, 60 s and 120 s apart, replayed at x60 on a fake clock
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    result = play(
        [_message(0), _message(60), _message(120)],
        TEMPLATE,
        lambda function, event: {"status": "stored"},
        speed=60,
        sleep=sleep,
        monotonic=lambda: now[0],
    )
    # THEN it waited a real second between them
    assert slept == [1.0, 1.0]
    assert result.outcomes == {"stored": 3}
