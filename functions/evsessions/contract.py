"""The charging-session message contract: topic, payload fields, validation.

Field names are the original challenge's, so chargers written for it keep working: a payload of
exactly `session_id`, `energy_delivered_in_kWh`, `duration_in_seconds` and `session_cost_in_cents`
is valid. `ended_at` is optional (ISO 8601 with an offset, or epoch seconds); when it is missing the
time the IoT rule received the message stands in for it. The original solution's publisher spells
two fields its own way (`energy_delivered_in_kwh`, and `timestamp` for the end): both are accepted
as other spellings of the same fields.

A message whose sender was told it is accepted is never refused for its values (see
`integrity`): only what cannot be a session at all is an InvalidSession (not a JSON object, no
identity: a bad topic, a missing or mismatched session id, or a message too large to keep). Every
doubtful value becomes a finding: the session is stored `suspect`, with the message as it arrived
(`raw`) and billed values that are safe to add up (0 where a value is unusable, the arrival time
where the end time is). Unknown fields are kept in `raw` and flagged, never silently dropped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, TypeVar

from evsessions.errors import InvalidSession
from evsessions.integrity import (
    BILLED_FROM,
    MAX_RAW_BYTES,
    Billed,
    Finding,
    FindingError,
    Resolution,
    Verdict,
    finding,
    id_tag,
    merged,
    parse_findings,
)

TOPIC_FILTER = "charger/+/connector/+/session/+"
_TOPIC = re.compile(r"charger/([^/]+)/connector/([^/]+)/session/([^/]+)")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_WHO = 100
_WHO = re.compile(f"[\\x20-\\x7e]{{1,{MAX_WHO}}}")
"""Who asked for a remote start or stop: printable ASCII, as the API records its callers."""

PAYLOAD_FIELDS = (
    "session_id",
    "energy_delivered_in_kWh",
    "duration_in_seconds",
    "session_cost_in_cents",
    "ended_at",
    *("started_at", "stop_reason", "meter_start_wh", "meter_stop_wh"),
    *("id_tag", "stop_id_tag", "findings", "billed_from", "raw"),
    *("remote_start_by", "remote_stop_by"),
)
"""All but the first five are optional and come from real chargers' OCPP transactions: the
central system adds who charged (`id_tag`, `stop_id_tag`), what only it could find (`findings`),
and, when it billed a value it derived, where from (`billed_from`) and the values as the charger
sent them (`raw`); and who asked for a remote start or stop (`remote_start_by`,
`remote_stop_by`: the operator's command, see evsessions.ocpp.commands)."""
TRANSACTION_FIELDS = PAYLOAD_FIELDS[5:]
OTHER_SPELLINGS = {"energy_delivered_in_kWh": "energy_delivered_in_kwh", "ended_at": "timestamp"}
"""A field's other accepted name, as the original solution's publisher sends it (its `timestamp`,
epoch seconds of when it published the session, is the session's end). A message may carry both
spellings of a field only with the same value."""
RULE_FIELDS = ("topic", "received_at")
"""What the IoT rule's SELECT adds to the payload (see template.yaml)."""

MAX_ENERGY_KWH = 1000
MAX_DURATION_SECONDS = 7 * 24 * 3600
MAX_COST_CENTS = 10_000_000
MAX_METER_WH = 10**15
MAX_STORABLE = 10**15
"""Above this a number is no reading at all (e.g. 1e40): billed as 0, flagged, kept in raw."""
_STOP_REASON = re.compile(r"[A-Za-z]{1,32}")
MAX_CLOCK_AHEAD = timedelta(days=1)
"""How far after its receipt a session may say it ended (a charger's clock running ahead)."""
DEFAULT_MAX_AVERAGE_POWER_KW = 400.0
"""Above this average power a session's energy is implausible for its duration (the most a
vehicle takes today is about 400 kW, on a megawatt-class charger for trucks more)."""
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)

EndedAtSource = Literal["payload", "received"]
T = TypeVar("T")


