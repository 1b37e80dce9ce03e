"""The local stand-in for API Gateway: serves the unchanged Chalice app over HTTP.

Chalice's own local handler converts each request into an API Gateway proxy event; we keep that
conversion and fix where it differs from API Gateway or stalls:
- it writes headers and body in separate unbuffered writes, which with Nagle's algorithm and
  delayed ACKs stalls every kept-alive response by ~40 ms: we buffer and disable Nagle;
- its route matcher lets a greedy `{proxy+}` match one path segment only: ours, any depth;
- it answers a CORS preflight only for routes declared with Chalice's CORS config: ours answers
  as the deployed API's CORS configuration does, for the origins in CORS_ALLOWED_ORIGINS.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import parse_qs, urlparse

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer, MatchResult, RouteMatcher

from evsessions.settings import Settings

log = logging.getLogger("local_runner.api")


class GreedyRouteMatcher(RouteMatcher):
    """API Gateway's matching: a `{name+}` segment takes the rest of the path, at any depth."""

    def match_route(self, url: str) -> MatchResult:
        try:
            return super().match_route(url)
        except ValueError:
            pass
        parsed = urlparse(url)
        path = parsed.path.rstrip("/") or "/"
        for route in self.route_urls:
            prefix, _, last = route.rpartition("/")
            if last.startswith("{") and last.endswith("+}") and path.startswith(prefix + "/"):
                captured = {last[1:-2]: path[len(prefix) + 1 :]}
                query = parse_qs(parsed.query, keep_blank_values=True)
                return MatchResult(route, captured, query)
        raise ValueError(f"No matching route found for: {url}")


class _RequestHandler(ChaliceRequestHandler):
    wbufsize = 64 * 1024  # one write per response; flushed after each request
    disable_nagle_algorithm = True
    server_version = "local-api"  # not "BaseHTTP/0.6 Python/3.x": no version to probe
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        converter = self.local_gateway.event_converter
        converter._route_matcher = GreedyRouteMatcher(converter._route_matcher.route_urls)

    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's naming
        """A CORS preflight, answered before the app as API Gateway's CORS configuration does."""
        origin = self.headers.get("origin")
        allowed = Settings.from_env().cors_allowed_origins
        self.send_response(204)
        if origin and ("*" in allowed or origin in allowed):
            self.send_header("Access-Control-Allow-Origin", "*" if "*" in allowed else origin)
            self.send_header("Access-Control-Allow-Methods", "GET,OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "content-type,x-api-key")
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Vary", "Origin")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class ApiServer:
    def __init__(self, app: Any, host: str, port: int, function_name: str) -> None:
        config = Config.create(
            chalice_stage="dev",
            function_name=function_name,
            lambda_timeout=30,
            lambda_memory_size=256,
        )
        self._server = LocalDevServer(app, config, host, port, handler_cls=_RequestHandler)
        self.host = host
        self.port = int(self._server.server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.server.serve_forever, name="api", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server.server_close()
        self._thread.join(10)
