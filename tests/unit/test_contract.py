"""The message contract: what the listener accepts from the IoT rule, and why it refuses others."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from evsessions.contract import (
    MAX_COST_CENTS,
    MAX_DURATION_SECONDS,
    MAX_ENERGY_KWH,
    Limits,
    SessionKey,
    format_time,
    parse_session,
    parse_topic,
)
from evsessions.errors import InvalidSession

ORIGINAL_MESSAGE = {
    "session_id": 1,
    "energy_delivered_in_kWh": 30,
    "duration_in_seconds": 45,
    "session_cost_in_cents": 70,
}
"""Exactly what a charger written for the original challenge sends."""
TOPIC = "charger/1/connector/1/session/1"
RECEIVED_AT_MS = 1_764_268_500_123  # 2025-11-27T18:35:00.123Z
RECEIVED_AT = datetime(2025, 11, 27, 18, 35, 0, 123_000, tzinfo=UTC)


def rule_output(**changes: Any) -> dict[str, Any]:
    """What the rule's SELECT *, topic() AS topic, timestamp() AS received_at hands the listener."""
    event = {**ORIGINAL_MESSAGE, "topic": TOPIC, "received_at": RECEIVED_AT_MS}
    event.update(changes)
    return event


def without(field: str) -> dict[str, Any]:
    event = rule_output()
    del event[field]
    return event


def rejection(event: Any) -> InvalidSession:
    with pytest.raises(InvalidSession) as excinfo:
        parse_session(event)
    return excinfo.value


# --- valid messages ---------------------------------------------------------------------------


def test_original_four_field_message_is_valid_and_ends_when_received() -> None:
    # GIVEN the original challenge's exact message as the rule outputs it
    event = rule_output()
    # WHEN it is parsed
    session = parse_session(event)
    # THEN every field is kept and the receive time stands in for the missing end time
    assert session.key == SessionKey("1", "1", "1")
    assert session.session_id == 1
    assert session.energy_delivered_in_kWh == Decimal(30)
    assert session.duration_in_seconds == 45
    assert session.session_cost_in_cents == 70
    assert session.ended_at == RECEIVED_AT
    assert session.ended_at_source == "received"
    assert session.received_at == RECEIVED_AT


@pytest.mark.parametrize(
    ("ended_at", "expected"),
    [
        ("2025-11-27T18:34:10Z", datetime(2025, 11, 27, 18, 34, 10, tzinfo=UTC)),
        ("2025-11-27T18:34:10.250Z", datetime(2025, 11, 27, 18, 34, 10, 250_000, tzinfo=UTC)),
        ("2025-11-27T20:34:10+02:00", datetime(2025, 11, 27, 18, 34, 10, tzinfo=UTC)),
        ("2025-11-27T13:34:10-05:00", datetime(2025, 11, 27, 18, 34, 10, tzinfo=UTC)),
        (1_764_268_450, datetime(2025, 11, 27, 18, 34, 10, tzinfo=UTC)),
        (1_764_268_450.5, datetime(2025, 11, 27, 18, 34, 10, 500_000, tzinfo=UTC)),
    ],
)
def test_ended_at_is_accepted_as_iso_8601_or_epoch_seconds(
    ended_at: str | float, expected: datetime
) -> None:
    # GIVEN a message that says when the session ended
    event = rule_output(ended_at=ended_at)
    # WHEN it is parsed
    session = parse_session(event)
    # THEN the payload's time is used, converted to UTC
    assert session.ended_at == expected
    assert session.ended_at.utcoffset() == timedelta(0)
    assert session.ended_at_source == "payload"


def test_null_ended_at_falls_back_to_the_receive_time() -> None:
    # GIVEN a message whose ended_at is null
    # WHEN it is parsed
    session = parse_session(rule_output(ended_at=None))
    # THEN it is treated like the original message without the field
    assert session.ended_at == RECEIVED_AT
    assert session.ended_at_source == "received"


