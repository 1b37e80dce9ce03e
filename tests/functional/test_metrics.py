"""Each metric is recorded by the code path it names (EMF deployed, data to a sink locally).

The handlers run against moto with a sink installed, as the emulator installs one: every test
reads the metrics as data, never from a log line. One test reads the stdout line itself, the
CloudWatch Embedded Metric Format document a deployed function writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from centralsystem.actions import CentralSystem
from evsessions import alarm_states, metrics
from evsessions.dynamodb.backoff import ConflictBackoff
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.store import DynamoDbSessionStore, create_client
from evsessions.metrics import Emission, Metric
from evsessions.ocpp.transactions import Tariff
from evsessions.settings import Settings
from listener.handler import handle_batch
from local_runner.services.invoker import LambdaContext
from tests.functional.conftest import get
from tests.functional.test_central_system import START, RecordingPublisher, _stop
from tests.functional.test_listener_batch import batch, dead_letter_queue_url, event_of
from tests.harness.dynamodb_conflicts import _conflict

LISTENER = LambdaContext("ListenerFunction", 256, 30)
__all__ = ["dead_letter_queue_url"]  # the fixture, shared with the listener's batch tests


@pytest.fixture
def emitted() -> Iterator[list[Emission]]:
    received: list[Emission] = []
    with metrics.publishing_to(received.append):
        yield received


def totals(emissions: list[Emission], function: str) -> dict[Metric, float]:
    summed: dict[Metric, float] = {}
    for emission in emissions:
        assert emission.function == function
        for metric, value in emission.values.items():
            summed[metric] = summed.get(metric, 0) + value
    return summed


def test_a_batch_records_stored_duplicates_reused_ids_and_its_duration(
    sessions_table: str, emitted: list[Emission]
) -> None:
    # GIVEN a batch with a session, the same session again, and other content under its id
    first = event_of(1, 1, 1, 0)
    reused = {**first, "energy_delivered_in_kWh": 31}
    event = batch(("a", first), ("b", first), ("c", reused), ("d", event_of(2, 1, 2, 0)))
    # WHEN the listener handles it
    handle_batch(event, LISTENER)
    # THEN one emission for the invocation, under the function's name, counts each outcome
    [emission] = emitted
    assert emission.function == "ListenerFunction"
    assert emission.values[Metric.SESSIONS_STORED] == 2
    assert emission.values[Metric.DUPLICATES] == 1
    assert emission.values[Metric.REUSED_SESSION_IDS] == 1
    assert emission.values[Metric.BATCH_DURATION] > 0
    assert Metric.DEAD_LETTERS not in emission.values


def test_an_invalid_record_sent_to_the_dead_letter_queue_is_a_dead_letter(
    sessions_table: str, dead_letter_queue_url: str, emitted: list[Emission]
) -> None:
    # GIVEN a batch with a record that breaks the contract
    invalid = {**event_of(1, 1, 3, 0), "session_id": "30"}  # not its topic's: no identity
    # WHEN the listener handles it
    handle_batch(batch(("a", event_of(1, 1, 1, 0)), ("b", invalid)), LISTENER)
    # THEN the dead letter it sent is counted, beside the session it stored
    assert totals(emitted, "ListenerFunction")[Metric.DEAD_LETTERS] == 1
    assert totals(emitted, "ListenerFunction")[Metric.SESSIONS_STORED] == 1


class ConflictOnce:
    """DynamoDB's answer to a transaction that met another writer, once; then the real one."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.conflicts = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **arguments: Any) -> Any:
        if self.conflicts:
            self.conflicts -= 1
            raise _conflict([True])
        return self._client.transact_write_items(**arguments)