@dataclass(frozen=True, order=True)
class SessionKey:
    """A session's identity, as the topic names it. A message is a duplicate when a session of
    this identity with the same content is stored (never judged on MQTT packet ids)."""

    charger_id: str
    connector_id: str
    session_id: str

    @property
    def topic(self) -> str:
        return f"charger/{self.charger_id}/connector/{self.connector_id}/session/{self.session_id}"


@dataclass(frozen=True)
class Limits:
    """The plausibility rules' settings (see `integrity`)."""

    max_average_power_kw: float = DEFAULT_MAX_AVERAGE_POWER_KW
    clock_ahead: timedelta = MAX_CLOCK_AHEAD


@dataclass(frozen=True)
class TransactionDetails:
    """What a real charger's OCPP transaction adds to a session; every part optional."""

    started_at: datetime | None = None
    stop_reason: str | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    id_tag: str | None = None
    """The id tag that started the transaction: who charged."""
    stop_id_tag: str | None = None
    """The id tag that stopped it, when another one did."""
    billed_from: str | None = None
    """Where the billed energy came from when not from the charger's Start and Stop meters."""
    remote_start_by: str | None = None
    """Who asked for the transaction with a RemoteStartTransaction, when someone did."""
    remote_stop_by: str | None = None
    """Who asked for its end with a RemoteStopTransaction, when someone did."""


@dataclass(frozen=True)
class ChargingSession:
    key: SessionKey
    session_id: int | str
    """As the charger sent it (the original chargers send integers)."""
    energy_delivered_in_kWh: Decimal  # noqa: N815 - the contract's field name
    duration_in_seconds: int
    session_cost_in_cents: int
    ended_at: datetime
    ended_at_source: EndedAtSource
    received_at: datetime | None
    transaction: TransactionDetails | None = None
    """Set when the message carried any of the transaction fields."""
    occurrence: int = 1
    """Which session under this identity it is: 1 for the first one stored; a charger that
    reuses a session id (its counter restarted) with other content makes occurrence 2, 3, ...
    A parsed message is 1 until the store numbers it."""
    findings: tuple[Finding, ...] = ()
    """Why the session is suspect; none when it is clean."""
    raw: str | None = None
    """A suspect session's message as it arrived (JSON text, without what the rule added)."""
    resolution: Resolution | None = None
    """An operator's decision on a suspect session (the store sets it, never a message)."""

    @property
    def verdict(self) -> Verdict:
        return "suspect" if self.findings else "clean"

    @property
    def counts_as(self) -> Literal["clean", "suspect", "void"]:
        """Which totals the session adds to: revenue (clean, or a suspect one accepted or
        corrected), the suspect totals (open), or none (voided)."""
        if not self.findings:
            return "clean"
        if self.resolution is None:
            return "suspect"
        return "void" if self.resolution.action == "void" else "clean"

    @property
    def billed(self) -> Billed:
        return Billed(
            self.energy_delivered_in_kWh, self.duration_in_seconds, self.session_cost_in_cents
        )

    @property
    def content(self) -> tuple[object, ...]:
        """What the charger said, which a redelivery repeats and a reused session id does not.
        Not the rule's receipt time (a redelivery is received later), so not an end time that
        only stands in for a missing one either; values compare as numbers (30 == 30.0). A
        suspect session's billed values may hide what was sent (two unusable energies both bill
        0), so its raw message is part of it."""
        return (
            self.energy_delivered_in_kWh,
            self.duration_in_seconds,
            self.session_cost_in_cents,
            self.ended_at if self.ended_at_source == "payload" else None,
            self.raw,
        )