def test_string_session_id_is_kept_as_sent() -> None:
    # GIVEN a charger that uses text session ids
    event = rule_output(session_id="abc-42", topic="charger/CP.7/connector/2/session/abc-42")
    # WHEN it is parsed
    session = parse_session(event)
    # THEN the identity comes from the topic and the id stays text
    assert session.key == SessionKey("CP.7", "2", "abc-42")
    assert session.session_id == "abc-42"


def test_whole_float_duration_and_cost_are_accepted_as_integers() -> None:
    # GIVEN a charger that writes 45.0 for 45
    session = parse_session(rule_output(duration_in_seconds=45.0, session_cost_in_cents=70.0))
    # THEN the values are stored as integers
    assert session.duration_in_seconds == 45
    assert isinstance(session.duration_in_seconds, int)
    assert session.session_cost_in_cents == 70


def test_fractional_energy_is_kept_exactly() -> None:
    session = parse_session(rule_output(energy_delivered_in_kWh=12.345))
    assert session.energy_delivered_in_kWh == Decimal("12.345")


def test_values_at_the_limits_are_accepted() -> None:
    # GIVEN every number exactly at its upper limit, and zeros
    event = rule_output(
        energy_delivered_in_kWh=MAX_ENERGY_KWH,
        duration_in_seconds=MAX_DURATION_SECONDS,
        session_cost_in_cents=MAX_COST_CENTS,
    )
    # WHEN parsed THEN nothing is rejected
    assert parse_session(event).session_cost_in_cents == MAX_COST_CENTS
    assert parse_session(rule_output(energy_delivered_in_kWh=0)).energy_delivered_in_kWh == 0


# --- the original solution's variant -----------------------------------------------------------

VARIANT_MESSAGE = {
    "session_id": 1,
    "timestamp": 1764420000,
    "energy_delivered_in_kwh": 30,
    "duration_in_seconds": 45,
    "session_cost_in_cents": 75,
}
"""What the original solution's publisher sends: its own spellings of two fields."""


def test_the_original_solutions_variant_is_valid_and_ends_at_its_timestamp() -> None:
    # GIVEN the original solution's payload as the rule outputs it
    event = {**VARIANT_MESSAGE, "topic": TOPIC, "received_at": 1_764_420_000_500}
    # WHEN it is parsed
    session = parse_session(event)
    # THEN energy is read from the lower-case spelling and the timestamp is the end time
    assert session.energy_delivered_in_kWh == Decimal(30)
    assert session.ended_at == datetime(2025, 11, 29, 12, 40, tzinfo=UTC)
    assert session.ended_at_source == "payload"
    assert session.session_cost_in_cents == 75


def test_timestamp_may_be_iso_8601() -> None:
    session = parse_session(rule_output(timestamp="2025-11-27T18:30:00+02:00"))
    assert session.ended_at == datetime(2025, 11, 27, 16, 30, tzinfo=UTC)
    assert session.ended_at_source == "payload"


def test_null_timestamp_falls_back_to_the_receive_time() -> None:
    session = parse_session(rule_output(timestamp=None))
    assert session.ended_at == RECEIVED_AT
    assert session.ended_at_source == "received"


def flagged(event: Any) -> dict[str, str]:
    """The findings of a message that is stored suspect: code -> detail."""
    session = parse_session(event)
    assert session.verdict == "suspect", "expected findings"
    assert (
        session.raw is not None
        and json.loads(session.raw)
        == {k: v for k, v in event.items() if k not in ("topic", "received_at")}
    ) or any(isinstance(v, float) and not math.isfinite(v) for v in event.values())
    return {f.code: f.detail for f in session.findings}


def test_a_clean_message_has_no_findings_and_no_raw_copy() -> None:
    session = parse_session(rule_output(duration_in_seconds=3600))
    assert session.verdict == "clean"
    assert session.findings == ()
    assert session.raw is None


def test_the_original_example_is_stored_suspect_for_its_power() -> None:
    # GIVEN the original challenge's example: 30 kWh in 45 s, i.e. 2,400 kW on average
    # WHEN it is parsed THEN it is kept, suspect, for an implausible power, billed as sent
    session = parse_session(rule_output())
    assert [f.code for f in session.findings] == ["power_implausible"]
    assert session.energy_delivered_in_kWh == Decimal(30)
    assert "2400 kW" in session.findings[0].detail


