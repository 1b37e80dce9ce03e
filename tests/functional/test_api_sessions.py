"""GET /sessions: filters, windows, limits, cursor paging and what a bad cursor gets."""

from __future__ import annotations

import base64
import functools
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from chalice.test import Client

import api.app
from api.cursors import CURSOR_LIFETIME_SECONDS, CursorCodec
from tests.functional.conftest import get, shared_api

# (charger, connector, session, ended_at) over three months, stored out of time order.
# s04 and s05 end at the same moment on two chargers, and so do s07 and s08, at a month boundary.
ROWS = [
    ("A", "1", "s01", "2025-09-30T23:59:59.999Z"),
    ("A", "2", "s02", "2025-10-01T08:00:00Z"),
    ("B", "1", "s03", "2025-10-15T12:00:00Z"),
    ("A", "1", "s04", "2025-10-20T10:00:00Z"),
    ("B", "1", "s05", "2025-10-20T10:00:00Z"),
    ("A", "1", "s06", "2025-10-31T23:59:59Z"),
    ("C", "1", "s07", "2025-11-01T00:00:00Z"),
    ("A", "2", "s08", "2025-11-01T00:00:00.000Z"),
    ("A", "1", "s09", "2025-11-27T18:00:00+01:00"),  # 17:00 UTC
    ("B", "2", "s10", "2025-11-27T18:30:00Z"),
]
WHERE = {row[2]: (row[0], row[1]) for row in ROWS}
NEWEST_FIRST = ["s10", "s09", "s07", "s08", "s06", "s05", "s04", "s03", "s02", "s01"]
"""Ties (s07 on C / s08 on A, s05 on B / s04 on A) go by identity, descending."""


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """The API over ROWS, stored once for the module's read-only tests."""
    with shared_api(ROWS) as client:
        yield client


def ids(body: dict[str, Any]) -> list[str]:
    return [str(s["session_id"]) for s in body["sessions"]]


def all_pages(client: Client, path: str) -> tuple[list[str], int]:
    """Follow next_cursor from `path` to the last page; the ids in order and the page count."""
    found: list[str] = []
    pages = 0
    cursor: str | None = None
    separator = "&" if "?" in path else "?"
    while True:
        status, body = get(client, path + (f"{separator}cursor={cursor}" if cursor else ""))
        assert status == 200, body
        pages += 1
        found += ids(body)
        assert body["count"] == len(body["sessions"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found, pages
        assert pages <= 50, "paging does not end"


def expected(charger: str, connector: str | None = None) -> list[str]:
    """The ids of one charger (or connector), newest first."""
    return [s for s in NEWEST_FIRST if WHERE[s][0] == charger and connector in (None, WHERE[s][1])]


# --- filters ------------------------------------------------------------------------------------


def test_charger_filter(client: Client) -> None:
    # GIVEN sessions on chargers A, B and C
    # WHEN charger A is asked for
    status, body = get(client, "/sessions?charger=A")
    # THEN only its sessions come, on both its connectors, newest first
    assert status == 200
    assert ids(body) == ["s09", "s08", "s06", "s04", "s02", "s01"]
    assert {s["charger_id"] for s in body["sessions"]} == {"A"}


def test_connector_filter(client: Client) -> None:
    # WHEN connector 2 of charger A is asked for THEN only that connector's sessions come
    status, body = get(client, "/sessions?charger=A&connector=2")
    assert status == 200
    assert ids(body) == ["s08", "s02"]
    # AND connector 2 of charger B is another connector
    assert ids(get(client, "/sessions?charger=B&connector=2")[1]) == ["s10"]


def test_connector_without_charger_is_400(client: Client) -> None:
    # GIVEN connector ids are per charger
    # WHEN a connector is asked for without its charger
    status, body = get(client, "/sessions?connector=1")
    # THEN it is a 400 that says connector needs charger
    assert status == 400
    assert body["error"] == "bad_request"
    assert "connector needs charger" in body["message"]


@pytest.mark.parametrize(
    ("window", "expected_ids"),
    [
        # ISO 8601, from inclusive, to exclusive (s08 and s07 end exactly at `to`)
        ("from=2025-10-20T10:00:00Z&to=2025-11-01T00:00:00Z", ["s06", "s05", "s04"]),
        # milliseconds: one millisecond before the boundary keeps s01, at it drops it
        ("to=2025-10-01T00:00:00Z", ["s01"]),
        ("from=2025-09-30T23:59:59.999Z&to=2025-10-01", ["s01"]),
        ("from=2025-10-01T00:00:00.000Z&to=2025-10-02", ["s02"]),
        # dates are midnight UTC
        ("from=2025-11-01&to=2025-11-02", ["s07", "s08"]),
        ("from=2025-11-01", ["s10", "s09", "s07", "s08"]),
        # offsets are converted to UTC (%2B is '+'): 18:00+01:00 is 17:00Z
        ("from=2025-11-27T17:00:00Z&to=2025-11-27T18:00:01%2B01:00", ["s09"]),
        ("from=2025-11-27T18:00:01%2B01:00", ["s10"]),
        # a window with nothing in it
        ("from=2026-01-01&to=2026-02-01", []),
    ],
)
def test_time_window(client: Client, window: str, expected_ids: list[str]) -> None:
    # GIVEN sessions over three months WHEN a window is asked for
    status, body = get(client, f"/sessions?{window}")
    # THEN exactly the sessions that ended in [from, to) come, newest first
    assert status == 200, body
    assert ids(body) == expected_ids


def test_window_with_charger_and_connector(client: Client) -> None:
    # GIVEN connector A/1's sessions in October WHEN all filters are combined THEN all apply
    status, body = get(client, "/sessions?charger=A&connector=1&from=2025-10-01&to=2025-11-01")
    assert status == 200
    assert ids(body) == ["s06", "s04"]


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("from=2025-11-02&to=2025-11-01", "earlier"),
        ("from=2025-11-01&to=2025-11-01", "earlier"),
        ("from=yesterday", "from"),
        ("to=2025-13-01", "to"),
        ("from=2025-11-01T10:00:00", "offset"),  # no UTC offset: ambiguous
        ("from=1999-12-31", "2000-2099"),
        ("from=2025-11-27T18:00:00+00:00", "from"),  # an unencoded '+' arrives as a space
        ("charger=A&connector=a%2Fb", "connector"),
        ("cursor=", "cursor"),
    ],
)
def test_bad_filter_is_400_naming_it(client: Client, query: str, mentions: str) -> None:
    # GIVEN a filter the API cannot use WHEN sent THEN a 400 whose message says what is wrong
    status, body = get(client, f"/sessions?{query}")
    assert status == 400, body
    assert mentions in body["message"]


