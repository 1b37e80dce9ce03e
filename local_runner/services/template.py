"""Reads template.yaml (AWS SAM) into what the emulator runs: functions, triggers, tables, routes.

The template is the single source of truth: the emulator schedules what it schedules, subscribes
to what its rules select and creates the tables it declares. Every schedule expression and rule
SQL is parsed here, so a bad one stops start-up with a message that names the resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from local_runner.services.iot_sql import Rule, RuleSqlError, parse_rule
from local_runner.services.schedule_expressions import (
    Schedule,
    ScheduleExpressionError,
    parse_schedule,
)


class TemplateError(ValueError):
    """template.yaml declares something the emulator cannot run; the message says where."""


@dataclass(frozen=True)
class ScheduleTrigger:
    name: str
    schedule: Schedule


@dataclass(frozen=True)
class QueueTrigger:
    """A function's SQS event: Lambda polls the queue and hands over batches."""

    queue_id: str
    batch_size: int
    window_seconds: float
    max_concurrency: int


@dataclass(frozen=True)
class QueueBatching:
    """How a rule's messages reach a function through a queue: what the bridge emulates."""

    queue_name: str
    size: int
    window_seconds: float
    in_flight: int
    max_receive_count: int


@dataclass(frozen=True)
class RuleTrigger:
    name: str
    rule: Rule
    batching: QueueBatching | None = None
    """Set when the rule's action is a queue that the function reads; else a direct Lambda call."""


@dataclass(frozen=True)
class ApiRoute:
    name: str
    path: str
    method: str


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    timeout_seconds: int
    max_retry_attempts: int
    """Retries of a failed asynchronous invocation (EventInvokeConfig; Lambda's default is 2)."""
    runtime: str
    """Lambda's runtime identifier, e.g. python3.11: the Python its package is built for."""
    architecture: str
    """arm64 or x86_64 (Lambda's default): the machine its compiled modules must be built for."""
    left_to_emulator: frozenset[str] = frozenset()
    """Variables the template sets from a resource with no local counterpart (a WebSocket API's
    endpoint): the emulator sets them to what stands in for it."""
    schedules: list[ScheduleTrigger] = field(default_factory=list)
    rules: list[RuleTrigger] = field(default_factory=list)
    routes: list[ApiRoute] = field(default_factory=list)
    queues: list[QueueTrigger] = field(default_factory=list)


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class Template:
    functions: dict[str, FunctionSpec]
    tables: dict[str, TableSpec]

    def environment(self, function: str) -> dict[str, str]:
        """The function's variables as CloudFormation sets them: Globals merged with the
        function's own, the function's winning. Two functions may give one name two values."""
        return dict(self.functions[function].environment)


class NoLocalValue(Exception):
    """A value the emulator must not invent: a NoEcho parameter (a secret: .env provides it) or
    a resource with no local counterpart (the emulator sets what stands in for it)."""


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)
TemplateLoader = _Loader
"""For the modules that read other parts of the same template (websocket_api)."""
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_PSEUDO = {
    "AWS::Region": "eu-north-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "local",
}


class _Resolver:
    """Resolves the intrinsics the emulator needs to a local value: Ref, Sub and GetAtt."""

    def __init__(self, parameters: dict[str, Any], resources: dict[str, Any]) -> None:
        self.parameters = parameters
        self.resources = resources

    def ref(self, name: str, where: str) -> str:
        if name in _PSEUDO:
            return _PSEUDO[name]
        if name in self.parameters:
            if self.parameters[name].get("NoEcho") in (True, "true"):
                raise NoLocalValue(name)
            if "Default" not in self.parameters[name]:
                raise TemplateError(f"{where}: parameter {name} has no Default to run locally")
            return str(self.parameters[name]["Default"])
        if name in self.resources:
            if self.resources[name].get("Type") != "AWS::DynamoDB::Table":
                raise NoLocalValue(name)
            properties = self.resources[name].get("Properties") or {}
            return str(properties.get("TableName") or name)
        raise TemplateError(f"{where}: !Ref {name} names nothing in the template")

    def value(self, raw: Any, where: str) -> str:
        if isinstance(raw, str | int | float | bool):
            return str(raw).lower() if isinstance(raw, bool) else str(raw)
        if isinstance(raw, dict) and set(raw) == {"Ref"}:
            return self.ref(raw["Ref"], where)
        if isinstance(raw, dict) and set(raw) == {"Fn::Sub"} and isinstance(raw["Fn::Sub"], str):
            return _SUB_VARIABLE.sub(lambda m: self.ref(m.group(1), where), raw["Fn::Sub"])
        raise TemplateError(f"{where}: the emulator cannot resolve {raw!r} locally")


