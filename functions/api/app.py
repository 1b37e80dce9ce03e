"""Query API (AWS Chalice): sessions, chargers and totals, read with DynamoDB Query and GetItem.

Views raise Chalice's typed errors; one middleware gives every error the same JSON shape,
`{"error": CODE, "message": TEXT}`, checks the optional API key and adds CORS headers. No
traceback or internal name ever reaches a client.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from chalice.app import (
    BadRequestError,
    Chalice,
    ChaliceViewError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    Request,
    Response,
    UnauthorizedError,
)

from api import billing, dashboard
from api.cursors import CursorCodec, CursorError
from api.docs import docs_page
from api.limits import (
    DEFAULT_LIMIT,
    DEFAULT_TOTALS_WINDOW_DAYS,
    MAX_BUCKETS,
    MAX_LIMIT,
    MAX_OCCURRENCE,
)
from api.openapi import openapi_document
from api.resolutions import ResolutionBodyError, resolution_request
from centralsystem.connections import ConnectionGone, post_to_connection
from evsessions import alarm_states
from evsessions.contract import (
    ChargingSession,
    SessionKey,
    TransactionDetails,
    format_time,
    identifier,
    parse_time,
)
from evsessions.dead_letters import dead_letter_queue
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.commands import DynamoDbCommandStore
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.store import DynamoDbSessionStore, cached_store
from evsessions.errors import InvalidSession, PipelineError, StorageUnavailable
from evsessions.integrity import RESOLUTION_ACTIONS, Resolution, Verdict, findings_json
from evsessions.ocpp.commands import (
    BadCommand,
    Busy,
    Command,
    CommandDesk,
    NotConnected,
    NotOpen,
    UnknownChargePoint,
)
from evsessions.ocpp.idtags import IdTagError, entry_json, parse_entry, valid_tag
from evsessions.registry import STATUSES, RegistryError, record_from_json, valid_charger_id
from evsessions.settings import Settings
from evsessions.storage import (
    Bucket,
    ResolutionRefused,
    SessionQuery,
    SessionStore,
    Totals,
    bucket_start,
)

T = TypeVar("T")
app = Chalice(app_name="ev-charging-sessions")
app.log.setLevel(logging.WARNING)
app.register_blueprint(billing.routes)

DEFAULT_TOTALS_WINDOW = timedelta(days=DEFAULT_TOTALS_WINDOW_DAYS)
_ERROR_CODES = {
    "BadRequestError": "bad_request",
    "UnauthorizedError": "unauthorized",
    "NotFoundError": "not_found",
    "ForbiddenError": "forbidden",
    "ConflictError": "conflict",
    "MethodNotAllowedError": "method_not_allowed",
    "ServiceUnavailableError": "unavailable",
    "InternalServerError": "internal",
}


class ServiceUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


_request_settings: ContextVar[Settings | None] = ContextVar("request_settings", default=None)


def settings() -> Settings:
    """The settings of the request being served: read once, by the middleware."""
    return _request_settings.get() or Settings.from_env()


def store() -> DynamoDbSessionStore:
    return cached_store(settings())


def _read(query: Callable[[SessionStore], T]) -> T:
    """Run a read; an unreachable store is a 503 the client may retry, not a 500."""
    try:
        return query(store())
    except StorageUnavailable:
        raise ServiceUnavailableError("the session store is unreachable; try again") from None


def _error(status: int, code: str, message: str) -> Response:
    return Response({"error": code, "message": message}, status_code=status)


@app.middleware("http")
def api_boundary(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """API key, CORS, and one error shape for everything the views and Chalice return."""
    config = Settings.from_env()
    token = _request_settings.set(config)
    try:
        return _serve(event, get_response, config)
    finally:
        _request_settings.reset(token)


def _serve(
    event: Request, get_response: Callable[[Request], Response], config: Settings
) -> Response:
    given = str(event.headers.get("x-api-key") or "")
    path = str(event.context.get("resourcePath"))
    # The dashboard is public; an OCPI partner authenticates with its own token (api.ocpi).
    public = path in dashboard.ROUTES or path.startswith("/ocpi/")
    if (
        not public
        and config.api_key is not None
        and not hmac.compare_digest(given.encode(), config.api_key.encode())
    ):
        response = _error(401, "unauthorized", "send the API key in the x-api-key header")
    else:
        response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        response.body = {
            "error": _ERROR_CODES.get(body["Code"], "error"),
            "message": body.get("Message", ""),
        }
    origin = event.headers.get("origin")
    allowed = config.cors_allowed_origins
    if origin and ("*" in allowed or origin in allowed):
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        response.headers["Vary"] = "Origin"
    return response


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def session_json(session: ChargingSession) -> dict[str, Any]:
    """The original fields, the integrity verdict, and `transaction` for a session of a real
    charger (OCPP). A suspect session carries its findings, the message as it arrived (`raw`)
    and, once an operator decided, the resolution."""
    body: dict[str, Any] = {
        "charger_id": session.key.charger_id,
        "connector_id": session.key.connector_id,
        "session_id": session.session_id,
        "energy_delivered_in_kWh": _number(session.energy_delivered_in_kWh),
        "duration_in_seconds": session.duration_in_seconds,
        "session_cost_in_cents": session.session_cost_in_cents,
        "ended_at": format_time(session.ended_at),
        "ended_at_source": session.ended_at_source,
        "received_at": None if session.received_at is None else format_time(session.received_at),
        "occurrence": session.occurrence,
        "verdict": session.verdict,
        "findings": findings_json(session.findings),
        "counts_as": session.counts_as,
    }
    if session.raw is not None:
        body["raw"] = _raw_json(session.raw)
    if session.resolution is not None:
        body["resolution"] = _resolution_json(session.resolution)
    if session.transaction is not None:
        body["transaction"] = _transaction_json(session.transaction)
    return body


def _raw_json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _resolution_json(resolution: Resolution) -> dict[str, Any]:
    return {
        "action": resolution.action,
        "at": format_time(resolution.at),
        "reason": resolution.reason,
        "by": resolution.by,
        "original": None if resolution.original is None else resolution.original.as_json(),
    }


def _transaction_json(details: TransactionDetails) -> dict[str, Any]:
    return {
        "started_at": None if details.started_at is None else format_time(details.started_at),
        "stop_reason": details.stop_reason,
        "meter_start_wh": details.meter_start_wh,
        "meter_stop_wh": details.meter_stop_wh,
        "id_tag": details.id_tag,
        "stop_id_tag": details.stop_id_tag,
        "billed_from": details.billed_from,
        "remote_start_by": details.remote_start_by,
        "remote_stop_by": details.remote_stop_by,
    }


def totals_json(totals: Totals) -> dict[str, Any]:
    average = totals.duration_seconds / totals.sessions if totals.sessions else 0
    return {
        "sessions": totals.sessions,
        "energy_kWh": _number(totals.energy_kwh.quantize(Decimal("0.001"))),
        "cost_cents": totals.cost_cents,
        "average_duration_seconds": round(average, 1),
    }


def _params(allowed: set[str]) -> dict[str, str]:
    request = app.current_request
    params = dict(request.query_params or {}) if request is not None else {}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequestError(
            f"unknown query parameter {unknown[0][:40]!r}; use {', '.join(sorted(allowed))}"
        )
    return params


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequestError(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw[:40]!r}"
        )
    return int(raw)


def _identifier(raw: str | None, name: str) -> str | None:
    if raw is None:
        return None
    try:
        return identifier(raw, name)
    except InvalidSession as error:
        raise BadRequestError(str(error)) from None


def _time(raw: str | None, name: str) -> datetime | None:
    """ISO 8601 with an offset, or a date (midnight UTC)."""
    if raw is None:
        return None
    text = f"{raw}T00:00:00+00:00" if len(raw) == 10 else raw
    try:
        return parse_time(text, name)
    except InvalidSession as error:
        raise BadRequestError(f"{error} (e.g. 2026-11-27 or 2026-11-27T18:00:00Z)") from None


def _window(params: dict[str, str]) -> tuple[datetime | None, datetime | None]:
    start, end = _time(params.get("from"), "from"), _time(params.get("to"), "to")
    if start is not None and end is not None and start >= end:
        raise BadRequestError("from must be earlier than to")
    return start, end


def _cursor(params: dict[str, str], query: dict[str, Any]) -> dict[str, str] | None:
    if "cursor" not in params:
        return None
    try:
        return CursorCodec(settings().cursor_secret).decode(params["cursor"], query)
    except CursorError as error:
        raise BadRequestError(str(error)) from None


def _next_cursor(position: dict[str, str] | None, query: dict[str, Any]) -> str | None:
    return (
        None if position is None else CursorCodec(settings().cursor_secret).encode(position, query)
    )


@app.route("/health")
def health() -> Response:
    try:
        counts = store().fleet_counts()
    except StorageUnavailable:
        return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
    current = settings()
    queue = dead_letter_queue(current.dead_letter_queue_url, current.aws_region)
    try:
        dead_letters = queue.count() if queue else None
    except StorageUnavailable:
        dead_letters = None
    return Response(
        {
            "status": "ok",
            "database": "reachable",
            "dead_letters": dead_letters,
            "reused_session_ids": counts.reused_session_ids,
            "suspect_sessions_open": counts.open_suspects,
            "alarms": alarm_states.current(),
        }
    )


@app.route("/sessions")
def list_sessions() -> dict[str, Any]:
    params = _params({"limit", "charger", "connector", "from", "to", "cursor", "verdict", "review"})
    charger = _identifier(params.get("charger"), "charger")
    connector = _identifier(params.get("connector"), "connector")
    if connector is not None and charger is None:
        raise BadRequestError("connector needs charger: connector ids are per charger")
    start, end = _window(params)
    verdict, open_review = _verdict(params.get("verdict")), _review(params.get("review"))
    filters = {"route": "sessions", "charger": charger, "connector": connector}
    filters |= {"from": params.get("from"), "to": params.get("to")}
    filters |= {"verdict": verdict, "review": params.get("review")}
    query = SessionQuery(
        limit=_limit(params.get("limit")),
        charger_id=charger,
        connector_id=connector,
        start=start,
        end=end,
        after=_cursor(params, filters),
        verdict=verdict,
        open_review=open_review,
    )
    page = _read(lambda s: s.list_sessions(query))
    return {
        "sessions": [session_json(s) for s in page.sessions],
        "count": len(page.sessions),
        "next_cursor": _next_cursor(page.next, filters),
    }


def _verdict(raw: str | None) -> Verdict | None:
    if raw is None:
        return None
    if raw == "clean":
        return "clean"
    if raw == "suspect":
        return "suspect"
    raise BadRequestError(f"verdict must be clean or suspect, got {raw[:20]!r}")


def _review(raw: str | None) -> bool:
    if raw is None:
        return False
    if raw != "open":
        raise BadRequestError(f"review must be open, got {raw[:20]!r}")
    return True


def _occurrence(raw: str | None) -> int:
    if raw is None:
        return 1
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or int(raw) < 1:
        raise BadRequestError(
            f"occurrence must be a whole number from 1 to {MAX_OCCURRENCE}, got {raw[:40]!r}"
        )
    return int(raw)


@app.route("/sessions/{charger_id}/{connector_id}/{session_id}")
def get_session(charger_id: str, connector_id: str, session_id: str) -> dict[str, Any]:
    """The first session under the identity, or with `occurrence=n` the n-th (a reused id)."""
    occurrence = _occurrence(_params({"occurrence"}).get("occurrence"))
    key = _session_key(charger_id, connector_id, session_id)
    session = _read(lambda s: s.get(key, occurrence))
    if session is None:
        which = "" if occurrence == 1 else f" (occurrence {occurrence})"
        raise NotFoundError(
            f"no session {session_id}{which} on charger {charger_id} connector {connector_id}"
        )
    return session_json(session)


def _session_key(charger_id: str, connector_id: str, session_id: str) -> SessionKey:
    return SessionKey(
        _identifier(charger_id, "charger_id") or "",
        _identifier(connector_id, "connector_id") or "",
        _identifier(session_id, "session_id") or "",
    )


def require_operator(request: Request) -> str:
    """Operators' writes need the operator key (beside the API key), so a reader's key never
    changes what is billed. Returns who decided, for the record."""
    configured = settings().operator_key
    if configured is None:
        raise ForbiddenError("operator writes are off: set OPERATOR_KEY")
    given = str(request.headers.get("x-operator-key") or "")
    if not hmac.compare_digest(given.encode(), configured.encode()):
        raise UnauthorizedError("send the operator key in the x-operator-key header")
    return "operator"


@app.route(
    "/sessions/{charger_id}/{connector_id}/{session_id}/resolution",
    methods=["POST"],
    content_types=["application/json"],
)
def resolve_session(charger_id: str, connector_id: str, session_id: str) -> dict[str, Any]:
    """An operator's decision on a suspect session: accept, correct (with the values to bill) or
    void; made once, recorded with when, why and by whom."""
    request = app.current_request
    assert request is not None
    by = require_operator(request)
    occurrence = _occurrence(_params({"occurrence"}).get("occurrence"))
    key = _session_key(charger_id, connector_id, session_id)
    try:
        action, reason, corrected = resolution_request(request.json_body)
    except ResolutionBodyError as error:
        raise BadRequestError(f"{error}; actions are {', '.join(RESOLUTION_ACTIONS)}") from None
    resolution = Resolution(action, datetime.now(UTC), reason, by)
    try:
        session = _read(lambda s: s.resolve(key, occurrence, resolution, corrected))
    except ResolutionRefused as refused:
        # Asked again after a failure between the decision and its CDRs: issue them now.
        decided = refused.session
        _read(lambda _: billing.issue_cdrs(decided))
        raise ConflictError(str(refused)) from None
    if session is None:
        raise NotFoundError(
            f"no session {session_id} on charger {charger_id} connector {connector_id}"
        )
    _read(lambda _: billing.issue_cdrs(session))
    return session_json(session)


@app.route("/chargers")
def list_chargers() -> dict[str, Any]:
    params = _params({"limit", "cursor"})
    limit = _limit(params.get("limit"))
    filters = {"route": "chargers"}
    after = _cursor(params, filters)
    found, last = _read(lambda s: s.chargers(limit, None if after is None else after["charger"]))
    return {
        "chargers": [
            {
                "charger_id": c.charger_id,
                **totals_json(c.totals),
                "suspect": totals_json(c.suspect),
                "last_session_ended_at": c.last_ended_at,
                "connectors": [
                    {
                        "connector_id": n.connector_id,
                        **totals_json(n.totals),
                        "last_session_ended_at": n.last_ended_at,
                    }
                    for n in c.connectors
                ],
            }
            for c in found
        ],
        "next_cursor": _next_cursor(None if last is None else {"charger": last}, filters),
    }


def _bucket_time(start: str) -> str:
    """A bucket's start as a full timestamp: 2026-11-27T18 -> 2026-11-27T18:00:00.000Z."""
    return start + ("T00:00:00.000Z" if len(start) == 10 else ":00:00.000Z")


