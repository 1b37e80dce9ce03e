"""The charger registry: a charger as data (where it is, its connectors, its tariff, whether it
still serves), so adding or retiring one is a write, not a stack update.

Pure: what a record is, how an operator's JSON becomes one (or a `RegistryError` that says what
to fix), and how it is kept. Field names follow OCPI 2.2.1 (Location, EVSE, Connector), the
shape a CDR's `cdr_location` is built from. The DynamoDB adapter is `dynamodb.registry`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ACTIVE = "ACTIVE"
RETIRED = "RETIRED"
STATUSES = (ACTIVE, RETIRED)
STANDARDS = (
    "CHADEMO",
    "DOMESTIC_F",
    "IEC_62196_T1",
    "IEC_62196_T1_COMBO",
    "IEC_62196_T2",
    "IEC_62196_T2_COMBO",
    "GBT_DC",
    "TESLA_S",
)
"""The OCPI ConnectorType values our fleets use; OCPI has more and they can be added here."""
FORMATS = ("SOCKET", "CABLE")
POWER_TYPES = ("AC_1_PHASE", "AC_2_PHASE", "AC_3_PHASE", "DC")
_CHARGER_ID = re.compile(r"[A-Za-z0-9._-]{1,36}")
"""A charger id is an MQTT topic segment, an OCPP charge point id (the last URL segment) and an
OCPI EVSE uid at once: no `/`, `+`, `#` or space, at most 36 characters (OCPI's CiString(36))."""
_COUNTRY = re.compile(r"[A-Z]{3}")
_TARIFF_ID = re.compile(r"[A-Za-z0-9._-]{1,36}")


class RegistryError(ValueError):
    """A registry record an operator sent that is not one (the message says what is wrong)."""


def valid_charger_id(charger_id: object) -> bool:
    return isinstance(charger_id, str) and bool(_CHARGER_ID.fullmatch(charger_id))


@dataclass(frozen=True)
class Coordinates:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Location:
    address: str
    city: str
    postal_code: str
    country: str
    """ISO 3166-1 alpha-3, as OCPI asks."""
    coordinates: Coordinates
    time_zone: str
    """IANA name (Europe/Oslo): a session's local day and a tariff's hours are in it."""


@dataclass(frozen=True)
class Connector:
    connector_id: int
    standard: str
    format: str
    power_type: str
    max_electric_power_w: int


@dataclass(frozen=True)
class ChargerRecord:
    charger_id: str
    name: str
    location: Location
    connectors: tuple[Connector, ...]
    tariff_id: str | None = None
    status: str = ACTIVE
    simulated: bool = False
    """One of the publisher's simulated chargers: it publishes a session per connector a tick
    while ACTIVE (a real charger publishes its own)."""
    last_updated: str = field(default="", compare=False)
    """When the record was last written (format_time text); set by the store."""

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def as_json(self) -> dict[str, Any]:
        """The record as the API serves it, and as it is kept (DynamoDB takes the same map)."""
        location = self.location
        record: dict[str, Any] = {
            "charger_id": self.charger_id,
            "name": self.name,
            "location": {
                "address": location.address,
                "city": location.city,
                "postal_code": location.postal_code,
                "country": location.country,
                "coordinates": {
                    "latitude": location.coordinates.latitude,
                    "longitude": location.coordinates.longitude,
                },
                "time_zone": location.time_zone,
            },
            "connectors": [
                {
                    "connector_id": c.connector_id,
                    "standard": c.standard,
                    "format": c.format,
                    "power_type": c.power_type,
                    "max_electric_power_w": c.max_electric_power_w,
                }
                for c in self.connectors
            ],
            "status": self.status,
            "simulated": self.simulated,
        }
        if self.tariff_id is not None:
            record["tariff_id"] = self.tariff_id
        if self.last_updated:
            record["last_updated"] = self.last_updated
        return record


def record_from_json(charger_id: str, body: Mapping[str, Any]) -> ChargerRecord:
    """A record from an operator's JSON (the API's PUT body, a stored item): every field checked,
    the first problem raised as a RegistryError naming the field."""
    if not valid_charger_id(charger_id):
        raise RegistryError(
            f"charger_id: 1-36 characters of letters, digits, '.', '_' or '-' (got {charger_id!r})"
        )
    if not isinstance(body, Mapping):
        raise RegistryError("the body must be a JSON object")
    unknown = set(body) - {
        "charger_id",
        "name",
        "location",
        "connectors",
        "tariff_id",
        "status",
        "simulated",
        "last_updated",
    }
    if unknown:
        raise RegistryError(f"unknown field(s): {', '.join(sorted(unknown))}")
    if body.get("charger_id", charger_id) != charger_id:
        raise RegistryError("charger_id in the body differs from the one in the path")
    connectors = body.get("connectors")
    if not isinstance(connectors, list) or not connectors:
        raise RegistryError("connectors: a non-empty list")
    parsed = tuple(_connector(i, c) for i, c in enumerate(connectors))
    ids = [c.connector_id for c in parsed]
    if len(set(ids)) != len(ids):
        raise RegistryError("connectors: each connector_id once")
    tariff_id = body.get("tariff_id")
    if tariff_id is not None and not (
        isinstance(tariff_id, str) and _TARIFF_ID.fullmatch(tariff_id)
    ):
        raise RegistryError("tariff_id: 1-36 characters of letters, digits, '.', '_' or '-'")
    status = body.get("status", ACTIVE)
    if status not in STATUSES:
        raise RegistryError(f"status: one of {', '.join(STATUSES)}")
    simulated = body.get("simulated", False)
    if not isinstance(simulated, bool):
        raise RegistryError("simulated: true or false")
    last_updated = body.get("last_updated", "")
    return ChargerRecord(
        charger_id=charger_id,
        name=_text(body, "name", 255),
        location=_location(body.get("location")),
        connectors=parsed,
        tariff_id=tariff_id,
        status=str(status),
        simulated=simulated,
        last_updated=str(last_updated),
    )


def _text(body: Mapping[str, Any], name: str, longest: int, where: str = "") -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise RegistryError(f"{where}{name}: a non-empty text of at most {longest} characters")
    return value


def _location(value: object) -> Location:
    if not isinstance(value, Mapping):
        raise RegistryError("location: an object with address, city, postal_code, country, ...")
    country = _text(value, "country", 3, "location.")
    if not _COUNTRY.fullmatch(country):
        raise RegistryError("location.country: ISO 3166-1 alpha-3, upper case (NOR, DEU, ...)")
    time_zone = _text(value, "time_zone", 255, "location.")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise RegistryError(f"location.time_zone: not an IANA time zone: {time_zone!r}") from e
    return Location(
        address=_text(value, "address", 45, "location."),
        city=_text(value, "city", 45, "location."),
        postal_code=_text(value, "postal_code", 10, "location."),
        country=country,
        coordinates=_coordinates(value.get("coordinates")),
        time_zone=time_zone,
    )


def _coordinates(value: object) -> Coordinates:
    if not isinstance(value, Mapping):
        raise RegistryError("location.coordinates: an object with latitude and longitude")
    latitude, longitude = value.get("latitude"), value.get("longitude")
    for name, number, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not -bound <= number <= bound
        ):
            raise RegistryError(f"location.coordinates.{name}: a number from -{bound} to {bound}")
    return Coordinates(float(latitude), float(longitude))  # type: ignore[arg-type]