def _environment(variables: dict[str, Any], resolver: _Resolver, where: str) -> dict[str, str]:
    """Resolved variables; one without a local value is left to the local environment."""
    resolved = {}
    for name, raw in variables.items():
        try:
            resolved[name] = resolver.value(raw, f"{where} Environment {name}")
        except NoLocalValue:
            continue
    return resolved


def _left_to_emulator(variables: dict[str, Any], resolver: _Resolver, where: str) -> frozenset[str]:
    """The variables whose value names a resource the emulator stands in for itself (not a
    secret parameter, which the operator's environment provides)."""
    left = set()
    for name, raw in variables.items():
        try:
            resolver.value(raw, f"{where} Environment {name}")
        except NoLocalValue as missing:
            if str(missing) in resolver.resources:
                left.add(name)
    return frozenset(left)


def _rule(sql: object, where: str) -> Rule:
    try:
        return parse_rule(str(sql or ""))
    except RuleSqlError as error:
        raise TemplateError(f"{where}: invalid rule SQL: {error}") from None


def _topic_rule(
    logical_id: str,
    properties: dict[str, Any],
    functions: dict[str, FunctionSpec],
    resources: dict[str, Any],
) -> None:
    """An AWS::IoT::TopicRule whose actions reach the template's functions: a Lambda action
    directly, an Sqs action through the queue that a function's SQS event reads."""
    payload = properties.get("TopicRulePayload") or {}
    if payload.get("RuleDisabled") in (True, "true"):
        return
    rule = _rule(payload.get("Sql"), logical_id)
    triggers = 0
    for action in payload.get("Actions") or []:
        if "Lambda" in action:
            name = _logical_id(action["Lambda"]["FunctionArn"])
            if name not in functions:
                raise TemplateError(f"{logical_id}: Lambda action {name!r} names no function here")
            functions[name].rules.append(RuleTrigger(logical_id, rule))
            triggers += 1
        elif "Sqs" in action:
            queue_id = _logical_id(action["Sqs"]["QueueUrl"])
            for function in functions.values():
                for trigger in function.queues:
                    if trigger.queue_id == queue_id:
                        batching = _queue_batching(trigger, resources.get(queue_id) or {})
                        function.rules.append(RuleTrigger(logical_id, rule, batching))
                        triggers += 1
    if not triggers:
        raise TemplateError(
            f"{logical_id}: the emulator runs rules whose actions reach a function (a Lambda "
            "action, or an Sqs action on a queue that a function's SQS event reads)"
        )


def _queue_batching(trigger: QueueTrigger, queue: dict[str, Any]) -> QueueBatching:
    """Without a redrive policy SQS redelivers forever; the emulator then stops at 10."""
    redrive = (queue.get("Properties") or {}).get("RedrivePolicy") or {}
    return QueueBatching(
        queue_name=trigger.queue_id,
        size=trigger.batch_size,
        window_seconds=trigger.window_seconds,
        in_flight=trigger.max_concurrency,
        max_receive_count=int(redrive.get("maxReceiveCount", 10)),
    )


def _logical_id(reference: Any) -> str:
    """The logical id in `!GetAtt Fn.Arn` or `!Ref Fn`."""
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        return str(reference["Fn::GetAtt"][0])
    if isinstance(reference, dict) and "Ref" in reference:
        return str(reference["Ref"])
    return str(reference)