def charge_point_json(item: dict[str, Any]) -> dict[str, Any]:
    """What the central system keeps of a charge point (see evsessions.dynamodb.charge_points)."""
    connectors = sorted(
        {name.split("#", 1)[1] for name in item if name.startswith("status#")}, key=_natural
    )
    return {
        "charger_id": str(item["charger_id"]),
        "connected": bool(item.get("connected", False)),
        "last_seen": item.get("last_seen"),
        "vendor": item.get("vendor"),
        "model": item.get("model"),
        "transactions_started": int(item.get("transactions_started", 0)),
        "diagnostics_status": item.get("diagnostics_status"),
        "firmware_status": item.get("firmware_status"),
        "connectors": [
            {
                "connector_id": connector,
                "status": str(item[f"status#{connector}"]),
                "error_code": str(item.get(f"error#{connector}", "NoError")),
            }
            for connector in connectors
        ],
        "open_transactions": [
            {"connector_id": name.split("#", 1)[1], "transaction_id": int(item[name])}
            for name in sorted(
                (name for name in item if name.startswith("open#")),
                key=lambda name: _natural(name.split("#", 1)[1]),
            )
        ],
    }


def _natural(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 30, text)


@app.route("/chargepoints")
def list_charge_points() -> dict[str, Any]:
    """Real chargers (OCPP): connected or not, last seen, each connector's last status."""
    limit = _limit(_params({"limit"}).get("limit"))
    charge_points = CentralSystemStore(settings().sessions_table, store().client)
    try:
        items, more = charge_points.charge_points(limit)
    except StorageUnavailable:
        raise ServiceUnavailableError("the session store is unreachable; try again") from None
    found = [charge_point_json(item) for item in items]
    return {"charge_points": found, "count": len(found), "more": more}


