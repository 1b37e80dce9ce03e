"""The deployed dead-letter port (botocore's SQS client) against the emulator's local endpoint,
found as on AWS: through `AWS_ENDPOINT_URL_SQS` and `DEAD_LETTER_QUEUE_URL`, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evsessions.dead_letters import Reason, dead_letter_queue
from evsessions.errors import InvalidSession
from evsessions.invocation import invoked_with
from evsessions.settings import Settings
from local_runner.services.dead_letters import dead_letter_store
from local_runner.system import local_dead_letter_queue


def test_a_letter_sent_through_the_port_is_claimed_with_its_reason_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ENDPOINT_URL_SQS", "DEAD_LETTER_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)  # restored after the test
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    dead_letter_queue.cache_clear()
    # GIVEN the local endpoint, one letter already in the durable store, and a handler's
    # environment pointing at it
    store = dead_letter_store(tmp_path)
    store.add(
        rule_name="SessionMessagesRule",
        topic="charger/1/connector/1/session/1",
        client_id="c",
        payload=b"{}",
        error=ValueError("old"),
        attempts=1,
    )
    queue = local_dead_letter_queue(tmp_path)
    try:
        assert set(queue.environment()) == {"AWS_ENDPOINT_URL_SQS", "DEAD_LETTER_QUEUE_URL"}
        with invoked_with({**os.environ, **queue.environment()}):
            settings = Settings.from_env()
            port = dead_letter_queue(settings.dead_letter_queue_url, settings.aws_region)
            assert port is not None and port.queue_url == queue.url
            # WHEN the deployed adapter sends an invalid record there
            error = InvalidSession("duration_in_seconds", "must not be negative")
            port.send('{"session_id": 1}', Reason.of(error), "record-7")
        # THEN the count includes it, and the bridge can claim it by the record's id, with the
        # reason as data
        assert port.count() == 2
        letter = queue.claim(["record-7", "record-8"])["record-7"]
        assert letter.body == '{"session_id": 1}'
        assert letter.reason == Reason(
            "InvalidSession", "duration_in_seconds", "must not be negative"
        )
        assert queue.claim(["record-7"]) == {}
        assert port.count() == 1
    finally:
        queue.shutdown()
        dead_letter_queue.cache_clear()
