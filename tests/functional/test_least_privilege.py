"""Least privilege, proven by behaviour: each handler, driven through every path that reaches
AWS, makes only calls its function's policy in template.yaml allows (as SAM transforms it), and
every (action, resource) its policy grants is needed by one of those calls.

Neither moto nor DynamoDB Local enforces IAM, so without this a missing grant shows only when
the deployed function fails. The scenarios below are the complete, deterministic set of calls
(the session-wide recording in tests/conftest.py adds whatever the other tests exercise).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from chalice.test import Client

from api.app import app
from brokerauth.handler import handler as authorize_mqtt
from centralsystem import handler as central_system
from centralsystem.authorizer import Unauthorized
from centralsystem.authorizer import handler as authorize
from evsessions.dynamodb.dead_letter_archive import ARCHIVE_AFTER
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.store import cached_store
from evsessions.dynamodb.tariffs import DynamoDBTariffs
from evsessions.mqtt.identity import charger_password
from evsessions.registry import RETIRED, record_from_json
from evsessions.registry_seed import listed_record
from evsessions.settings import Settings
from evsessions.tariffs import tariff_from_json
from listener import archive
from listener.handler import handle_batch
from listener.handler import handler as listen_once
from local_runner.services.events import sqs_event
from publisher.handler import handler as publish_tick
from tests.functional.conftest import API_DIR, REGION, load_event, rule_event
from tests.least_privilege.calls import RECORDER, AwsCall
from tests.least_privilege.deployment import load_template, transform
from tests.least_privilege.verdict import judge

LATE = ("1", "1", "1", "2025-11-27T18:00:00.000Z")
EARLY = ("1", "2", "2", "2025-11-27T17:00:00.000Z")
"""Charger 1's second session ended before its first: stored second, by a new container, its
end-time condition fails and the listener reads the charger's end times back (GetItem)."""


def _batch(*rows: tuple[str, str, str, str]) -> dict[str, Any]:
    records = [(f"m{i}", rule_event(*row), 1_764_268_500_000, 1) for i, row in enumerate(rows)]
    return sqs_event("SessionQueue", records)


def publisher_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduled tick through the IoT data plane, as deployed (PUBLISH_TRANSPORT=iot-data)."""
    monkeypatch.setenv("PUBLISH_TRANSPORT", "iot-data")
    monkeypatch.setenv("FLEET_CHARGERS", "2")
    monkeypatch.setenv("FLEET_CONNECTORS_PER_CHARGER", "2")
    register_with_tariff("2", "AC-2", datetime(2025, 1, 1, tzinfo=UTC), simulated=True)
    assert publish_tick(load_event("schedule.json"), None)["published"] == 4


def listener_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch stored, the same batch again (duplicates), the same identity with other content
    (a reused session id: its occurrences are read), an invalid record (sent to the dead-letter
    queue), a late session from a new container (the failed end-time condition), and one message
    by the rule's direct Lambda action."""
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="DeadLetterQueue")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", queue["QueueUrl"])
    accepted = {"batchItemFailures": []}
    assert handle_batch(_batch(LATE), None) == accepted
    assert handle_batch(_batch(LATE), None) == accepted
    reused = {**rule_event(*LATE), "session_cost_in_cents": 71}
    invalid = {**rule_event(*EARLY), "session_id": "not-the-topics"}  # no identity
    records = [("r0", reused, 1_764_268_500_000, 1), ("bad", invalid, 1_764_268_500_000, 1)]
    assert handle_batch(sqs_event("SessionQueue", records), None) == accepted
    assert cached_store(Settings.from_env()).fleet_counts().reused_session_ids == 1
    cached_store.cache_clear()  # a new container: it knows no end times
    assert handle_batch(_batch(EARLY), None) == accepted
    assert listen_once(rule_event("2", "1", "3", "2025-11-27T18:30:00.000Z"), None) == {
        "status": "stored",
        "topic": "charger/2/connector/1/session/3",
    }


