"""A stopped local system calls no handler any more, whichever of its threads is still running:
a late call would reach a broker and a database that are gone, as after a stack is deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_runner.runner_settings import RunnerSettings
from local_runner.services.invoker import FunctionInvoker, FunctionStopped
from local_runner.services.template import load_template
from local_runner.system import LocalSystem

ROOT = Path(__file__).resolve().parents[2]


def test_a_stopped_systems_functions_refuse_every_call() -> None:
    # GIVEN a system's functions, callable
    template = load_template(ROOT / "template.yaml")
    system = LocalSystem(template, RunnerSettings.from_env(), say=lambda line: None)
    system.invokers = {name: FunctionInvoker(spec) for name, spec in template.functions.items()}
    # WHEN the system stops
    system.stop()
    # THEN a call to any of them is refused before it reaches the handler
    for name, invoker in system.invokers.items():
        with pytest.raises(FunctionStopped, match=f"{name}: its local system has stopped"):
            invoker({"time": "2026-11-29T00:00:00Z"})
