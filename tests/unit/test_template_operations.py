"""What an operator gets from template.yaml once SAM has transformed it: data that outlives the
stack, the alarms with their metrics and thresholds, the dashboard, JSON logs and their retention."""

from __future__ import annotations

from typing import Any

import pytest

from tests.least_privilege.deployment import Deployment, deployment


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
    assert len(functions) == 5
    assert {
        (f["Properties"]["Runtime"], tuple(f["Properties"]["Architectures"]))
        for f in functions.values()
    } == {("python3.13", ("arm64",))}
