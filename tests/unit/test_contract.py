"""The message contract: what the listener accepts from the IoT rule, and why it refuses others."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from evsessions.contract import (
    MAX_COST_CENTS,
    MAX_DURATION_SECONDS,
    MAX_ENERGY_KWH,
    SessionKey,
    format_time,
    parse_session,
    parse_topic,
)
from evsessions.errors import InvalidSession, PipelineError

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


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"energy_delivered_in_kwh": 31}, "energy_delivered_in_kwh"),
        ({"ended_at": "2025-11-27T18:30:00Z", "timestamp": 1764268201}, "timestamp"),
    ],
)
def test_both_spellings_with_different_values_are_invalid(
    changes: dict[str, Any], field: str
) -> None:
    # GIVEN a message that carries a field under both its spellings, with different values
    # WHEN it is parsed
    error = rejection(rule_output(**changes))
    # THEN it is refused, naming the other spelling and saying that the two differ
    assert error.field == field
    assert "differs from" in error.problem


@pytest.mark.parametrize(
    "changes",
    [
        {"energy_delivered_in_kwh": 30.0},
        {"ended_at": "2025-11-27T18:30:00Z", "timestamp": 1764268200},
    ],
)
def test_both_spellings_with_the_same_value_are_valid(changes: dict[str, Any]) -> None:
    session = parse_session(rule_output(**changes))
    assert session.energy_delivered_in_kWh == Decimal(30)


def test_the_other_spelling_alone_is_validated_under_its_own_name() -> None:
    event = {**without("energy_delivered_in_kWh"), "energy_delivered_in_kwh": -1}
    assert rejection(event).field == "energy_delivered_in_kwh"
    assert rejection(rule_output(timestamp=10**13)).field == "timestamp"


def test_a_timestamp_far_ahead_of_receipt_is_refused_under_its_own_name() -> None:
    error = rejection(rule_output(timestamp=RECEIVED_AT_MS // 1000 + 2 * 86400))
    assert error.field == "timestamp"
    assert "more than a day after" in error.problem


# --- missing and unknown fields -----------------------------------------------------------------


@pytest.mark.parametrize("field", list(ORIGINAL_MESSAGE))
def test_missing_payload_field_is_named(field: str) -> None:
    # GIVEN a message without one of the four required fields
    # WHEN it is parsed
    error = rejection(without(field))
    # THEN the error names that field and says it is required
    assert error.field == field
    assert "required" in error.problem
    assert str(error).startswith(f"{field}: ")


def test_of_several_missing_fields_the_first_in_the_contracts_order_is_named() -> None:
    event = {"session_id": 1, "topic": TOPIC, "received_at": RECEIVED_AT_MS}
    assert rejection(event).field == "energy_delivered_in_kWh"


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
def test_unknown_field_is_rejected_by_name(unknown: str) -> None:
    # GIVEN a message with a field the contract does not know (e.g. a typo)
    # WHEN it is parsed
    error = rejection(rule_output(**{unknown: 1}))
    # THEN it is rejected, naming the field and the allowed ones
    assert error.field == unknown
    assert "unknown field" in error.problem
    assert "energy_delivered_in_kWh" in error.problem


def test_very_long_unknown_field_name_is_shortened() -> None:
    error = rejection(rule_output(**{"x" * 10_000: 1}))
    assert error.field == "x" * 80


@pytest.mark.parametrize("payload", [[1, 2, 3], "text", 42, None])
def test_payload_that_is_not_an_object_is_rejected(payload: Any) -> None:
    error = rejection(payload)
    assert error.field == "payload"
    assert "JSON object" in error.problem


# --- wrong types and ranges ---------------------------------------------------------------------

NUMBER_FIELDS = ["energy_delivered_in_kWh", "duration_in_seconds", "session_cost_in_cents"]


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize(
    ("value", "type_name"), [(True, "bool"), ("30", "str"), (None, "NoneType"), ([30], "list")]
)
def test_non_number_is_rejected_with_its_type(field: str, value: Any, type_name: str) -> None:
    # GIVEN a number field holding a boolean, text, null or list
    # WHEN the message is parsed
    error = rejection(rule_output(**{field: value}))
    # THEN the error names the field and the type it got
    assert error.field == field
    assert "must be a number" in error.problem
    assert type_name in error.problem


@pytest.mark.parametrize("field", NUMBER_FIELDS)
def test_negative_number_is_rejected(field: str) -> None:
    error = rejection(rule_output(**{field: -1}))
    assert error.field == field
    assert "negative" in error.problem


@pytest.mark.parametrize("field", NUMBER_FIELDS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_rejected(field: str, value: float) -> None:
    error = rejection(rule_output(**{field: value}))
    assert error.field == field
    assert "finite" in error.problem


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("energy_delivered_in_kWh", MAX_ENERGY_KWH),
        ("duration_in_seconds", MAX_DURATION_SECONDS),
        ("session_cost_in_cents", MAX_COST_CENTS),
    ],
)
def test_number_over_its_limit_is_rejected(field: str, limit: int) -> None:
    # GIVEN a value one above the field's limit
    error = rejection(rule_output(**{field: limit + 1}))
    # THEN the error names the field and the limit
    assert error.field == field
    assert f"limit of {limit}" in error.problem


def test_huge_integer_is_rejected_as_over_the_limit() -> None:
    error = rejection(rule_output(energy_delivered_in_kWh=10**400))
    assert error.field == "energy_delivered_in_kWh"
    assert "limit" in error.problem


@pytest.mark.parametrize("field", ["duration_in_seconds", "session_cost_in_cents"])
def test_non_integral_duration_and_cost_are_rejected(field: str) -> None:
    error = rejection(rule_output(**{field: 45.5}))
    assert error.field == field
    assert "whole number" in error.problem


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


def test_naive_iso_time_is_rejected() -> None:
    # GIVEN an ISO time without an offset (local time of an unknown zone)
    error = rejection(rule_output(ended_at="2025-11-27T18:34:10"))
    # THEN it is refused with a hint to add 'Z'
    assert error.field == "ended_at"
    assert "no UTC offset" in error.problem
    assert "'Z'" in error.problem


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01T00:00:00Z", ""])
def test_text_that_is_not_iso_8601_is_rejected(value: str) -> None:
    error = rejection(rule_output(ended_at=value))
    assert error.field == "ended_at"
    assert "ISO 8601" in error.problem


def test_overlong_time_text_is_rejected() -> None:
    error = rejection(rule_output(ended_at="2025-11-27T18:34:10Z" + " " * 10_000))
    assert error.field == "ended_at"
    assert "too long" in error.problem


@pytest.mark.parametrize("value", [True, [1], {"t": 1}])
def test_ended_at_of_another_type_is_rejected(value: Any) -> None:
    assert rejection(rule_output(ended_at=value)).field == "ended_at"


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_epoch_is_rejected(value: float) -> None:
    error = rejection(rule_output(ended_at=value))
    assert error.field == "ended_at"
    assert "finite" in error.problem


@pytest.mark.parametrize("value", ["1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", 0, -5])
def test_ended_at_outside_2000_to_2099_is_rejected(value: str | int) -> None:
    error = rejection(rule_output(ended_at=value))
    assert error.field == "ended_at"
    assert "2000-2099" in error.problem


@pytest.mark.parametrize("milliseconds", [1_764_268_450_000, 1_764_268_450_000.0])
def test_milliseconds_as_ended_at_get_a_hint(milliseconds: float) -> None:
    # GIVEN a charger that sends epoch milliseconds where seconds are due (a common mistake)
    # WHEN the message is parsed
    error = rejection(rule_output(ended_at=milliseconds))
    # THEN it is refused and the message tells the sender what went wrong
    assert error.field == "ended_at"
    assert "milliseconds" in error.problem


def test_absurdly_large_epoch_is_an_invalid_session() -> None:
    # GIVEN an integer far beyond any float (JSON allows it; Python's json parses it to an int)
    # WHEN the message is parsed
    # THEN it is a contract violation like any other, never an unexpected crash
    error = rejection(rule_output(ended_at=10**400))
    assert error.field == "ended_at"
    assert isinstance(error, PipelineError)


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


def test_an_end_more_than_a_day_after_receipt_is_refused() -> None:
    # GIVEN a charger whose clock runs two days ahead
    event = {
        "session_id": 1,
        "energy_delivered_in_kWh": 30,
        "duration_in_seconds": 45,
        "session_cost_in_cents": 70,
        "ended_at": "2026-11-29T12:00:00Z",
        "topic": "charger/1/connector/1/session/1",
        "received_at": 1_795_780_800_000,  # 2026-11-27T08:00:00Z
    }
    # WHEN its message is parsed THEN ended_at is refused, saying why
    with pytest.raises(InvalidSession) as raised:
        parse_session(event)
    assert raised.value.field == "ended_at"
    assert "more than a day after" in raised.value.problem
