"""The old settings as seeds of the charger registry.

Before the registry, the chargers a system knew were the simulated fleet's 1..FLEET_CHARGERS plus
MQTT_CHARGER_IDS. Those settings keep working: each names a charger that gets a record when it
has none, and a record, once there, is never overwritten by a seed (the write is conditional),
so an operator's edit or retirement survives every later seeding. The local runner seeds at
start-up, the deployed publisher on each tick whose registry read finds a seed missing.

A seed's location and a listed charger's connector are placeholders for the operator to fill in:
the country `ZZZ` is ISO 3166's user-assigned "unknown", the coordinates 0, 0.
"""

from __future__ import annotations

from collections.abc import Iterable

from evsessions.fleet import charger_type
from evsessions.registry import (
    ChargerRecord,
    ChargerRegistry,
    Connector,
    Coordinates,
    Location,
)
from evsessions.settings import Settings

PLACEHOLDER_LOCATION = Location(
    address="not recorded yet",
    city="unknown",
    postal_code="-",
    country="ZZZ",
    coordinates=Coordinates(0.0, 0.0),
    time_zone="UTC",
)
LISTED_CONNECTOR = Connector(1, "IEC_62196_T2", "SOCKET", "AC_3_PHASE", 22_000)
"""What a charger listed in MQTT_CHARGER_IDS is assumed to have until the operator says."""


def fleet_record(charger: int, connectors_per_charger: int) -> ChargerRecord:
    """A simulated charger as the publisher has always simulated it: its hardware
    (`fleet.charger_type`) on each of its connectors."""
    kind = charger_type(str(charger))
    plug = (
        ("IEC_62196_T2_COMBO", "CABLE", "DC")
        if kind.direct_current
        else ("IEC_62196_T2", "SOCKET", "AC_3_PHASE")
    )
    return ChargerRecord(
        charger_id=str(charger),
        name=f"Simulated charger {charger} ({kind.name})",
        location=PLACEHOLDER_LOCATION,
        connectors=tuple(
            Connector(n, *plug, round(kind.power_kw * 1000))
            for n in range(1, connectors_per_charger + 1)
        ),
        simulated=True,
    )


def listed_record(charger_id: str) -> ChargerRecord:
    return ChargerRecord(
        charger_id=charger_id,
        name=f"Charger {charger_id}",
        location=PLACEHOLDER_LOCATION,
        connectors=(LISTED_CONNECTOR,),
    )


def seed_records(settings: Settings) -> list[ChargerRecord]:
    """FLEET_CHARGERS' simulated chargers, then MQTT_CHARGER_IDS' (a listed id that is also a
    fleet id is the fleet's)."""
    fleet = [
        fleet_record(n, settings.fleet_connectors_per_charger)
        for n in range(1, settings.fleet_chargers + 1)
    ]
    ids = {record.charger_id for record in fleet}
    listed = [listed_record(c) for c in dict.fromkeys(settings.mqtt_charger_ids) if c not in ids]
    return fleet + listed


def seed_missing(
    registry: ChargerRegistry, seeds: Iterable[ChargerRecord], known: Iterable[str]
) -> list[str]:
    """Put each seed whose charger is not in `known` (the ids just read), conditionally: a
    record written meanwhile wins. Returns the ids written."""
    have = set(known)
    return [s.charger_id for s in seeds if s.charger_id not in have and registry.put_if_absent(s)]
