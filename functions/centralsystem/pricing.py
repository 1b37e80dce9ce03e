"""A charge point's sessions priced with its own tariff (the registry names it; the version in
force when the session started prices it), or with the settings' tariff when it has none.

The tariff is recorded with the first Stop, and the version is chosen by the session's start; a
version never starts before a reader's cache of versions expires (`evsessions.dynamodb.tariffs`), so
a Stop replayed later is priced the same and republishes the same bytes, even when the charger
has moved to another tariff since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from evsessions.charger_tariffs import ChargerTariffs
from evsessions.ocpp.transactions import Tariff
from evsessions.tariffs import Usage, price


def priced_by(tariffs: ChargerTariffs, charger_id: str) -> str:
    """The tariff a charger's Stop is priced with, recorded with the Stop: its registry
    record's tariff id, or "" for the settings' tariff."""
    record = tariffs.registry_get(charger_id)
    return "" if record is None or record.tariff_id is None else record.tariff_id


@dataclass(frozen=True)
class ChargerPricing:
    charger_id: str
    tariffs: ChargerTariffs
    fallback: Tariff
    tariff_id: str | None = None
    """The tariff recorded with the first Stop ("" the settings'); None: ask the registry."""

    def cost_cents(
        self, energy_kwh: Decimal, duration_seconds: int = 0, started_at: datetime | None = None
    ) -> int:
        tariff_id = self.tariff_id
        if tariff_id is None:
            tariff_id = priced_by(self.tariffs, self.charger_id)
        version = (
            self.tariffs.tariffs.version_at(tariff_id, started_at)
            if tariff_id and started_at is not None
            else None
        )
        if version is None:
            return self.fallback.cost_cents(energy_kwh)
        used = Usage(energy_kwh * 1000, duration_seconds)
        return price(version.tariff, used).total.cents