# --- limit --------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 500])
def test_limit_bounds_are_accepted(client: Client, limit: int) -> None:
    # GIVEN limits from 1 to 500 WHEN sent THEN pages of that size, a cursor only when more remain
    status, body = get(client, f"/sessions?limit={limit}")
    assert status == 200
    assert body["count"] == min(limit, len(ROWS))
    assert (body["next_cursor"] is None) == (limit >= len(ROWS))


@pytest.mark.parametrize(
    "limit",
    ["0", "501", "1e2", "%2B5", "5%20", pytest.param("9" * 5000, id="5000-digits")],
)
def test_limit_out_of_bounds_is_400(client: Client, limit: str) -> None:
    # GIVEN a limit that is not a whole number from 1 to 500 (of any length)
    # WHEN sessions are listed THEN it is a 400 that names the limit, never a 500
    status, body = get(client, f"/sessions?limit={limit}")
    assert status == 400, body
    assert "limit" in body["message"]


# --- paging -------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 9, 10, 11])
def test_fleet_pages_cover_every_session_once_across_months(client: Client, limit: int) -> None:
    # GIVEN sessions in three monthly partitions, with ties in time
    # WHEN the fleet is paged through, whatever the page size
    found, pages = all_pages(client, f"/sessions?limit={limit}")
    # THEN every session comes exactly once, newest first, and the last page says so
    assert found == NEWEST_FIRST
    assert pages in (-(-len(ROWS) // limit), -(-len(ROWS) // limit) + 1)


@pytest.mark.parametrize(
    ("filters", "charger", "connector"),
    [("charger=A", "A", None), ("charger=A&connector=1", "A", "1"), ("charger=B", "B", None)],
)
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_pages_of_a_charger_or_connector_cover_each_session_once(
    client: Client,
    filters: str,
    charger: str,
    connector: str | None,
    limit: int,
) -> None:
    # GIVEN one charger or connector WHEN paged through THEN each of its sessions once, newest first
    found, _ = all_pages(client, f"/sessions?{filters}&limit={limit}")
    assert found == expected(charger, connector)


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_pages_of_a_window_stay_in_the_window(client: Client, limit: int) -> None:
    # GIVEN a window across a month boundary
    window = "from=2025-10-15T12:00:00Z&to=2025-11-27T17:00:00.001Z"
    # WHEN it is paged through THEN exactly its sessions come, each once
    found, _ = all_pages(client, f"/sessions?{window}&limit={limit}")
    assert found == ["s09", "s07", "s08", "s06", "s05", "s04", "s03"]


def test_a_page_may_change_its_limit(client: Client) -> None:
    # GIVEN a first page of 3
    _, first = get(client, "/sessions?limit=3")
    # WHEN the next page asks for 5 with the same filters
    status, second = get(client, f"/sessions?limit=5&cursor={first['next_cursor']}")
    # THEN it continues where the first stopped
    assert status == 200
    assert ids(first) + ids(second) == NEWEST_FIRST[:8]


# --- bad cursors --------------------------------------------------------------------------------


def first_cursor(client: Client, path: str = "/sessions?limit=2") -> str:
    status, body = get(client, path)
    assert status == 200
    cursor = body["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


def assert_cursor_refused(client: Client, path: str, mentions: str) -> None:
    status, body = get(client, path)
    assert status == 400, body
    assert body["error"] == "bad_request"
    assert mentions in body["message"]


@pytest.mark.parametrize(
    "forged",
    [
        "abc",
        "abc.def",
        "e30.AAAAAAAAAAAAAAAAAAAAAAAA",
        "....",
        quote("\u00e9t\u00e9.\u00e9t\u00e9"),
        "%00",
    ],
)
def test_forged_cursor_is_400(client: Client, forged: str) -> None:
    # GIVEN text the API never made WHEN sent as a cursor THEN a 400, never a 500
    assert_cursor_refused(client, f"/sessions?limit=2&cursor={forged}", "not valid")


def test_cursor_with_a_non_ascii_signature_is_400(client: Client) -> None:
    # GIVEN a genuine cursor whose signature was replaced by non-ASCII text
    body_part = first_cursor(client).split(".")[0]
    forged = quote(f"{body_part}.\u00e9")
    # WHEN it is used THEN it is refused as invalid, not a 500
    assert_cursor_refused(client, f"/sessions?limit=2&cursor={forged}", "not valid")


def test_altered_cursor_is_400(client: Client) -> None:
    # GIVEN a genuine cursor with its position rewritten (re-encoded, signature kept)
    cursor = first_cursor(client)
    body_text, signature = cursor.split(".")
    content = json.loads(base64.urlsafe_b64decode(body_text + "=" * (-len(body_text) % 4)))
    content["p"] = {key: value.replace("s09", "s01") for key, value in content["p"].items()}
    body_text = base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")
    # WHEN it is used THEN the signature no longer matches
    assert_cursor_refused(client, f"/sessions?limit=2&cursor={body_text}.{signature}", "not valid")


@pytest.mark.parametrize("index", [0, 5, 20, -1, -5])
def test_cursor_with_one_character_changed_is_400(client: Client, index: int) -> None:
    # GIVEN a genuine cursor with one character replaced WHEN used THEN it is refused
    cursor = first_cursor(client)
    original = cursor[index]
    replacement = "A" if original != "A" else "B"
    altered = list(cursor)
    altered[index] = replacement
    assert_cursor_refused(client, f"/sessions?limit=2&cursor={''.join(altered)}", "not valid")


@pytest.mark.parametrize(
    "other",
    [
        "/sessions?limit=2&charger=A",
        "/sessions?limit=2&from=2025-01-01",
        "/sessions?limit=2&to=2030-01-01",
    ],
)
def test_cursor_of_another_query_is_400(client: Client, other: str) -> None:
    # GIVEN a cursor from the fleet listing WHEN used with other filters
    cursor = first_cursor(client)
    # THEN it is refused: a cursor is a position in one query only
    assert_cursor_refused(client, f"{other}&cursor={cursor}", "another query")


def test_cursor_of_a_filtered_query_is_400_without_the_filter(client: Client) -> None:
    # GIVEN a cursor of charger A's listing WHEN used for the fleet THEN it is refused
    cursor = first_cursor(client, "/sessions?limit=1&charger=A")
    assert_cursor_refused(client, f"/sessions?limit=1&cursor={cursor}", "another query")


def test_cursor_of_chargers_is_400_for_sessions(client: Client) -> None:
    # GIVEN a cursor of /chargers WHEN used for /sessions THEN it is refused
    cursor = first_cursor(client, "/chargers?limit=1")
    assert_cursor_refused(client, f"/sessions?cursor={cursor}", "another query")


def test_cursor_signed_with_another_secret_is_400(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a cursor made while the API had one secret
    monkeypatch.setenv("CURSOR_SECRET", "the-first-secret-the-first-secret-the-first")
    cursor = first_cursor(client)
    # WHEN the secret is rotated THEN the old cursor is refused, not trusted
    monkeypatch.setenv("CURSOR_SECRET", "the-second-secret-the-second-secret-the-sec")
    assert_cursor_refused(client, f"/sessions?limit=2&cursor={cursor}", "not valid")


def test_expired_cursor_is_400(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a cursor made now
    cursor = first_cursor(client)
    # WHEN it comes back after its lifetime (the API's codec given a clock a day and a minute on)
    later = functools.partial(CursorCodec, clock=lambda: time.time() + CURSOR_LIFETIME_SECONDS + 60)
    monkeypatch.setattr(api.app, "CursorCodec", later)
    # THEN it is a 400 that says to start again
    assert_cursor_refused(client, f"/sessions?limit=2&cursor={cursor}", "expired")


def test_cursor_still_valid_just_before_it_expires(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a cursor a minute short of its lifetime WHEN used THEN the next page comes
    cursor = first_cursor(client)
    almost = functools.partial(
        CursorCodec, clock=lambda: time.time() + CURSOR_LIFETIME_SECONDS - 60
    )
    monkeypatch.setattr(api.app, "CursorCodec", almost)
    status, body = get(client, f"/sessions?limit=2&cursor={cursor}")
    assert status == 200
    assert ids(body) == NEWEST_FIRST[2:4]
