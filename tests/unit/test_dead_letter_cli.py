"""`dlq list` reads the dead letters a data folder keeps, across restarts of the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_runner.cli import main
from local_runner.dead_letters import dead_letter_store


def test_dlq_list_shows_each_letter_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two dead letters written by an earlier run
    store = dead_letter_store(tmp_path)
    for session in (1, 2):
        store.add(
            rule_name="SessionMessagesRule",
            topic=f"charger/1/connector/1/session/{session}",
            client_id="charger-1",
            payload=b"\xff not json",
            error=ValueError(f"bad payload {session}"),
            attempts=1,
        )
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))
    # WHEN they are listed
    assert main(["dlq", "list"]) == 0
    text = capsys.readouterr().out
    # THEN each shows its topic and reason, and the count
    assert "charger/1/connector/1/session/1" in text and "ValueError: bad payload 2" in text
    assert "2 dead letter(s)" in text
    # AND --json keeps the original payload in base64, as AWS's error action does
    assert main(["dlq", "list", "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)
    assert letters[0]["payload_base64"] == "/yBub3QganNvbg=="
    assert {"rule_name", "client_id", "error_type", "attempts", "time"} <= set(letters[0])


def test_dlq_replay_of_an_unknown_id_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path))
    assert main(["dlq", "replay", "nope"]) == 1
    assert "no dead letter matches nope" in capsys.readouterr().out
