"""What an operator gets from template.yaml once SAM has transformed it: data that outlives the
stack, the alarms with their metrics and thresholds, the dashboard, JSON logs, their retention."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from evsessions.metrics import Metric
from local_runner.services.alarms import load_alarms
from tests.least_privilege.deployment import Deployment, deployment

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def deployed() -> Deployment:
    return deployment()


def of_type(deployed: Deployment, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in deployed.resources.items() if r["Type"] == kind}


def test_the_sessions_table_outlives_its_stack(deployed: Deployment) -> None:
    # GIVEN the transformed template WHEN the stack is deleted or the table replaced
    table = deployed.resources["SessionsTable"]
    # THEN CloudFormation keeps the table, and nobody deletes it without turning protection off
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }


def test_every_function_runs_python_3_13_on_arm64(deployed: Deployment) -> None:
    functions = of_type(deployed, "AWS::Lambda::Function")
    assert len(functions) == 7
    assert {
        (f["Properties"]["Runtime"], tuple(f["Properties"]["Architectures"]))
        for f in functions.values()
    } == {("python3.13", ("arm64",))}


def named(value: Any) -> str:
    """The logical id an intrinsic names (`!Ref X`, `!GetAtt X.Attr`), or the literal value."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return str(value)


EXPECTED_ALARMS = {
    # alarm: (namespace, metric, dimensions by the resource they name, statistic, period, threshold)
    "DeadLettersAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "DeadLetterQueue"},
        "Maximum", 60, 0,
    ),
    "SessionQueueAgeAlarm": (
        "AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": "SessionQueue"},
        "Maximum", 60, 300,
    ),
    "ListenerErrorsAlarm": (
        "AWS/Lambda", "Errors", {"FunctionName": "ListenerFunction"}, "Sum", 300, 0,
    ),
    "ListenerThrottlesAlarm": (
        "AWS/Lambda", "Throttles", {"FunctionName": "ListenerFunction"}, "Sum", 300, 0,
    ),
    "IotRuleErrorsAlarm": (
        "AWS/IoT", "Failure", {"RuleName": "SessionMessagesRule", "ActionType": "SQS"},
        "Sum", 300, 0,
    ),
    "ApiErrorsAlarm": (
        "AWS/ApiGateway", "5XXError", {"ApiName": "AWS::StackName", "Stage": "Prod"},
        "Sum", 300, 0,
    ),
    "OcppErrorsAlarm": ("AWS/Lambda", "Errors", {"FunctionName": "OcppFunction"}, "Sum", 300, 0),
    "ConflictRetriesAlarm": (
        "EvSessions", "ConflictsRetried", {"FunctionName": "ListenerFunction"}, "Sum", 300, 100,
    ),
    "DeadLettersArchivedAlarm": (
        "EvSessions", "DeadLettersArchived", {"FunctionName": "DeadLetterArchiveFunction"},
        "Sum", 86400, 0,
    ),
}  # fmt: skip
EXPECTED_MATH_ALARMS = {
    "DynamoDbThrottlesAlarm": {"ReadThrottleEvents", "WriteThrottleEvents"},
    "DynamoDbSystemErrorsAlarm": {"SystemErrors"},
}


