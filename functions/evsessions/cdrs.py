"""A session as OCPI 2.2.1 Charge Detail Records: what billing and roaming partners receive.

Pure: no I/O. A clean session, or a suspect one an operator accepted, is one CDR. A suspect one
an operator voided is the CDR of what the charger reported plus a Credit CDR that cancels it;
one corrected is those two plus a CDR of the corrected values. So a partner's ledger and ours
both show the session and its reversal, and no CDR is ever changed: each is issued once, with
the location and tariff as they were then (`Snapshot`), and kept as issued (`dynamodb.cdrs`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from evsessions.contract import ChargingSession, SessionKey, format_time
from evsessions.dynamodb.tariffs import TariffVersion
from evsessions.registry import ChargerRecord, Connector
from evsessions.tariffs import CENT, Cost, Priced, Tariff, Usage, price

CREDIT_SUFFIX = "-CREDIT"
REISSUE_SUFFIX = "-R"
UNKNOWN = "UNKNOWN"
_ID_HEX = 24
"""Hex digits of a CDR id: OCPI's CDR id is a CiString(39), with room for the suffixes."""


@dataclass(frozen=True)
class Party:
    """Who issues the CDRs: OCPI's country_code (ISO 3166-1 alpha-2) and party_id."""

    country_code: str
    party_id: str


@dataclass(frozen=True)
class Snapshot:
    """What a CDR takes from outside the session, read once when it is issued."""

    record: ChargerRecord | None
    """The charger's registry record; None when the charger has none."""
    version: TariffVersion | None
    """The tariff version in force when the session started; None: the settings' tariff."""
    fallback: Tariff
    """The settings' tariff, priced when there is no version."""

    @property
    def tariff(self) -> Tariff:
        return self.fallback if self.version is None else self.version.tariff


def cdr_id(key: SessionKey, occurrence: int) -> str:
    """The first CDR of a session occurrence: short, stable, the same whoever issues it."""
    seed = f"{key.charger_id}/{key.connector_id}/{key.session_id}#{occurrence}"
    return hashlib.sha256(seed.encode()).hexdigest()[:_ID_HEX].upper()


def session_start(session: ChargingSession) -> datetime:
    details = session.transaction
    if details is not None and details.started_at is not None:
        return details.started_at
    return session.ended_at - timedelta(seconds=session.duration_in_seconds)


def usage(session: ChargingSession) -> Usage:
    """The session contract says energy and duration, not when charging stopped: its time is
    all charging time."""
    return Usage(session.energy_delivered_in_kWh * 1000, session.duration_in_seconds)


def _number(value: Decimal) -> int | float:
    value = value.quantize(Decimal("0.0001"), ROUND_HALF_UP)
    return int(value) if value == value.to_integral_value() else float(value)


def _connector(record: ChargerRecord | None, connector_id: str) -> Connector | None:
    if record is None:
        return None
    return next((c for c in record.connectors if str(c.connector_id) == connector_id), None)


def evse_id(party: Party, charger_id: str, connector_id: str) -> str:
    """An eMI3 EVSE ID, as OCPI asks: `{country}*{party}*E{charger}*{connector}`, of letters,
    digits and `*` only (a charger id's `.`, `_`, `-` are dropped), at most 48 characters."""
    charger = re.sub(r"[^A-Za-z0-9]", "", charger_id)
    connector = re.sub(r"[^A-Za-z0-9]", "", connector_id)
    return f"{party.country_code}*{party.party_id}*E{charger}*{connector}"[:48]


def _location(
    session: ChargingSession, record: ChargerRecord | None, party: Party
) -> dict[str, Any]:
    key = session.key
    connector = _connector(record, key.connector_id)
    location: dict[str, Any] = {
        "id": key.charger_id[:36],
        "evse_uid": f"{key.charger_id}-{key.connector_id}"[:36],
        "evse_id": evse_id(party, key.charger_id, key.connector_id),
        "connector_id": key.connector_id[:36],
    }
    if record is None:
        location.update(
            {
                "address": UNKNOWN,
                "city": UNKNOWN,
                "country": UNKNOWN[:3],
                "coordinates": {"latitude": "0.0", "longitude": "0.0"},
            }
        )
    else:
        where = record.location
        location.update(
            {
                "name": record.name,
                "address": where.address,
                "city": where.city,
                "postal_code": where.postal_code,
                "country": where.country,
                "coordinates": {
                    "latitude": f"{where.coordinates.latitude:.6f}",
                    "longitude": f"{where.coordinates.longitude:.6f}",
                },
            }
        )
    location.update(
        {
            "connector_standard": connector.standard if connector else "IEC_62196_T2",
            "connector_format": connector.format if connector else "SOCKET",
            "connector_power_type": connector.power_type if connector else "AC_3_PHASE",
        }
    )
    return location


def _token(session: ChargingSession, party: Party) -> tuple[dict[str, Any], str]:
    """The cdr_token and auth_method: an OCPP session's id tag, answered by this central
    system; a session without one was authorised by the charger itself (its own list)."""
    tag = session.transaction.id_tag if session.transaction else None
    uid = (tag or UNKNOWN)[:36]
    token = {
        "country_code": party.country_code,
        "party_id": party.party_id,
        "uid": uid,
        "type": "RFID" if tag else "OTHER",
        "contract_id": uid,
    }
    return token, "AUTH_REQUEST" if tag else "WHITELIST"


