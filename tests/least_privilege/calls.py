"""Every AWS call the handlers make during the tests, with the IAM authorisations it needs.

botocore announces each client class it creates (`creating-client-class`) to the handlers in
`botocore.handlers.BUILTIN_HANDLERS`, which every new session registers, the handlers' own
session in `evsessions.aws_clients` included. The recorder adds a base class to each client that
hooks its `before-parameter-build` event: it sees every operation with the caller's parameters.

A call is the function's whose handler module (functions/listener/handler.py, functions/api/app.py,
...) has the outermost such frame on the calling thread's stack (shared code, such as the central
system's store that the API reads too, runs under its caller's handler); a call from a thread the
handler started (the publisher's pool, where only deployed code is on the stack) is the
function's that created the client. Calls no handler made (a test looking at the table, the
emulator's replay) are not recorded.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlparse

import botocore.handlers

from evsessions import invocation
from evsessions.dynamodb import fan_out
from tests.least_privilege.deployment import (
    ACCOUNT,
    FUNCTIONS_DIR,
    PARTITION,
    REGION,
    DeployedFunction,
    Deployment,
    deployment,
)
from tests.least_privilege.iam import IamRequest


class UnmappedOperation(ValueError):
    """An operation `iam_requests` has no IAM mapping for: add one (from the service's
    authorization reference) before a handler may call it."""


@dataclass(frozen=True)
class AwsCall:
    function: str
    """Logical id of the function whose handler made the call."""
    operation: str
    """`service:Operation` as botocore names them, e.g. `dynamodb:TransactWriteItems`."""
    requests: tuple[IamRequest, ...]
    """What IAM authorises for it; empty when `error` says why it could not be mapped."""
    error: str | None = None


_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
_TABLE_ACTIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "DescribeTable",
    "Query",
    "Scan",
}
_QUEUE_ACTIONS = {
    "GetQueueAttributes",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
}


class CallMapper:
    """Turns an operation and its parameters into IAM requests on the deployed resources.

    A resource a handler names through its environment (SESSIONS_TABLE, DEAD_LETTER_QUEUE_URL)
    is the template's resource behind that variable, whatever the tests named it locally; any
    other name becomes an ARN of its own, which the template's policies cannot match."""

    def __init__(self, deployed: Deployment) -> None:
        self.deployment = deployed
        self.functions = deployed.functions()

    def _logical(self, function: DeployedFunction, value: str, environ: Mapping[str, str]) -> str:
        for variable, logical_id in function.resources_by_variable.items():
            if environ.get(variable) == value:
                return logical_id
        return ""

    def table_arn(self, function: DeployedFunction, name: str, environ: Mapping[str, str]) -> str:
        logical_id = self._logical(function, name, environ)
        if logical_id:
            return self.deployment.get_att(logical_id, "Arn")
        return f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{name}"

    def queue_arn(self, function: DeployedFunction, url: str, environ: Mapping[str, str]) -> str:
        logical_id = self._logical(function, url, environ)
        if logical_id:
            return self.deployment.get_att(logical_id, "Arn")
        return f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{urlparse(url).path.rsplit('/', 1)[-1]}"

    def _refs(self, kind: str) -> list[str]:
        resources = self.deployment.resources.items()
        return [self.deployment.ref(name) for name, r in resources if r["Type"] == kind]

    def requests(
        self,
        function: DeployedFunction,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        environ: Mapping[str, str],
    ) -> tuple[IamRequest, ...]:
        if service == "dynamodb":
            if operation in ("TransactWriteItems", "TransactGetItems"):
                found = []
                for item in params["TransactItems"]:
                    ((kind, body),) = item.items()
                    arn = self.table_arn(function, body["TableName"], environ)
                    found.append(IamRequest(_TRANSACT_ACTIONS[kind], arn))
                return tuple(found)
            if operation in _TABLE_ACTIONS:
                arn = self.table_arn(function, params["TableName"], environ)
                if operation in ("Query", "Scan") and params.get("IndexName"):
                    arn += f"/index/{params['IndexName']}"
                return (IamRequest(f"dynamodb:{operation}", arn),)
        if service == "iot-data" and operation == "Publish":
            arn = f"arn:{PARTITION}:iot:{REGION}:{ACCOUNT}:topic/{params['topic']}"
            return (IamRequest("iot:Publish", arn),)
        if service == "sqs" and operation in _QUEUE_ACTIONS:
            arn = self.queue_arn(function, params["QueueUrl"], environ)
            return (IamRequest(f"sqs:{operation}", arn),)
        if service == "apigatewaymanagementapi" and operation in _CONNECTION_METHODS:
            # The template has one WebSocket API and one stage of it: the handler's endpoint.
            [api] = self._refs("AWS::ApiGatewayV2::Api")
            [stage] = self._refs("AWS::ApiGatewayV2::Stage")
            method = _CONNECTION_METHODS[operation]
            connection = params["ConnectionId"]
            api_arn = f"arn:{PARTITION}:execute-api:{REGION}:{ACCOUNT}:{api}"
            arn = f"{api_arn}/{stage}/{method}/@connections/{connection}"
            return (IamRequest("execute-api:ManageConnections", arn),)
        raise UnmappedOperation(f"{service}:{operation}")


