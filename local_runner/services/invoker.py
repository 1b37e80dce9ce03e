"""Calls a function's real handler the way Lambda would: module from CodeUri, a context object,
and the function's own environment (`evsessions.invocation`), never the process's."""

from __future__ import annotations

import importlib
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from evsessions.invocation import invoked_with
from evsessions.metrics import Sink, publishing_to
from local_runner.services.template import FunctionSpec

Handler = Callable[[Any, Any], Any]

current_request_id: ContextVar[str | None] = ContextVar("local_request_id", default=None)
"""The request id of the call running in this context, for log records (Lambda's requestId)."""


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers commonly read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.invoked_function_arn = (
            f"arn:aws:lambda:eu-north-1:123456789012:function:{self.function_name}"
        )
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionStopped(RuntimeError):
    """A call reached a function of a local system that has stopped."""


class FunctionInvoker:
    """Imports the handler once and calls it in the function's environment; as many calls at a
    time as the function's SQS events let Lambda run containers (one, for every other trigger).

    `environment` is read at each call: a test may change it, as UpdateFunctionConfiguration
    changes a deployed function's."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.environment: dict[str, str] = dict(
            spec.environment if environment is None else environment
        )
        self._handler: Handler | None = None
        self._load_lock = threading.Lock()
        self._containers = threading.BoundedSemaphore(
            max([1, *(queue.max_concurrency for queue in spec.queues)])
        )
        self._stopped = threading.Event()
        self.metrics: Sink | None = None
        """Where its metrics go instead of stdout (the system's board), as data."""
        self.on_error: Callable[[str], None] | None = None
        """Told the function's name when a call raised (Lambda's Errors metric)."""

    def stop(self) -> None:
        """Refuse every later call, as a deleted stack would: a thread of a stopped system that
        called late would reach a broker and a database that are gone."""
        self._stopped.set()

    def load(self) -> Handler:
        with self._load_lock:
            return self._import()

    def _import(self) -> Handler:
        if self._handler is None:
            module_name, _, attribute = self.spec.handler.rpartition(".")
            code_dir = str(self.spec.code_dir)
            if code_dir not in sys.path:
                sys.path.insert(0, code_dir)
            self._handler = getattr(importlib.import_module(module_name), attribute)
        return self._handler

    def __call__(self, event: Any) -> Any:
        with self._containers:
            return self.call(event)

    def call(self, event: Any) -> Any:
        """One invocation beside any others (API Gateway invokes WebSocket routes concurrently)."""
        if self._stopped.is_set():
            raise FunctionStopped(f"{self.spec.logical_id}: its local system has stopped")
        handler = self.load()
        context = LambdaContext(self.spec.logical_id, 256, self.spec.timeout_seconds)
        return self.run(handler, event, context)

    def run(self, handler: Handler, event: Any, context: Any) -> Any:
        """One call in the function's environment, with its observers: its metrics to
        `metrics`, a raise counted, its request id on its log records."""
        publishing: AbstractContextManager[None] = (
            publishing_to(self.metrics) if self.metrics is not None else nullcontext()
        )
        token = current_request_id.set(getattr(context, "aws_request_id", None))
        try:
            with invoked_with(self.environment), publishing:
                return handler(event, context)
        except Exception:
            if self.on_error is not None:
                self.on_error(self.spec.logical_id)
            raise
        finally:
            current_request_id.reset(token)
