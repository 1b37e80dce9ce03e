"""A charge point's sessions priced with its own tariff (the registry names it; the version in
force when the session started prices it), or with the settings' tariff when it has none.

The version is chosen by the session's start, and a version never starts before a reader's cache
of versions expires (`evsessions.tariff_store`), so a Stop replayed later is priced the same and
republishes the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from centralsystem.transactions import Tariff
from evsessions.charger_tariffs import ChargerTariffs
from evsessions.tariffs import Usage, price


@dataclass(frozen=True)
class ChargerPricing:
    charger_id: str
    tariffs: ChargerTariffs
    fallback: Tariff

    def cost_cents(
        self, energy_kwh: Decimal, duration_seconds: int = 0, started_at: datetime | None = None
    ) -> int:
        chosen = None if started_at is None else self.tariffs.choose(self.charger_id, started_at)
        if chosen is None or chosen.version is None:
            return self.fallback.cost_cents(energy_kwh)
        used = Usage(energy_kwh * 1000, duration_seconds)
        return price(chosen.version.tariff, used).total.cents