# --- the OCPP central system's id-tag list ---------------------------------------------------


def _charge_points() -> CentralSystemStore:
    return CentralSystemStore(settings().sessions_table, store().client)


def _tag(raw: str) -> str:
    tag = raw
    if not valid_tag(tag):
        raise BadRequestError("an id tag is 1-20 printable ASCII characters (OCPP IdToken)")
    return tag


def _central(call: Callable[[CentralSystemStore], T]) -> T:
    try:
        return call(_charge_points())
    except StorageUnavailable:
        raise ServiceUnavailableError("the session store is unreachable; try again") from None


@app.route("/idtags")
def list_id_tags() -> dict[str, Any]:
    """The id tags the central system answers Authorize, Start and Stop with, in tag order."""
    limit = _limit(_params({"limit"}).get("limit"))
    items, more = _central(lambda tags: tags.id_tags(limit))
    now = datetime.now(UTC)
    found = [entry_json(str(item["sk"]), item, now) for item in items]
    return {"id_tags": found, "count": len(found), "more": more}


@app.route("/idtags/{tag}", methods=["GET", "PUT", "DELETE"])
def id_tag(tag: str) -> Response:
    request = app.current_request
    assert request is not None
    method = request.method
    _params(set())
    name = _tag(tag)
    if method == "GET":
        item = _central(lambda tags: tags.id_tag(name))
        if item is None:
            raise NotFoundError(f"no id tag {name!r}")
        return Response(entry_json(name, item, datetime.now(UTC)))
    require_operator(request)
    if method == "DELETE":
        if not _central(lambda tags: tags.delete_id_tag(name)):
            raise NotFoundError(f"no id tag {name!r}")
        return Response("", status_code=204)
    try:
        entry = parse_entry(request.json_body)
    except IdTagError as error:
        raise BadRequestError(str(error)) from None
    fields = {**entry.as_item(), "updated_at": format_time(datetime.now(UTC))}
    _central(lambda tags: tags.put_id_tag(name, fields))
    return Response(entry_json(name, fields, datetime.now(UTC)))