def test_a_transaction_retried_after_a_conflict_is_a_conflict_retried(
    sessions_table: str, emitted: list[Emission], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a store whose first transaction DynamoDB cancels for a conflict with another batch
    settings = Settings.from_env()
    store = DynamoDbSessionStore(
        settings.sessions_table,
        ConflictOnce(create_client(settings)),  # type: ignore[arg-type]
        backoff=ConflictBackoff(sleep=lambda _seconds: None),
    )
    monkeypatch.setattr("listener.handler.cached_store", lambda _settings: store)
    # WHEN the listener stores a batch
    handle_batch(batch(("a", event_of(1, 1, 1, 0))), LISTENER)
    # THEN the retry is counted and the session stored
    counted = totals(emitted, "ListenerFunction")
    assert counted[Metric.CONFLICTS_RETRIED] == 1
    assert counted[Metric.SESSIONS_STORED] == 1


def test_the_central_system_records_a_stored_session_and_a_resent_stop(
    sessions_table: str, emitted: list[Emission]
) -> None:
    # GIVEN the central system with a transaction started
    settings = Settings.from_env()
    publisher = RecordingPublisher()
    system = CentralSystem(
        CentralSystemStore(sessions_table, create_client(settings)),
        lambda: publisher,
        Tariff(39, 50),
        heartbeat_interval=300,
    )
    with metrics.invocation("OcppFunction"):
        transaction = system.answer("CP1", "StartTransaction", START)["transactionId"]
        # WHEN its Stop comes, and comes again after a reconnect
        system.answer("CP1", "StopTransaction", _stop(transaction))
        system.answer("CP1", "StopTransaction", _stop(transaction))
    # THEN one session stored and one duplicate
    counted = totals(emitted, "OcppFunction")
    assert counted == {Metric.SESSIONS_STORED: 1, Metric.DUPLICATES: 1}


def test_suspect_sessions_are_recorded_where_a_verdict_is_given(emitted: list[Emission]) -> None:
    # GIVEN an invocation WHEN the integrity check finds two suspect sessions (and then none)
    with metrics.invocation("ListenerFunction"):
        metrics.suspect_sessions(2)
        metrics.suspect_sessions(0)
    # THEN the invocation's emission counts them
    assert totals(emitted, "ListenerFunction") == {Metric.SUSPECT_SESSIONS: 2}


def test_a_session_above_any_chargers_power_is_a_suspect_session(
    sessions_table: str, emitted: list[Emission]
) -> None:
    # GIVEN the original solution's session: 30 kWh in 45 s, above any charger's power
    implausible = {**event_of(3, 1, 1, 0), "energy_delivered_in_kWh": 30, "duration_in_seconds": 45}
    # WHEN the listener stores it, beside a plausible one, and then the same one again
    handle_batch(batch(("a", implausible), ("b", event_of(3, 1, 2, 0))), LISTENER)
    handle_batch(batch(("c", implausible)), LISTENER)
    # THEN the first batch counts one suspect session; the duplicate is no new suspect
    first, again = emitted
    assert first.values[Metric.SUSPECT_SESSIONS] == 1
    assert first.values[Metric.SESSIONS_STORED] == 2
    assert Metric.SUSPECT_SESSIONS not in again.values


def test_deployed_a_handler_writes_one_emf_line_on_stdout(
    sessions_table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no sink installed (as on Lambda) WHEN the listener stores a batch
    handle_batch(batch(("a", event_of(1, 1, 1, 0))), LISTENER)
    # THEN stdout has one Embedded Metric Format document: CloudWatch makes metrics of it
    [line] = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    document = json.loads(line)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "EvSessions"
    assert directive["Dimensions"] == [["FunctionName"]]
    names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert names == {"SessionsStored": "Count", "BatchDuration": "Milliseconds"}
    assert document["FunctionName"] == "ListenerFunction"
    assert document["SessionsStored"] == 1
    assert isinstance(document["_aws"]["Timestamp"], int)


def test_outside_an_invocation_a_metric_leaves_at_once_under_lambdas_function_name(
    emitted: list[Emission], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stack-ApiFunction-1")
    metrics.record(Metric.SUSPECT_SESSIONS)
    assert [(e.function, e.values) for e in emitted] == [
        ("stack-ApiFunction-1", {Metric.SUSPECT_SESSIONS: 1})
    ]


def test_deployed_health_reports_no_alarms_locally_the_emulators(client: Any) -> None:
    # GIVEN no alarm provider (deployed: CloudWatch evaluates the alarms)
    status, body = get(client, "/health")
    assert status == 200 and body["alarms"] is None
    # WHEN the emulator provides the alarms' states around a request
    state = {"logical_id": "DeadLettersAlarm", "label": "dead letters", "state": "ALARM",
             "value": 3, "condition": "> 0"}  # fmt: skip
    with alarm_states.providing(lambda: [state]):
        status, body = get(client, "/health")
    # THEN the health route reports them, in its documented shape
    assert body["alarms"] == [state]


def test_off_lambda_without_a_sink_a_metric_outside_an_invocation_goes_nowhere(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a benchmark driving the store directly: no invocation, no sink, not on Lambda
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    metrics.record(Metric.CONFLICTS_RETRIED)
    assert capsys.readouterr().out == ""
    # WHEN on Lambda THEN the same call writes its EMF line
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "stack-ListenerFunction-1")
    metrics.record(Metric.CONFLICTS_RETRIED)
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["FunctionName"] == "stack-ListenerFunction-1"
