"""Reads the WebSocket APIs template.yaml declares (AWS::ApiGatewayV2::Api, ProtocolType
WEBSOCKET): which function each route reaches, the $connect authorizer, the stage.

Routes reach functions through AWS_PROXY integrations whose IntegrationUri names the function
(`${Fn.Arn}` inside a !Sub); the authorizer likewise. A route or authorizer that reaches no
function of the template stops start-up with a message naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from local_runner.services.template import TemplateError, TemplateLoader

_FUNCTION_IN_URI = re.compile(r"\$\{(\w+)\.Arn\}")
_INTEGRATION_TARGET = re.compile(r"integrations/\$\{(\w+)\}")


@dataclass(frozen=True)
class WebSocketApiSpec:
    logical_id: str
    stage: str
    route_selection: str
    routes: dict[str, str]
    """Route key ($connect, $default, $disconnect, or a selected key) -> function logical id."""
    authorizer: str | None
    """The $connect route's REQUEST authorizer function, when it has one."""


def _ref(value: Any) -> str | None:
    return str(value["Ref"]) if isinstance(value, dict) and "Ref" in value else None


def _sub_text(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return str(value)


def _function_of(uri: Any, where: str, functions: set[str]) -> str:
    match = _FUNCTION_IN_URI.search(_sub_text(uri))
    if not match or match.group(1) not in functions:
        raise TemplateError(f"{where}: its URI reaches no function of the template")
    return match.group(1)


def websocket_apis(path: Path) -> list[WebSocketApiSpec]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=TemplateLoader)
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from None
    resources: dict[str, Any] = document.get("Resources") or {}
    functions = {n for n, r in resources.items() if r.get("Type") == "AWS::Serverless::Function"}

    def of_type(kind: str, api: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource.get("Properties") or {}
            for name, resource in resources.items()
            if resource.get("Type") == kind
            and _ref((resource.get("Properties") or {}).get("ApiId")) == api
        }

    specs = []
    for api, resource in resources.items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") != "AWS::ApiGatewayV2::Api":
            continue
        if properties.get("ProtocolType") != "WEBSOCKET":
            continue
        integrations = of_type("AWS::ApiGatewayV2::Integration", api)
        authorizers = of_type("AWS::ApiGatewayV2::Authorizer", api)
        stages = of_type("AWS::ApiGatewayV2::Stage", api)
        if len(stages) != 1:
            raise TemplateError(f"{api}: the emulator serves a WebSocket API with one Stage")
        routes: dict[str, str] = {}
        authorizer = None
        for name, route in of_type("AWS::ApiGatewayV2::Route", api).items():
            target = _INTEGRATION_TARGET.fullmatch(_sub_text(route.get("Target", "")))
            if not target or target.group(1) not in integrations:
                raise TemplateError(f"{name}: Target must be integrations/${{Integration}}")
            integration = integrations[target.group(1)]
            if integration.get("IntegrationType") != "AWS_PROXY":
                raise TemplateError(f"{target.group(1)}: the emulator runs AWS_PROXY integrations")
            key = str(route["RouteKey"])
            routes[key] = _function_of(integration.get("IntegrationUri"), name, functions)
            if key == "$connect" and route.get("AuthorizationType") == "CUSTOM":
                authorizer_id = _ref(route.get("AuthorizerId"))
                if authorizer_id not in authorizers:
                    raise TemplateError(f"{name}: AuthorizerId names no authorizer of {api}")
                found = authorizers[authorizer_id]
                if found.get("AuthorizerType") != "REQUEST":
                    raise TemplateError(f"{authorizer_id}: WebSocket authorizers are REQUEST")
                authorizer = _function_of(found.get("AuthorizerUri"), authorizer_id, functions)
        specs.append(
            WebSocketApiSpec(
                logical_id=api,
                stage=str(next(iter(stages.values()))["StageName"]),
                route_selection=str(properties.get("RouteSelectionExpression", "")),
                routes=routes,
                authorizer=authorizer,
            )
        )
    return specs
