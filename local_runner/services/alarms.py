"""The template's CloudWatch alarms, read as the emulator evaluates them.

One definition: each alarm's metric, statistic, period and threshold are what template.yaml
gives CloudFormation; the emulator reads them from there (as it reads schedules and rules) and
the template's tests check the same fields on SAM's transform. Dimensions that name a resource
(`!Ref ListenerFunction`, `!GetAtt DeadLetterQueue.QueueName`) keep the resource's logical id,
which is what the local system calls it. An alarm on metric math has no single metric: it is
listed, and left to CloudWatch.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local_runner.services.template import TemplateError, TemplateLoader

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_SYMBOLS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


@dataclass(frozen=True)
class AlarmSpec:
    logical_id: str
    label: str
    """The description's words before its first colon: `dead letters`."""
    description: str
    namespace: str | None
    metric: str | None
    """None for an alarm on metric math."""
    statistic: str
    period_seconds: int
    evaluation_periods: int
    threshold: float
    comparison: str
    dimensions: dict[str, str] = field(default_factory=dict)
    """Dimension name -> the logical id of the resource it names, or its literal value."""

    @property
    def window_seconds(self) -> int:
        return self.period_seconds * self.evaluation_periods

    def breaching(self, value: float) -> bool:
        return _COMPARISONS[self.comparison](value, self.threshold)

    def condition(self) -> str:
        """`> 0`, as the status line shows it."""
        return f"{_SYMBOLS[self.comparison]} {self.threshold:g}"


def _dimension_value(raw: Any) -> str:
    if isinstance(raw, dict) and "Ref" in raw:
        return str(raw["Ref"])
    if isinstance(raw, dict) and "Fn::GetAtt" in raw:
        return str(raw["Fn::GetAtt"][0])
    return str(raw)


def _alarm(logical_id: str, properties: dict[str, Any]) -> AlarmSpec:
    description = str(properties.get("AlarmDescription", ""))
    label, colon, _ = description.partition(":")
    if not colon or not label.strip():
        raise TemplateError(
            f"{logical_id}: AlarmDescription must start with the alarm's short name and a colon"
        )
    comparison = str(properties.get("ComparisonOperator", ""))
    if comparison not in _COMPARISONS:
        raise TemplateError(f"{logical_id}: comparison {comparison!r} is not evaluated locally")
    math = "Metrics" in properties
    return AlarmSpec(
        logical_id=logical_id,
        label=label.strip(),
        description=description,
        namespace=None if math else str(properties["Namespace"]),
        metric=None if math else str(properties["MetricName"]),
        statistic="" if math else str(properties.get("Statistic", "")),
        period_seconds=0 if math else int(properties["Period"]),
        evaluation_periods=int(properties["EvaluationPeriods"]),
        threshold=float(properties["Threshold"]),
        comparison=comparison,
        dimensions={
            str(d["Name"]): _dimension_value(d["Value"]) for d in properties.get("Dimensions") or []
        },
    )


def load_alarms(path: Path) -> list[AlarmSpec]:
    """Every `AWS::CloudWatch::Alarm` in the template, in its order."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=TemplateLoader)
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from None
    return [
        _alarm(logical_id, resource.get("Properties") or {})
        for logical_id, resource in (document.get("Resources") or {}).items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm"
    ]


def dead_letter_queues(path: Path) -> set[str]:
    """The queues another queue's RedrivePolicy dead-letters to: locally, the dead-letter store."""
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=TemplateLoader)
    targets = set()
    for resource in (document.get("Resources") or {}).values():
        redrive = (resource.get("Properties") or {}).get("RedrivePolicy") or {}
        if "deadLetterTargetArn" in redrive:
            targets.add(_dimension_value(redrive["deadLetterTargetArn"]))
    return targets
