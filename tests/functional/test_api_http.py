"""The API through the emulator's HTTP server: what only real HTTP shows."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from local_runner.services.api_server import ApiServer
from tests.functional.conftest import serving_api

ORIGIN = "https://dash.example"


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    rows = [("1", "1", "1", "2026-11-27T18:35:00Z"), ("1", "a:b", "1", "2026-11-27T18:36:00Z")]
    with serving_api(rows) as api:
        yield api


def request(
    server: ApiServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_a_route_answers_json_over_http(server: ApiServer) -> None:
    # WHEN a session is asked for over HTTP THEN it is JSON with its content type
    status, headers, body = request(server, "GET", "/sessions/1/1/1")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["session_id"] == "1"


def test_an_unknown_path_is_a_json_404(server: ApiServer) -> None:
    # WHEN a one-segment path no route serves is asked for THEN the API's JSON 404
    status, headers, body = request(server, "GET", "/nope")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "not_found"


def test_an_unknown_path_of_several_segments_is_a_json_404_too(server: ApiServer) -> None:
    # GIVEN paths no route serves, more than one segment deep (API Gateway's /{proxy+} is greedy:
    # it takes them all, and the app answers its JSON 404)
    for path in ("/sessions/1/2", "/sessions/1/1/1/extra", "/a/b/c"):
        # WHEN one is asked for over HTTP
        status, headers, body = request(server, "GET", path)
        # THEN it is the API's JSON 404, as behind API Gateway
        assert (status, json.loads(body).get("error")) == (404, "not_found"), (path, body)
        assert headers["content-type"] == "application/json"


def test_cors_preflight_for_a_request_with_the_api_key(
    server: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an API with a key, and a dashboard on an allowed origin
    monkeypatch.setenv("API_KEY", "k")
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", ORIGIN)
    # WHEN its browser asks whether it may send GET with the x-api-key header (a preflight, which
    # never carries the key itself)
    status, headers, _ = request(
        server,
        "OPTIONS",
        "/sessions",
        {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key",
        },
    )
    # THEN the answer allows the origin, the method and the header (or the browser never sends
    # the real request)
    assert status in (200, 204)
    assert headers.get("access-control-allow-origin") == ORIGIN
    assert "GET" in headers.get("access-control-allow-methods", "")
    assert "x-api-key" in headers.get("access-control-allow-headers", "").lower()


# -- where API Gateway and the local server could differ (docs/pages/emulator.md) ---


def test_a_percent_encoded_path_parameter_reaches_the_route_decoded(server: ApiServer) -> None:
    # GIVEN a session on connector "a:b", asked for as a client library encodes the path
    # WHEN it is asked for as /sessions/1/a%3Ab/1
    status, _, body = request(server, "GET", "/sessions/1/a%3Ab/1")
    # THEN the route gets the connector "a:b", as behind API Gateway (which decodes path
    # parameters), and finds the session
    assert status == 200, body
    assert json.loads(body)["connector_id"] == "a:b"


def test_a_method_api_gateway_cannot_integrate_gets_its_json_403(server: ApiServer) -> None:
    for method in ("TRACE", "CONNECT", "PROPFIND"):
        # WHEN a method outside API Gateway's ANY set is sent, to a route or anywhere
        for path in ("/sessions", "/nope"):
            status, headers, body = request(server, method, path)
            # THEN the answer is API Gateway's own: 403, JSON, Missing Authentication Token
            # (not the HTTP server's HTML 501)
            assert status == 403, (method, path, body)
            assert headers["content-type"] == "application/json"
            assert json.loads(body) == {"message": "Missing Authentication Token"}
            assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
