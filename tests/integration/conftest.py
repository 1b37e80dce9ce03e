"""Real processes for the integration tests: mosquitto, DynamoDB Local on Java, an HTTP server.

One local system is shared by most tests (DynamoDB Local takes seconds to start), on free ports,
with its data in a temporary folder. ./dev test installs what they need first; a missing
component is an error here, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from local_runner.infra.processes import free_port
from local_runner.runner_settings import RunnerSettings
from local_runner.system import LocalSystem, start_system

ROOT = Path(__file__).resolve().parents[2]
JARS = ROOT / ".local" / "dynamodb-local"
TEST_CHARGERS = (
    "orig",
    "dup",
    "poison",
    "bytes",
    "qos2",
    "restart",
    "fallback",
    "a",
    "b",
    "legacy",
    "CP-field",
)
DASHBOARD_CHARGERS = ("CP-dash-1", "CP-dash-2", "CP-dash-3")
OCPP_CHARGERS = tuple(f"CP-ocpp-{n}" for n in range(1, 10))
COMMAND_CHARGERS = tuple(f"CP-cmd-{n}" for n in range(1, 10))
"""Charger ids the tests publish as: each gets a broker identity besides the simulated fleet."""


def prepare_data_dir(data_dir: Path) -> Path:
    """A fresh data folder that reuses the DynamoDB Local jar fetched by ./dev setup."""
    if not (JARS / "DynamoDBLocal.jar").exists():
        pytest.fail(f"DynamoDB Local is not installed in {JARS}: run ./dev setup")
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
    return data_dir


def up_environment(data_dir: Path, api_port: int) -> dict[str, str]:
    """The environment for `python -m local_runner up` as a process: real components, every port
    free, its own data folder."""
    return {
        **os.environ,
        "LOCAL_DATA_DIR": str(data_dir),
        "API_PORT": str(api_port),
        "MQTT_PORT": str(free_port()),
        "MQTT_TLS_PORT": str(free_port()),
        "OCPP_PORT": str(free_port()),
        "OCPP_TLS_PORT": str(free_port()),
        "DYNAMODB_LOCAL_PORT": str(free_port()),
        "BROKER": "mosquitto",
        "DATABASE": "dynamodb-local",
    }


def runner_settings(data_dir: Path, **overrides: Any) -> RunnerSettings:
    """Real components on free ports, no tick at start-up (tests fire ticks themselves)."""
    defaults: dict[str, Any] = {
        "local_data_dir": data_dir,
        "template_path": ROOT / "template.yaml",
        "api_port": 0,
        "dynamodb_local_port": 0,
        "broker": "mosquitto",
        "database": "dynamodb-local",
        "publish_on_start": False,
        "mqtt_tls_port": 0,
        "ocpp_port": 0,
        "ocpp_tls_port": 0,
    }
    return RunnerSettings(**{**defaults, **overrides})


def test_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The operator's environment for a test system (default: the process's), with a broker
    port of its own and every test charger known to the broker."""
    return {
        **(os.environ if environ is None else environ),
        "MQTT_PORT": str(free_port()),
        "MQTT_CHARGER_IDS": ",".join(
            TEST_CHARGERS + DASHBOARD_CHARGERS + OCPP_CHARGERS + COMMAND_CHARGERS
        ),
    }


@contextmanager
def running_system(
    runner: RunnerSettings,
    say: Any = print,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Iterator[LocalSystem]:
    """A started system (`options`: start_system's clock, record) in `test_environment(environ)`;
    afterwards everything is stopped. The process's environment is neither read later nor
    written: each of its functions has its own."""
    system = start_system(runner, say=say, environ=test_environment(environ), **options)
    try:
        yield system
    finally:
        system.stop()


def without_ticks_of_its_own(system: LocalSystem) -> LocalSystem:
    """Stop the clock-driven ticks of a system that outlives a test: tests fire its ticks
    themselves (`scheduler.fire`), so what they count is what they caused, and a minute
    boundary during a test adds nothing."""
    assert system.scheduler is not None
    system.scheduler.shutdown()
    return system


@pytest.fixture(scope="session")
def local_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("system") / "data")
    with running_system(runner_settings(data_dir)) as system:
        yield without_ticks_of_its_own(system)