def test_the_power_limit_is_a_setting() -> None:
    assert parse_session(rule_output(), Limits(max_average_power_kw=3000)).verdict == "clean"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"energy_delivered_in_kwh": 31}, "energy_delivered_in_kwh"),
        ({"ended_at": "2025-11-27T18:30:00Z", "timestamp": 1764268201}, "timestamp"),
    ],
)
def test_both_spellings_with_different_values_are_flagged(
    changes: dict[str, Any], field: str
) -> None:
    # GIVEN a message that carries a field under both its spellings, with different values
    # WHEN it is parsed THEN it is suspect, naming the other spelling and that the two differ
    detail = flagged(rule_output(duration_in_seconds=3600, **changes))["invalid_value"]
    assert field in detail
    assert "differs from" in detail


@pytest.mark.parametrize(
    "changes",
    [
        {"energy_delivered_in_kwh": 30.0},
        {"ended_at": "2025-11-27T18:30:00Z", "timestamp": 1764268200},
    ],
)
def test_both_spellings_with_the_same_value_are_valid(changes: dict[str, Any]) -> None:
    session = parse_session(rule_output(duration_in_seconds=3600, **changes))
    assert session.energy_delivered_in_kWh == Decimal(30)
    assert session.verdict == "clean"


def test_the_other_spelling_alone_is_checked_under_its_own_name() -> None:
    event = {**without("energy_delivered_in_kWh"), "energy_delivered_in_kwh": -1}
    assert "energy_delivered_in_kwh" in flagged(event)["meter_regression"]
    assert "timestamp" in flagged(rule_output(timestamp=10**13))["clock_not_set"]


