"""What every route shares: unknown routes and methods, the API key, CORS, and no internals."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

import api.app
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.commands import command_item
from evsessions.dynamodb.items import typed
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.store import cached_store
from evsessions.dynamodb.tariffs import DynamoDBTariffs
from evsessions.ocpp.commands import Command
from evsessions.registry_seed import fleet_record
from evsessions.settings import Settings
from evsessions.storage import SessionStore
from evsessions.tariffs import tariff_from_json
from tests.functional.conftest import DOCUMENT, call, resolved, shared_api

KEY = "s3cret-key-for-tests"
COMMAND_EXAMPLE = DOCUMENT["paths"]["/chargepoints/{charger_id}/commands/{command}"]["get"][
    "parameters"
][1]["example"]


def example_path(template: str) -> str:
    """A concrete path for a documented route, its path parameters taken from their examples."""
    parameters = resolved(DOCUMENT["paths"][template]["get"].get("parameters", []))
    examples = {p["name"]: str(p["example"]) for p in parameters if p["in"] == "path"}
    return re.sub(r"\{([^}]+)\}", lambda m: examples[m.group(1)], template)


EVERY_ROUTE = [
    example_path(template) for template, item in DOCUMENT["paths"].items() if "get" in item
]
"""One request per documented route (/sessions/1/1/1 is the session the module stores)."""
KEYED_ROUTES = [path for path in EVERY_ROUTE if not path.startswith("/ocpi/")]
"""The routes behind the API key: OCPI partners authenticate with their own token instead."""
OCPI_ROUTES = [path for path in EVERY_ROUTE if path.startswith("/ocpi/")]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """One table for the module, holding session 1 on charger 1, connector 1, id tag CARD-0001
    and charger 1's registry record (the documented examples)."""
    with shared_api([("1", "1", "1", "2025-11-27T18:35:00Z")]) as test_client:
        store = cached_store(Settings.from_env())
        CentralSystemStore(store.table, store.client).put_id_tag(
            "CARD-0001", {"status": "Accepted"}
        )
        DynamoDBChargerRegistry(store.table, store.client).put(fleet_record(1, 1))
        energy = {"type": "ENERGY", "price": 0.3, "step_size": 1}
        tariff = tariff_from_json({"currency": "EUR", "elements": [{"price_components": [energy]}]})
        start = datetime(2025, 1, 1, tzinfo=UTC)
        DynamoDBTariffs(
            store.table, store.client, now=lambda: start - timedelta(days=1)
        ).put_version("AC-STANDARD", tariff[0], start)
        _answered_command(store.table, store.client)
        yield test_client


def _answered_command(table: str, client: Any) -> None:
    """The documented example command, to charger 1, answered (a GET of it is a 200)."""
    now = datetime.now(UTC)
    command = Command(
        command_id=str(COMMAND_EXAMPLE),
        charger_id="1",
        action="Reset",
        request={"type": "Soft"},
        requested_at=now,
        requested_by="operator",
        timeout_at=now + timedelta(minutes=1),
    )
    item = {**command_item(command), "recorded_status": "answered"}
    item["response_json"] = json.dumps({"status": "Accepted"})
    client.put_item(TableName=table, Item=typed(item))


def methods_of(path: str) -> set[str]:
    """The methods the document gives the route a concrete path falls under."""
    for template, item in DOCUMENT["paths"].items():
        if re.fullmatch(re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)), path):
            return {method.upper() for method in item}
    raise AssertionError(f"{path} is no documented route")


def test_every_documented_route_is_exercised_here() -> None:
    # GIVEN the paths the API documents THEN the route list below covers each of them
    gets = [item for item in DOCUMENT["paths"].values() if "get" in item]
    assert len(EVERY_ROUTE) == len(gets) >= 7
    assert "/sessions/1/1/1" in EVERY_ROUTE


# --- unknown routes and methods -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("GET", "/assets"), ("POST", "/nope"), ("DELETE", "/sessions-all")],
)
def test_unknown_route_is_a_json_404(client: Client, method: str, path: str) -> None:
    # GIVEN a path no route serves WHEN it is asked for with any method
    reply = call(client, path, method)
    # THEN it is a 404 in the API's error shape that points at the document
    assert reply.status == 404
    assert reply.body["error"] == "not_found"
    assert "/openapi.json" in reply.body["message"]


@pytest.mark.parametrize("path", EVERY_ROUTE)
def test_other_methods_on_a_route_are_a_json_405(client: Client, path: str) -> None:
    # GIVEN a route and the methods it serves
    served = methods_of(path)
    for method in {"POST", "PUT", "PATCH", "DELETE"} - served:
        # WHEN another method is used
        reply = call(client, path, method)
        # THEN it is a 405 in the API's error shape, and Allow names the route's methods
        assert reply.status == 405, method
        assert reply.body["error"] == "method_not_allowed"
        assert set(reply.headers.get("Allow", "").split(", ")) == served


# --- the API key --------------------------------------------------------------------------------


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("API_KEY", KEY)
    return KEY


@pytest.mark.parametrize("path", [*KEYED_ROUTES, "/nope"])
def test_with_a_key_set_every_route_needs_it(client: Client, api_key: str, path: str) -> None:
    # GIVEN the API has a key
    # WHEN a route is asked for without the header, or with a wrong key
    missing = call(client, path)
    wrong = call(client, path, headers={"x-api-key": api_key + "x"})
    # THEN both are a 401 in the API's error shape that says where the key goes
    for reply in (missing, wrong):
        assert reply.status == 401
        assert reply.body["error"] == "unauthorized"
        assert "x-api-key" in reply.body["message"]
    # AND with the key the route answers as usual
    right = call(client, path, headers={"x-api-key": api_key})
    assert right.status == (404 if path == "/nope" else 200)


