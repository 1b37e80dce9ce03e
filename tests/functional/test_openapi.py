"""The OpenAPI document and the docs page: valid, served, the same routes as app and template."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from chalice.test import Client
from openapi_spec_validator import validate

import api.app
from api import dashboard, openapi
from api.docs import render_docs
from evsessions import contract
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.store import create_client
from evsessions.registry_seed import fleet_record
from evsessions.settings import Settings
from local_runner.services.template import load_template
from tests.functional.conftest import DOCUMENT, ROOT, call, resolved, shared_api

CATCH_ALL = "/{proxy+}"
"""Left out of the document on purpose: it serves no resource, it only turns unknown paths into
the JSON 404 every documented operation shares."""
UNDOCUMENTED = {CATCH_ALL, *dashboard.ROUTES}
"""The catch-all, and the dashboard's page and assets: a client of the API, not part of it."""


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with shared_api([("1", "1", "1", "2026-11-27T18:35:00Z")]) as test_client:
        yield test_client


OPERATIONS = [
    (path, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
    if method in ("get", "post")
]
GET_PATHS = [path for path, item in DOCUMENT["paths"].items() if "get" in item]


def documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    }


def test_document_is_valid_openapi_3_0_3() -> None:
    # GIVEN the document WHEN validated against the OpenAPI 3.0 specification THEN it passes
    validate(openapi.openapi_document())
    assert DOCUMENT["openapi"] == "3.0.3"


def test_document_routes_are_the_apps_and_the_templates() -> None:
    # GIVEN the document's operations, the Chalice app's routes and the template's Api events
    served = {
        (method, path)
        for path, methods in api.app.app.routes.items()
        for method in methods
        if path not in UNDOCUMENTED
    }
    declared = {
        (route.method, route.path)
        for route in load_template(ROOT / "template.yaml").functions["ApiFunction"].routes
        if route.path not in UNDOCUMENTED
    }
    # THEN all three are the same set (the catch-all and the dashboard aside, see UNDOCUMENTED)
    assert documented() == served == declared
    assert CATCH_ALL in api.app.app.routes
    assert not UNDOCUMENTED & set(DOCUMENT["paths"])


def test_document_patterns_are_the_contract_s() -> None:
    # GIVEN the identifier pattern the document states THEN it is the contract's
    assert f"^{contract._IDENTIFIER.pattern}$" == openapi.IDENTIFIER_PATTERN


def test_every_operation_documents_its_errors_in_one_shape() -> None:
    # GIVEN every operation of the document
    for path, operation in OPERATIONS:
        responses = resolved(operation["responses"])
        # THEN it has a 200, the 401 of the optional key and the 405 of other methods, and every
        # 4xx body is {"error", "message"}; OCPI's routes answer in OCPI's envelope (but for a
        # method no OCPI route has, which the app's boundary answers)
        assert {"200", "401", "405"} <= set(responses), path
        for status, response in responses.items():
            if status.startswith("4"):
                schema = response["content"]["application/json"]["schema"]
                if path.startswith("/ocpi/") and status != "405":
                    assert schema["required"] == ["status_code", "status_message", "timestamp"]
                    continue
                assert schema["required"] == ["error", "message"], (path, status)
                assert schema["additionalProperties"] is False
        # AND an operation with parameters documents the 400 they may cause
        if operation.get("parameters"):
            assert "400" in responses, path


def test_api_key_is_an_optional_header_scheme() -> None:
    # GIVEN the document's security THEN the key is an x-api-key header and may be left out
    assert DOCUMENT["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": DOCUMENT["components"]["securitySchemes"]["apiKey"]["description"],
    }
    assert {} in DOCUMENT["security"]


def query_parameters(path: str) -> dict[str, dict[str, object]]:
    parameters = resolved(DOCUMENT["paths"][path]["get"].get("parameters", []))
    return {p["name"]: p for p in parameters if p["in"] == "query"}


@pytest.mark.parametrize("path", ["/sessions", "/chargers", "/totals"])
def test_every_documented_query_parameter_is_accepted(client: Client, path: str) -> None:
    # GIVEN every documented query parameter of the route with its example (cursor aside: only
    # the API can make one)
    parameters = query_parameters(path)
    query = "&".join(f"{n}={p['example']}" for n, p in parameters.items() if n != "cursor")
    # WHEN they are sent together THEN the route accepts them all
    reply = call(client, f"{path}?{query}")
    assert reply.status == 200, reply.body
    assert len(parameters) >= 2


@pytest.mark.parametrize("path", ["/sessions", "/chargers", "/totals", "/health"])
def test_an_undocumented_query_parameter_is_a_400(client: Client, path: str) -> None:
    # GIVEN a parameter the document does not list for the route
    reply = call(client, f"{path}?colour=blue")
    # THEN the route refuses it, naming it (/health takes no parameters and ignores them)
    if path == "/health":
        assert reply.status == 200
    else:
        assert reply.status == 400
        assert "colour" in reply.body["message"]


def test_example_requests_of_the_document_succeed(client: Client) -> None:
    # GIVEN the id tag the examples name, and the example requests the document (and so the docs
    # page) shows
    config = Settings.from_env()
    CentralSystemStore(config.sessions_table, create_client(config)).put_id_tag(
        "CARD-0001", {"status": "Accepted"}
    )
    DynamoDBChargerRegistry(config.sessions_table, create_client(config)).put(fleet_record(1, 1))
    examples = [
        example
        for _, operation in OPERATIONS
        for example in operation.get("x-example-requests", [])
    ]
    # THEN each one works as shown
    assert len(examples) >= len(GET_PATHS)
    for example in examples:
        assert call(client, example).status == 200, example


def test_openapi_json_serves_the_document(client: Client) -> None:
    # WHEN /openapi.json is asked for THEN it is the document, as built
    reply = call(client, "/openapi.json")
    assert reply.status == 200
    assert reply.body == openapi.openapi_document()


class _Page(HTMLParser):
    """Collects what the docs page is made of: tags, links, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [value or "" for name, value in attrs if name in ("href", "src")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_docs_page_is_plain_html_from_the_document(client: Client) -> None:
    # WHEN the docs page is asked for
    reply = call(client, "/docs")
    # THEN it is HTML with inline CSS, no script and nothing fetched from elsewhere
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    page = _Page()
    page.feed(reply.text)
    assert "style" in page.tags
    assert "script" not in page.tags
    assert not [link for link in page.links if re.match(r"(https?:)?//", link)]
    text = " ".join(page.text)
    # AND it shows every route, every parameter and every example request of the document
    for path, operation in OPERATIONS:
        assert path in text
        for parameter in resolved(operation.get("parameters", [])):
            assert parameter["name"] in text
        for example in operation.get("x-example-requests", []):
            assert example in text
    for schema in DOCUMENT["components"]["schemas"]:
        assert schema in text
    assert "x-api-key" in text


def test_docs_page_escapes_what_it_shows() -> None:
    # GIVEN a document whose text holds markup
    document = openapi.openapi_document()
    document["info"]["title"] = "<script>alert(1)</script>"
    document["paths"]["/health"]["get"]["summary"] = "<b>bold</b>"
    # WHEN rendered THEN the markup is shown as text, not run
    page = render_docs(document)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<b>bold</b>" not in page


def test_each_call_returns_its_own_copy_of_the_document() -> None:
    # GIVEN a caller that changes its copy THEN the served document stays whole
    first = openapi.openapi_document()
    first["paths"].clear()
    assert openapi.openapi_document()["paths"]