def test_a_clock_ahead_is_billed_at_arrival_and_flagged() -> None:
    # GIVEN a charger whose clock runs three days ahead
    event = rule_output(timestamp=RECEIVED_AT_MS // 1000 + 3 * 86400, duration_in_seconds=3600)
    # WHEN it is parsed THEN it is suspect and its arrival is billed as its end
    assert "more than 1 day" in flagged(event)["clock_ahead"]
    session = parse_session(event)
    assert session.ended_at == RECEIVED_AT
    assert session.ended_at_source == "received"


# --- missing and unknown fields -----------------------------------------------------------------


@pytest.mark.parametrize("field", list(ORIGINAL_MESSAGE)[1:])
def test_missing_value_is_billed_as_zero_and_flagged(field: str) -> None:
    # GIVEN a message without one of the three values
    # WHEN it is parsed THEN it is kept, suspect, naming the field; the value bills 0
    assert field in flagged(without(field))["invalid_value"]
    session = parse_session(without(field))
    assert getattr(session, field) == 0


def test_missing_session_id_has_no_identity() -> None:
    error = rejection(without("session_id"))
    assert error.field == "session_id"
    assert "required" in error.problem


def test_missing_topic_is_blamed_on_the_rule() -> None:
    error = rejection(without("topic"))
    assert error.field == "topic"
    assert "topic()" in error.problem


def test_missing_ended_at_and_received_at_is_rejected() -> None:
    # GIVEN a message with no end time and no receive time from the rule
    error = rejection(without("received_at"))
    # THEN there is no time to store, and the error says so
    assert error.field == "ended_at"
    assert "received_at" in error.problem


@pytest.mark.parametrize("unknown", ["energy_delivered_in_KWH", "comment"])
def test_unknown_field_is_kept_in_raw_and_flagged(unknown: str) -> None:
    # GIVEN a message with a field the contract does not know (e.g. a typo)
    # WHEN it is parsed THEN it is kept, suspect, naming the field; raw holds it
    event = rule_output(duration_in_seconds=3600, **{unknown: 1})
    assert unknown in flagged(event)["unknown_field"]


def test_very_long_unknown_field_name_is_shortened() -> None:
    detail = flagged(rule_output(**{"x" * 10_000: 1}))["unknown_field"]
    assert len(detail) <= 200


@pytest.mark.parametrize("payload", [[1, 2, 3], "text", 42, None])
def test_payload_that_is_not_an_object_is_rejected(payload: Any) -> None:
    error = rejection(payload)
    assert error.field == "payload"
    assert "JSON object" in error.problem


def test_a_payload_too_large_to_keep_is_rejected() -> None:
    error = rejection(rule_output(comment="x" * 40_000))
    assert error.field == "payload"


# --- wrong types and ranges: kept, flagged, billed safely ---------------------------------------

NUMBER_FIELDS = ["energy_delivered_in_kWh", "duration_in_seconds", "session_cost_in_cents"]


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize(
    ("value", "type_name"), [(True, "bool"), ("30", "str"), (None, "missing"), ([30], "list")]
)
def test_non_number_is_billed_as_zero_with_its_type(field: str, value: Any, type_name: str) -> None:
    # GIVEN a number field holding a boolean, text, null or list
    # WHEN the message is parsed THEN the finding names the field and the type it got
    detail = flagged(rule_output(**{field: value}))["invalid_value"]
    assert field in detail
    assert type_name in detail
    assert getattr(parse_session(rule_output(**{field: value})), field) == 0


def test_negative_energy_is_a_meter_regression_billed_as_zero() -> None:
    event = rule_output(energy_delivered_in_kWh=-5.0, duration_in_seconds=3600)
    assert "negative" in flagged(event)["meter_regression"]
    assert parse_session(event).energy_delivered_in_kWh == 0


@pytest.mark.parametrize("field", NUMBER_FIELDS[1:])
def test_negative_duration_or_cost_is_billed_as_zero(field: str) -> None:
    assert "negative" in flagged(rule_output(**{field: -1}))["invalid_value"]


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_billed_as_zero(field: str, value: float) -> None:
    session = parse_session(rule_output(**{field: value}))
    assert {f.code for f in session.findings} >= {"invalid_value"}
    assert getattr(session, field) == 0
    assert (session.raw is not None and "NaN" in session.raw) or "Infinity" in (session.raw or "")


@pytest.mark.parametrize(
    ("field", "limit", "code"),
    [
        ("energy_delivered_in_kWh", MAX_ENERGY_KWH, "energy_above_limit"),
        ("duration_in_seconds", MAX_DURATION_SECONDS, "duration_above_limit"),
        ("session_cost_in_cents", MAX_COST_CENTS, "cost_above_limit"),
    ],
)
def test_number_over_its_limit_is_billed_as_sent_and_flagged(
    field: str, limit: int, code: str
) -> None:
    # GIVEN a value one above the field's limit (a bus depot's 1,001 kWh, an 8-day plug-in)
    event = rule_output(**{field: limit + 1})
    # THEN it is kept as sent, suspect, naming the limit
    assert f"limit of {limit}" in flagged(event)[code]
    assert getattr(parse_session(event), field) == limit + 1


def test_huge_integer_is_billed_as_zero() -> None:
    event = rule_output(energy_delivered_in_kWh=10**400)
    assert "overflows" in flagged(event)["invalid_value"]
    assert parse_session(event).energy_delivered_in_kWh == 0


@pytest.mark.parametrize("field", ["duration_in_seconds", "session_cost_in_cents"])
def test_non_integral_duration_and_cost_are_billed_rounded(field: str) -> None:
    event = rule_output(**{field: 45.5})
    assert "whole number" in flagged(event)["invalid_value"]
    assert getattr(parse_session(event), field) == 46


@pytest.mark.parametrize("value", [True, None, 1.0, -1, 2**63, [1], {"id": 1}])
def test_unusable_session_id_is_rejected(value: Any) -> None:
    error = rejection(rule_output(session_id=value))
    assert error.field == "session_id"


def test_session_id_must_match_the_topic() -> None:
    # GIVEN a payload for session 2 published on session 1's topic
    # WHEN it is parsed
    error = rejection(rule_output(session_id=2))
    # THEN the mismatch is reported with both values
    assert error.field == "session_id"
    assert "'2'" in error.problem
    assert "'1'" in error.problem


def test_text_session_id_of_digits_matches_an_integer_topic_segment() -> None:
    # GIVEN "1" sent as text on topic session 1
    # THEN it is the same identity as the integer 1
    assert parse_session(rule_output(session_id="1")).key == parse_session(rule_output()).key


@pytest.mark.parametrize(
    "topic",
    [
        "charger/1/connector/1",
        "charger/1/connector/1/session/1/extra",
        "chargers/1/connector/1/session/1",
        "charger//connector/1/session/1",
        "/charger/1/connector/1/session/1",
    ],
)
def test_topic_of_the_wrong_shape_is_rejected(topic: str) -> None:
    error = rejection(rule_output(topic=topic))
    assert error.field == "topic"
    assert "charger/{c}/connector/{n}/session/{s}" in error.problem


def test_non_text_topic_is_rejected() -> None:
    assert rejection(rule_output(topic=17)).field == "topic"


@pytest.mark.parametrize(
    ("topic", "field"),
    [
        ("charger/a#b/connector/1/session/1", "topic charger"),
        ("charger/1/connector/+/session/1", "topic connector"),
        ("charger/1/connector/1/session/1 ", "topic session"),
        (f"charger/{'c' * 65}/connector/1/session/1", "topic charger"),
    ],
)
def test_bad_identifier_in_the_topic_is_named(topic: str, field: str) -> None:
    # GIVEN a topic segment with a character the keys reserve ('#') or over 64 characters
    error = rejection(rule_output(topic=topic))
    # THEN the error says which segment and what is allowed
    assert error.field == field
    assert "1-64 characters" in error.problem


def test_identifier_of_64_characters_is_accepted() -> None:
    charger = "c" * 64
    event = rule_output(topic=f"charger/{charger}/connector/1/session/1")
    assert parse_session(event).key.charger_id == charger


@pytest.mark.parametrize("session_id", ["a#b", "s" * 65, "", "with space"])
def test_bad_text_session_id_is_rejected(session_id: str) -> None:
    error = rejection(rule_output(session_id=session_id))
    assert error.field == "session_id"
    assert "1-64 characters" in error.problem


def test_ten_megabyte_string_is_rejected_with_a_short_message() -> None:
    # GIVEN a 10 MB text session id
    error = rejection(rule_output(session_id="x" * 10_000_000))
    # THEN the error does not echo it back whole
    assert error.field == "session_id"
    assert len(str(error)) < 300


# --- ended_at ----------------------------------------------------------------------------------


def test_naive_iso_time_is_flagged_and_billed_at_arrival() -> None:
    # GIVEN an ISO time without an offset (local time of an unknown zone)
    event = rule_output(ended_at="2025-11-27T18:34:10")
    # THEN it is flagged with a hint to add 'Z', and the arrival is billed
    assert "no UTC offset" in flagged(event)["invalid_value"]
    assert parse_session(event).ended_at == RECEIVED_AT


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", ""])
def test_text_that_is_not_iso_8601_is_flagged(value: str) -> None:
    assert "ISO 8601" in flagged(rule_output(ended_at=value))["invalid_value"]


def test_overlong_time_text_is_flagged() -> None:
    event = rule_output(ended_at="2025-11-27T18:34:10Z" + " " * 10_000)
    assert "too long" in flagged(event)["invalid_value"]


@pytest.mark.parametrize("value", [True, [1], {"t": 1}])
def test_ended_at_of_another_type_is_flagged(value: Any) -> None:
    assert "ended_at" in flagged(rule_output(ended_at=value))["invalid_value"]


@pytest.mark.parametrize("value", ["1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", 0, -5])
def test_ended_at_outside_2000_to_2099_is_a_clock_not_set(value: str | int) -> None:
    event = rule_output(ended_at=value)
    assert "2000-2099" in flagged(event)["clock_not_set"]
    assert parse_session(event).ended_at == RECEIVED_AT


@pytest.mark.parametrize("milliseconds", [1_764_268_450_000, 1_764_268_450_000.0])
def test_milliseconds_as_ended_at_get_a_hint(milliseconds: float) -> None:
    # GIVEN a charger that sends epoch milliseconds where seconds are due (a common mistake)
    # THEN the finding tells what went wrong
    assert "milliseconds" in flagged(rule_output(ended_at=milliseconds))["clock_not_set"]


def test_absurdly_large_epoch_is_flagged_never_a_crash() -> None:
    assert "ended_at" in flagged(rule_output(ended_at=10**400))["clock_not_set"]


def test_received_at_in_epoch_milliseconds_and_iso_text() -> None:
    # GIVEN the rule's timestamp() (epoch ms) or an ISO received_at
    by_ms = parse_session(rule_output(received_at=RECEIVED_AT_MS))
    by_text = parse_session(rule_output(received_at="2025-11-27T18:35:00.123Z"))
    # THEN both mean the same moment
    assert by_ms.received_at == by_text.received_at == RECEIVED_AT


def test_boolean_received_at_is_rejected() -> None:
    assert rejection(rule_output(received_at=True)).field == "received_at"


def test_ended_at_in_the_payload_wins_over_received_at() -> None:
    session = parse_session(rule_output(ended_at="2025-11-27T18:30:00Z"))
    assert session.ended_at == datetime(2025, 11, 27, 18, 30, tzinfo=UTC)
    assert session.received_at == RECEIVED_AT


# --- format_time and topics ---------------------------------------------------------------------


def test_format_time_is_fixed_width_utc_with_milliseconds() -> None:
    # GIVEN moments with and without fractions, in UTC and another zone
    moments = [
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2025, 11, 27, 18, 35, 0, 123_456, tzinfo=UTC),
        datetime(2025, 11, 27, 20, 35, 0, 999_999, tzinfo=timezone(timedelta(hours=2))),
    ]
    # WHEN formatted
    texts = [format_time(m) for m in moments]
    # THEN each is 24 characters of UTC with a Z, milliseconds truncated
    assert texts == [
        "2025-01-02T03:04:05.000Z",
        "2025-11-27T18:35:00.123Z",
        "2025-11-27T18:35:00.999Z",
    ]
    assert {len(t) for t in texts} == {24}