def _connector(index: int, value: object) -> Connector:
    where = f"connectors[{index}]."
    if not isinstance(value, Mapping):
        raise RegistryError(f"connectors[{index}]: an object")
    connector_id = value.get("connector_id")
    if isinstance(connector_id, bool) or not isinstance(connector_id, int) or connector_id < 1:
        raise RegistryError(f"{where}connector_id: a whole number from 1")
    for name, allowed in (
        ("standard", STANDARDS),
        ("format", FORMATS),
        ("power_type", POWER_TYPES),
    ):
        if value.get(name) not in allowed:
            raise RegistryError(f"{where}{name}: one of {', '.join(allowed)}")
    power = value.get("max_electric_power_w")
    if isinstance(power, bool) or not isinstance(power, int) or not 1 <= power <= 2_000_000:
        raise RegistryError(f"{where}max_electric_power_w: whole watts from 1 to 2,000,000")
    return Connector(
        connector_id=connector_id,
        standard=str(value["standard"]),
        format=str(value["format"]),
        power_type=str(value["power_type"]),
        max_electric_power_w=power,
    )


class ChargerRegistry(Protocol):
    """The port: where records are kept. `dynamodb.registry.DynamoDBChargerRegistry` keeps them in
    the sessions table; tests may keep them in a dict with the same semantics."""

    def get(self, charger_id: str) -> ChargerRecord | None: ...

    def put(self, record: ChargerRecord) -> ChargerRecord: ...

    def put_if_absent(self, record: ChargerRecord) -> bool: ...

    def records(self) -> list[ChargerRecord]: ...


class MemoryChargerRegistry:
    """The port's semantics in a dict, for tests and tools: a put replaces, a conditional put
    never does, records come in charger-id text order."""

    def __init__(self, records: list[ChargerRecord] | None = None) -> None:
        self.kept = {r.charger_id: r for r in records or []}

    def get(self, charger_id: str) -> ChargerRecord | None:
        return self.kept.get(charger_id)

    def put(self, record: ChargerRecord) -> ChargerRecord:
        self.kept[record.charger_id] = record
        return record

    def put_if_absent(self, record: ChargerRecord) -> bool:
        if record.charger_id in self.kept:
            return False
        self.kept[record.charger_id] = record
        return True

    def records(self) -> list[ChargerRecord]:
        return [self.kept[c] for c in sorted(self.kept)]
