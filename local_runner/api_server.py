"""The local stand-in for API Gateway: serves the unchanged Chalice app over HTTP.

Chalice's own local handler converts each request into an API Gateway proxy event. We keep that
conversion and fix its transport: it writes headers and body in separate unbuffered writes, which
with Nagle's algorithm and delayed ACKs stalls every kept-alive response by ~40 ms.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer

log = logging.getLogger("local_runner.api")


class _RequestHandler(ChaliceRequestHandler):
    wbufsize = 64 * 1024  # one write per response; flushed after each request
    disable_nagle_algorithm = True

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