def test_without_a_key_set_no_header_is_needed(client: Client) -> None:
    # GIVEN no API_KEY WHEN every route is asked for without a header THEN each answers
    for path in KEYED_ROUTES:
        assert call(client, path).status == 200, path


@pytest.mark.parametrize("path", OCPI_ROUTES)
def test_ocpi_routes_take_the_partners_token_not_the_api_key(
    client: Client, api_key: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an API key and an OCPI token
    monkeypatch.setenv("OCPI_TOKEN", "ocpi-token-of-the-boundary-tests")
    # WHEN an OCPI route is asked with the API key only THEN it is OCPI's 401
    refused = call(client, path, headers={"x-api-key": api_key})
    assert (refused.status, refused.body["status_code"]) == (401, 2001)
    # AND with the token alone (no API key) it answers
    token = {"Authorization": "Token ocpi-token-of-the-boundary-tests"}
    assert call(client, path, headers=token).status == 200


def test_the_key_is_not_taken_from_the_query_string(client: Client, api_key: str) -> None:
    # GIVEN the key in the query string instead of the header THEN it does not count
    reply = call(client, f"/health?x-api-key={api_key}")
    assert reply.status == 401


# --- CORS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "origin", "expected"),
    [
        (
            "https://dash.example,https://ops.example",
            "https://dash.example",
            "https://dash.example",
        ),
        ("https://dash.example,https://ops.example", "https://ops.example", "https://ops.example"),
        ("https://dash.example", "https://evil.example", None),
        ("https://dash.example", "https://dash.example.evil", None),
        ("*", "https://anyone.example", "*"),
        ("", "https://dash.example", None),
    ],
)
def test_cors_origin_comes_from_settings(
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    allowed: str,
    origin: str,
    expected: str | None,
) -> None:
    # GIVEN CORS_ALLOWED_ORIGINS
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", allowed)
    # WHEN a browser on `origin` asks
    reply = call(client, "/sessions", headers={"Origin": origin})
    # THEN only an allowed origin is echoed (or * when anyone is), and caches key on Origin
    assert reply.status == 200
    assert reply.headers.get("Access-Control-Allow-Origin") == expected
    if expected is not None:
        assert reply.headers.get("Vary") == "Origin"


def test_no_cors_header_without_an_origin(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a request without Origin (not from a browser page) THEN no CORS header
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://dash.example")
    assert "Access-Control-Allow-Origin" not in call(client, "/health").headers


@pytest.mark.parametrize("path", ["/nope", "/sessions?limit=0", "/sessions/1/1/404"])
def test_errors_carry_cors_headers_so_a_browser_can_read_them(
    client: Client, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # GIVEN an allowed origin WHEN a request fails THEN the error is readable by the page
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://dash.example")
    reply = call(client, path, headers={"Origin": "https://dash.example"})
    assert reply.status in (400, 404)
    assert reply.headers.get("Access-Control-Allow-Origin") == "https://dash.example"


def test_a_401_carries_cors_headers_so_a_browser_can_read_it(
    client: Client, monkeypatch: pytest.MonkeyPatch, api_key: str
) -> None:
    # GIVEN a dashboard on an allowed origin, and an API with a key
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://dash.example")
    # WHEN it calls without the key
    reply = call(client, "/sessions", headers={"Origin": "https://dash.example"})
    # THEN the 401 is readable by the page (without the header the browser reports only a
    # CORS failure, not "send the API key")
    assert reply.status == 401
    assert reply.headers.get("Access-Control-Allow-Origin") == "https://dash.example"


# --- no internals ever reach a client -----------------------------------------------------------


class ExplodingStore:
    """A store whose every call fails the way a bug would, naming internals in the error."""

    def __getattr__(self, name: str) -> object:
        def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError(
                "boom in SessionsTable arn:aws:dynamodb:eu-north-1:123456789012:table/SessionsTable"
            )

        return fail


@pytest.mark.parametrize(
    "path", ["/sessions", "/sessions/1/1/1", "/chargers", "/totals", "/health"]
)
def test_an_unexpected_error_is_a_bare_500(
    client: Client, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    # GIVEN a store that fails with a message naming the table and its ARN
    exploding: SessionStore = ExplodingStore()  # type: ignore[assignment]
    monkeypatch.setattr(api.app, "store", lambda: exploding)
    # WHEN a route reads from it
    response = client.http.get(path)
    text = response.body.decode()
    # THEN the client gets a 500 in the error shape, without traceback, table name or ARN
    assert response.status_code == 500
    assert json.loads(text) == {
        "error": "internal",
        "message": "An internal server error occurred.",
    }
    for secret in ("Traceback", "SessionsTable", "arn:aws", "123456789012", "boom"):
        assert secret not in text


def test_an_outage_names_no_table(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a table name the database does not know (it is down, or not created yet)
    monkeypatch.setenv("SESSIONS_TABLE", "NotCreatedYet")
    # WHEN each data route is asked for THEN it is a 503 the client may retry, naming nothing
    for path in ("/sessions", "/sessions/1/1/1", "/chargers", "/totals"):
        reply = call(client, path)
        assert reply.status == 503, path
        assert reply.body["error"] == "unavailable"