# --- the charger registry ---------------------------------------------------------------------


def _registry() -> DynamoDBChargerRegistry:
    """Read uncached: an operator sees a write at once (the readers that connect chargers see
    it within REGISTRY_CACHE_SECONDS)."""
    return DynamoDBChargerRegistry(settings().sessions_table, store().client)


def _in_registry(call: Callable[[DynamoDBChargerRegistry], T]) -> T:
    try:
        return call(_registry())
    except StorageUnavailable:
        raise ServiceUnavailableError("the session store is unreachable; try again") from None


@app.route("/registry/chargers")
def list_registry_chargers() -> dict[str, Any]:
    """Every charger of the registry in charger-id order, or only those of one status."""
    status = _params({"status"}).get("status")
    if status is not None and status not in STATUSES:
        raise BadRequestError(f"status: one of {', '.join(STATUSES)}")
    found = [
        record.as_json()
        for record in _in_registry(lambda registry: registry.records())
        if status is None or record.status == status
    ]
    return {"chargers": found, "count": len(found)}


@app.route(
    "/registry/chargers/{charger_id}",
    methods=["GET", "PUT"],
    content_types=["application/json"],
)
def registry_charger(charger_id: str) -> dict[str, Any]:
    """One charger's record; an operator's PUT adds or replaces it (retiring is a PUT with
    status RETIRED: sessions keep referring to the charger, so it is never deleted)."""
    request = app.current_request
    assert request is not None
    _params(set())
    if not valid_charger_id(charger_id):
        raise BadRequestError("charger_id: 1-36 characters of letters, digits, '.', '_' or '-'")
    if request.method == "GET":
        record = _in_registry(lambda registry: registry.get(charger_id))
        if record is None:
            raise NotFoundError(f"no charger {charger_id!r} in the registry")
        return record.as_json()
    require_operator(request)
    try:
        record = record_from_json(charger_id, request.json_body)
    except RegistryError as error:
        raise BadRequestError(str(error)) from None
    return _in_registry(lambda registry: registry.put(record)).as_json()


