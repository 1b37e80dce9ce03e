"""OCPP 1.6J central system Lambda, behind an API Gateway WebSocket API ($connect, $default,
$disconnect all come here).

The charge point is the one the $connect authorizer vouched for (`requestContext.authorizer`,
which API Gateway passes on every route of the connection), never an id from a payload. Every
frame gets its answer through the management API: a CALLRESULT, or the CALLERROR OCPP names for
what was wrong with it. Nothing a charge point sends makes this handler raise: a bad frame is
logged and answered, and the connection stays open.

A CALLRESULT or CALLERROR is a charge point's answer to an operator's command (see
evsessions.ocpp.commands): it is recorded against the pending command with its id, never answered.
A closed connection fails the command still outstanding on it.

One connection per charge point: a new one under the same id replaces the older, which is closed
(a charger that reconnects after a network change often leaves its old socket half-open). A frame
that still arrives on a replaced connection is not answered, and that connection is closed again.
"""

from __future__ import annotations

import base64
import functools
import logging
from typing import Any

from centralsystem.actions import BadValue, CentralSystem, SessionNotAccepted
from centralsystem.connections import ConnectionGone, delete_connection, post_to_connection
from centralsystem.frames import SUBPROTOCOL, FrameError, call_error, call_result, parse_call
from centralsystem.replies import Reply, confirmation_problem, parse_reply
from evsessions import metrics
from evsessions.charger_tariffs import ChargerTariffs
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.commands import DynamoDbCommandStore
from evsessions.dynamodb.store import create_client
from evsessions.dynamodb.tariffs import DynamoDBTariffs
from evsessions.errors import PipelineError, StorageUnavailable
from evsessions.mqtt.publishing import publisher_for
from evsessions.ocpp.transactions import Tariff
from evsessions.registry_cache import cached_registry
from evsessions.settings import Settings

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)


@functools.cache
def _central_system(settings: Settings) -> CentralSystem:
    """Clients are made once per container and settings, not at import (tests mock first)."""
    client = create_client(settings)
    table = settings.sessions_table
    return CentralSystem(
        store=CentralSystemStore(table, client),
        publisher=functools.cache(lambda: publisher_for(settings)),
        tariff=Tariff(settings.ocpp_tariff_cents_per_kwh, settings.ocpp_session_fee_cents),
        heartbeat_interval=settings.ocpp_heartbeat_interval_seconds,
        unknown_id_tags_accepted=settings.ocpp_unknown_id_tags == "accepted",
        data_transfer_vendors=frozenset(settings.ocpp_data_transfer_vendors),
        charger_tariffs=ChargerTariffs(
            cached_registry(settings).get, DynamoDBTariffs(table, client)
        ),
        remote=DynamoDbCommandStore(table, client),
    )


def _management_endpoint(settings: Settings, context: dict[str, Any]) -> str:
    return settings.ocpp_management_endpoint_url or (
        f"https://{context['domainName']}/{context['stage']}"
    )


def _offered_subprotocols(event: dict[str, Any]) -> list[str]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return [p.strip() for p in str(headers.get("sec-websocket-protocol", "")).split(",")]


def _charger_id(context: dict[str, Any]) -> str:
    return str((context.get("authorizer") or {})["chargerId"])


def _answer(system: CentralSystem, charger_id: str, body: str) -> str | None:
    """The frame to send back, or None when the frame cannot be answered (no unique id)."""
    try:
        call = parse_call(body, system.actions())
    except FrameError as error:
        log.warning("charger %s sent a bad frame: %s (%s)", charger_id, error, body[:200])
        if error.unique_id is None:
            return None
        return call_error(error.unique_id, error.code, error.description)
    try:
        return call_result(call.unique_id, system.answer(charger_id, call.action, call.payload))
    except BadValue as error:
        log.warning("charger %s %s: %s", charger_id, call.action, error)
        return call_error(call.unique_id, "PropertyConstraintViolation", str(error))
    except (SessionNotAccepted, StorageUnavailable) as error:
        log.error("charger %s %s not done, it will resend: %s", charger_id, call.action, error)
        return call_error(call.unique_id, "InternalError", "not stored yet; send it again")
    except Exception:
        log.exception("charger %s %s failed", charger_id, call.action)
        return call_error(call.unique_id, "InternalError", "an unexpected error occurred")


def _record(system: CentralSystem, charger_id: str, reply: Reply) -> None:
    """The charger's answer to a command, recorded against it (an unknown or late id: logged)."""
    commands = DynamoDbCommandStore(system.store.table, system.store.client)
    now = system.clock()
    error = reply.error
    if reply.payload is not None:
        action = commands.pending_action(charger_id, reply.unique_id)
        problem = None if action is None else confirmation_problem(action, reply.payload)
        if problem is not None:
            error = ("FormationViolation", problem, {"payload": reply.payload})
    recorded = commands.answered(
        charger_id, reply.unique_id, now, None if error else reply.payload, error
    )
    if recorded is None:
        log.warning("charger %s answered %s, no pending command of it", charger_id, reply.unique_id)
    else:
        log.info("charger %s answered command %s", charger_id, reply.unique_id)


def _close(settings: Settings, request: dict[str, Any], charger_id: str, connection: str) -> None:
    try:
        delete_connection(_management_endpoint(settings, request), settings.aws_region, connection)
        log.info(
            "charger %s: connection %s replaced by a newer one, closed", charger_id, connection
        )
    except PipelineError as error:
        log.warning(
            "charger %s: replaced connection %s not closed: %s", charger_id, connection, error
        )


@metrics.recorded()
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    request = event["requestContext"]
    kind = request["eventType"]
    system = _central_system(settings)
    charger_id = _charger_id(request)
    if kind == "CONNECT":
        if SUBPROTOCOL not in _offered_subprotocols(event):
            log.warning("charger %s offered no %s subprotocol: refused", charger_id, SUBPROTOCOL)
            return {"statusCode": 400}
        replaced = system.store.connected(
            charger_id, request["connectionId"], system.clock(), request.get("connectedAt", 0)
        )
        if replaced is not None:
            _close(settings, request, charger_id, replaced)
        log.info("charger %s connected (%s)", charger_id, request["connectionId"])
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": SUBPROTOCOL}}
    if kind == "DISCONNECT":
        commands = DynamoDbCommandStore(system.store.table, system.store.client)
        lost = commands.connection_lost(charger_id, request["connectionId"], system.clock())
        if lost is not None:
            log.warning("charger %s left with command %s unanswered", charger_id, lost)
        system.store.disconnected(charger_id, request["connectionId"], system.clock())
        log.info("charger %s disconnected (%s)", charger_id, request["connectionId"])
        return {"statusCode": 200}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    current = system.store.current_connection(charger_id)
    if current is not None and current != request["connectionId"]:
        log.warning("charger %s sent on a replaced connection: not answered", charger_id)
        _close(settings, request, charger_id, request["connectionId"])
        return {"statusCode": 200}
    answer = parse_reply(body)
    if answer is not None:
        _record(system, charger_id, answer)
        return {"statusCode": 200}
    reply = _answer(system, charger_id, body)
    if reply is not None:
        try:
            post_to_connection(
                _management_endpoint(settings, request),
                settings.aws_region,
                request["connectionId"],
                reply,
            )
        except ConnectionGone:
            log.warning("charger %s left before its answer was sent", charger_id)
    return {"statusCode": 200}
