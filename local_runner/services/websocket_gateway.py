"""The local stand-in for an API Gateway WebSocket API and its management API.

A client connects to ws://host:port/{stage}/{charge point id} (or wss:// with the local CA): the
path's last segment becomes the `chargePointId` query parameter, as the CloudFront Function in
template.yaml does in front of the deployed API. Then, as API Gateway does:
- the $connect authorizer gets a REQUEST event; an exception "Unauthorized" is a 401, a Deny
  policy a 403, an Allow passes its `context` to every later event as requestContext.authorizer;
- the $connect route's function gets a CONNECT event; a non-2xx status refuses the handshake, and
  its `Sec-WebSocket-Protocol` response header is the subprotocol the handshake agrees;
- each frame is a MESSAGE event to the route the selection expression picks (OCPP's JSON arrays
  always reach $default), one at a time per connection; a failed invocation sends the client
  API Gateway's `{"message": "Internal server error", ...}`;
- a close is a DISCONNECT event.
Functions answer through the management API on loopback (POST/DELETE @connections/{id}), at the
address OCPP_MANAGEMENT_ENDPOINT_URL gives them.
"""

from __future__ import annotations

import asyncio
import base64
import http
import json
import logging
import secrets
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from local_runner.services.invoker import FunctionInvoker
from local_runner.services.websocket_api import WebSocketApiSpec

log = logging.getLogger("local_runner.websocket")

CHARGE_POINT_QUERY = "chargePointId"
"""The query parameter template.yaml's CloudFront Function fills from the URL's last segment."""
HANDSHAKE_SECONDS = 30
"""How long a handshake may take, authorizer and $connect included (API Gateway's integration
timeout is 29 s); the websockets default of 10 s refused chargers of a busy gateway."""
MAX_MESSAGE_BYTES = 128 * 1024
"""API Gateway's WebSocket message limit (frames of 32 KB, messages of 128 KB)."""
API_ID = "local"
REGION = "eu-north-1"
ACCOUNT = "123456789012"


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class _Connection:
    connection_id: str
    socket: ServerConnection
    authorizer: dict[str, Any]
    connected_at: int
    subprotocol: str | None = None


def _connection_id() -> str:
    """API Gateway's look: 12 random bytes in base64."""
    return base64.b64encode(secrets.token_bytes(12)).decode()