def _uniform_vat(tariff: Tariff) -> Decimal:
    rates = {c.vat or Decimal(0) for element in tariff.elements for c in element}
    return rates.pop() if len(rates) == 1 else Decimal(0)


def _costs(session: ChargingSession, snapshot: Snapshot) -> tuple[dict[str, Any], str | None]:
    """The CDR's cost fields. The tariff's breakdown when it prices the session to the cent it
    billed; otherwise (a charger that priced the session itself, an operator's correction) the
    billed total alone, said in `remark`."""
    priced: Priced = price(snapshot.tariff, usage(session))
    fields: dict[str, Any] = {
        "total_energy": _number(session.energy_delivered_in_kWh),
        "total_time": _number(Decimal(session.duration_in_seconds) / 3600),
        "total_parking_time": 0,
    }
    if priced.total.cents == session.session_cost_in_cents:
        fields.update(
            {
                "total_cost": priced.total.as_json(),
                "total_fixed_cost": priced.fixed.as_json(),
                "total_energy_cost": priced.energy.as_json(),
                "total_time_cost": priced.time.as_json(),
                "total_parking_cost": priced.parking.as_json(),
            }
        )
        return fields, None
    incl = Decimal(session.session_cost_in_cents) / 100
    excl = (incl / (1 + _uniform_vat(snapshot.tariff) / 100)).quantize(CENT, ROUND_HALF_UP)
    fields["total_cost"] = Cost(excl, incl).as_json()
    return fields, "total_cost as billed, not priced by the tariff"


def cdr_json(
    session: ChargingSession,
    snapshot: Snapshot,
    party: Party,
    issued: datetime,
    identifier: str,
) -> dict[str, Any]:
    """One CDR of a session as billed (its values now: a corrected session's corrected ones)."""
    start = session_start(session)
    token, auth_method = _token(session, party)
    costs, remark = _costs(session, snapshot)
    energy = session.energy_delivered_in_kWh
    dimensions = [
        {"type": "ENERGY", "volume": _number(energy)},
        {"type": "TIME", "volume": _number(Decimal(session.duration_in_seconds) / 3600)},
    ]
    period: dict[str, Any] = {"start_date_time": format_time(start), "dimensions": dimensions}
    cdr: dict[str, Any] = {
        "country_code": party.country_code,
        "party_id": party.party_id,
        "id": identifier,
        "start_date_time": format_time(start),
        "end_date_time": format_time(session.ended_at),
        "cdr_token": token,
        "auth_method": auth_method,
        "cdr_location": _location(session, snapshot.record, party),
        "currency": snapshot.tariff.currency,
        "charging_periods": [period],
        **costs,
        "last_updated": format_time(issued),
    }
    if snapshot.version is not None:
        period["tariff_id"] = snapshot.version.tariff_id
        cdr["tariffs"] = [snapshot.version.ocpi_json(party.country_code, party.party_id)]
    if snapshot.record is None:
        remark = "; ".join(
            r for r in (remark, f"charger {session.key.charger_id} has no registry record") if r
        )
    if remark:
        cdr["remark"] = remark[:255]
    return cdr


def credit_json(original: dict[str, Any], issued: datetime) -> dict[str, Any]:
    """The Credit CDR of an issued CDR: every cost negated, `credit_reference_id` naming it."""
    credit = {**original, "id": original["id"] + CREDIT_SUFFIX}
    for name, value in original.items():
        if name.endswith("_cost") and isinstance(value, dict):
            credit[name] = {k: -v if v else 0 for k, v in value.items()}
    credit.update(
        {"credit": True, "credit_reference_id": original["id"], "last_updated": format_time(issued)}
    )
    return credit


def session_cdrs(
    session: ChargingSession, snapshot: Snapshot, party: Party, issued: datetime
) -> list[dict[str, Any]]:
    """Every CDR a stored session is, in the order they are issued; none for an open suspect
    one (it is billed once an operator decides)."""
    first = cdr_id(session.key, session.occurrence)
    resolution = session.resolution
    if session.findings and resolution is None:
        return []
    if resolution is None or resolution.action == "accept":
        return [cdr_json(session, snapshot, party, issued, first)]
    reported = session
    if resolution.original is not None:
        original = resolution.original
        reported = replace(
            session,
            energy_delivered_in_kWh=original.energy_kwh,
            duration_in_seconds=original.duration_seconds,
            session_cost_in_cents=original.cost_cents,
        )
    issued_first = cdr_json(reported, snapshot, party, issued, first)
    found = [issued_first, credit_json(issued_first, issued)]
    if resolution.action == "correct":
        found.append(cdr_json(session, snapshot, party, issued, first + REISSUE_SUFFIX))
    return found


def ids_of(cdrs: Sequence[dict[str, Any]]) -> list[str]:
    return [str(cdr["id"]) for cdr in cdrs]