def _function(
    logical_id: str,
    properties: dict[str, Any],
    globals_: dict[str, Any],
    base: Path,
    resolver: _Resolver,
) -> FunctionSpec:
    merged = {**globals_, **properties}
    variables = {
        **((globals_.get("Environment") or {}).get("Variables") or {}),
        **((properties.get("Environment") or {}).get("Variables") or {}),
    }
    where = f"{logical_id}"
    if "Handler" not in merged or "CodeUri" not in merged:
        raise TemplateError(f"{where}: a function needs Handler and CodeUri")
    spec = FunctionSpec(
        logical_id=logical_id,
        handler=str(merged["Handler"]),
        code_dir=(base / str(merged["CodeUri"])).resolve(),
        environment=_environment(variables, resolver, where),
        left_to_emulator=_left_to_emulator(variables, resolver, where),
        timeout_seconds=int(merged.get("Timeout", 3)),
        max_retry_attempts=int(
            (properties.get("EventInvokeConfig") or {}).get("MaximumRetryAttempts", 2)
        ),
        runtime=str(merged.get("Runtime", "")),
        architecture=str((merged.get("Architectures") or ["x86_64"])[0]),
    )
    for event_name, event in (properties.get("Events") or {}).items():
        event_where = f"{logical_id} event {event_name}"
        event_properties = event.get("Properties") or {}
        kind = event.get("Type")
        if kind == "Schedule":
            try:
                schedule = parse_schedule(str(event_properties.get("Schedule", "")))
            except ScheduleExpressionError as error:
                raise TemplateError(f"{event_where}: {error}") from None
            spec.schedules.append(ScheduleTrigger(f"{logical_id}{event_name}", schedule))
        elif kind == "IoTRule":
            rule = _rule(event_properties.get("Sql"), event_where)
            spec.rules.append(RuleTrigger(f"{logical_id}{event_name}", rule))
        elif kind == "SQS":
            spec.queues.append(_queue_trigger(event_properties, event_where))
        elif kind == "Api":
            if "Path" not in event_properties or "Method" not in event_properties:
                raise TemplateError(f"{event_where}: an Api event needs Path and Method")
            spec.routes.append(
                ApiRoute(
                    event_name,
                    str(event_properties["Path"]),
                    str(event_properties["Method"]).upper(),
                )
            )
        else:
            raise TemplateError(f"{event_where}: event type {kind!r} is not emulated locally")
    return spec


def _queue_trigger(properties: dict[str, Any], where: str) -> QueueTrigger:
    """Lambda's defaults: batches of 10, no window, concurrency as far as the account allows
    (here: one batch at a time per event, unless ScalingConfig says more)."""
    if "Queue" not in properties:
        raise TemplateError(f"{where}: an SQS event needs Queue")
    scaling = properties.get("ScalingConfig") or {}
    return QueueTrigger(
        queue_id=_logical_id(properties["Queue"]),
        batch_size=int(properties.get("BatchSize", 10)),
        window_seconds=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
        max_concurrency=int(scaling.get("MaximumConcurrency", 1)),
    )


def load_template(path: Path) -> Template:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from None
    resources: dict[str, Any] = document.get("Resources") or {}
    resolver = _Resolver(document.get("Parameters") or {}, resources)
    globals_ = (document.get("Globals") or {}).get("Function") or {}
    functions: dict[str, FunctionSpec] = {}
    tables: dict[str, TableSpec] = {}
    for logical_id, resource in resources.items():
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function":
            functions[logical_id] = _function(
                logical_id, properties, globals_, path.parent, resolver
            )
        elif kind == "AWS::DynamoDB::Table":
            tables[logical_id] = TableSpec(
                logical_id, resolver.ref(logical_id, logical_id), properties
            )
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::IoT::TopicRule":
            _topic_rule(logical_id, resource.get("Properties") or {}, functions, resources)
    return Template(functions, tables)
