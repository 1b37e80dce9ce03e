"""One log event per session, with its ids as fields: what Lambda's JSON log format writes
deployed and `up --json-logs` writes locally."""

from __future__ import annotations

import json
import logging

import pytest

from listener.handler import handle_batch
from local_runner.observers.json_logs import LambdaJsonFormatter
from local_runner.services.invoker import FunctionInvoker, LambdaContext
from local_runner.services.template import load_template
from tests.functional.conftest import ROOT
from tests.functional.test_listener_batch import batch, dead_letter_queue_url, event_of

__all__ = ["dead_letter_queue_url"]  # the fixture, shared with the listener's batch tests


def test_each_session_of_a_batch_is_one_log_event_with_its_ids(
    sessions_table: str, dead_letter_queue_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a batch with a new session, the same again, and a record that breaks the contract
    invalid = {**event_of(1, 1, 3, 0), "session_id": "30"}  # not its topic's: no identity
    event = batch(("m-1", event_of(7, 2, 5, 0)), ("m-2", event_of(7, 2, 5, 0)), ("m-3", invalid))
    # WHEN the listener handles it
    with caplog.at_level(logging.INFO, logger="listener.handler"):
        handle_batch(event, LambdaContext("ListenerFunction", 256, 30))
    # THEN each record is one event whose fields name the charger, connector, session, message
    fields = [
        {k: getattr(r, k, None) for k in ("charger_id", "connector_id", "session_id")}
        | {"message_id": getattr(r, "message_id", None), "outcome": getattr(r, "outcome", None)}
        for r in caplog.records
        if r.name == "listener.handler" and hasattr(r, "outcome")
    ]
    assert fields == [
        {"charger_id": "7", "connector_id": "2", "session_id": "5", "message_id": "m-1",
         "outcome": "stored"},
        {"charger_id": "7", "connector_id": "2", "session_id": "5", "message_id": "m-2",
         "outcome": "duplicate"},
        {"charger_id": None, "connector_id": None, "session_id": None, "message_id": "m-3",
         "outcome": "invalid"},
    ]  # fmt: skip


def test_json_logs_locally_are_lambdas_json_objects_with_the_extra_fields(
    sessions_table: str,
) -> None:
    # GIVEN the emulator's JSON formatter on the listener's logger, called through an invoker
    lines: list[str] = []
    capture = logging.Handler(logging.INFO)
    capture.setFormatter(LambdaJsonFormatter())
    capture.emit = lambda record: lines.append(capture.format(record))  # type: ignore[method-assign]
    logger = logging.getLogger("listener.handler")
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    invoker = FunctionInvoker(load_template(ROOT / "template.yaml").functions["ListenerFunction"])
    try:
        # WHEN a batch is handled
        invoker(batch(("m-9", event_of(8, 1, 9, 0))))
    finally:
        logger.removeHandler(capture)
        logger.setLevel(logging.NOTSET)
    # THEN each line is one JSON object as Lambda writes it, the session's ids among its keys
    [line] = lines
    document = json.loads(line)
    assert document["level"] == "INFO"
    assert document["logger"] == "listener.handler"
    assert document["timestamp"].endswith("Z")
    assert document["requestId"]
    assert document["message"] == "session charger/8/connector/1/session/9 stored"
    assert {k: document[k] for k in ("charger_id", "connector_id", "session_id", "message_id")} == {
        "charger_id": "8",
        "connector_id": "1",
        "session_id": "9",
        "message_id": "m-9",
    }