def _headers(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in request.headers.raw_items():
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _request_context(
    spec: WebSocketApiSpec,
    domain: str,
    route_key: str,
    event_type: str,
    connection_id: str,
    connected_at: int,
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": uuid.uuid4().hex[:16],
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "messageDirection": "IN",
        "stage": spec.stage,
        "connectedAt": connected_at,
        "requestTimeEpoch": now,
        "identity": {"sourceIp": "127.0.0.1"},
        "requestId": uuid.uuid4().hex[:16],
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": API_ID,
    }
    if event_type == "MESSAGE":
        context["messageId"] = uuid.uuid4().hex[:16]
    if authorizer is not None:
        context["authorizer"] = authorizer
    return context


@dataclass
class WebSocketGateway:
    spec: WebSocketApiSpec
    invokers: dict[str, FunctionInvoker]
    host: str = "127.0.0.1"
    port: int = 0
    tls_host: str = "127.0.0.1"
    tls_port: int | None = None
    tls_context: ssl.SSLContext | None = None
    workers: int = 64
    """Invocations at a time, all connections together (API Gateway invokes Lambda concurrently)."""
    on_event: Callable[[str, str], None] | None = None
    """Called with (event type, charge point id) after each invocation, for the status board."""
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _servers: list[Server] = field(default_factory=list)
    _connections: dict[str, _Connection] = field(default_factory=dict)
    _pending: dict[int, _Connection] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _pool: ThreadPoolExecutor | None = None
    _management: ThreadingHTTPServer | None = None

    # --- addresses ---

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/{self.spec.stage}/"

    @property
    def tls_url(self) -> str | None:
        if self.tls_port is None:
            return None
        host = "localhost" if self.tls_host in ("127.0.0.1", "0.0.0.0") else self.tls_host
        return f"wss://{host}:{self.tls_port}/{self.spec.stage}/"

    @property
    def management_url(self) -> str:
        assert self._management is not None
        port = self._management.server_address[1]
        return f"http://127.0.0.1:{port}/{self.spec.stage}"

    @property
    def connected(self) -> int:
        return len(self._connections)

    # --- life ---

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="websocket-invoke")
        self._management = ThreadingHTTPServer(("127.0.0.1", 0), _management_handler(self))
        self._management.daemon_threads = True
        threading.Thread(
            target=self._management.serve_forever, name="websocket-management", daemon=True
        ).start()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._listen())
            except BaseException as error:
                failure.append(error)
                started.set()
                return
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="websocket-gateway", daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            self.shutdown()
            raise failure[0]

    async def _listen(self) -> None:
        options: dict[str, Any] = {
            "process_request": self._process_request,
            "select_subprotocol": self._select_subprotocol,
            "max_size": MAX_MESSAGE_BYTES,
            "open_timeout": HANDSHAKE_SECONDS,
            "compression": None,
            "server_header": None,
            "ping_interval": None,  # API Gateway sends no pings; chargers keep the line alive
        }
        plain = await serve(self._serve, self.host, self.port, **options)
        self._servers.append(plain)
        self.port = next(iter(plain.sockets)).getsockname()[1]
        if self.tls_context is not None and self.tls_port is not None:
            secure = await serve(
                self._serve, self.tls_host, self.tls_port, ssl=self.tls_context, **options
            )
            self._servers.append(secure)
            self.tls_port = next(iter(secure.sockets)).getsockname()[1]

    def shutdown(self) -> None:
        if self._thread is not None and self._loop.is_running():

            async def close() -> None:
                for server in self._servers:
                    server.close()
                for server in self._servers:
                    await server.wait_closed()

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(15)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)
        if self._management is not None:
            self._management.shutdown()
            self._management.server_close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    # --- invocations ---

    def _invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Like Lambda: the handler with a context, concurrently with other connections'."""
        return self.invokers[function].call(event)

    async def _call(self, function: str, event: dict[str, Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._invoke, function, event
        )

    async def _authorize(
        self, request: Request, domain: str, connection_id: str, connected_at: int
    ) -> dict[str, Any]:
        charge_point = unquote(request.path.split("?", 1)[0].rstrip("/").rpartition("/")[2])
        single, multi = _headers(request)
        context = _request_context(
            self.spec, domain, "$connect", "CONNECT", connection_id, connected_at, None
        )
        common = {
            "headers": single,
            "multiValueHeaders": multi,
            "queryStringParameters": {CHARGE_POINT_QUERY: charge_point},
            "multiValueQueryStringParameters": {CHARGE_POINT_QUERY: [charge_point]},
            "stageVariables": {},
            "requestContext": context,
        }
        authorizer: dict[str, Any] = {}
        if self.spec.authorizer is not None:
            event = {
                "type": "REQUEST",
                "methodArn": (
                    f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{self.spec.stage}/$connect"
                ),
                **common,
            }
            try:
                result = await self._call(self.spec.authorizer, event)
            except Exception as error:
                if str(error) == "Unauthorized":
                    raise Refused(401, "Unauthorized") from None
                log.exception("authorizer %s failed", self.spec.authorizer)
                raise Refused(500, "Internal server error") from None
            statements = (result.get("policyDocument") or {}).get("Statement") or []
            if not statements or any(s.get("Effect") != "Allow" for s in statements):
                raise Refused(403, "Forbidden")
            authorizer = {**(result.get("context") or {}), "principalId": result["principalId"]}
        if "$connect" in self.spec.routes:
            event = {**common, "isBase64Encoded": False}
            event["requestContext"] = {**context, "authorizer": authorizer}
            try:
                answer = await self._call(self.spec.routes["$connect"], event)
            except Exception:
                log.exception("$connect of %s failed", charge_point)
                raise Refused(500, "Internal server error") from None
            status = int((answer or {}).get("statusCode", 200))
            if not 200 <= status < 300:
                raise Refused(status, http.HTTPStatus(status).phrase)
            authorizer["_subprotocol"] = ((answer or {}).get("headers") or {}).get(
                "Sec-WebSocket-Protocol"
            )
        return authorizer

    async def _process_request(self, socket: ServerConnection, request: Request) -> Response | None:
        parts = request.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) != 2 or parts[0] != self.spec.stage or not parts[1]:
            return socket.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        connection_id = _connection_id()
        connected_at = int(time.time() * 1000)
        domain = request.headers.get("Host", f"{self.host}:{self.port}")
        try:
            authorizer = await self._authorize(request, domain, connection_id, connected_at)
        except Refused as refusal:
            if self.on_event:
                self.on_event("REFUSED", parts[1])
            return socket.respond(refusal.status, f"{refusal}\n")
        subprotocol = authorizer.pop("_subprotocol", None)
        self._pending[id(socket)] = _Connection(
            connection_id, socket, authorizer, connected_at, subprotocol
        )
        return None

    def _select_subprotocol(self, socket: ServerConnection, offered: Any) -> Any:
        pending = self._pending.get(id(socket))
        chosen = pending.subprotocol if pending else None
        return chosen if chosen in offered else None

    async def _serve(self, socket: ServerConnection) -> None:
        connection = self._pending.pop(id(socket))
        self._connections[connection.connection_id] = connection
        charge_point = str(connection.authorizer.get("principalId", ""))
        if self.on_event:
            self.on_event("CONNECT", charge_point)
        try:
            async for frame in socket:
                await self._message(connection, frame)
        except ConnectionClosed:
            pass
        finally:
            self._connections.pop(connection.connection_id, None)
            await self._disconnect(connection)

    def _event(self, connection: _Connection, route: str, kind: str) -> dict[str, Any]:
        return {
            "requestContext": _request_context(
                self.spec,
                connection.socket.request.headers.get("Host", "")
                if connection.socket.request
                else "",
                route,
                kind,
                connection.connection_id,
                connection.connected_at,
                connection.authorizer,
            ),
            "isBase64Encoded": False,
        }

    async def _message(self, connection: _Connection, frame: str | bytes) -> None:
        route = "$default"  # OCPP-J frames are arrays: no route selection value to match
        if route not in self.spec.routes:
            return
        event = self._event(connection, route, "MESSAGE")
        if isinstance(frame, bytes):
            event.update(body=base64.b64encode(frame).decode(), isBase64Encoded=True)
        else:
            event["body"] = frame
        try:
            await self._call(self.spec.routes[route], event)
        except Exception:
            log.exception("%s failed on a message", self.spec.routes[route])
            await connection.socket.send(
                json.dumps(
                    {
                        "message": "Internal server error",
                        "connectionId": connection.connection_id,
                        "requestId": event["requestContext"]["requestId"],
                    }
                )
            )
        if self.on_event:
            self.on_event("MESSAGE", str(connection.authorizer.get("principalId", "")))

    async def _disconnect(self, connection: _Connection) -> None:
        if "$disconnect" in self.spec.routes:
            event = self._event(connection, "$disconnect", "DISCONNECT")
            try:
                await self._call(self.spec.routes["$disconnect"], event)
            except Exception:
                log.exception("$disconnect failed")
        if self.on_event:
            self.on_event("DISCONNECT", str(connection.authorizer.get("principalId", "")))

    # --- management API ---

    def post(self, connection_id: str, data: bytes) -> bool:
        connection = self._connections.get(connection_id)
        if connection is None:
            return False
        text = data.decode("utf-8", "replace")
        future = asyncio.run_coroutine_threadsafe(connection.socket.send(text), self._loop)
        try:
            future.result(10)
        except ConnectionClosed:
            return False
        return True

    def close_connection(self, connection_id: str) -> bool:
        connection = self._connections.get(connection_id)
        if connection is None:
            return False
        asyncio.run_coroutine_threadsafe(connection.socket.close(), self._loop).result(10)
        return True


def _management_handler(gateway: WebSocketGateway) -> type[BaseHTTPRequestHandler]:
    prefix = f"/{gateway.spec.stage}/@connections/"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _connection_id(self) -> str | None:
            path = unquote(self.path.split("?", 1)[0])
            return path[len(prefix) :] if path.startswith(prefix) else None

        def _reply(self, status: int, error: str | None = None) -> None:
            body = json.dumps({"message": error}).encode() if error else b""
            self.send_response(status)
            if error:
                self.send_header("x-amzn-ErrorType", error)
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            connection_id = self._connection_id()
            if connection_id is None:
                self._reply(404, "NotFoundException")
            elif len(data) > MAX_MESSAGE_BYTES:
                self._reply(413, "PayloadTooLargeException")
            elif gateway.post(connection_id, data):
                self._reply(200)
            else:
                self._reply(410, "GoneException")

        def do_DELETE(self) -> None:
            connection_id = self._connection_id()
            if connection_id is not None and gateway.close_connection(connection_id):
                self._reply(204)
            else:
                self._reply(410, "GoneException")

    return Handler
