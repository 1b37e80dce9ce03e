"""template.yaml as CloudFormation would receive it, on a placeholder account and region.

aws-sam-translator (the library `sam build`/`sam deploy` run) turns each function's `Policies` into
an IAM role; the intrinsic functions the policies and environments use (Ref, Fn::GetAtt, Fn::Sub,
Fn::Join) are resolved here to the ARNs, names and URLs a deployment would give the resources.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS_DIR = ROOT / "functions"
"""Where each function's handler package lives (its Handler's first part: `listener`, `api`)."""

PARTITION = "aws"
REGION = "eu-north-1"
ACCOUNT = "123456789012"
STACK = "evsessions"
PLACEHOLDER_PARAMETERS = {"CursorSecret": "placeholder-cursor-secret-of-32-characters"}
"""Values for the template's parameters that have no default."""
PLACEHOLDER_CODE = "s3://placeholder-artifacts/code.zip"
"""What `sam package` puts where the template names a local folder as CodeUri."""


class UnresolvableValue(ValueError):
    """An intrinsic function or resource type this resolver does not know: extend it."""


@dataclass(frozen=True)
class DeployedFunction:
    logical_id: str
    package: str
    """The handler's package under functions/ (`listener` of `listener.handler.handle_batch`)."""
    module: str
    """The handler's module (`listener.handler`): two functions may share a package (the OCPP
    handler and its authorizer), never a handler module."""
    statements: tuple[dict[str, Any], ...]
    """Every statement of the role's inline policies, intrinsics resolved."""
    managed_policies: tuple[str, ...]
    """AWS managed policies SAM attaches (logging; the SQS poller Lambda runs with the role)."""
    resources_by_variable: dict[str, str]
    """Environment variable -> logical id of the resource it names (`SESSIONS_TABLE` ->
    `SessionsTable`): the handler reaches that resource through that variable."""


def _physical_name(logical_id: str) -> str:
    return f"{STACK}-{logical_id}"


def _sub_pattern() -> re.Pattern[str]:
    return re.compile(r"\$\{(!?)([A-Za-z0-9_:.]+)\}")


class Deployment:
    """The transformed template; resolves values as CloudFormation would on deploy."""

    def __init__(self, resources: dict[str, Any], parameters: dict[str, Any]) -> None:
        self.resources = resources
        self.parameters = parameters
        self.pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def _type(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise UnresolvableValue(f"no resource {logical_id} in the transformed template")
        return str(self.resources[logical_id]["Type"])

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return str(self.parameters[name])
        kind = self._type(name)
        physical = _physical_name(name)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"
        if kind in ("AWS::DynamoDB::Table", "AWS::IAM::Role", "AWS::IoT::Policy"):
            return physical
        if kind == "AWS::ApiGatewayV2::Api":  # its API id
            return physical
        if kind == "AWS::ApiGatewayV2::Stage":  # its name
            return str(self.resources[name]["Properties"]["StageName"])
        raise UnresolvableValue(f"Ref of a {kind} ({name})")

    def get_att(self, name: str, attribute: str) -> str:
        kind = self._type(name)
        physical = _physical_name(name)
        arns = {
            "AWS::DynamoDB::Table": f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{physical}",
            "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{physical}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{physical}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if attribute == "QueueName" and kind == "AWS::SQS::Queue":
            return physical
        raise UnresolvableValue(f"Fn::GetAtt {name}.{attribute} of a {kind}")

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function replaced by what it evaluates to."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                name, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if key.startswith("Fn::"):
                raise UnresolvableValue(f"{key} is not resolved here")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(item) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            literal, name = match.groups()
            if literal:
                return "${" + name + "}"
            if name in values:
                return str(values[name])
            if "." in name and name not in self.pseudo:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return _sub_pattern().sub(replace, text)

    def functions(self) -> dict[str, DeployedFunction]:
        """Every Lambda function with its role's statements and its environment's resources."""
        found = {}
        for logical_id, resource in self.resources.items():
            if resource["Type"] != "AWS::Lambda::Function":
                continue
            properties = resource["Properties"]
            role = properties["Role"]["Fn::GetAtt"][0]
            role_properties = self.resources[role]["Properties"]
            statements = [
                statement
                for policy in role_properties.get("Policies", [])
                for statement in _as_list(policy["PolicyDocument"]["Statement"])
            ]
            variables = properties.get("Environment", {}).get("Variables", {})
            found[logical_id] = DeployedFunction(
                logical_id=logical_id,
                package=str(properties["Handler"]).split(".", 1)[0],
                module=str(properties["Handler"]).rsplit(".", 1)[0],
                statements=tuple(self.resolve(statements)),
                managed_policies=tuple(role_properties.get("ManagedPolicyArns", [])),
                resources_by_variable={
                    name: value["Ref"]
                    for name, value in variables.items()
                    if isinstance(value, dict)
                    and set(value) == {"Ref"}
                    and value["Ref"] in self.resources
                },
            )
        return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _packaged(template: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam package` hands it on: local CodeUri folders become S3 locations."""
    packaged = copy.deepcopy(template)
    sections = [packaged.get("Globals", {}).get("Function", {})]
    sections += [
        resource.get("Properties", {})
        for resource in packaged.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]
    for section in sections:
        if isinstance(section.get("CodeUri"), str):
            section["CodeUri"] = PLACEHOLDER_CODE
    return packaged


def transform(template: dict[str, Any]) -> Deployment:
    """SAM's own transform of `template` on the placeholder account, region and parameters."""
    defaults = {
        name: spec["Default"]
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
    parameters = {**defaults, **PLACEHOLDER_PARAMETERS}
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    no_managed_policy_names: Callable[[], dict[str, str]] = dict
    transformed = translator.translate(
        _packaged(template),
        parameter_values={**parameters, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION},
        get_managed_policy_map=no_managed_policy_names,
    )
    return Deployment(transformed["Resources"], parameters)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml with its short-form tags (!Ref, !GetAtt, !Sub) as SAM reads them."""
    document: dict[str, Any] = yaml_parse(path.read_text(encoding="utf-8"))
    return document


@functools.cache
def deployment() -> Deployment:
    """The project's template, transformed once per test session."""
    return transform(load_template())
