"""The charging-session message contract: topic, payload fields, validation.

Field names are the original challenge's, so chargers written for it keep working: a payload of
exactly `session_id`, `energy_delivered_in_kWh`, `duration_in_seconds` and `session_cost_in_cents`
is valid. `ended_at` is optional (ISO 8601 with an offset, or epoch seconds); when it is missing the
time the IoT rule received the message stands in for it. The original solution's publisher spells
two fields its own way (`energy_delivered_in_kwh`, and `timestamp` for the end): both are accepted
as other spellings of the same fields. Unknown fields are rejected by name, so a typo never
silently loses data: the message is dead-lettered with the reason and can be replayed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

from evsessions.errors import InvalidSession

TOPIC_FILTER = "charger/+/connector/+/session/+"
_TOPIC = re.compile(r"charger/([^/]+)/connector/([^/]+)/session/([^/]+)")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

PAYLOAD_FIELDS = (
    "session_id",
    "energy_delivered_in_kWh",
    "duration_in_seconds",
    "session_cost_in_cents",
    "ended_at",
    *("started_at", "stop_reason", "meter_start_wh", "meter_stop_wh"),
)
"""The last four are optional and come from real chargers' OCPP transactions."""
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
_STOP_REASON = re.compile(r"[A-Za-z]{1,32}")
MAX_CLOCK_AHEAD = timedelta(days=1)
"""How far after its receipt a session may say it ended (a charger's clock running ahead)."""
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
class TransactionDetails:
    """What a real charger's OCPP transaction adds to a session; every part optional."""

    started_at: datetime | None = None
    stop_reason: str | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None


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

    @property
    def content(self) -> tuple[object, ...]:
        """What the charger said, which a redelivery repeats and a reused session id does not.
        Not the rule's receipt time (a redelivery is received later), so not an end time that
        only stands in for a missing one either; values compare as numbers (30 == 30.0)."""
        return (
            self.energy_delivered_in_kWh,
            self.duration_in_seconds,
            self.session_cost_in_cents,
            self.ended_at if self.ended_at_source == "payload" else None,
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


def _number(value: object, field: str, high: int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSession(field, f"must be a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidSession(field, "must be a finite number")
    if value < 0:
        raise InvalidSession(field, f"{value} must not be negative")
    if value > high:
        raise InvalidSession(field, f"{value} is above the limit of {high}")
    return Decimal(str(value))


def _whole(value: object, field: str, high: int) -> int:
    number = _number(value, field, high)
    if number != number.to_integral_value():
        raise InvalidSession(field, f"{value} must be a whole number")
    return int(number)


def _received_at(value: object) -> datetime | None:
    """The rule's timestamp() is epoch milliseconds (ISO text is accepted too)."""
    if value is None:
        return None
    return parse_time(value, "received_at", units_per_second=1000)


def _transaction(event: Mapping[str, Any], ended_at: datetime) -> TransactionDetails | None:
    started = event.get("started_at")
    reason = event.get("stop_reason")
    start, stop = event.get("meter_start_wh"), event.get("meter_stop_wh")
    if started is None and reason is None and start is None and stop is None:
        return None
    started_at = None if started is None else _to_milliseconds(parse_time(started, "started_at"))
    if started_at is not None and started_at > ended_at:
        raise InvalidSession("started_at", f"{format_time(started_at)} is after ended_at")
    if reason is not None and not (isinstance(reason, str) and _STOP_REASON.fullmatch(reason)):
        raise InvalidSession("stop_reason", "must be 1-32 letters, e.g. EVDisconnected")
    return TransactionDetails(
        started_at=started_at,
        stop_reason=reason,
        meter_start_wh=None if start is None else _whole(start, "meter_start_wh", MAX_METER_WH),
        meter_stop_wh=None if stop is None else _whole(stop, "meter_stop_wh", MAX_METER_WH),
    )


def _spelled(
    event: Mapping[str, Any],
    name: str,
    parse: Callable[[object, str], T],
    *,
    null_is_absent: bool = False,
) -> list[T]:
    """The parsed values of a field sent under its name, its other spelling, or both (then they
    must agree); empty when neither was sent."""
    sent = [
        spelling
        for spelling in (name, OTHER_SPELLINGS[name])
        if spelling in event and not (null_is_absent and event[spelling] is None)
    ]
    values = [parse(event[spelling], spelling) for spelling in sent]
    if len(values) == 2 and values[0] != values[1]:
        raise InvalidSession(
            sent[1],
            f"{str(event[sent[1]])[:40]} differs from {name} {str(event[name])[:40]}; "
            "send one spelling, or the same value in both",
        )
    return values


def parse_session(event: Mapping[str, Any]) -> ChargingSession:
    """Validate one IoT rule output (payload fields plus `topic` and `received_at`)."""
    if not isinstance(event, Mapping):
        raise InvalidSession("payload", "must be a JSON object")
    allowed = (*PAYLOAD_FIELDS, *OTHER_SPELLINGS.values())
    unknown = sorted(set(event) - set(allowed) - set(RULE_FIELDS))
    if unknown:
        raise InvalidSession(
            unknown[0][:80], f"unknown field; allowed fields are {', '.join(allowed)}"
        )
    charger, connector, topic_session = parse_topic(event.get("topic"))
    for name in PAYLOAD_FIELDS[:4]:
        if name not in event and OTHER_SPELLINGS.get(name) not in event:
            raise InvalidSession(name, "is required")
    session_id, session_text = _session_id(event["session_id"])
    if session_text != topic_session:
        raise InvalidSession(
            "session_id", f"{session_text!r} does not match the topic's session {topic_session!r}"
        )
    received_at = _received_at(event.get("received_at"))
    source: EndedAtSource = "payload"
    sent_end = _spelled(event, "ended_at", parse_time, null_is_absent=True)
    if sent_end:
        ended_at = sent_end[0]
        if received_at is not None and ended_at > received_at + MAX_CLOCK_AHEAD:
            field = "ended_at" if event.get("ended_at") is not None else "timestamp"
            raise InvalidSession(
                field, f"{format_time(ended_at)} is more than a day after the message arrived"
            )
    elif received_at is not None:
        ended_at, source = received_at, "received"
    else:
        raise InvalidSession("ended_at", "is missing and the rule added no received_at")
    [energy, *_] = _spelled(  # sent under one spelling at least: checked above
        event,
        "energy_delivered_in_kWh",
        lambda value, field: _number(value, field, MAX_ENERGY_KWH),
    )
    return ChargingSession(
        key=SessionKey(charger, connector, session_text),
        session_id=session_id,
        energy_delivered_in_kWh=energy,
        duration_in_seconds=_whole(
            event["duration_in_seconds"], "duration_in_seconds", MAX_DURATION_SECONDS
        ),
        session_cost_in_cents=_whole(
            event["session_cost_in_cents"], "session_cost_in_cents", MAX_COST_CENTS
        ),
        ended_at=_to_milliseconds(ended_at),
        ended_at_source=source,
        received_at=None if received_at is None else _to_milliseconds(received_at),
        transaction=_transaction(event, _to_milliseconds(ended_at)),
    )
