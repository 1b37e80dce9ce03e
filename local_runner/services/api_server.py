"""The local stand-in for API Gateway: serves the unchanged Chalice app over HTTP.

Chalice's own local handler converts each request into an API Gateway proxy event; we keep that
conversion and fix where it differs from API Gateway or stalls:
- it writes headers and body in separate unbuffered writes, which with Nagle's algorithm and
  delayed ACKs stalls every kept-alive response by ~40 ms: we buffer and disable Nagle;
- its route matcher lets a greedy `{proxy+}` match one path segment only: ours, any depth;
- it hands path parameters on percent-encoded (`a%3Ab`): ours decodes them, as API Gateway does;
- a method API Gateway cannot integrate (TRACE, CONNECT, any other than its ANY set) gets the
  HTTP server's HTML 501: ours answers as API Gateway does, 403 with its JSON error;
- it answers a CORS preflight only for routes declared with Chalice's CORS config: ours answers
  as the deployed API's CORS configuration does, for the origins in CORS_ALLOWED_ORIGINS;
- the app runs in the process's environment: ours in the function's own, at each request
  (`evsessions.invocation`), as Lambda gives each function its own;
- Python's HTTP server listens with a backlog of 5 and starts a thread for every connection, so
  a burst waits on SYN retransmissions or piles up: ours has a deep backlog, runs the app for a
  bounded number of requests at once, lets a bounded number wait a bounded time, and refuses the
  rest at once with a 503 JSON error and Retry-After (see `Capacity`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlparse

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, MatchResult, RouteMatcher

from evsessions.invocation import invoked_with
from evsessions.settings import Settings

log = logging.getLogger("local_runner.api")

Around = Callable[[], AbstractContextManager[None]]
"""Opens a context around one request the app runs (the caller's observers)."""

RETRY_AFTER_SECONDS = 1
BUSY_BODY = json.dumps({"error": "unavailable", "message": "the local API is busy; try again"})
BUSY = (
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    f"Retry-After: {RETRY_AFTER_SECONDS}\r\nConnection: close\r\n"
    f"Content-Length: {len(BUSY_BODY)}\r\n\r\n{BUSY_BODY}"
).encode()
"""The whole 503 a connection beyond the capacity gets, written by the accepting thread."""
NO_INTEGRATION = b'{"message":"Missing Authentication Token"}'
"""API Gateway's answer (gateway response MISSING_AUTHENTICATION_TOKEN, 403) to a method or
resource that has no integration."""


@dataclass(frozen=True)
class Capacity:
    """How much of a burst the local API takes, and how it refuses the rest.

    The app runs in this one interpreter (~100 requests/s against DynamoDB Local), so more than a
    few requests at once only share the same CPU. A request beyond `workers` waits, at most
    `max_wait` seconds and with at most `queue` others; beyond that it gets a 503 at once, so a
    client learns in milliseconds to come back instead of timing out.
    """

    backlog: int = 1024
    """Connections the kernel completes and holds before they are accepted (capped by
    net.core.somaxconn, 4096 on current kernels). Python's default of 5 drops the rest of a burst
    to SYN retransmissions: 1 s, 3 s, 7 s..."""
    workers: int | None = 8
    """Requests running the app at once; None: every connection's thread at once (Python's)."""
    queue: int = 256
    max_wait: float = 2.0
    keep_alive: float = 15.0
    """Seconds an idle kept-alive connection is held (each holds a thread)."""


class Admission:
    """At most `workers` requests inside at once; up to `queue` more wait, each at most
    `max_wait` seconds; any other is refused at once."""

    def __init__(self, capacity: Capacity) -> None:
        self._capacity = capacity
        self._slots = threading.Semaphore(capacity.workers or 1)
        self._lock = threading.Lock()
        self.waiting = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yields True inside a worker slot, False when the request is refused."""
        if self._capacity.workers is None:
            yield True
            return
        admitted = self._slots.acquire(blocking=False)
        if not admitted:
            with self._lock:
                queued = self.waiting < self._capacity.queue
                self.waiting += queued
            if queued:
                try:
                    admitted = self._slots.acquire(timeout=self._capacity.max_wait)
                finally:
                    with self._lock:
                        self.waiting -= 1
        try:
            yield admitted
        finally:
            if admitted:
                self._slots.release()


class GreedyRouteMatcher(RouteMatcher):
    """API Gateway's matching: a `{name+}` segment takes the rest of the path, at any depth; path
    parameters arrive percent-decoded."""

    def match_route(self, url: str) -> MatchResult:
        try:
            matched = super().match_route(url)
        except ValueError:
            matched = self._greedy_match(url)
        decoded = {name: unquote(value) for name, value in matched.captured.items()}
        return MatchResult(matched.route, decoded, matched.query_params)

    def _greedy_match(self, url: str) -> MatchResult:
        parsed = urlparse(url)
        path = parsed.path.rstrip("/") or "/"
        for route in self.route_urls:
            prefix, _, last = route.rpartition("/")
            if last.startswith("{") and last.endswith("+}") and path.startswith(prefix + "/"):
                captured = {last[1:-2]: path[len(prefix) + 1 :]}
                query = parse_qs(parsed.query, keep_blank_values=True)
                return MatchResult(route, captured, query)
        raise ValueError(f"No matching route found for: {url}")


class _Server(ThreadingHTTPServer):
    """A thread per connection, up to `workers + queue` connections; a connection beyond that is
    refused by the accepting thread itself, before any thread or parsing: a 503 is written, the
    sending side shut, and the socket closed a moment later (closing it at once, with the
    request unread, would reset the connection before the client reads the answer)."""

    daemon_threads = True
    block_on_close = False  # an idle kept-alive connection must not hold up a stop
    LINGER_SECONDS = 2.0

    def __init__(self, address: tuple[str, int], handler: Any, capacity: Capacity) -> None:
        self.request_queue_size = capacity.backlog  # listen()'s backlog, read when it binds
        self.admission = Admission(capacity)
        self._most = None if capacity.workers is None else capacity.workers + capacity.queue
        self._connections = 0
        self._count_lock = threading.Lock()
        self._lingering: deque[tuple[float, socket.socket]] = deque()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            admitted = self._most is None or self._connections < self._most
            self._connections += admitted
        if admitted:
            super().process_request(request, client_address)
        else:
            self._refuse(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count_lock:
                self._connections -= 1

    def _refuse(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(0.5)
            connection.sendall(BUSY)
            connection.shutdown(socket.SHUT_WR)
        except OSError:
            connection.close()
            return
        self._lingering.append((time.monotonic() + self.LINGER_SECONDS, connection))

    def service_actions(self) -> None:
        """Between accepts: close refused connections whose client had time to read the 503."""
        while self._lingering and self._lingering[0][0] <= time.monotonic():
            self._lingering.popleft()[1].close()

    def server_close(self) -> None:
        super().server_close()
        while self._lingering:
            self._lingering.popleft()[1].close()


class _RequestHandler(ChaliceRequestHandler):
    wbufsize = 64 * 1024  # one write per response; flushed after each request
    disable_nagle_algorithm = True
    server_version = "local-api"  # not "BaseHTTP/0.6 Python/3.x": no version to probe
    sys_version = ""

    def __init__(
        self,
        *args: Any,
        keep_alive: float,
        environment: Mapping[str, str],
        around: Around | None = None,
        **kwargs: Any,
    ) -> None:
        self.timeout = keep_alive  # StreamRequestHandler sets it on the socket
        self.environment = environment
        self.around = around
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        super().setup()
        converter = self.local_gateway.event_converter
        converter._route_matcher = GreedyRouteMatcher(converter._route_matcher.route_urls)

    def _admitted_handle(self) -> None:
        """The request runs the app when admitted; else the body is read and a 503 sent."""
        admission = cast(_Server, self.server).admission
        with admission.slot() as admitted:
            if admitted:
                with (
                    invoked_with(self.environment),
                    self.around() if self.around is not None else nullcontext(),
                ):
                    self._generic_handle()
                return
        self._discard_body()
        self._send_json(503, BUSY_BODY.encode(), {"Retry-After": str(RETRY_AFTER_SECONDS)})

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = _admitted_handle  # noqa: N815

    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's naming
        """A CORS preflight, answered before the app as API Gateway's CORS configuration does."""
        origin = self.headers.get("origin")
        allowed = Settings.from_env(self.environment).cors_allowed_origins
        self.send_response(204)
        if origin and ("*" in allowed or origin in allowed):
            self.send_header("Access-Control-Allow-Origin", "*" if "*" in allowed else origin)
            self.send_header("Access-Control-Allow-Methods", "GET,OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "content-type,x-api-key")
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Vary", "Origin")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def __getattr__(self, name: str) -> Any:
        """`do_TRACE`, `do_CONNECT`, any method outside API Gateway's ANY set: no integration."""
        if name.startswith("do_"):
            return self._no_integration
        raise AttributeError(name)

    def _no_integration(self) -> None:
        self._discard_body()
        self._send_json(
            403, NO_INTEGRATION, {"x-amzn-ErrorType": "MissingAuthenticationTokenException"}
        )

    def _discard_body(self) -> None:
        length = self.headers.get("content-length", "0")
        if length.isdigit() and int(length) > 0:
            self.rfile.read(int(length))

    def _send_json(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class ApiServer:
    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        function_name: str,
        capacity: Capacity | None = None,
        environment: Mapping[str, str] | None = None,
        around: Around | None = None,
    ) -> None:
        """`environment`: the function's, read at each request (default: the process's);
        `around` wraps each request the app runs: the system's observers (metrics, alarms)."""
        capacity = capacity or Capacity()
        config = Config.create(
            chalice_stage="dev",
            function_name=function_name,
            lambda_timeout=30,
            lambda_memory_size=256,
        )
        handler = functools.partial(
            _RequestHandler,
            app_object=app,
            config=config,
            keep_alive=capacity.keep_alive,
            environment=os.environ if environment is None else environment,
            around=around,
        )
        self._server = _Server((host, port), handler, capacity)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="api", daemon=True)

    @property
    def waiting(self) -> int:
        """Requests waiting for a worker now."""
        return self._server.admission.waiting

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(10)
        self._server.server_close()
