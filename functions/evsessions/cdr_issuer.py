"""Issues a session's CDRs with the location and tariff as they are now (`cdrs.Snapshot`):
the listener for each clean session it stores, the API for each session an operator resolves.

Issuing is idempotent (`dynamodb.cdrs`): a redelivered session, or a resolution asked again, finds
its CDRs issued and leaves them as they were, so a failure between storing a session and issuing
its CDRs is repaired by the retry that failure causes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from evsessions.cdrs import Party, Snapshot, session_cdrs, session_start
from evsessions.charger_tariffs import ChargerTariffs, fleet_fallback, ocpp_fallback
from evsessions.contract import ChargingSession
from evsessions.dynamodb.cdrs import DynamoDBCdrs, Issue
from evsessions.dynamodb.tariffs import DynamoDBTariffs
from evsessions.fleet import charger_type
from evsessions.registry_cache import cached_registry
from evsessions.settings import Settings
from evsessions.tariffs import Tariff


def fallback_for(settings: Settings) -> Callable[[ChargingSession], Tariff]:
    """The settings' tariff of a session: an OCPP one's (it has transaction details), else the
    simulated fleet's, by its charger's hardware when the charger is one of the fleet's."""

    def fallback(session: ChargingSession) -> Tariff:
        if session.transaction is not None:
            return ocpp_fallback(settings)
        charger = session.key.charger_id
        dc = charger.isdigit() and charger_type(int(charger)).direct_current
        return fleet_fallback(settings, dc)

    return fallback


class CdrIssuer:
    def __init__(
        self,
        cdrs: DynamoDBCdrs,
        tariffs: ChargerTariffs,
        party: Party,
        fallback: Callable[[ChargingSession], Tariff],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.cdrs = cdrs
        self.tariffs = tariffs
        self.party = party
        self.fallback = fallback
        self.clock = clock

    def snapshot(self, session: ChargingSession) -> Snapshot:
        chosen = self.tariffs.choose(session.key.charger_id, session_start(session))
        return Snapshot(chosen.record, chosen.version, self.fallback(session))

    def planned(self, session: ChargingSession) -> Issue:
        cdrs = session_cdrs(session, self.snapshot(session), self.party, self.clock())
        return Issue(session.key, session.occurrence, cdrs)

    def issue(self, sessions: Sequence[ChargingSession]) -> int:
        """Issue the CDRs of these stored sessions (each with its occurrence); how many sessions
        had none issued before."""
        return self.cdrs.issue([self.planned(session) for session in sessions])


@functools.lru_cache(maxsize=4)
def cached_issuer(settings: Settings, client: Any) -> CdrIssuer:
    """One issuer (and its caches) per configuration and client, made on first use."""
    table = settings.sessions_table
    return CdrIssuer(
        DynamoDBCdrs(table, client),
        ChargerTariffs(cached_registry(settings).get, DynamoDBTariffs(table, client)),
        Party(settings.ocpi_country_code, settings.ocpi_party_id),
        fallback_for(settings),
    )