def archive_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A daily run that finds a dead letter 10 days old (archived, then deleted from the queue)
    and a younger one (left there)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="DeadLetterQueue")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", url)
    with RECORDER.recording():  # what the listener sent there beforehand
        invalid = {**rule_event(*EARLY), "session_id": "not-the-topics"}  # no identity
        handle_batch(sqs_event("SessionQueue", [("bad", invalid, 1_764_268_500_000, 1)]), None)
    now = datetime.now(UTC)
    ages = iter([ARCHIVE_AFTER + timedelta(hours=1), timedelta(0)])
    monkeypatch.setattr(archive, "_now", lambda: now + next(ages))
    assert archive.handler({}, None) == {"archived": 1, "kept": 0}
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    assert archive.handler({}, None) == {"archived": 0, "kept": 1}


def api_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every route that reads, with the deployed health check's dead-letter queue, and an
    operator's resolution of a suspect session (one transaction of updates), writes to the
    id-tag list, and commands to a charge point (posted to its connection)."""
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="DeadLetterQueue")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", queue["QueueUrl"])
    monkeypatch.setenv("OPERATOR_KEY", "operator-key-of-the-least-privilege-scenario")
    suspect = {**rule_event("1", "1", "9", "2025-11-27T18:00:00.000Z"), "duration_in_seconds": 1}
    with RECORDER.recording():  # the data the API reads, stored by the listener beforehand
        handle_batch(_batch(LATE, EARLY), None)
        handle_batch(sqs_event("SessionQueue", [("s", suspect, 1_764_268_500_000, 1)]), None)
    paths = [
        "/health",
        "/sessions",
        "/sessions?charger=1",
        "/sessions?charger=1&connector=1",
        "/sessions/1/1/1",
        "/sessions?review=open",
        "/chargers",
        "/totals?from=2025-11-01&to=2025-12-01",
        "/totals?charger=1&bucket=hour&from=2025-11-27&to=2025-11-28",
        "/chargepoints",
        "/tariffs",
        "/tariffs/AC-1",
        "/sessions/1/1/1/cdrs",
    ]
    operator = {
        "x-operator-key": "operator-key-of-the-least-privilege-scenario",
        "content-type": "application/json",
    }
    monkeypatch.setenv("OCPI_TOKEN", "ocpi-token-of-the-least-privilege-scenario")
    ocpi = {"Authorization": "Token ocpi-token-of-the-least-privilege-scenario"}
    energy = {"type": "ENERGY", "price": 0.3, "step_size": 1}
    tariff = json.dumps({"currency": "EUR", "elements": [{"price_components": [energy]}]})
    with Client(app, stage_name="dev", project_dir=str(API_DIR)) as client:
        put = client.http.put("/idtags/CARD-1", headers=operator, body='{"status": "Blocked"}')
        assert put.status_code == 200, put.body
        put = client.http.put("/tariffs/AC-1", headers=operator, body=tariff)
        assert put.status_code == 201, put.body
        for path in ["/ocpi/versions", "/ocpi/2.2.1", "/ocpi/2.2.1/cdrs?limit=1"]:
            response = client.http.get(path, headers=ocpi)
            assert response.status_code == 200, (path, response.body)
        for path in [*paths, "/idtags", "/idtags/CARD-1"]:
            response = client.http.get(path)
            assert response.status_code == 200, (path, response.body)
        assert client.http.delete("/idtags/CARD-1", headers=operator).status_code == 204
        record = json.dumps(listed_record("depot-7").as_json())
        put = client.http.put("/registry/chargers/depot-7", headers=operator, body=record)
        assert put.status_code == 200, put.body
        for path in ["/registry/chargers", "/registry/chargers/depot-7"]:
            assert client.http.get(path).status_code == 200, path
        response = client.http.post(
            "/sessions/1/1/9/resolution",
            headers=operator,
            body='{"action": "accept", "reason": "checked"}',
        )
        assert response.status_code == 200, response.body
        response = client.http.post(  # asked again: 409, and its CDR issued if it was not
            "/sessions/1/1/9/resolution",
            headers=operator,
            body='{"action": "void", "reason": "checked"}',
        )
        assert response.status_code == 409, response.body
        _command_paths(client, operator, monkeypatch)


MANAGEMENT = "https://abc123.execute-api.eu-north-1.amazonaws.com/ocpp"


def _command_paths(
    client: Client, operator: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's command to a connected charge point, posted to its connection through the
    WebSocket API's management endpoint (no answer within a wait of 0 s: 202), its state read,
    and a second command refused while the first is outstanding."""
    monkeypatch.setenv("OCPP_MANAGEMENT_ENDPOINT_URL", MANAGEMENT)
    monkeypatch.setenv("OCPP_COMMAND_WAIT_SECONDS", "0")
    central_system._central_system.cache_clear()
    _registered("1")
    with RECORDER.recording():  # the charge point connected beforehand
        assert central_system.handler(_ocpp_event("CONNECT"), None)["statusCode"] == 200
    sent = client.http.post(
        "/chargepoints/1/commands/Reset", headers=operator, body='{"type": "Soft"}'
    )
    assert sent.status_code == 202, sent.body
    command_id = json.loads(sent.body)["command_id"]
    again = client.http.post("/chargepoints/1/commands/ClearCache", headers=operator, body="{}")
    assert again.status_code == 409, again.body
    assert client.http.get(f"/chargepoints/1/commands/{command_id}").status_code == 202


