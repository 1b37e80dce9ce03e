"""What only the local emulator reads: where it keeps data and which local parts it starts.

Declared as the handlers' settings are (`evsessions.settings.setting`), so one declaration
drives `from_env` and `.env.example` is checked against it; deployed code never sees these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from evsessions.settings import choice, flag, from_environment, integer, path, setting

BrokerMode = Literal["auto", "mosquitto", "embedded", "external"]
DatabaseMode = Literal["auto", "dynamodb-local", "moto", "external"]


@dataclass(frozen=True)
class RunnerSettings:
    local_data_dir: Path = setting(Path(".local"), path)
    template_path: Path = setting(Path("template.yaml"), path)
    api_host: str = setting("127.0.0.1")
    api_port: int = setting(8000, integer(0, 65535))
    broker: BrokerMode = setting("auto", choice(BrokerMode))
    database: DatabaseMode = setting("auto", choice(DatabaseMode))
    database_bind: str = setting("127.0.0.1")
    dynamodb_local_port: int = setting(8001, integer(0, 65535))
    publish_on_start: bool = setting(True, flag)
    mqtt_tls_port: int = setting(8883, integer(0, 65535))
    mqtt_tls_bind: str = setting("127.0.0.1")
    mqtt_bridge_password: str | None = setting(None, secret=True)
    ocpp_port: int = setting(8180, integer(0, 65535))
    ocpp_tls_port: int = setting(8443, integer(0, 65535))
    ocpp_tls_bind: str = setting("127.0.0.1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RunnerSettings:
        return from_environment(cls, environ, overrides)
