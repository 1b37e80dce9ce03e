"""The simulated fleet as the charger registry describes it.

The publisher simulates the registry's ACTIVE records marked `simulated`: a retired one stops
publishing, and each connector of a record charges with the power and current type the record
gives it. The registry is read through its cache and the old settings' seeds are put first
when missing, so a fresh deployment publishes from its first tick.
"""

from __future__ import annotations

from datetime import datetime

from evsessions.fleet import ChargerType, SimulatedSession, simulate_session
from evsessions.registry import ChargerRecord, Connector
from evsessions.registry_cache import CachedRegistry
from evsessions.registry_seed import seed_missing, seed_records
from evsessions.settings import Settings


def connector_kind(connector: Connector) -> ChargerType:
    power_kw = connector.max_electric_power_w / 1000
    return ChargerType(
        f"{connector.power_type} {power_kw:g} kW", power_kw, connector.power_type == "DC"
    )


def simulated_chargers(registry: CachedRegistry, settings: Settings) -> list[ChargerRecord]:
    """The registry's simulated ACTIVE chargers, after seeding the ones the settings name and
    the registry lacks (a write only while a seed is missing)."""
    records = registry.records()
    if seed_missing(registry, seed_records(settings), (r.charger_id for r in records)):
        records = registry.records()
    return [r for r in records if r.simulated and r.active]


def simulate_registry_tick(
    scheduled: datetime, settings: Settings, chargers: list[ChargerRecord]
) -> list[SimulatedSession]:
    """One finished session for every connector of every given charger."""
    return [
        simulate_session(
            scheduled,
            record.charger_id,
            connector.connector_id,
            settings,
            connector_kind(connector),
        )
        for record in chargers
        for connector in record.connectors
    ]
