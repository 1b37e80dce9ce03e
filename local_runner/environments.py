"""Each function's environment, as Lambda gives one to each function: built here, handed to the
function at each call (`evsessions.invocation`), never written to os.environ.

From weakest to strongest: the local stand-ins an operator may replace (DynamoDB Local's dummy
keys, the data folder's secrets); the template's variables for that function (Globals merged
with its own); the operator's environment (the process's, over .env's); and the endpoints of the
parts this system started (its database, its broker playing IoT Core's data plane, its
dead-letter queue). Two systems in one process thus each reach only their own parts.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from local_runner.infra.broker import Broker
from local_runner.infra.certificates import write_private
from local_runner.infra.database import LOCAL_CREDENTIALS
from local_runner.services.template import Template

Environment = dict[str, str]


def operator_environment(
    dotenv: Path | None = None, environ: Mapping[str, str] | None = None
) -> Environment:
    """The process's environment over the `.env` file's (python-dotenv's precedence: a variable
    already set wins); a blank value counts as unset, so it never hides the template's."""
    from_file = dotenv_values(dotenv) if dotenv is not None and dotenv.is_file() else {}
    merged = {
        **{name: value for name, value in from_file.items() if value is not None},
        **(os.environ if environ is None else environ),
    }
    return {name: value for name, value in merged.items() if value.strip()}


def broker_endpoint(broker: Broker, tls: bool, fleet_secret: str | None) -> Environment:
    """The local broker as the handlers' IoT data plane: its TLS listener when `tls` (and it
    has one), verified against the local CA it presents; each charger publishes as itself."""
    use_tls = tls and broker.tls_port is not None
    endpoint = {
        "PUBLISH_TRANSPORT": "mqtt",
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.tls_port if use_tls else broker.port),
    }
    if broker.ca_file:
        endpoint["MQTT_CA_FILE"] = str(broker.ca_file)
    if fleet_secret:
        endpoint["MQTT_FLEET_SECRET"] = fleet_secret
    return endpoint


def function_environments(
    template: Template,
    operator: Mapping[str, str],
    *,
    defaults: Mapping[str, str],
    endpoints: Mapping[str, str],
) -> dict[str, Environment]:
    """Every function's environment by logical id, each a mapping of its own."""
    return {
        name: {
            **LOCAL_CREDENTIALS,
            **defaults,
            **template.environment(name),
            **operator,
            **endpoints,
        }
        for name in template.functions
    }


def cursor_secret(data_dir: Path, given: str | None) -> str:
    """The API signs page cursors with `given` (.env or the environment) when set, else with a
    random secret kept in the data folder, created readable by its owner only."""
    if given:
        return given
    path = data_dir / "cursor-secret"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32).encode())
    return path.read_text().strip()
