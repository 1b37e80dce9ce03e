"""Which tariff prices a charger's session: the version in force when the session started of the
tariff its registry record names, or, for a charger with no record or no tariff (or a session
from before its tariff's first version), today's settings.

The registry is read through its cache (`registry_cache`, REGISTRY_CACHE_SECONDS): a charger
moved to another tariff prices sessions with it within that bound. Tariff versions are
cached by `dynamodb.tariffs` (safely: a version starts later than any cache can be old).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from evsessions.dynamodb.tariffs import DynamoDBTariffs, TariffVersion
from evsessions.registry import ChargerRecord
from evsessions.settings import Settings
from evsessions.tariffs import Tariff, flat_rate


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
    ) -> None:
        self.registry_get = registry_get
        """A cached reader's `get` (`registry_cache.cached_registry`): one bound for them all."""
        self.tariffs = tariffs

    def choose(self, charger_id: str, started: datetime) -> Chosen:
        record = self.registry_get(charger_id)
        if record is None or record.tariff_id is None:
            return Chosen(record, None)
        return Chosen(record, self.tariffs.version_at(record.tariff_id, started))
