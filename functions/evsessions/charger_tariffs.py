"""Which tariff prices a charger's session: the version in force when the session started of the
tariff its registry record names, or, for a charger with no record or no tariff (or a session
from before its tariff's first version), today's settings.

The registry is read through `DynamoDBChargerRegistry.get` and kept for `REGISTRY_KEPT`: a
charger moved to another tariff prices sessions with it within that bound. Tariff versions are
cached by `tariff_store` (safely: a version starts later than any cache can be old).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from evsessions.registry import ChargerRecord
from evsessions.settings import Settings
from evsessions.tariff_store import DynamoDBTariffs, TariffVersion
from evsessions.tariffs import Tariff, flat_rate

REGISTRY_KEPT = timedelta(seconds=30)
"""How long a charger's registry record is reused before it is read again."""


def ocpp_fallback(settings: Settings) -> Tariff:
    """What an OCPP session is billed with when its charger has no tariff: today's settings."""
    return flat_rate(
        settings.ocpp_tariff_cents_per_kwh, settings.ocpp_session_fee_cents, settings.currency
    )


def fleet_fallback(settings: Settings, direct_current: bool) -> Tariff:
    """What a simulated session is billed with when its charger has no tariff."""
    cents = settings.tariff_dc_cents_per_kwh if direct_current else settings.tariff_ac_cents_per_kwh
    return flat_rate(cents, settings.session_fee_cents, settings.currency)


@dataclass(frozen=True)
class Chosen:
    record: ChargerRecord | None
    version: TariffVersion | None
    """None: the charger has no tariff (then the caller's fallback prices the session)."""


class ChargerTariffs:
    def __init__(
        self,
        registry_get: Callable[[str], ChargerRecord | None],
        tariffs: DynamoDBTariffs,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry_get = registry_get
        self.tariffs = tariffs
        self.monotonic = monotonic
        self._records: dict[str, tuple[float, ChargerRecord | None]] = {}
        self._lock = threading.Lock()

    def record(self, charger_id: str) -> ChargerRecord | None:
        now = self.monotonic()
        with self._lock:
            kept = self._records.get(charger_id)
        if kept is None or now - kept[0] >= REGISTRY_KEPT.total_seconds():
            kept = (now, self.registry_get(charger_id))
            with self._lock:
                self._records[charger_id] = kept
        return kept[1]

    def choose(self, charger_id: str, started: datetime) -> Chosen:
        record = self.record(charger_id)
        if record is None or record.tariff_id is None:
            return Chosen(record, None)
        return Chosen(record, self.tariffs.version_at(record.tariff_id, started))
