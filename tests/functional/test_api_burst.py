"""The local API under more requests than it runs at once: bounded waiting, then a fast 503.

A probe app holds its requests inside until the test lets them go, so "at once" is shown by
order (the refusal arrives while the admitted requests are still held), never by a stopwatch.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from chalice import Chalice

from local_runner.services.api_server import ApiServer, Capacity
from tests.integration.helpers import eventually

HELD_SECONDS = 30
BURST = 200


class _Probe:
    def __init__(self) -> None:
        self.app = Chalice(app_name="burst-probe")
        self.inside = threading.Semaphore(0)
        self.release = threading.Event()

        @self.app.route("/hold")
        def hold() -> dict[str, Any]:
            self.inside.release()
            self.release.wait(HELD_SECONDS)
            return {"held": True}


def _get(server: ApiServer, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=HELD_SECONDS)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _in_background(server: ApiServer, results: list[int]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(_get(server, "/hold")[0]))
    thread.start()
    return thread


@pytest.fixture
def probe() -> _Probe:
    return _Probe()


@pytest.fixture
def serve(probe: _Probe) -> Iterator[Any]:
    servers: list[ApiServer] = []

    def start(capacity: Capacity) -> ApiServer:
        server = ApiServer(probe.app, "127.0.0.1", 0, "probe", capacity)
        server.start()
        servers.append(server)
        return server

    yield start
    probe.release.set()
    for server in servers:
        server.shutdown()


def test_beyond_the_workers_and_the_queue_a_request_gets_503_json_at_once(
    probe: _Probe, serve: Any
) -> None:
    # GIVEN a server with one worker and room for one waiting request: one request inside the
    # app, one waiting
    server = serve(Capacity(workers=1, queue=1, max_wait=HELD_SECONDS))
    results: list[int] = []
    first = _in_background(server, results)
    assert probe.inside.acquire(timeout=10)
    second = _in_background(server, results)
    eventually(lambda: server.waiting == 1, timeout=10)
    # WHEN a third request comes
    status, headers, body = _get(server, "/hold")
    # THEN it is refused while the other two are still held: 503, JSON in the API's error shape,
    # and when to come back
    assert results == [] and not probe.release.is_set()
    assert status == 503
    assert headers["content-type"] == "application/json"
    assert headers["retry-after"] == "1"
    assert json.loads(body)["error"] == "unavailable"
    # AND the two admitted requests are answered once the app lets them go
    probe.release.set()
    first.join(HELD_SECONDS)
    second.join(HELD_SECONDS)
    assert results == [200, 200]


def test_a_waiting_request_is_refused_when_its_wait_runs_out(probe: _Probe, serve: Any) -> None:
    # GIVEN a server with one worker, held by a request, and a short wait allowed
    server = serve(Capacity(workers=1, queue=10, max_wait=0.2))
    results: list[int] = []
    first = _in_background(server, results)
    assert probe.inside.acquire(timeout=10)
    # WHEN another request waits for the worker longer than that
    status, _, body = _get(server, "/hold")
    # THEN it gets the 503 while the first is still held
    assert (status, json.loads(body)["error"]) == (503, "unavailable")
    assert results == []
    probe.release.set()
    first.join(HELD_SECONDS)
    assert results == [200]


def test_a_burst_of_connections_is_held_by_the_kernel_until_accepted(probe: _Probe) -> None:
    # GIVEN a server that listens but has not accepted anything yet
    server = ApiServer(probe.app, "127.0.0.1", 0, "probe", Capacity())
    connections: list[socket.socket] = []
    try:
        # WHEN a burst of clients connects
        for _ in range(BURST):
            connections.append(socket.create_connection((server.host, server.port), timeout=3))
        # THEN every connection is completed by the kernel and waits in the listen backlog (with
        # Python's default backlog of 5 the seventh SYN is dropped and its connect times out)
        assert len(connections) == BURST
    finally:
        for connection in connections:
            connection.close()
        server.shutdown()