def test_each_alarm_has_its_metric_and_threshold_and_notifies_the_topic(
    deployed: Deployment,
) -> None:
    alarms = of_type(deployed, "AWS::CloudWatch::Alarm")
    assert set(alarms) == set(EXPECTED_ALARMS) | set(EXPECTED_MATH_ALARMS)
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert properties["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert properties["TreatMissingData"] == "notBreaching", name
        assert "docs/pages/operations.md#" in properties["AlarmDescription"], name
        if name in EXPECTED_MATH_ALARMS:
            stats = [m["MetricStat"] for m in properties["Metrics"] if "MetricStat" in m]
            assert {s["Metric"]["MetricName"] for s in stats} == EXPECTED_MATH_ALARMS[name]
            for stat in stats:
                dimensions = {d["Name"]: named(d["Value"]) for d in stat["Metric"]["Dimensions"]}
                assert dimensions["TableName"] == "SessionsTable", name
            assert (properties["Threshold"], properties["ComparisonOperator"]) == (
                0,
                "GreaterThanThreshold",
            )
            continue
        namespace, metric, dimensions, statistic, period, threshold = EXPECTED_ALARMS[name]
        assert (properties["Namespace"], properties["MetricName"]) == (namespace, metric), name
        assert {d["Name"]: named(d["Value"]) for d in properties["Dimensions"]} == dimensions
        assert (properties["Statistic"], properties["Period"]) == (statistic, period), name
        assert properties["Threshold"] == threshold, name
        assert properties["ComparisonOperator"] == "GreaterThanThreshold", name


def test_the_emulator_reads_the_same_alarms_cloudformation_gets(deployed: Deployment) -> None:
    """One definition of each threshold: the emulator's reading of template.yaml is the
    transformed template's alarm, field by field."""
    alarms = of_type(deployed, "AWS::CloudWatch::Alarm")
    for spec in load_alarms(ROOT / "template.yaml"):
        properties = alarms[spec.logical_id]["Properties"]
        assert spec.threshold == properties["Threshold"]
        assert spec.comparison == properties["ComparisonOperator"]
        assert spec.evaluation_periods == properties["EvaluationPeriods"]
        if spec.metric is not None:
            assert (spec.namespace, spec.metric) == (
                properties["Namespace"],
                properties["MetricName"],
            )
            assert (spec.statistic, spec.period_seconds) == (
                properties["Statistic"],
                properties["Period"],
            )
            assert spec.dimensions == {
                d["Name"]: named(d["Value"]) for d in properties["Dimensions"]
            }


def test_alarms_reach_an_email_address_only_when_one_is_given(deployed: Deployment) -> None:
    subscription = deployed.resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert deployed.parameters["AlarmEmail"] == ""


def test_the_dashboard_shows_the_metrics_beside_the_queues_and_the_alarms(
    deployed: Deployment,
) -> None:
    body = deployed.resources["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for alarm in of_type(deployed, "AWS::CloudWatch::Alarm"):
        assert f"${{{alarm}.Arn}}" in body
    for metric in Metric:
        assert f'"EvSessions", "{metric.value}"' in body, metric
    assert "${SessionQueue.QueueName}" in body and "${DeadLetterQueue.QueueName}" in body


def test_every_function_logs_json_to_its_own_group_kept_30_days_by_default(
    deployed: Deployment,
) -> None:
    functions = of_type(deployed, "AWS::Lambda::Function")
    groups = of_type(deployed, "AWS::Logs::LogGroup")
    assert deployed.parameters["LogRetentionDays"] == 30
    for name, function in functions.items():
        logging = function["Properties"]["LoggingConfig"]
        assert logging["LogFormat"] == "JSON", name
        group = groups[named(logging["LogGroup"])]
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["Properties"]["LogGroupName"] == {
            "Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{name}"
        }
    assert len(groups) == len(functions)


def slug(heading: str) -> str:
    """The anchor MkDocs' toc gives a heading."""
    words = re.sub(r"[^\w\s-]", "", heading.strip().lower())
    return re.sub(r"[\s]+", "-", words)


def test_each_alarm_names_a_runbook_entry_that_exists() -> None:
    page = (ROOT / "docs" / "pages" / "operations.md").read_text(encoding="utf-8")
    anchors = {slug(line.lstrip("#")) for line in page.splitlines() if line.startswith("### ")}
    for alarm in load_alarms(ROOT / "template.yaml"):
        _, _, anchor = alarm.description.partition("docs/pages/operations.md#")
        assert anchor in anchors, (alarm.logical_id, anchor)
    runbook = page.split("\n## Runbook\n", 1)[1].split("\n## ", 1)[0]
    for entry in runbook.split("\n### ")[1:]:
        for part in ("**Means**", "**Look**", "**Fix**", "**Replay**"):
            assert part in entry, (entry.splitlines()[0], part)
