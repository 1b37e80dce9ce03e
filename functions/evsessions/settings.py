"""Every setting the project reads, in one place, read once per entry point.

Explicit arguments beat the environment, which beats the defaults below. `.env` files are loaded
by the entry points (the local runner, scripts) with python-dotenv, never here: on Lambda the
environment comes from template.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

PublishTransport = Literal["mqtt", "iot-data"]
BrokerMode = Literal["auto", "mosquitto", "embedded", "external"]
DatabaseMode = Literal["auto", "dynamodb-local", "moto", "external"]


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def _text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name, "").strip() or default


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={raw!r} must be between {low:g} and {high:g}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _number(env, name, default, low, high)
    if value != int(value):
        raise SettingsError(f"{name}={env[name]!r} must be a whole number")
    return int(value)


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _text(env, name, default).lower()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} must be one of {', '.join(allowed)}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} must be true or false")


@dataclass(frozen=True)
class Settings:
    """What the deployed handlers need. Frozen and hashable so adapters can be cached per value."""

    sessions_table: str = "ChargingSessions"
    aws_region: str = "eu-north-1"
    dynamodb_endpoint_url: str | None = None
    publish_transport: PublishTransport = "mqtt"
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)  # secret: never in a log
    mqtt_fleet_secret: str | None = field(default=None, repr=False)  # secret: never in a log
    mqtt_tls: bool = False
    mqtt_ca_file: str | None = None
    iot_data_endpoint_url: str | None = None
    publish_ack_timeout_seconds: float = 10.0
    fleet_chargers: int = 1
    fleet_connectors_per_charger: int = 1
    tariff_ac_cents_per_kwh: int = 39
    tariff_dc_cents_per_kwh: int = 59
    session_fee_cents: int = 50
    cursor_secret: str | None = field(default=None, repr=False)  # secret: never in a log
    api_key: str | None = field(default=None, repr=False)  # secret: never in a log
    cors_allowed_origins: tuple[str, ...] = ()
    dead_letter_queue_url: str | None = None
    dead_letter_file: str | None = None
    ocpp_tariff_cents_per_kwh: int = 39
    ocpp_session_fee_cents: int = 50
    ocpp_heartbeat_interval_seconds: int = 300
    ocpp_management_endpoint_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls(
            sessions_table=_text(env, "SESSIONS_TABLE", cls.sessions_table),
            aws_region=_text(env, "AWS_REGION", _text(env, "AWS_DEFAULT_REGION", cls.aws_region)),
            dynamodb_endpoint_url=_optional(env, "DYNAMODB_ENDPOINT_URL"),
            publish_transport=cast(
                PublishTransport,
                _choice(
                    env, "PUBLISH_TRANSPORT", cls.publish_transport, get_args(PublishTransport)
                ),
            ),
            mqtt_host=_text(env, "MQTT_HOST", cls.mqtt_host),
            mqtt_port=_integer(env, "MQTT_PORT", cls.mqtt_port, 1, 65535),
            mqtt_username=_optional(env, "MQTT_USERNAME"),
            mqtt_password=_optional(env, "MQTT_PASSWORD"),
            mqtt_fleet_secret=_optional(env, "MQTT_FLEET_SECRET"),
            mqtt_tls=_flag(env, "MQTT_TLS", cls.mqtt_tls),
            mqtt_ca_file=_optional(env, "MQTT_CA_FILE"),
            iot_data_endpoint_url=_optional(env, "IOT_DATA_ENDPOINT_URL"),
            publish_ack_timeout_seconds=_number(
                env, "PUBLISH_ACK_TIMEOUT_SECONDS", cls.publish_ack_timeout_seconds, 0.1, 600
            ),
            fleet_chargers=_integer(env, "FLEET_CHARGERS", cls.fleet_chargers, 1, 100_000),
            fleet_connectors_per_charger=_integer(
                env, "FLEET_CONNECTORS_PER_CHARGER", cls.fleet_connectors_per_charger, 1, 16
            ),
            tariff_ac_cents_per_kwh=_integer(
                env, "TARIFF_AC_CENTS_PER_KWH", cls.tariff_ac_cents_per_kwh, 0, 10_000
            ),
            tariff_dc_cents_per_kwh=_integer(
                env, "TARIFF_DC_CENTS_PER_KWH", cls.tariff_dc_cents_per_kwh, 0, 10_000
            ),
            session_fee_cents=_integer(env, "SESSION_FEE_CENTS", cls.session_fee_cents, 0, 100_000),
            cursor_secret=_optional(env, "CURSOR_SECRET"),
            dead_letter_queue_url=_optional(env, "DEAD_LETTER_QUEUE_URL"),
            dead_letter_file=_optional(env, "DEAD_LETTER_FILE"),
            api_key=_optional(env, "API_KEY"),
            cors_allowed_origins=tuple(
                o.strip() for o in env.get("CORS_ALLOWED_ORIGINS", "").split(",") if o.strip()
            ),
            ocpp_tariff_cents_per_kwh=_integer(
                env, "OCPP_TARIFF_CENTS_PER_KWH", cls.ocpp_tariff_cents_per_kwh, 0, 10_000
            ),
            ocpp_session_fee_cents=_integer(
                env, "OCPP_SESSION_FEE_CENTS", cls.ocpp_session_fee_cents, 0, 100_000
            ),
            ocpp_heartbeat_interval_seconds=_integer(
                env,
                "OCPP_HEARTBEAT_INTERVAL_SECONDS",
                cls.ocpp_heartbeat_interval_seconds,
                10,
                86_400,
            ),
            ocpp_management_endpoint_url=_optional(env, "OCPP_MANAGEMENT_ENDPOINT_URL"),
        )
        return replace(settings, **overrides)


@dataclass(frozen=True)
class RunnerSettings:
    """What only the local emulator needs: where it keeps data and which local parts it starts."""

    local_data_dir: Path = Path(".local")
    template_path: Path = Path("template.yaml")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    broker: BrokerMode = "auto"
    database: DatabaseMode = "auto"
    dynamodb_local_port: int = 8001
    publish_on_start: bool = True
    mqtt_tls_port: int = 8883
    mqtt_tls_bind: str = "127.0.0.1"
    mqtt_bridge_password: str | None = field(default=None, repr=False)  # secret: never in a log
    mqtt_charger_ids: tuple[str, ...] = ()
    ocpp_port: int = 8180
    ocpp_tls_port: int = 8443
    ocpp_tls_bind: str = "127.0.0.1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RunnerSettings:
        env = os.environ if environ is None else environ
        settings = cls(
            local_data_dir=Path(_text(env, "LOCAL_DATA_DIR", str(cls.local_data_dir))),
            template_path=Path(_text(env, "TEMPLATE_PATH", str(cls.template_path))),
            api_host=_text(env, "API_HOST", cls.api_host),
            api_port=_integer(env, "API_PORT", cls.api_port, 0, 65535),
            broker=cast(BrokerMode, _choice(env, "BROKER", cls.broker, get_args(BrokerMode))),
            database=cast(
                DatabaseMode, _choice(env, "DATABASE", cls.database, get_args(DatabaseMode))
            ),
            dynamodb_local_port=_integer(
                env, "DYNAMODB_LOCAL_PORT", cls.dynamodb_local_port, 0, 65535
            ),
            publish_on_start=_flag(env, "PUBLISH_ON_START", cls.publish_on_start),
            mqtt_tls_port=_integer(env, "MQTT_TLS_PORT", cls.mqtt_tls_port, 0, 65535),
            mqtt_tls_bind=_text(env, "MQTT_TLS_BIND", cls.mqtt_tls_bind),
            mqtt_bridge_password=_optional(env, "MQTT_BRIDGE_PASSWORD"),
            mqtt_charger_ids=tuple(
                c.strip() for c in env.get("MQTT_CHARGER_IDS", "").split(",") if c.strip()
            ),
            ocpp_port=_integer(env, "OCPP_PORT", cls.ocpp_port, 0, 65535),
            ocpp_tls_port=_integer(env, "OCPP_TLS_PORT", cls.ocpp_tls_port, 0, 65535),
            ocpp_tls_bind=_text(env, "OCPP_TLS_BIND", cls.ocpp_tls_bind),
        )
        return replace(settings, **overrides)


def setting_names() -> list[str]:
    """Environment variable names documented in .env.example (a test keeps the two in step)."""
    return [f.name.upper() for f in (*fields(Settings), *fields(RunnerSettings))]
