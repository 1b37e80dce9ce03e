"""Recorded calls judged against each function's policy statements."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.least_privilege.calls import AwsCall
from tests.least_privilege.deployment import Deployment, deployment
from tests.least_privilege.iam import Grant, IamRequest, Statement, is_allowed, unused_grants


@dataclass
class Verdict:
    count: int
    denied: list[str] = field(default_factory=list)
    """`Function: action on resource (by service:Operation)`, one line per distinct denial,
    and calls that could not be mapped to IAM at all."""
    unused: dict[str, list[Grant]] = field(default_factory=dict)
    """Per function: what its statements grant that no recorded call needed."""
    used: dict[str, Counter[tuple[str, IamRequest, bool]]] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        return {
            "calls": self.count,
            "denied": self.denied,
            "functions": {
                function: [
                    {
                        "operation": operation,
                        "action": request.action,
                        "resource": request.resource,
                        "allowed": allowed,
                        "calls": count,
                    }
                    for (operation, request, allowed), count in sorted(counts.items())
                ]
                for function, counts in sorted(self.used.items())
            },
            "unused_grants": {
                function: [f"{g.action} on {g.resource}" for g in grants]
                for function, grants in sorted(self.unused.items())
            },
        }


def statements_of(deployed: Deployment) -> dict[str, list[Statement]]:
    return {
        logical_id: [Statement.from_json(raw) for raw in function.statements]
        for logical_id, function in deployed.functions().items()
    }


def judge(calls: Sequence[AwsCall], deployed: Deployment | None = None) -> Verdict:
    policies = statements_of(deployed or deployment())
    verdict = Verdict(len(calls))
    requests: dict[str, set[IamRequest]] = {function: set() for function in policies}
    for call in calls:
        if call.error is not None:
            line = f"{call.function}: {call.operation} not mapped to IAM ({call.error})"
            if line not in verdict.denied:
                verdict.denied.append(line)
            continue
        counts = verdict.used.setdefault(call.function, Counter())
        for request in call.requests:
            allowed = is_allowed(policies[call.function], request)
            counts[(call.operation, request, allowed)] += 1
            requests[call.function].add(request)
            line = f"{call.function}: {request.action} on {request.resource} (by {call.operation})"
            if not allowed and line not in verdict.denied:
                verdict.denied.append(line)
    for function, statements in policies.items():
        unused = unused_grants(statements, requests[function])
        if unused:
            verdict.unused[function] = unused
    return verdict
