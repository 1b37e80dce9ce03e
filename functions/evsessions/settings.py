"""Every setting the handlers read, declared once, read once per invocation.

Each field declares its default and how its environment variable (the field's name in capitals)
is parsed; `from_env` is driven by those declarations, and a test checks `.env.example` against
them. Explicit arguments beat the environment, which beats the defaults. `.env` files are loaded
by the entry points (the local runner, scripts) with python-dotenv, never here: on Lambda the
environment comes from template.yaml. "The environment" is the running invocation's
(`evsessions.invocation`): os.environ, unless a host running several functions in one process
handed this call its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from evsessions import invocation

PublishTransport = Literal["mqtt", "iot-data"]
UnknownIdTags = Literal["accepted", "invalid"]

Parser = Callable[[str, str], Any]
"""(the variable's non-blank text, its name) -> the value, or SettingsError naming it."""
S = TypeVar("S")


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable."""


def text(raw: str, name: str) -> str:
    return raw


def path(raw: str, name: str) -> Path:
    return Path(raw)


def words(raw: str, name: str) -> tuple[str, ...]:
    """A comma-separated list."""
    return tuple(word.strip() for word in raw.split(",") if word.strip())


def number(low: float, high: float) -> Parser:
    def parse(raw: str, name: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number") from None
        if not low <= value <= high:
            raise SettingsError(f"{name}={raw!r} must be between {low:g} and {high:g}")
        return value

    return parse


def integer(low: int, high: int) -> Parser:
    def parse(raw: str, name: str) -> int:
        value = number(low, high)(raw, name)
        if value != int(value):
            raise SettingsError(f"{name}={raw!r} must be a whole number")
        return int(value)

    return parse


def choice(options: Any) -> Parser:
    """One of a Literal type's values, case-insensitive."""
    allowed: tuple[str, ...] = get_args(options)

    def parse(raw: str, name: str) -> str:
        value = raw.lower()
        if value not in allowed:
            raise SettingsError(f"{name}={value!r} must be one of {', '.join(allowed)}")
        return value

    return parse


def flag(raw: str, name: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={value!r} must be true or false")


def setting(
    default: Any, parse: Parser = text, *, secret: bool = False, fallback: str | None = None
) -> Any:
    """A field read from the variable named like it in capitals (or `fallback` when that is
    blank); a blank value means the default. A secret never shows in a repr (logs, errors)."""
    return field(default=default, repr=not secret, metadata={"parse": parse, "fallback": fallback})


def from_environment(cls: type[S], environ: Mapping[str, str] | None, overrides: Any) -> S:
    """An instance of a settings class declared with `setting()`."""
    env = invocation.environment() if environ is None else environ
    values: dict[str, Any] = {}
    for declared in fields(cls):  # type: ignore[arg-type]
        name = declared.name.upper()
        raw = env.get(name, "").strip()
        if not raw and declared.metadata["fallback"]:
            name = declared.metadata["fallback"]
            raw = env.get(name, "").strip()
        if raw:
            values[declared.name] = declared.metadata["parse"](raw, name)
    return replace(cls(**values), **overrides)  # type: ignore[type-var]


def setting_names(*classes: type) -> list[str]:
    """The environment variables these settings classes read (`.env.example` documents them)."""
    return [declared.name.upper() for cls in classes for declared in fields(cls)]


@dataclass(frozen=True)
class Settings:
    """What the deployed handlers need. Frozen and hashable so adapters can be cached per value."""

    sessions_table: str = setting("ChargingSessions")
    aws_region: str = setting("eu-north-1", fallback="AWS_DEFAULT_REGION")
    dynamodb_endpoint_url: str | None = setting(None)
    publish_transport: PublishTransport = setting("mqtt", choice(PublishTransport))
    mqtt_host: str = setting("127.0.0.1")
    mqtt_port: int = setting(1883, integer(1, 65535))
    mqtt_username: str | None = setting(None)
    mqtt_password: str | None = setting(None, secret=True)
    mqtt_fleet_secret: str | None = setting(None, secret=True)
    mqtt_tls: bool = setting(False, flag)
    mqtt_ca_file: str | None = setting(None)
    iot_data_endpoint_url: str | None = setting(None)
    publish_ack_timeout_seconds: float = setting(10.0, number(0.1, 600))
    fleet_chargers: int = setting(1, integer(1, 100_000))
    mqtt_charger_ids: tuple[str, ...] = setting((), words)
    """Real chargers seeded into the charger registry beside the fleet's 1..fleet_chargers (a
    seed never overwrites a record): the registry decides who connects (evsessions.registry)."""
    iot_arn_prefix: str | None = setting(None)
    """`arn:{partition}:iot:{region}:{account}`: the IoT custom authorizer's policies name the
    charger's client and topics under it (deployed only)."""
    registry_cache_seconds: float = setting(30.0, number(0, 3600))
    """How long a reader (the OCPP authorizer, the publisher, the local broker's identities) may
    act on a charger registry record it read: a new or retired charger is seen within it."""
    fleet_connectors_per_charger: int = setting(1, integer(1, 16))
    tariff_ac_cents_per_kwh: int = setting(39, integer(0, 10_000))
    tariff_dc_cents_per_kwh: int = setting(59, integer(0, 10_000))
    session_fee_cents: int = setting(50, integer(0, 100_000))
    currency: str = setting("EUR")
    """ISO 4217 currency of the settings' tariffs above (a tariff kept as data names its own)."""
    ocpi_token: str | None = setting(None, secret=True)
    """The token an OCPI partner sends as `Authorization: Token ...`; unset: the OCPI routes
    answer 401 to everyone."""
    ocpi_country_code: str = setting("NO")
    ocpi_party_id: str = setting("EVS")
    """Who issues the CDRs (OCPI's country_code and party_id)."""
    cursor_secret: str | None = setting(None, secret=True)
    api_key: str | None = setting(None, secret=True)
    operator_key: str | None = setting(None, secret=True)
    """Operators' writes (resolving a suspect session, the OCPP id-tag list) need it in
    x-operator-key; unset: off."""
    max_average_power_kw: float = setting(400.0, number(1, 10_000))
    """Above this average power a session is stored suspect (`integrity`: power_implausible)."""
    cors_allowed_origins: tuple[str, ...] = setting((), words)
    dead_letter_queue_url: str | None = setting(None)
    ocpp_tariff_cents_per_kwh: int = setting(39, integer(0, 10_000))
    ocpp_session_fee_cents: int = setting(50, integer(0, 100_000))
    ocpp_heartbeat_interval_seconds: int = setting(300, integer(10, 86_400))
    ocpp_management_endpoint_url: str | None = setting(None)
    ocpp_command_wait_seconds: float = setting(30.0, number(0, 900))
    """How long POST /chargepoints/{id}/commands/{action} waits for the charger's answer before
    it answers 202 with the command's id to poll (deployed: at most 25, API Gateway's 29 s)."""
    ocpp_command_timeout_seconds: float = setting(60.0, number(1, 3600))
    """After this an unanswered command is timed out and frees the charger for the next one."""
    ocpp_unknown_id_tags: UnknownIdTags = setting("accepted", choice(UnknownIdTags))
    """How the central system answers an idTag that is not on its list."""
    ocpp_data_transfer_vendors: tuple[str, ...] = setting((), words)
    """Vendor ids whose DataTransfer is recognised (answered UnknownMessageId, not
    UnknownVendorId): this central system implements no vendor's messages."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        return from_environment(cls, environ, overrides)