def format_time(moment: datetime) -> str:
    """Fixed-width UTC ISO 8601 with milliseconds: sorts as text in the same order as in time."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(value: object, field: str, units_per_second: int = 1) -> datetime:
    """ISO 8601 with an offset, or an epoch number (seconds by default), to aware UTC."""
    if isinstance(value, bool):
        raise InvalidSession(field, "must be an ISO 8601 time or epoch seconds, not a boolean")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidSession(field, "must be a finite number of epoch seconds")
        low, high = _EARLIEST.timestamp(), _LATEST.timestamp()
        # Compare before converting: a 400-digit integer must be an error, not an OverflowError.
        if not low * units_per_second <= value < high * units_per_second:
            looks_like_ms = units_per_second == 1 and low * 1000 <= value < high * 1000
            hint = " (it looks like milliseconds; send seconds)" if looks_like_ms else ""
            raise InvalidSession(field, f"{str(value)[:40]} is outside the years 2000-2099{hint}")
        return datetime.fromtimestamp(value / units_per_second, tz=UTC)
    if not isinstance(value, str):
        raise InvalidSession(field, "must be an ISO 8601 time or epoch seconds")
    if len(value) > 40:
        raise InvalidSession(field, "is too long for an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidSession(
            field, f"{value!r} is not ISO 8601 (e.g. 2026-11-27T18:35:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise InvalidSession(field, f"{value!r} has no UTC offset; add 'Z' or '+00:00'")
    if not _EARLIEST <= moment < _LATEST:
        raise InvalidSession(field, f"{value!r} is outside the years 2000-2099")
    return moment.astimezone(UTC)


def _to_milliseconds(moment: datetime) -> datetime:
    """A session's times are kept to the millisecond, the precision they are stored with."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def identifier(value: str, field: str) -> str:
    """A charger, connector or session id as it may appear in a topic and in a key."""
    if not _IDENTIFIER.fullmatch(value):
        raise InvalidSession(
            field, f"{value[:80]!r} must be 1-64 characters of letters, digits, '_', '.', ':', '-'"
        )
    return value


def parse_topic(topic: object) -> tuple[str, str, str]:
    """(charger_id, connector_id, session segment) from `charger/{c}/connector/{n}/session/{s}`."""
    if not isinstance(topic, str):
        raise InvalidSession("topic", "is missing; the rule must add topic() AS topic")
    match = _TOPIC.fullmatch(topic)
    if not match:
        raise InvalidSession(
            "topic",
            f"{topic[:200]!r} is not charger/{{c}}/connector/{{n}}/session/{{s}}",
        )
    charger, connector, session = match.groups()
    return (
        identifier(charger, "topic charger"),
        identifier(connector, "topic connector"),
        identifier(session, "topic session"),
    )


def _session_id(value: object) -> tuple[int | str, str]:
    if isinstance(value, bool) or value is None:
        raise InvalidSession("session_id", "must be a non-negative integer or an identifier string")
    if isinstance(value, int):
        if value < 0 or value >= 2**63:
            raise InvalidSession("session_id", f"{value} must be between 0 and 2^63-1")
        return value, str(value)
    if isinstance(value, str):
        return value, identifier(value, "session_id")
    raise InvalidSession("session_id", "must be a non-negative integer or an identifier string")


def _received_at(value: object) -> datetime | None:
    """The rule's timestamp() is epoch milliseconds (ISO text is accepted too)."""
    if value is None:
        return None
    return parse_time(value, "received_at", units_per_second=1000)