# --- operators' commands to charge points (OCPP CALLs; evsessions.ocpp.commands) ---------------


def _desk() -> CommandDesk:
    config = settings()
    endpoint = config.ocpp_management_endpoint_url
    if not endpoint:
        raise ServiceUnavailableError("commands are off: OCPP_MANAGEMENT_ENDPOINT_URL is not set")

    def post(connection_id: str, frame: str) -> None:
        post_to_connection(endpoint, config.aws_region, connection_id, frame)

    return CommandDesk(
        store=DynamoDbCommandStore(config.sessions_table, store().client),
        post=post,
        wait=config.ocpp_command_wait_seconds,
        timeout=config.ocpp_command_timeout_seconds,
        clock=lambda: datetime.now(UTC),
        sleep=time.sleep,
        gone=ConnectionGone,
    )


def _fleet_charger(raw: str) -> str:
    """An ACTIVE charger of this system's registry: another id (another fleet's, a retired one)
    is refused before anything else is looked up."""
    if not valid_charger_id(raw):
        raise BadRequestError("charger_id: 1-36 characters of letters, digits, '.', '_' or '-'")
    record = _in_registry(lambda registry: registry.get(raw))
    if record is None or not record.active:
        raise ForbiddenError(
            f"charger {raw!r} is not an active charger of this system's registry "
            "(/registry/chargers)"
        )
    return raw