def _ocpp_event(kind: str, body: str | None = None, connection: str = "conn-1") -> dict[str, Any]:
    context = {
        "eventType": kind,
        "connectionId": connection,
        "domainName": "abc123.execute-api.eu-north-1.amazonaws.com",
        "stage": "ocpp",
        "authorizer": {"chargerId": "1"},
    }
    return {
        "requestContext": context,
        "headers": {"Sec-WebSocket-Protocol": "ocpp1.6"},
        "body": body,
    }


def register_with_tariff(
    charger: str, tariff_id: str, start: datetime, simulated: bool = False
) -> None:
    """The charger in the registry (two connectors; of the simulated fleet or a real one), on a
    tariff whose only version starts at `start`."""
    table = Settings.from_env().sessions_table
    db = boto3.client("dynamodb", region_name=REGION)
    where = {"address": "Storgata 1", "city": "Oslo", "postal_code": "0155", "country": "NOR"}
    where |= {"coordinates": {"latitude": 59.9, "longitude": 10.7}, "time_zone": "Europe/Oslo"}
    plug = {"connector_id": 1, "standard": "IEC_62196_T2", "format": "SOCKET"}
    plug |= {"power_type": "AC_3_PHASE", "max_electric_power_w": 22_000}
    plugs = [plug, {**plug, "connector_id": 2}]
    body = {"name": "One", "location": where, "connectors": plugs, "tariff_id": tariff_id}
    body["simulated"] = simulated
    DynamoDBChargerRegistry(table, db).put(record_from_json(charger, body))
    energy = {"type": "ENERGY", "price": 0.3, "step_size": 1}
    tariff = tariff_from_json({"currency": "EUR", "elements": [{"price_components": [energy]}]})
    DynamoDBTariffs(table, db, now=lambda: start - timedelta(days=1)).put_version(
        tariff_id, tariff[0], start
    )


def _registered(charger: str) -> None:
    """The charger in the registry (operators send commands to its active chargers only)."""
    DynamoDBChargerRegistry(
        Settings.from_env().sessions_table, boto3.client("dynamodb", region_name=REGION)
    ).put(listed_record(charger))


def _pending_command(action: str, payload: dict[str, Any]) -> str:
    """The id of a command the API sent to charger 1 (its calls not the OCPP function's)."""
    _registered("1")
    operator = {
        "x-operator-key": "operator-key-of-the-least-privilege-scenario",
        "content-type": "application/json",
    }
    with RECORDER.recording(), Client(app, stage_name="dev", project_dir=str(API_DIR)) as client:
        body = json.dumps(payload)
        sent = client.http.post(f"/chargepoints/1/commands/{action}", headers=operator, body=body)
    assert sent.status_code == 202, sent.body
    return str(json.loads(sent.body)["command_id"])


