"""An OCPP transaction, open and finished, and the session message a finished one becomes.

Pure: no I/O. The message is made only from what the store kept of the transaction (the first
StopTransaction as it was sent, and when it arrived), so a replayed Stop republishes the same
bytes on the same topic, and the listener absorbs it as a duplicate.

A confirmed Stop is never refused afterwards, so nothing here raises on a value: what the central
system alone can see is doubtful (a meter that ran backwards, a reading labelled Wh that is kWh,
an unusable time, an id tag that is not accepted) becomes a finding (`evsessions.integrity`), the
values as sent go into `raw`, and where the readings give a reliable energy it is billed, saying
so in `billed_from`. What the message's own values show (an energy above the limit, a clock
ahead) the listener finds itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import pairwise
from typing import Any, Protocol

from evsessions.contract import format_time, parse_time
from evsessions.errors import InvalidSession
from evsessions.integrity import Finding, finding, merged
from evsessions.mqtt.publishing import OutgoingMessage

MAX_METER_WH = 10**15
"""A meter reading above this (a petawatt-hour) is an overflow, not energy."""
MAX_TRANSACTION_ID = 2**31 - 1
"""OCPP 1.6's transactionId is a 32-bit integer, and the errata ask for positive ids."""
ENERGY = "Energy.Active.Import.Register"
DEFAULT_STOP_REASON = "Local"
"""OCPP 1.6: a StopTransaction without a reason was stopped locally."""


class Pricing(Protocol):
    """What prices a finished transaction: the settings' `Tariff`, or a charger's tariff kept as
    data (`centralsystem.pricing`), which needs the duration and when the session started."""

    def cost_cents(
        self, energy_kwh: Decimal, duration_seconds: int = 0, started_at: datetime | None = None
    ) -> int: ...


@dataclass(frozen=True)
class Tariff:
    """Today's settings: cents per kWh and a fee per session."""

    cents_per_kwh: int
    session_fee_cents: int

    def cost_cents(
        self, energy_kwh: Decimal, duration_seconds: int = 0, started_at: datetime | None = None
    ) -> int:
        energy_cost = (energy_kwh * self.cents_per_kwh).quantize(Decimal(1), ROUND_HALF_UP)
        return self.session_fee_cents + max(0, int(energy_cost))


@dataclass(frozen=True)
class Reading:
    """An energy register reading, in Wh as its unit label says."""

    wh: int
    at: datetime
    unit: str = "Wh"

    def as_json(self) -> dict[str, Any]:
        return {"wh": self.wh, "at": format_time(self.at), "unit": self.unit}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Reading:
        return cls(int(value["wh"]), datetime.fromisoformat(value["at"]), str(value["unit"]))


@dataclass(frozen=True)
class OpenTransaction:
    charger_id: str
    transaction_id: int
    connector_id: int
    id_tag: str
    meter_start_wh: int | None
    """None when the Start's meter was unusable, or no Start was seen."""
    started_at: datetime
    findings: tuple[Finding, ...] = ()
    """What the Start and the MeterValues of the transaction showed."""
    raw: Mapping[str, Any] = field(default_factory=dict)
    """The Start's values as sent, where they are not what is published."""
    first_reading: Reading | None = None
    last_reading: Reading | None = None
    session_id: int | str | None = None
    """The topic's session id: the transaction id unless that is no valid one."""
    remote_start_by: str | None = None
    """Who asked for it with a RemoteStartTransaction (evsessions.ocpp.commands), if anyone."""
    remote_stop_by: str | None = None
    """Who asked for its end with a RemoteStopTransaction, if anyone (kept with the Stop)."""


@dataclass(frozen=True)
class StopReading:
    """What the first StopTransaction said; replays are answered from this, not from theirs."""

    meter_stop_wh: int | None
    stopped_at: datetime
    reason: str = DEFAULT_STOP_REASON
    id_tag: str | None = None
    findings: tuple[Finding, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)
    transaction_data: tuple[Reading, ...] = ()
    priced_by: str | None = None
    """The tariff the first Stop was priced with, kept with it so a replay is priced alike:
    a tariff id, "" for the settings' tariff, None for a Stop kept before this was recorded."""


# --- values as a charger sends them ---------------------------------------------------------------


