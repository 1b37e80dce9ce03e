"""What template.yaml grants when deployed: least privilege for every function, chargers bound to
their own client id and topics, the API behind a key, and no secret in the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_runner.services.template import _Loader

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    document = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)
    assert isinstance(document, dict)
    return document


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict):
        found = [document] if "Effect" in document else []
        return found + [s for v in document.values() for s in _statements(v)]
    if isinstance(document, list):
        return [s for v in document for s in _statements(v)]
    return []


def _sub(value: Any) -> str:
    """The text of a `!Sub` (or a plain string)."""
    return str(value.get("Fn::Sub", value)) if isinstance(value, dict) else str(value)


def test_a_charger_connects_only_as_its_own_thing_and_publishes_only_its_own_topics(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["ChargerPolicy"]
    assert policy["Type"] == "AWS::IoT::Policy"
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    by_action = {s["Action"]: s for s in statements}
    assert set(by_action) == {"iot:Connect", "iot:Publish"}  # no subscribe, no receive
    assert all(s["Effect"] == "Allow" for s in statements)
    connect = by_action["iot:Connect"]
    assert _sub(connect["Resource"]).endswith(":client/${!iot:Connection.Thing.ThingName}")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    assert _sub(by_action["iot:Publish"]["Resource"]).endswith(
        ":topic/charger/${!iot:Connection.Thing.ThingName}/connector/*/session/*"
    )


def test_every_function_has_its_own_narrow_policy(template: dict[str, Any]) -> None:
    functions = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert functions
    for name, function in functions.items():
        if function["Properties"].get("Policies") == []:
            continue  # declared to need no AWS access at all (the OCPP authorizer)
        statements = _statements(function["Properties"].get("Policies", []))
        assert statements, f"{name} has no policy of its own"
        for statement in statements:
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            assert statement["Effect"] == "Allow"
            assert not [a for a in actions if "*" in a], f"{name}: wildcard action {actions}"
            resources = statement["Resource"]
            resources = resources if isinstance(resources, list) else [resources]
            assert "*" not in resources, f"{name}: any resource"


def test_the_publisher_may_publish_session_topics_and_read_and_seed_the_registry_only(
    template: dict[str, Any],
) -> None:
    statements = _statements(template["Resources"]["PublisherFunction"]["Properties"]["Policies"])
    assert [s["Action"] for s in statements] == [
        "iot:Publish",
        ["dynamodb:Query", "dynamodb:PutItem"],
    ]
    assert _sub(statements[0]["Resource"]).endswith(":topic/charger/*/connector/*/session/*")
    assert statements[1]["Resource"] == {"Fn::GetAtt": ["SessionsTable", "Arn"]}


def test_the_api_requires_a_key(template: dict[str, Any]) -> None:
    auth = template["Globals"]["Api"]["Auth"]
    assert auth["ApiKeyRequired"] is True
    assert auth["UsagePlan"]["CreateUsagePlan"] == "PER_API"


def test_no_secret_in_the_template(template: dict[str, Any]) -> None:
    # Secrets come in as NoEcho parameters without a default, never as literal values
    for name, parameter in template["Parameters"].items():
        if "Secret" in name or "Key" in name or "Password" in name:
            assert parameter.get("NoEcho") is True, name
            assert "Default" not in parameter, name
    variables: dict[str, Any] = {}
    for resource in template["Resources"].values():
        variables |= resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
    for name, value in variables.items():
        if any(word in name for word in ("SECRET", "KEY", "PASSWORD", "TOKEN")):
            assert isinstance(value, dict), f"{name} is a literal in the template: {value!r}"
    assert "PRIVATE KEY" not in json.dumps(template)