def ocpp_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A charge point connects, boots, is authorized, starts and stops a transaction (the
    session published through the IoT data plane, as deployed), each answer posted back through
    the management API, answers an operator's command (recorded against it), connects again (the
    older connection closed), and disconnects with a command outstanding (which fails it)."""
    monkeypatch.setenv("PUBLISH_TRANSPORT", "iot-data")
    monkeypatch.setenv("FLEET_CHARGERS", "2")
    monkeypatch.setenv("OPERATOR_KEY", "operator-key-of-the-least-privilege-scenario")
    monkeypatch.setenv("OCPP_MANAGEMENT_ENDPOINT_URL", MANAGEMENT)
    monkeypatch.setenv("OCPP_COMMAND_WAIT_SECONDS", "0")
    central_system._central_system.cache_clear()
    register_with_tariff("1", "AC-1", datetime(2026, 11, 29, tzinfo=UTC))  # priced by it
    start = {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2026-11-29T10:00:00Z"}
    stop = {"transactionId": 1, "meterStop": 5_000, "timestamp": "2026-11-29T10:30:00Z"}
    boot = {"chargePointVendor": "V", "chargePointModel": "M"}
    assert central_system.handler(_ocpp_event("CONNECT"), None)["statusCode"] == 200
    for unique_id, (action, payload) in enumerate(
        [
            ("BootNotification", boot),
            ("Authorize", {"idTag": "T"}),
            ("StartTransaction", start),
            ("StopTransaction", stop),
        ]
    ):
        frame = json.dumps([2, str(unique_id), action, payload])
        assert central_system.handler(_ocpp_event("MESSAGE", frame), None)["statusCode"] == 200
    # an operator's command is answered, another is left unanswered by a disconnect
    reset = _pending_command("Reset", {"type": "Soft"})
    answer = json.dumps([3, reset, {"status": "Accepted"}])
    assert central_system.handler(_ocpp_event("MESSAGE", answer), None)["statusCode"] == 200
    _pending_command("ClearCache", {})
    # a second connection of the charge point closes the first (DELETE @connections/conn-1)
    assert central_system.handler(_ocpp_event("CONNECT", None, "conn-2"), None)["statusCode"] == 200
    assert central_system.handler(_ocpp_event("DISCONNECT"), None)["statusCode"] == 200


def authorizer_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered charge point with its own password is let in (its registry record read), a
    wrong password refused before any read, an unregistered and a retired charger refused."""
    monkeypatch.setenv("MQTT_FLEET_SECRET", "fleet-secret")
    registry = DynamoDBChargerRegistry(
        Settings.from_env().sessions_table, boto3.client("dynamodb", region_name=REGION)
    )
    registry.put(listed_record("1"))
    registry.put(replace(listed_record("9"), status=RETIRED))

    def event(charger: str, password: str) -> dict[str, Any]:
        basic = base64.b64encode(f"{charger}:{password}".encode()).decode()
        return {
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:eu-north-1:123456789012:abc123/ocpp/$connect",
            "headers": {"Authorization": f"Basic {basic}"},
            "queryStringParameters": {"chargePointId": charger},
        }

    assert authorize(event("1", charger_password("fleet-secret", "1")), None)["context"] == {
        "chargerId": "1"
    }
    for charger, password in [
        ("1", "wrong"),
        ("8", charger_password("fleet-secret", "8")),
        ("9", charger_password("fleet-secret", "9")),
    ]:
        with pytest.raises(Unauthorized):
            authorize(event(charger, password), None)


def charger_authorizer_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """IoT Core's custom authorizer: a registered charger with its own password is let in (its
    registry record read), a wrong password refused before any read, a retired one refused."""
    monkeypatch.setenv("MQTT_FLEET_SECRET", "fleet-secret")
    monkeypatch.setenv("IOT_ARN_PREFIX", "arn:aws:iot:eu-north-1:123456789012")
    registry = DynamoDBChargerRegistry(
        Settings.from_env().sessions_table, boto3.client("dynamodb", region_name=REGION)
    )
    registry.put(listed_record("1"))
    registry.put(replace(listed_record("9"), status=RETIRED))

    def event(charger: str, password: str) -> dict[str, Any]:
        encoded = base64.b64encode(password.encode()).decode()
        mqtt = {"username": charger, "clientId": charger, "password": encoded}
        return {"protocols": ["mqtt"], "protocolData": {"mqtt": mqtt}}

    assert authorize_mqtt(event("1", charger_password("fleet-secret", "1")), None)[
        "isAuthenticated"
    ]
    for charger, password in [("1", "wrong"), ("9", charger_password("fleet-secret", "9"))]:
        assert not authorize_mqtt(event(charger, password), None)["isAuthenticated"]