def meter_wh(value: object) -> int | None:
    """A Start's or Stop's meter in Wh, or None when it is no usable register value."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_METER_WH:
        return None
    return value


def sent_time(value: object, field: str, arrived: datetime) -> tuple[datetime, Finding | None]:
    """A time as sent, or the arrival time with `clock_not_set` when the sent one is unusable."""
    try:
        return parse_time(value, field), None
    except InvalidSession as error:
        return arrived, finding("clock_not_set", f"{error}; the arrival time is used")


def energy_readings(meter_values: object) -> tuple[list[Reading], list[Finding]]:
    """The energy register readings of OCPP MeterValue entries (one per entry: the first sample of
    the whole meter, in Wh or kWh), and a `meter_value_invalid` finding for each unusable one."""
    readings: list[Reading] = []
    problems: list[Finding] = []
    for entry in meter_values if isinstance(meter_values, list) else []:
        try:
            at = parse_time(entry["timestamp"], "timestamp")
        except (InvalidSession, KeyError, TypeError):
            continue
        for sample in entry.get("sampledValue") or []:
            unit = sample.get("unit", "Wh")
            if (
                sample.get("measurand", ENERGY) != ENERGY
                or sample.get("phase")
                or sample.get("format") == "SignedData"
                or unit not in ("Wh", "kWh")
            ):
                continue
            text = str(sample.get("value", ""))
            try:
                value = Decimal(text) * (1000 if unit == "kWh" else 1)
                usable = value.is_finite() and 0 <= value <= MAX_METER_WH
            except InvalidOperation:
                usable = False
            if not usable:
                problems.append(
                    finding("meter_value_invalid", f"{text[:24]!r} {unit} at {format_time(at)}")
                )
                continue
            readings.append(Reading(int(value.quantize(Decimal(1), ROUND_HALF_UP)), at, unit))
            break
    return readings, problems


def valid_transaction_id(transaction_id: int) -> bool:
    return 1 <= transaction_id <= MAX_TRANSACTION_ID


def unknown_session_id(transaction_id: int, payload: Mapping[str, Any]) -> int | str:
    """The session id of a Stop for a transaction never started here: its transaction id when
    that is a valid one, else one derived from what the Stop says, so its replay gets it again."""
    if valid_transaction_id(transaction_id):
        return transaction_id
    return "x" + stop_fingerprint(payload)


def stop_fingerprint(payload: Mapping[str, Any]) -> str:
    """Short and stable for one Stop: its timestamp and meter, which a replay repeats."""
    seed = f"{payload.get('timestamp')}#{payload.get('meterStop')}#{payload.get('transactionId')}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def parse_stop(payload: Mapping[str, Any], arrived: datetime) -> StopReading:
    """A StopTransaction's payload (schema-valid) as a reading, never an error."""
    found: list[Finding] = []
    raw: dict[str, Any] = {}
    stopped_at, clock = sent_time(payload.get("timestamp"), "timestamp", arrived)
    if clock is not None:
        found.append(clock)
        raw["ended_at"] = str(payload.get("timestamp"))[:40]
    meter_stop = meter_wh(payload.get("meterStop"))
    if meter_stop is None:
        found.append(
            finding("meter_value_invalid", f"meterStop {str(payload.get('meterStop'))[:40]}")
        )
        raw["meter_stop_wh"] = str(payload.get("meterStop"))[:40]
    readings, problems = energy_readings(payload.get("transactionData"))
    tag = payload.get("idTag")
    return StopReading(
        meter_stop_wh=meter_stop,
        stopped_at=stopped_at,
        reason=str(payload.get("reason") or DEFAULT_STOP_REASON),
        id_tag=tag if isinstance(tag, str) and tag else None,
        findings=(*found, *problems),
        raw=raw,
        transaction_data=tuple(sorted(readings, key=lambda r: r.at)),
    )


# --- what is billed -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Billed:
    energy_wh: int
    meter_start_wh: int | None
    meter_stop_wh: int | None
    started_at: datetime
    billed_from: str | None = None


