"""template.yaml read into what the emulator runs; a bad template stops start-up with a reason."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from evsessions.contract import TOPIC_FILTER, parse_session
from evsessions.dynamodb.items import session_item
from local_runner.services.iot_sql import MessageContext
from local_runner.services.template import QueueBatching, Template, TemplateError, load_template

ROOT = Path(__file__).resolve().parents[2]
ORIGINAL_EVENT = {
    "session_id": 1,
    "energy_delivered_in_kWh": 30,
    "duration_in_seconds": 45,
    "session_cost_in_cents": 70,
    "topic": "charger/1/connector/1/session/1",
    "received_at": 1_764_268_500_000,
}


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(ROOT / "template.yaml")


def write_template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def template_error(path: Path) -> str:
    with pytest.raises(TemplateError) as excinfo:
        load_template(path)
    return str(excinfo.value)


# --- the real template --------------------------------------------------------------------------


def test_real_template_declares_the_functions(template: Template) -> None:
    assert set(template.functions) == {
        "PublisherFunction",
        "ListenerFunction",
        "ApiFunction",
        "OcppFunction",
        "OcppAuthorizerFunction",
        "ChargerAuthorizerFunction",
        "DeadLetterArchiveFunction",
    }
    assert template.functions["PublisherFunction"].handler == "publisher.handler.handler"
    assert template.functions["ListenerFunction"].handler == "listener.handler.handle_batch"
    assert template.functions["ApiFunction"].handler == "api.app.app"
    assert template.functions["OcppFunction"].handler == "centralsystem.handler.handler"
    assert template.functions["DeadLetterArchiveFunction"].handler == "listener.archive.handler"
    assert {f.code_dir for f in template.functions.values()} == {ROOT / "functions"}


def test_every_function_runs_python_3_13_on_the_globals_arm64(template: Template) -> None:
    # Amazon Linux 2023, supported to 2029-06-30 (python3.11 runs on Amazon Linux 2, whose end of
    # life was 2026-06-30). Every package is built for this (functions/Makefile installs
    # compiled wheels for it), and scripts/setup.sh makes the runtime's stand-in of this version.
    assert {(f.runtime, f.architecture) for f in template.functions.values()} == {
        ("python3.13", "arm64")
    }
    setup = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "RUNTIME_PYTHON_VERSION=3.13\n" in setup
    assert "--python-version 3.13" in (ROOT / "scripts" / "lambda-runtime.txt").read_text()


def test_a_function_without_architectures_runs_on_lambdas_default_x86_64(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      Handler: h.handler\n      CodeUri: .\n      Runtime: python3.12\n",
    )
    function = load_template(path).functions["Fn"]
    assert (function.runtime, function.architecture) == ("python3.12", "x86_64")


def test_publisher_ticks_once_a_minute(template: Template) -> None:
    # GIVEN the publisher's schedule
    publisher = template.functions["PublisherFunction"]
    # THEN it is one rate(1 minute) trigger, firing on each whole minute
    assert [t.name for t in publisher.schedules] == ["PublisherFunctionTick"]
    schedule = publisher.schedules[0].schedule
    moment = datetime(2025, 11, 27, 18, 35, 12, tzinfo=UTC)
    assert schedule.next_after(moment) == datetime(2025, 11, 27, 18, 36, tzinfo=UTC)
    assert publisher.timeout_seconds == 60


def test_listener_rule_selects_the_session_topics(template: Template) -> None:
    listener = template.functions["ListenerFunction"]
    assert [t.name for t in listener.rules] == ["SessionMessagesRule"]
    rule = listener.rules[0].rule
    assert rule.topic_filter == "charger/+/connector/+/session/+"
    assert rule.topic_filter == TOPIC_FILTER


def test_listener_rule_reaches_the_listener_through_its_queue_in_batches(
    template: Template,
) -> None:
    # GIVEN the rule's Sqs action and the listener's SQS event on that queue
    trigger = template.functions["ListenerFunction"].rules[0]
    # THEN the emulator batches as Lambda would poll, and dead-letters as the redrive policy says
    assert trigger.batching == QueueBatching(
        queue_name="SessionQueue", size=5000, window_seconds=1.0, in_flight=12, max_receive_count=3
    )


def rule_template(tmp_path: Path, action: dict[str, object], events: dict[str, object]) -> Path:
    """One listener function with `events`, one queue, and one rule with `action`."""
    document = {
        "Resources": {
            "ListenerFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "listener.handler.handler",
                    "CodeUri": "functions/",
                    "Events": events,
                },
            },
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Rule": {
                "Type": "AWS::IoT::TopicRule",
                "Properties": {
                    "TopicRulePayload": {"Sql": "SELECT * FROM 'charger/#'", "Actions": [action]},
                },
            },
        }
    }
    return write_template(tmp_path, yaml.safe_dump(document))


def test_a_lambda_action_invokes_once_per_message(tmp_path: Path) -> None:
    # GIVEN a rule whose action invokes the function directly
    action = {"Lambda": {"FunctionArn": {"Fn::GetAtt": ["ListenerFunction", "Arn"]}}}
    # WHEN loaded THEN the trigger has no batching: one message per invocation
    template = load_template(rule_template(tmp_path, action, {}))
    assert [t.batching for t in template.functions["ListenerFunction"].rules] == [None]


def test_a_queue_without_redrive_and_lambda_defaults(tmp_path: Path) -> None:
    # GIVEN an Sqs action on a queue read by an SQS event with no batching settings
    action = {"Sqs": {"QueueUrl": {"Ref": "Queue"}, "RoleArn": "arn"}}
    events = {"Q": {"Type": "SQS", "Properties": {"Queue": {"Fn::GetAtt": ["Queue", "Arn"]}}}}
    # WHEN loaded THEN Lambda's defaults apply: batches of 10, no window, one at a time
    template = load_template(rule_template(tmp_path, action, events))
    assert template.functions["ListenerFunction"].rules[0].batching == QueueBatching(
        queue_name="Queue", size=10, window_seconds=0.0, in_flight=1, max_receive_count=10
    )


def test_a_rule_whose_queue_no_function_reads_is_refused(tmp_path: Path) -> None:
    # GIVEN a rule that only fills a queue nobody reads
    action = {"Sqs": {"QueueUrl": {"Ref": "Queue"}, "RoleArn": "arn"}}
    # WHEN loaded THEN start-up stops: the emulator would run nothing for it
    message = template_error(rule_template(tmp_path, action, {}))
    assert message.startswith("Rule: ")
    assert "reach a function" in message


def test_listener_rule_output_of_the_original_message_passes_the_contract(
    template: Template,
) -> None:
    # GIVEN the original challenge's message on a session topic
    rule = template.functions["ListenerFunction"].rules[0].rule
    payload = {
        "session_id": 1,
        "energy_delivered_in_kWh": 30,
        "duration_in_seconds": 45,
        "session_cost_in_cents": 70,
    }
    context = MessageContext("charger/1/connector/1/session/1", "charger-1", 1_764_268_500_000)
    # WHEN the template's rule turns it into the listener's event
    event = rule.evaluate(json.dumps(payload).encode(), context)
    # THEN the event has what the contract needs and is accepted
    assert event is not None
    assert event["topic"] == "charger/1/connector/1/session/1"
    assert event["received_at"] == 1_764_268_500_000
    session = parse_session(event)
    assert session.ended_at == datetime.fromtimestamp(1_764_268_500, UTC)


def test_a_variable_naming_a_resource_with_no_local_counterpart_is_left_to_the_emulator(
    template: Template,
) -> None:
    # GIVEN the API's management endpoint, built from the WebSocket API and its stage
    api = template.functions["ApiFunction"]
    # THEN it has no local value from the template, and is named as the emulator's to set;
    # a secret parameter (OPERATOR_KEY, NoEcho) is the operator's, not the emulator's
    assert "OCPP_MANAGEMENT_ENDPOINT_URL" not in api.environment
    assert "OCPP_MANAGEMENT_ENDPOINT_URL" in api.left_to_emulator
    assert "DEAD_LETTER_QUEUE_URL" in api.left_to_emulator  # its queue: the emulator's own
    assert "OPERATOR_KEY" not in {*api.environment, *api.left_to_emulator}
    # AND the wait is the stack parameter's default, below API Gateway's 29 s
    assert float(api.environment["OCPP_COMMAND_WAIT_SECONDS"]) < 29


def test_api_routes(template: Template) -> None:
    # GIVEN the query API's Api events
    routes = {(r.method, r.path) for r in template.functions["ApiFunction"].routes}
    # THEN every route of issue 4 and the dashboard's are there, issue 25's tariffs, a session's
    # CDRs and the OCPI Sender interface, plus the catch-all that turns unknown paths into 404s
    assert routes == {
        ("GET", "/health"),
        ("GET", "/chargepoints"),
        ("POST", "/chargepoints/{charger_id}/commands/{command}"),
        ("GET", "/chargepoints/{charger_id}/commands/{command}"),
        ("GET", "/sessions"),
        ("GET", "/sessions/{charger_id}/{connector_id}/{session_id}"),
        ("POST", "/sessions/{charger_id}/{connector_id}/{session_id}/resolution"),
        ("GET", "/chargers"),
        ("GET", "/totals"),
        ("GET", "/idtags"),
        ("GET", "/idtags/{tag}"),
        ("PUT", "/idtags/{tag}"),
        ("DELETE", "/idtags/{tag}"),
        ("GET", "/registry/chargers"),
        ("GET", "/registry/chargers/{charger_id}"),
        ("PUT", "/registry/chargers/{charger_id}"),
        ("GET", "/tariffs"),
        ("GET", "/tariffs/{tariff_id}"),
        ("PUT", "/tariffs/{tariff_id}"),
        ("GET", "/sessions/{charger_id}/{connector_id}/{session_id}/cdrs"),
        ("GET", "/ocpi/versions"),
        ("GET", "/ocpi/2.2.1"),
        ("GET", "/ocpi/2.2.1/cdrs"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/"),
        ("GET", "/assets/{name}"),
        ("ANY", "/{proxy+}"),
    }


def test_sessions_table_keys(template: Template) -> None:
    # GIVEN the sessions table
    table = template.tables["SessionsTable"]
    properties = table.properties
    # THEN it has the key and indexes the DynamoDB adapter queries
    assert table.name == "SessionsTable"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    indexes = {i["IndexName"]: i["KeySchema"] for i in properties["GlobalSecondaryIndexes"]}
    assert indexes == {
        "ByConnectorTime": [
            {"AttributeName": "connector_pk", "KeyType": "HASH"},
            {"AttributeName": "charger_time", "KeyType": "RANGE"},
        ],
        "ByMonth": [
            {"AttributeName": "month", "KeyType": "HASH"},
            {"AttributeName": "fleet_time", "KeyType": "RANGE"},
        ],
        "ByReview": [
            {"AttributeName": "review", "KeyType": "HASH"},
            {"AttributeName": "fleet_time", "KeyType": "RANGE"},
        ],
    }
    declared = {d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]}
    assert declared == dict.fromkeys(
        ["pk", "sk", "charger_time", "connector_pk", "month", "fleet_time", "review"], "S"
    )


def test_session_items_carry_every_index_key_the_template_declares(template: Template) -> None:
    # GIVEN the attributes the template declares for the table's keys and indexes
    declared = {
        d["AttributeName"]
        for d in template.tables["SessionsTable"].properties["AttributeDefinitions"]
    }
    # WHEN a session is turned into its item
    item = session_item(parse_session(ORIGINAL_EVENT))
    # THEN it has every one of them, as text (the template declares them all as S)
    assert declared <= set(item)
    assert all(isinstance(item[name], str) for name in declared)


# --- API Gateway wants a key (what each function may call: test_least_privilege) -----------------


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !GetAtt, !Sub) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_deployed_api_requires_an_api_key() -> None:
    # GIVEN the template's API settings
    document = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    auth = document["Globals"]["Api"]["Auth"]
    # THEN API Gateway asks for a key, with a usage plan to hold it
    assert auth["ApiKeyRequired"] is True
    assert auth["UsagePlan"]["CreateUsagePlan"] in ("PER_API", "SHARED")


def test_functions_get_the_table_name_and_parameter_defaults(template: Template) -> None:
    # GIVEN !Ref SessionsTable in Globals and !Ref to parameters
    environment = template.environment("PublisherFunction")
    # THEN they resolve to the table's logical id and the parameters' defaults
    assert environment["SESSIONS_TABLE"] == "SessionsTable"
    assert environment["FLEET_CHARGERS"] == "1"
    assert environment["FLEET_CONNECTORS_PER_CHARGER"] == "1"
    assert environment["PUBLISH_TRANSPORT"] == "iot-data"


# --- bad templates ------------------------------------------------------------------------------


def function_with_event(tmp_path: Path, name: str, kind: str, **properties: str) -> Path:
    """A template of one function with one event of the given type and properties."""
    document = {
        "Resources": {
            "PublisherFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "publisher.handler.handler",
                    "CodeUri": "functions/",
                    "Events": {name: {"Type": kind, "Properties": properties}},
                },
            }
        }
    }
    return write_template(tmp_path, yaml.safe_dump(document))


def test_plural_rate_with_one_is_refused_naming_function_and_event(tmp_path: Path) -> None:
    # GIVEN `rate(1 minutes)`, which cfn-lint accepts and EventBridge refuses
    path = function_with_event(tmp_path, "Tick", "Schedule", Schedule="rate(1 minutes)")
    # WHEN the template is loaded
    message = template_error(path)
    # THEN start-up stops, naming where the expression is
    assert message.startswith("PublisherFunction event Tick: ")
    assert "rate(1 minutes)" in message


def test_broken_rule_sql_is_refused_naming_function_and_event(tmp_path: Path) -> None:
    # GIVEN rule SQL without FROM
    path = function_with_event(
        tmp_path, "SessionMessages", "IoTRule", Sql="SELECT *, topic() AS topic"
    )
    # WHEN loaded THEN the error names the function, the event and the SQL
    message = template_error(path)
    assert message.startswith("PublisherFunction event SessionMessages: invalid rule SQL")


def test_unsupported_event_type_is_refused(tmp_path: Path) -> None:
    message = template_error(function_with_event(tmp_path, "Stream", "Kinesis", Stream="arn"))
    assert message.startswith("PublisherFunction event Stream: ")
    assert "'Kinesis'" in message


def test_api_event_without_path_is_refused_naming_function_and_event(tmp_path: Path) -> None:
    # GIVEN an Api event that forgot its Path
    path = function_with_event(tmp_path, "Health", "Api", Method="GET")
    # WHEN loaded THEN it is a TemplateError that says where, like every other bad event
    message = template_error(path)
    assert "PublisherFunction event Health" in message


def test_ref_to_an_unknown_name_is_refused(tmp_path: Path) -> None:
    # GIVEN an environment variable that refers to nothing
    path = write_template(
        tmp_path,
        """\
        Resources:
          ListenerFunction:
            Type: AWS::Serverless::Function
            Properties:
              Handler: listener.handler.handler
              CodeUri: functions/
              Environment:
                Variables:
                  SESSIONS_TABLE: !Ref SessionTable
        """,
    )
    # WHEN loaded THEN the error names the function, the variable and the missing name
    message = template_error(path)
    assert "ListenerFunction Environment SESSIONS_TABLE" in message
    assert "!Ref SessionTable names nothing" in message


def test_parameter_without_default_is_refused(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        """\
        Parameters:
          FleetChargers:
            Type: Number
        Resources:
          PublisherFunction:
            Type: AWS::Serverless::Function
            Properties:
              Handler: publisher.handler.handler
              CodeUri: functions/
              Environment:
                Variables:
                  FLEET_CHARGERS: !Ref FleetChargers
        """,
    )
    assert "parameter FleetChargers has no Default" in template_error(path)


def test_function_without_handler_is_refused(tmp_path: Path) -> None:
    path = write_template(
        tmp_path,
        """\
        Resources:
          ListenerFunction:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/
        """,
    )
    assert template_error(path).startswith("ListenerFunction: a function needs Handler")


def test_each_function_gets_globals_merged_with_its_own_variables_its_own_winning(
    tmp_path: Path,
) -> None:
    # GIVEN Globals variables, and two functions giving one of them values of their own
    path = write_template(
        tmp_path,
        """\
        Globals:
          Function:
            CodeUri: functions/
            Environment: {Variables: {MQTT_PORT: 1883, FLEET_CHARGERS: 5}}
        Resources:
          A:
            Type: AWS::Serverless::Function
            Properties: {Handler: a.h, Environment: {Variables: {MQTT_PORT: 1884}}}
          B:
            Type: AWS::Serverless::Function
            Properties: {Handler: b.h, Environment: {Variables: {MQTT_PORT: 1885, API_KEY: k}}}
          C:
            Type: AWS::Serverless::Function
            Properties: {Handler: c.h}
        """,
    )
    # WHEN each function's environment is read
    loaded = load_template(path)
    # THEN each has the Globals' variables, with its own values where it gives one
    assert loaded.environment("A") == {"MQTT_PORT": "1884", "FLEET_CHARGERS": "5"}
    assert loaded.environment("B") == {"MQTT_PORT": "1885", "FLEET_CHARGERS": "5", "API_KEY": "k"}
    assert loaded.environment("C") == {"MQTT_PORT": "1883", "FLEET_CHARGERS": "5"}


def test_unreadable_yaml_is_refused(tmp_path: Path) -> None:
    path = write_template(tmp_path, "Resources: [unclosed\n")
    assert template_error(path).startswith(f"cannot read {path}")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    assert "cannot read" in template_error(tmp_path / "absent.yaml")


def test_rate_schedule_interval(tmp_path: Path) -> None:
    # GIVEN a valid plural rate
    loaded = load_template(
        function_with_event(tmp_path, "Tick", "Schedule", Schedule="rate(5 minutes)")
    )
    # THEN it is parsed into a five-minute schedule
    schedule = loaded.functions["PublisherFunction"].schedules[0].schedule
    start = datetime(2025, 11, 27, 18, 35, tzinfo=UTC)
    assert schedule.next_after(start) == start + timedelta(minutes=5)