SCENARIOS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "PublisherFunction": publisher_paths,
    "ListenerFunction": listener_paths,
    "DeadLetterArchiveFunction": archive_paths,
    "ApiFunction": api_paths,
    "OcppFunction": ocpp_paths,
    "OcppAuthorizerFunction": authorizer_paths,
    "ChargerAuthorizerFunction": charger_authorizer_paths,
}
NO_AWS_CALLS: set[str] = set()
"""Functions that only compute: their scenarios make no call, and their policy grants nothing."""


@pytest.fixture
def calls_of(
    sessions_table: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], list[AwsCall]]:
    """Runs one function's scenarios under moto and returns the calls its handler made."""

    def run(function: str) -> list[AwsCall]:
        with RECORDER.recording() as calls:
            SCENARIOS[function](monkeypatch)
        return [call for call in calls if call.function == function]

    return run


def test_every_function_of_the_template_has_scenarios() -> None:
    assert set(SCENARIOS) == set(transform(load_template()).functions())


@pytest.mark.parametrize("function", sorted(SCENARIOS))
def test_each_call_is_allowed_and_each_grant_is_used(
    calls_of: Callable[[str], list[AwsCall]], function: str
) -> None:
    # GIVEN the calls a function's handler makes on all its paths
    calls = calls_of(function)
    if function in NO_AWS_CALLS:
        assert calls == []
        assert transform(load_template()).functions()[function].statements == ()
        return
    assert calls, f"{function}'s scenarios made no AWS call"
    # WHEN they are judged against the function's policy in the transformed template
    verdict = judge(calls)
    # THEN none is denied, and nothing is granted that no call needs
    assert verdict.denied == []
    assert [f"{g.action} on {g.resource}" for g in verdict.unused.get(function, [])] == []


def test_the_listeners_scenarios_reach_both_reads_after_a_cancellation(
    calls_of: Callable[[str], list[AwsCall]],
) -> None:
    # GIVEN / WHEN the listener's scenarios, a reused session id and a late session among them
    operations = {call.operation for call in calls_of("ListenerFunction")}
    # THEN both cancelled paths were reached: the occurrences of the reused id are queried, the
    # end times whose condition failed are read back; the invalid record is dead-lettered; a
    # month's marker is put before its first transaction
    assert operations == {
        "dynamodb:PutItem",
        "dynamodb:TransactWriteItems",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "sqs:SendMessage",
    }


def _edited(edit: Callable[[dict[str, Any]], None]) -> Any:
    template = load_template()
    edit(template)
    return transform(template)


def _listener_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    policies = template["Resources"]["ListenerFunction"]["Properties"]["Policies"]
    statements: list[dict[str, Any]] = policies[0]["Statement"]
    return statements


@pytest.fixture
def listener_calls(calls_of: Callable[[str], list[AwsCall]]) -> Iterator[list[AwsCall]]:
    yield calls_of("ListenerFunction")


def test_a_removed_grant_is_a_denied_call(listener_calls: list[AwsCall]) -> None:
    # GIVEN the template without the listener's read
    def without_get_item(template: dict[str, Any]) -> None:
        for statement in _listener_statements(template):
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            statement["Action"] = [a for a in actions if a != "dynamodb:GetItem"]

    # WHEN the listener's calls are judged against it
    verdict = judge(listener_calls, _edited(without_get_item))
    # THEN its read is denied
    assert [line.split(" on ")[0] for line in verdict.denied] == [
        "ListenerFunction: dynamodb:GetItem"
    ]


def test_an_added_grant_no_call_needs_is_reported(listener_calls: list[AwsCall]) -> None:
    # GIVEN the template with one more action for the listener
    def with_delete_item(template: dict[str, Any]) -> None:
        statement = copy.deepcopy(_listener_statements(template)[0])
        statement["Action"] = ["dynamodb:DeleteItem"]
        _listener_statements(template).append(statement)

    # WHEN the listener's calls are judged against it
    verdict = judge(listener_calls, _edited(with_delete_item))
    # THEN nothing is denied, and the extra action is reported unused
    assert verdict.denied == []
    assert [grant.action for grant in verdict.unused["ListenerFunction"]] == ["dynamodb:DeleteItem"]
