"""A simulated fleet of chargers producing realistic finished charging sessions.

Everything is derived from (scheduled time, charger, connector) through a seeded generator, so a
retried tick republishes byte-identical messages and the listener absorbs them as duplicates.
The session id is the tick's epoch second: unique per connector, stable across retries.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from evsessions.contract import SessionKey, format_time
from evsessions.settings import Settings


@dataclass(frozen=True)
class ChargerType:
    name: str
    power_kw: float
    direct_current: bool


CHARGER_TYPES = (
    ChargerType("AC 11 kW", 11.0, False),
    ChargerType("AC 22 kW", 22.0, False),
    ChargerType("DC 50 kW", 50.0, True),
    ChargerType("DC 150 kW", 150.0, True),
)
_TYPE_WEIGHTS = (45, 25, 15, 15)


@dataclass(frozen=True)
class SimulatedSession:
    key: SessionKey
    payload: dict[str, Any]


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def charger_type(charger: int | str) -> ChargerType:
    """A charger's hardware never changes between ticks: it depends on the charger alone."""
    return _rng("charger-type", charger).choices(CHARGER_TYPES, weights=_TYPE_WEIGHTS)[0]


def _taper(state_of_charge: float, direct_current: bool) -> float:
    """Share of peak power a battery accepts: DC charging slows down sharply above 80 %."""
    if not direct_current or state_of_charge < 0.8:
        return 1.0
    return max(0.15, 1.0 - (state_of_charge - 0.8) * 4.25)


def _charge(rng: random.Random, kind: ChargerType, settings: Settings) -> tuple[float, int, int]:
    """(energy kWh, duration s, cost cents) for one plausible vehicle on this charger."""
    battery_kwh = rng.uniform(40.0, 100.0)
    vehicle_kw = rng.uniform(100.0, 250.0) if kind.direct_current else rng.choice((7.4, 11.0, 22.0))
    peak_kw = min(kind.power_kw, vehicle_kw)
    soc = rng.uniform(0.1, 0.5)
    target = rng.uniform(0.75, 0.9) if kind.direct_current else rng.uniform(0.8, 1.0)
    plugged_minutes = rng.randint(15, 60) if kind.direct_current else rng.randint(30, 600)
    if kind.direct_current:
        energy, minutes = 0.0, 0
        while minutes < plugged_minutes and soc < target:  # at most an hour of one-minute steps
            step_kwh = peak_kw * _taper(soc, True) / 60
            energy += step_kwh
            soc += step_kwh / battery_kwh
            minutes += 1
    else:
        needed_kwh = (target - soc) * battery_kwh
        minutes = min(plugged_minutes, math.ceil(needed_kwh / peak_kw * 60))
        energy = min(needed_kwh, peak_kw * minutes / 60)
    # The car often stays plugged in after it is full; the session lasts until it leaves.
    idle_minutes = 0 if kind.direct_current else rng.randint(0, max(0, plugged_minutes - minutes))
    duration = (minutes + idle_minutes) * 60 + rng.randint(0, 59)
    tariff = (
        settings.tariff_dc_cents_per_kwh
        if kind.direct_current
        else settings.tariff_ac_cents_per_kwh
    )
    cost = round(energy * tariff) + settings.session_fee_cents
    return round(energy, 3), duration, cost


def simulate_session(
    scheduled: datetime,
    charger: int | str,
    connector: int,
    settings: Settings,
    kind: ChargerType | None = None,
) -> SimulatedSession:
    """The session that ended on this connector at the scheduled tick; `kind` is the
    connector's hardware when its registry record says (default: the charger's own type)."""
    rng = _rng("session", int(scheduled.timestamp()), charger, connector)
    energy, duration, cost = _charge(rng, kind or charger_type(charger), settings)
    session_id = int(scheduled.timestamp())
    ended_at = scheduled - timedelta(seconds=rng.randint(0, 59))
    payload = {
        "session_id": session_id,
        "energy_delivered_in_kWh": energy,
        "duration_in_seconds": duration,
        "session_cost_in_cents": cost,
        "ended_at": format_time(ended_at),
    }
    return SimulatedSession(SessionKey(str(charger), str(connector), str(session_id)), payload)


def simulate_tick(scheduled: datetime, settings: Settings) -> list[SimulatedSession]:
    """One finished session for every connector of the configured fleet (ids start at 1)."""
    return [
        simulate_session(scheduled, charger, connector, settings)
        for charger in range(1, settings.fleet_chargers + 1)
        for connector in range(1, settings.fleet_connectors_per_charger + 1)
    ]