def _command_response(command: Command) -> Response:
    """200 once the charger answered (or failed to); 202 while it has not, with where to poll."""
    body = command.as_json(datetime.now(UTC))
    if body["status"] != "pending":
        return Response(body)
    where = f"/chargepoints/{command.charger_id}/commands/{command.command_id}"
    return Response(body, status_code=202, headers={"Location": where})


@app.route(
    "/chargepoints/{charger_id}/commands/{command}",
    methods=["GET", "POST"],
    content_types=["application/json"],
)
def charge_point_command(charger_id: str, command: str) -> Response:
    """POST: send the OCPP command `command` (an action) with the body as its request, and wait
    a while for the answer (operator key). GET: a command sent before, by its id."""
    request = app.current_request
    assert request is not None
    _params(set())
    charger = _fleet_charger(charger_id)
    try:
        if request.method == "GET":
            commands = DynamoDbCommandStore(settings().sessions_table, store().client)
            found = commands.command(charger, command[:64])
            if found is None:
                raise NotFoundError(f"no command {command[:64]!r} to charger {charger!r}")
            return _command_response(found)
        by = require_operator(request)
        identity = request.context.get("identity") or {}
        if identity.get("apiKeyId"):
            by = f"{by} (API key {identity['apiKeyId']})"
        payload = {} if not request.raw_body else request.json_body
        return _command_response(_desk().send(charger, command, payload, by))
    except BadCommand as error:
        raise BadRequestError(str(error)) from None
    except UnknownChargePoint as error:
        raise NotFoundError(str(error)) from None
    except (NotConnected, NotOpen, Busy) as error:
        raise ConflictError(str(error)) from None
    except StorageUnavailable:
        raise ServiceUnavailableError("the session store is unreachable; try again") from None
    except PipelineError:
        app.log.exception("a command to charger %s was not sent", charger)
        raise ServiceUnavailableError("the charger's connection could not be reached") from None