_CONNECTION_METHODS = {"PostToConnection": "POST", "DeleteConnection": "DELETE"}
"""The management API's operations, as the HTTP methods execute-api:ManageConnections names."""


class CallRecorder:
    """Collects calls into every open `recording()`; thread-safe (handlers use thread pools)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sinks: list[list[AwsCall]] = []
        self._mapper: CallMapper | None = None
        self._packages: dict[str, str] = {}
        self._handed_over = threading.local()
        """On a read pool thread: the caller of the function that submitted the running call."""

    @property
    def mapper(self) -> CallMapper:
        if self._mapper is None:
            self._mapper = CallMapper(deployment())
            self._packages = {
                str(FUNCTIONS_DIR.joinpath(*function.module.split(".")))
                + ".py": function.logical_id
                for function in self._mapper.functions.values()
            }
        return self._mapper

    def install(self) -> None:
        """From now on every new botocore session's clients report their calls here, and a call
        made on the shared read pool is the call of the function that handed it over."""
        handler = ("creating-client-class", self._add_hook)
        if handler not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(handler)
        fan_out.ThreadPoolExecutor = _pool_class(self)  # type: ignore[misc]

    @contextmanager
    def recording(self) -> Iterator[list[AwsCall]]:
        """The calls handlers make until the block ends."""
        sink: list[AwsCall] = []
        with self._lock:
            self._sinks.append(sink)
        try:
            yield sink
        finally:
            with self._lock:
                self._sinks = [s for s in self._sinks if s is not sink]  # by identity

    def caller(self) -> tuple[str | None, bool]:
        """The function whose handler module the outermost matching frame of this thread is in,
        and whether the test suite's or the emulator's own code is on the stack below it."""
        _ = self.mapper
        outside = found = False
        caller: tuple[str | None, bool] = (None, False)
        frame = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename
            function = self._packages.get(filename)
            if function is not None:
                caller, found = (function, outside), True
            elif not found:
                outside = outside or (filename.startswith(_NOT_DEPLOYED) and filename != __file__)
            frame = frame.f_back  # type: ignore[assignment]
        if not found and getattr(self._handed_over, "caller", None) is not None:
            return cast(tuple[str | None, bool], self._handed_over.caller)
        return caller if found else (None, outside)

    def function_on_stack(self) -> str | None:
        return self.caller()[0]

    def _add_hook(self, class_attributes: Any, base_classes: list[type], **_: Any) -> None:
        base_classes.insert(0, _make_recorded_client(self))

    def record(self, creator: str | None, model: Any, params: Mapping[str, Any]) -> None:
        if not self._sinks:
            return
        function, outside = self.caller()
        if function is None and not outside:
            function = creator  # deployed code alone: a thread its handler started
        if function is None:
            return
        service = model.service_model.service_name
        operation = f"{service}:{model.name}"
        try:
            requests = self.mapper.requests(
                self.mapper.functions[function],
                service,
                model.name,
                params,
                invocation.environment(),  # the calling function's own, as the emulator gave it
            )
            call = AwsCall(function, operation, requests)
        except Exception as error:  # never break the handler's call: report it instead
            call = AwsCall(function, operation, (), f"{type(error).__name__}: {error}")
        with self._lock:
            for sink in self._sinks:
                sink.append(call)


def _pool_class(recorder: CallRecorder) -> type[ThreadPoolExecutor]:
    class HandingOverPool(ThreadPoolExecutor):
        """Remembers who submitted each call (the stack of a pool thread holds no handler)."""

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            submitter = recorder.caller()

            def run() -> Any:
                recorder._handed_over.caller = submitter
                try:
                    return fn(*args, **kwargs)
                finally:
                    recorder._handed_over.caller = None

            return super().submit(run)

    return HandingOverPool


def _make_recorded_client(recorder: CallRecorder) -> type:
    class RecordedClient:
        """Registers the recorder on this client's own events, remembering who created it."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            try:
                creator = recorder.function_on_stack()
            except Exception:  # a broken template fails the least-privilege test, not clients
                creator = None

            def before_parameter_build(model: Any, params: Mapping[str, Any], **_: Any) -> None:
                recorder.record(creator, model, params)

            self.meta.events.register("before-parameter-build", before_parameter_build)  # type: ignore[attr-defined]

    return RecordedClient


_NOT_DEPLOYED = tuple(
    str(FUNCTIONS_DIR.parent / folder) + os.sep for folder in ("tests", "local_runner", "scripts")
)
"""Code that calls AWS for itself, never as a handler: a test's look at the table, a replay."""

RECORDER = CallRecorder()
"""The one recorder of the test session (installed by tests/conftest.py)."""
