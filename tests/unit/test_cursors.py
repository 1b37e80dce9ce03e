"""Page cursors: opaque, signed, bound to their query, expiring; every bad one is a CursorError."""

from __future__ import annotations

import string
from collections.abc import Mapping

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from api.cursors import CURSOR_LIFETIME_SECONDS, CursorCodec, CursorError

SECRET = "a-cursor-secret-of-at-least-32-characters"
NOW = 1_764_268_500.0
QUERY = {"route": "sessions", "charger": "1", "connector": None, "from": None, "to": None}
POSITION = {"pk": "CHARGER#1", "sk": "SESSION#1#7", "charger_time": "2025-11-27T18:35:00.000Z#1#7"}

positions = st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=5)
queries = st.dictionaries(
    st.text(max_size=10), st.none() | st.text(max_size=30) | st.integers(), max_size=5
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def codec(clock: Clock | None = None) -> CursorCodec:
    return CursorCodec(SECRET, clock=clock or Clock(NOW))


def rejection(cursor: str, query: Mapping[str, object] = QUERY, at: float = NOW) -> str:
    """The message of the CursorError the cursor raises (any other exception fails the test)."""
    with pytest.raises(CursorError) as excinfo:
        codec(Clock(at)).decode(cursor, query)
    return str(excinfo.value)


@settings(max_examples=200, deadline=None, database=None)
@given(position=positions, query=queries)
def test_decode_returns_the_encoded_position(
    position: dict[str, str], query: dict[str, object]
) -> None:
    # GIVEN any position and any query
    # WHEN it is encoded and decoded for the same query
    cursor = codec().encode(position, query)
    # THEN the position comes back as it was, and the cursor is URL-safe text
    assert codec().decode(cursor, query) == position
    assert set(cursor) <= set(string.ascii_letters + string.digits + "-_.")


BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def replacements(original: str, others: list[str]) -> set[str]:
    """Characters to put in place of `original`: the base64url characters whose values differ
    in the lowest bits (the padding bits a lenient decoder ignores), and some drawn ones."""
    near = set()
    if original in BASE64URL:
        value = BASE64URL.index(original)
        near = {BASE64URL[value ^ flip] for flip in (1, 2, 3, 4, 8)}
    return (near | set(others)) - {original}


# No shrinking: the failure message already names the cursor and the accepted changes.
@settings(max_examples=100, deadline=None, database=None, phases=[Phase.explicit, Phase.generate])
@given(
    position=positions,
    query=queries,
    others=st.lists(st.sampled_from(string.printable), min_size=1, max_size=4),
)
def test_every_single_character_change_is_rejected(
    position: dict[str, str], query: dict[str, object], others: list[str]
) -> None:
    # GIVEN a valid cursor
    cursor = codec().encode(position, query)
    # WHEN each of its characters in turn is replaced by another printable ASCII character
    accepted = []
    for index, original in enumerate(cursor):
        for replacement in replacements(original, others):
            altered = cursor[:index] + replacement + cursor[index + 1 :]
            try:
                codec().decode(altered, query)
            except CursorError:
                continue
            accepted.append(f"{index}: {original!r} -> {replacement!r}")
    # THEN every altered cursor is refused (only CursorError may be raised)
    assert accepted == [], f"{cursor} accepted with changes {accepted[:5]}"


@settings(max_examples=200, deadline=None, database=None)
@given(signature=st.text(max_size=40))
@example(signature="\u00e9")
def test_any_text_as_the_signature_is_a_cursor_error(signature: str) -> None:
    # GIVEN a genuine cursor body with any text for a signature (non-ASCII included)
    body = codec().encode(POSITION, QUERY).split(".")[0]
    # WHEN it is decoded THEN it is refused as invalid, never another exception (a 500)
    assert "not valid" in rejection(f"{body}.{signature}")


@settings(max_examples=200, deadline=None, database=None)
@given(text=st.text(max_size=80))
@example(text=".\u00e9")  # an empty body and a non-ASCII signature
@example(text="e30.")
def test_any_text_is_a_cursor_error(text: str) -> None:
    # GIVEN text that was never a cursor THEN decoding it is a CursorError, nothing else
    assert rejection(text)


@pytest.mark.parametrize("cursor", ["", ".", "..", "a.b.c", "====.====", "e30.", ".AAAA"])
def test_malformed_cursors_are_invalid(cursor: str) -> None:
    # GIVEN text shaped nothing like a cursor THEN it is invalid (a CursorError)
    assert "not valid" in rejection(cursor)


def test_another_secret_cannot_make_a_cursor() -> None:
    # GIVEN a cursor signed with another secret (a forgery that knows the format)
    forged = CursorCodec("another-secret-another-secret-another", clock=Clock(NOW)).encode(
        POSITION, QUERY
    )
    # THEN it is invalid
    assert "not valid" in rejection(forged)


def test_a_cursor_of_another_query_is_refused_with_what_to_do() -> None:
    # GIVEN a cursor for charger 1
    cursor = codec().encode(POSITION, QUERY)
    # WHEN it is used with charger 2
    message = rejection(cursor, {**QUERY, "charger": "2"})
    # THEN the message says it belongs to another query
    assert "another query" in message


def test_the_limit_is_not_part_of_the_query() -> None:
    # GIVEN the fingerprint covers filters only (the API leaves limit out)
    cursor = codec().encode(POSITION, QUERY)
    # THEN the same filters decode, whatever page size the next request asks for
    assert codec().decode(cursor, dict(QUERY)) == POSITION


def test_a_cursor_expires_after_its_lifetime() -> None:
    # GIVEN a cursor made now
    clock = Clock(NOW)
    cursor = codec(clock).encode(POSITION, QUERY)
    # WHEN the clock reaches the end of its lifetime THEN it still holds
    clock.now = NOW + CURSOR_LIFETIME_SECONDS
    assert codec(clock).decode(cursor, QUERY) == POSITION
    # WHEN one more second passes THEN it has expired, and the message says to start again
    assert "expired" in rejection(cursor, at=NOW + CURSOR_LIFETIME_SECONDS + 1)


def test_without_a_secret_cursors_hold_within_the_process() -> None:
    # GIVEN two codecs of one process, neither with a configured secret
    first, second = CursorCodec(None, clock=Clock(NOW)), CursorCodec(None, clock=Clock(NOW))
    # THEN one decodes the other's cursors, and a configured secret does not
    cursor = first.encode(POSITION, QUERY)
    assert second.decode(cursor, QUERY) == POSITION
    with pytest.raises(CursorError):
        codec().decode(cursor, QUERY)
