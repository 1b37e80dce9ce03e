"""`dlq list` reads the dead letters a data folder keeps, across restarts of the runner; `dlq
replay` removes only what went through."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evsessions.dead_letters import Reason
from evsessions.errors import StorageUnavailable
from local_runner.cli import main
from local_runner.commands.dead_letter_replay import replay
from local_runner.services.dead_letter_queue import SentLetter
from local_runner.services.dead_letters import dead_letter_store
from local_runner.services.template import load_template


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


def test_dlq_replay_removes_what_went_through_and_keeps_what_still_fails(tmp_path: Path) -> None:
    # GIVEN three letters: one that now goes through, one the listener dead-letters again, and
    # one that meets a database outage
    store = dead_letter_store(tmp_path)
    letters = [
        store.add(
            rule_name="SessionMessagesRule",
            topic=f"charger/1/connector/1/session/{session}",
            client_id="charger-1",
            payload=json.dumps({"session_id": session}).encode(),
            error=RuntimeError("since fixed"),
            attempts=3,
        )
        for session in (1, 2, 3)
    ]
    sent: dict[str, SentLetter] = {}

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        [record] = event["Records"]
        session = json.loads(record["body"])["session_id"]
        if session == 2:
            reason = Reason("InvalidSession", "energy_delivered_in_kWh", "is missing")
            sent[record["messageId"]] = SentLetter(record["body"], reason)
        if session == 3:
            raise StorageUnavailable("database down")
        return {"batchItemFailures": []}

    def claim(ids: list[str]) -> dict[str, SentLetter]:
        return {i: sent.pop(i) for i in ids if i in sent}

    template = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
    # WHEN all three are replayed
    results = replay(letters, template, invoke, store, claim=claim)
    # THEN only the first leaves the dead letters; the others stay, each once, with why
    assert [r.replayed for r in results] == [True, False, False]
    assert "energy_delivered_in_kWh: is missing" in results[1].outcome
    assert "database down" in results[2].outcome
    assert [d.id for d in store.all()] == [letters[1].id, letters[2].id]