@app.route("/totals")
def totals() -> dict[str, Any]:
    params = _params({"charger", "from", "to", "bucket"})
    charger = _identifier(params.get("charger"), "charger")
    bucket_name = params.get("bucket", "day")
    if bucket_name not in ("hour", "day"):
        raise BadRequestError(f"bucket must be hour or day, got {bucket_name[:20]!r}")
    bucket: Bucket = "hour" if bucket_name == "hour" else "day"
    start, end = _window(params)
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_TOTALS_WINDOW
    if start >= end:
        raise BadRequestError("from must be earlier than to")
    width = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    if (end - start) / width > MAX_BUCKETS[bucket]:
        raise BadRequestError(
            f"a window of at most {MAX_BUCKETS[bucket]} {bucket}s: narrow from/to or use bucket=day"
        )
    first = bucket_start(start, bucket)
    last = bucket_start(end - timedelta(microseconds=1), bucket)
    found = _read(lambda s: s.totals(charger, bucket, first, last))
    overall, suspect = Totals(), Totals()
    for entry in found:
        overall, suspect = overall.add(entry.totals), suspect.add(entry.suspect)
    return {
        "charger": charger,
        "bucket": bucket,
        "from": _bucket_time(first),
        "to": format_time(datetime.fromisoformat(_bucket_time(last)) + width),
        "totals": totals_json(overall),
        "suspect": totals_json(suspect),
        "buckets": [
            {
                "start": _bucket_time(b.start),
                **totals_json(b.totals),
                "suspect": totals_json(b.suspect),
            }
            for b in found
        ],
    }


@app.route("/openapi.json")
def openapi_json() -> dict[str, Any]:
    return openapi_document()


@app.route("/docs")
def docs() -> Response:
    return Response(docs_page(), headers={"Content-Type": "text/html; charset=utf-8"})


@app.route("/")
def dashboard_page() -> Response:
    """The live dashboard (public: it holds no data and asks for the key when the API does)."""
    request = app.current_request
    path = str(request.context.get("path") or "/") if request is not None else "/"
    return Response(
        dashboard.page(path),
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache"},
    )


@app.route("/assets/{name}")
def dashboard_asset(name: str) -> Response:
    found = dashboard.asset(name)
    if found is None:
        raise NotFoundError(f"no asset {name[:60]!r}")
    return Response(
        found.text,
        headers={"Content-Type": found.media_type, "Cache-Control": found.cache_control},
    )


@app.route("/{proxy+}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown_route() -> None:
    request = app.current_request
    path = request.context.get("path", "") if request is not None else ""
    raise NotFoundError(f"no route {str(path)[:100]}; see /openapi.json")