def test_format_time_sorts_as_text_like_time() -> None:
    # GIVEN moments across zones, days and sub-seconds, in no particular order
    base = datetime(2025, 11, 27, 18, 35, tzinfo=UTC)
    moments = [
        base + timedelta(milliseconds=7),
        base - timedelta(days=400),
        base.astimezone(timezone(timedelta(hours=-5))) + timedelta(seconds=1),
        base + timedelta(milliseconds=70),
        base.astimezone(timezone(timedelta(hours=9))),
        base + timedelta(hours=30),
    ]
    # WHEN sorted as text
    by_text = sorted(moments, key=format_time)
    # THEN the order is the order in time
    assert by_text == sorted(moments)


def test_format_time_round_trips_through_parsing() -> None:
    moment = datetime(2025, 11, 27, 18, 35, 0, 250_000, tzinfo=UTC)
    assert parse_session(rule_output(ended_at=format_time(moment))).ended_at == moment


@pytest.mark.parametrize(
    "key",
    [
        SessionKey("1", "1", "1"),
        SessionKey("CP-01.a", "2", "1764268500"),
        SessionKey("a:b", "_", "x"),
    ],
)
def test_session_key_topic_round_trips_through_parse_topic(key: SessionKey) -> None:
    # GIVEN a session's identity
    # WHEN it is turned into a topic and parsed back
    parsed = parse_topic(key.topic)
    # THEN the identity is unchanged
    assert SessionKey(*parsed) == key


def test_an_end_before_its_start_is_flagged() -> None:
    # GIVEN a clock stepped back during a session that really delivered 10 kWh
    event = rule_output(
        energy_delivered_in_kWh=10,
        duration_in_seconds=3600,
        ended_at="2025-11-27T18:00:00Z",
        started_at="2025-11-27T19:00:00Z",
    )
    # THEN it is kept, suspect, billed as sent
    assert "after ended_at" in flagged(event)["end_before_start"]
    assert parse_session(event).energy_delivered_in_kWh == 10