class _Findings:
    """The findings of one message, and the billed value each doubtful field falls back to."""

    def __init__(self) -> None:
        self.found: list[Finding] = []

    def add(self, code: str, detail: str) -> None:
        self.found.append(finding(code, detail))

    def number(self, value: object, field: str, limit: int, limit_code: str) -> Decimal:
        """A count to bill: as sent when it is a finite number within the storable range (flagged
        when above the contract's limit), else 0 with the reason."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            shown = "missing" if value is None else f"not a number ({type(value).__name__})"
            self.add("invalid_value", f"{field} is {shown}; billed as 0")
            return Decimal(0)
        if isinstance(value, float) and not math.isfinite(value):
            self.add("invalid_value", f"{field} is {value}, not a finite number; billed as 0")
            return Decimal(0)
        if value > MAX_STORABLE:
            self.add("invalid_value", f"{field} {str(value)[:40]} overflows; billed as 0")
            return Decimal(0)
        if value < 0:
            code = "meter_regression" if field.startswith("energy") else "invalid_value"
            self.add(code, f"{field} {value} is negative; billed as 0")
            return Decimal(0)
        if value > limit:
            self.add(limit_code, f"{field} {value} is above the limit of {limit}")
        return Decimal(str(value))

    def whole(self, value: object, field: str, limit: int, limit_code: str) -> int:
        number = self.number(value, field, limit, limit_code)
        if number != number.to_integral_value():
            self.add("invalid_value", f"{field} {value} is not a whole number; billed rounded")
        return int(number.to_integral_value(ROUND_HALF_UP))

    def time(self, value: object, field: str) -> datetime | None:
        """A time as sent, or None with the reason (outside 2000-2099: no clock set)."""
        try:
            return parse_time(value, field)
        except InvalidSession as error:
            code = "clock_not_set" if "outside the years" in error.problem else "invalid_value"
            self.add(code, str(error))
            return None


def _transaction(
    event: Mapping[str, Any], ended_at: datetime | None, found: _Findings
) -> TransactionDetails | None:
    sent = {name: event.get(name) for name in TRANSACTION_FIELDS}
    if all(value is None for value in sent.values()):
        return None
    started = sent["started_at"]
    started_at = None if started is None else found.time(started, "started_at")
    if started_at is not None:
        started_at = _to_milliseconds(started_at)
        if ended_at is not None and started_at > ended_at:
            found.add("end_before_start", f"started_at {format_time(started_at)} is after ended_at")
    reason = sent["stop_reason"]
    if reason is not None and not (isinstance(reason, str) and _STOP_REASON.fullmatch(reason)):
        found.add("invalid_value", "stop_reason must be 1-32 letters, e.g. EVDisconnected")
        reason = None
    meters = {}
    for name in ("meter_start_wh", "meter_stop_wh"):
        if sent[name] is not None:
            meters[name] = found.whole(sent[name], name, MAX_METER_WH, "meter_value_invalid")
    tags = {}
    for name in ("id_tag", "stop_id_tag"):
        if sent[name] is not None:
            try:
                tags[name] = id_tag(sent[name])
            except FindingError as error:
                found.add("invalid_value", f"{name} {error}")
    billed_from = sent["billed_from"]
    if billed_from is not None and billed_from not in BILLED_FROM:
        found.add("invalid_value", f"billed_from must be one of {', '.join(BILLED_FROM)}")
        billed_from = None
    asked = {}
    for name in ("remote_start_by", "remote_stop_by"):
        value = sent[name]
        if value is None:
            continue
        if isinstance(value, str) and _WHO.fullmatch(value):
            asked[name] = value
        else:
            found.add("invalid_value", f"{name} must be 1-{MAX_WHO} printable characters")
    if sent["findings"] is not None:
        try:
            found.found.extend(parse_findings(sent["findings"]))
        except FindingError as error:
            found.add("invalid_value", f"findings {error}")
    return TransactionDetails(
        started_at=started_at,
        stop_reason=reason,
        meter_start_wh=meters.get("meter_start_wh"),
        meter_stop_wh=meters.get("meter_stop_wh"),
        id_tag=tags.get("id_tag"),
        stop_id_tag=tags.get("stop_id_tag"),
        billed_from=billed_from if isinstance(billed_from, str) else None,
        remote_start_by=asked.get("remote_start_by"),
        remote_stop_by=asked.get("remote_stop_by"),
    )


def _spelled(
    event: Mapping[str, Any],
    name: str,
    parse: Callable[[object, str], T],
    found: _Findings,
    *,
    null_is_absent: bool = False,
) -> T | None:
    """The value of a field sent under its name, its other spelling, or both (they should agree:
    when they do not, the first spelling is billed and the disagreement flagged); None when
    neither was sent."""
    sent = [
        spelling
        for spelling in (name, OTHER_SPELLINGS[name])
        if spelling in event and not (null_is_absent and event[spelling] is None)
    ]
    values = [parse(event[spelling], spelling) for spelling in sent]
    if len(values) == 2 and values[0] != values[1]:
        found.add(
            "invalid_value",
            f"{sent[1]} {str(event[sent[1]])[:40]} differs from {name} {str(event[name])[:40]}; "
            f"{name} is billed",
        )
    return values[0] if values else None


def _raw(event: Mapping[str, Any]) -> str:
    """The payload as it arrived (without what the rule added), as JSON text to keep."""
    payload = {name: value for name, value in event.items() if name not in RULE_FIELDS}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    if len(text.encode()) > MAX_RAW_BYTES:
        raise InvalidSession("payload", f"is larger than {MAX_RAW_BYTES} bytes; no session is")
    return text


def parse_session(event: Mapping[str, Any], limits: Limits | None = None) -> ChargingSession:
    """One IoT rule output (payload fields plus `topic` and `received_at`) as a session, clean or
    suspect; InvalidSession only when it cannot be a session at all."""
    limits = limits or Limits()
    if not isinstance(event, Mapping):
        raise InvalidSession("payload", "must be a JSON object")
    charger, connector, topic_session = parse_topic(event.get("topic"))
    if "session_id" not in event:
        raise InvalidSession("session_id", "is required")
    session_id, session_text = _session_id(event["session_id"])
    if session_text != topic_session:
        raise InvalidSession(
            "session_id", f"{session_text!r} does not match the topic's session {topic_session!r}"
        )
    received_at = _received_at(event.get("received_at"))
    found = _Findings()
    allowed = (*PAYLOAD_FIELDS, *OTHER_SPELLINGS.values())
    unknown = sorted(set(event) - set(allowed) - set(RULE_FIELDS))
    if unknown:
        found.add("unknown_field", f"{', '.join(u[:40] for u in unknown[:5])} kept in raw")
    source: EndedAtSource = "payload"
    sent_end = _spelled(
        event, "ended_at", lambda value, field: found.time(value, field), found, null_is_absent=True
    )
    if (
        sent_end is not None
        and received_at is not None
        and sent_end > received_at + limits.clock_ahead
    ):
        found.add(
            "clock_ahead",
            f"ended_at {format_time(sent_end)} is more than {limits.clock_ahead} after "
            f"the message arrived at {format_time(received_at)}; billed at its arrival",
        )
        sent_end = None
    if sent_end is not None:
        ended_at = sent_end
    elif received_at is not None:
        ended_at, source = received_at, "received"
    else:
        raise InvalidSession("ended_at", "is missing or unusable and the rule added no received_at")
    ended_at = _to_milliseconds(ended_at)
    energy = _spelled(
        event,
        "energy_delivered_in_kWh",
        lambda value, field: found.number(value, field, MAX_ENERGY_KWH, "energy_above_limit"),
        found,
    )
    if energy is None:
        energy = found.number(None, "energy_delivered_in_kWh", MAX_ENERGY_KWH, "")
    duration = found.whole(
        event.get("duration_in_seconds"),
        "duration_in_seconds",
        MAX_DURATION_SECONDS,
        "duration_above_limit",
    )
    cost = found.whole(
        event.get("session_cost_in_cents"),
        "session_cost_in_cents",
        MAX_COST_CENTS,
        "cost_above_limit",
    )
    if energy > 0 and energy * 3600 > Decimal(str(limits.max_average_power_kw)) * duration:
        power = "an instant" if duration == 0 else f"{float(energy * 3600 / duration):.0f} kW"
        found.add(
            "power_implausible",
            f"{energy} kWh in {duration} s is {power} on average, above "
            f"{limits.max_average_power_kw:g} kW",
        )
    transaction = _transaction(event, ended_at if source == "payload" else None, found)
    findings = merged(found.found)
    return ChargingSession(
        key=SessionKey(charger, connector, session_text),
        session_id=session_id,
        energy_delivered_in_kWh=energy,
        duration_in_seconds=duration,
        session_cost_in_cents=cost,
        ended_at=ended_at,
        ended_at_source=source,
        received_at=None if received_at is None else _to_milliseconds(received_at),
        transaction=transaction,
        findings=findings,
        raw=_raw(event) if findings else None,
    )