def _near(value: Decimal, low: int, high: int) -> bool:
    slack = max(10, (high - low) // 100)
    return low - slack <= value <= high + slack


def _mislabelled(readings: Sequence[Reading], start: int, stop: int) -> list[Reading]:
    """Readings that lie outside the Start..Stop meters but inside them once scaled by 1,000."""
    low, high = sorted((start, stop))
    return [
        r
        for r in readings
        if not _near(Decimal(r.wh), low, high)
        and _near(Decimal(r.wh) * 1000 if r.unit == "Wh" else Decimal(r.wh) / 1000, low, high)
    ]


def _span(readings: Sequence[Reading]) -> tuple[Reading, Reading] | None:
    """The first and last of readings in time order when the meter only went forward."""
    ordered = sorted(readings, key=lambda r: r.at)
    if len(ordered) < 2 or any(b.wh < a.wh for a, b in pairwise(ordered)):
        return None
    return ordered[0], ordered[-1]


def _bill(
    opened: OpenTransaction, stop: StopReading, found: list[Finding], raw: dict[str, Any]
) -> _Billed:
    start, end = opened.meter_start_wh, stop.meter_stop_wh
    seen = list(dict.fromkeys(r for r in (opened.first_reading, opened.last_reading) if r))
    data = list(stop.transaction_data)
    if start is not None and end is not None and start < end:  # a range to compare with
        wrong = _mislabelled([*seen, *data], start, end)
        if wrong:
            found.append(
                finding(
                    "unit_mislabelled",
                    f"{wrong[0].wh} Wh read as {wrong[0].unit} at {format_time(wrong[0].at)} is "
                    f"1,000x off the meters {start}..{end} Wh",
                )
            )
            seen = [r for r in seen if r not in wrong]
            data = [r for r in data if r not in wrong]
    zero_start = any(f.code == "zero_start_meter" for f in opened.findings)
    honest = start is not None and end is not None and end >= start and not zero_start
    if honest or (start is not None and end is not None and not (data or seen)):
        assert start is not None and end is not None
        if end < start:
            found.append(
                finding("meter_regression", f"meterStop {end} is below meterStart {start}")
            )
        return _Billed(end - start, start, end, opened.started_at)
    if start is None and end is not None and data:
        first = data[0]
        if first.wh <= end:  # a Stop nobody started here: its data's first reading is the start
            raw.setdefault("meter_stop_wh", end)
            return _Billed(end - first.wh, first.wh, end, first.at, "transaction_data")
    for source, readings in (("transaction_data", data), ("meter_values", seen)):
        span = _span(readings)
        if span is None:
            continue
        first, last = span
        if start is not None and end is not None and end < start:
            found.append(
                finding(
                    "meter_regression",
                    f"meterStop {end} is below meterStart {start}; "
                    f"billed {last.wh - first.wh} Wh from {source}",
                )
            )
        raw.update({"meter_start_wh": start, "meter_stop_wh": end})
        return _Billed(last.wh - first.wh, first.wh, last.wh, opened.started_at, source)
    if start is not None and end is not None:
        if end < start:
            found.append(
                finding("meter_regression", f"meterStop {end} is below meterStart {start}")
            )
        return _Billed(end - start, start, end, opened.started_at)
    return _Billed(0, start, end, opened.started_at)


def session_message(
    transaction: OpenTransaction, stop: StopReading, tariff: Pricing
) -> OutgoingMessage:
    """The session a finished transaction is, as the pipeline's contract says it."""
    found = [*transaction.findings, *stop.findings]
    raw = {**transaction.raw, **stop.raw}
    billed = _bill(transaction, stop, found, raw)
    energy_kwh = Decimal(billed.energy_wh) / 1000
    duration = max(0, int((stop.stopped_at - billed.started_at).total_seconds()))
    session_id = (
        transaction.transaction_id if transaction.session_id is None else (transaction.session_id)
    )
    payload: dict[str, Any] = {
        "session_id": session_id,
        "energy_delivered_in_kWh": float(energy_kwh),
        "duration_in_seconds": duration,
        "session_cost_in_cents": tariff.cost_cents(energy_kwh, duration, billed.started_at),
        "ended_at": format_time(stop.stopped_at),
        "started_at": format_time(billed.started_at),
    }
    if billed.meter_start_wh is not None:
        payload["meter_start_wh"] = billed.meter_start_wh
    if billed.meter_stop_wh is not None:
        payload["meter_stop_wh"] = billed.meter_stop_wh
    payload["stop_reason"] = stop.reason
    if transaction.id_tag:
        payload["id_tag"] = transaction.id_tag
    if stop.id_tag and stop.id_tag != transaction.id_tag:
        payload["stop_id_tag"] = stop.id_tag
    if billed.billed_from:
        payload["billed_from"] = billed.billed_from
    if transaction.remote_start_by:
        payload["remote_start_by"] = transaction.remote_start_by
    if transaction.remote_stop_by:
        payload["remote_stop_by"] = transaction.remote_stop_by
    findings = merged(found)
    if findings:
        payload["findings"] = [f.as_json() for f in findings]
    if raw:
        payload["raw"] = dict(sorted(raw.items()))
    topic = (
        f"charger/{transaction.charger_id}/connector/{transaction.connector_id}"
        f"/session/{session_id}"
    )
    return OutgoingMessage(topic, json.dumps(payload, separators=(",", ":")).encode())
