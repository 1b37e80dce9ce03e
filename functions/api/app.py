"""Query API (AWS Chalice): stored charging sessions, read with DynamoDB Query and GetItem only.

Views raise Chalice's typed errors; one middleware gives every error the same JSON shape,
`{"error": CODE, "message": TEXT}`, and no traceback or internal name ever reaches a client.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from chalice.app import (
    BadRequestError,
    Chalice,
    ChaliceViewError,
    NotFoundError,
    Request,
    Response,
)

from evsessions.contract import ChargingSession, SessionKey, format_time, identifier
from evsessions.dynamodb_store import cached_store
from evsessions.errors import InvalidSession, StorageUnavailable
from evsessions.settings import Settings
from evsessions.storage import SessionStore

T = TypeVar("T")
app = Chalice(app_name="ev-charging-sessions")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_ERROR_CODES = {
    "BadRequestError": "bad_request",
    "NotFoundError": "not_found",
    "ServiceUnavailableError": "unavailable",
    "InternalServerError": "internal",
}


class ServiceUnavailableError(ChaliceViewError):
    STATUS_CODE = 503


def store() -> SessionStore:
    return cached_store(Settings.from_env())


def _read(query: Callable[[SessionStore], T]) -> T:
    """Run a read; an unreachable store is a 503 the client may retry, not a 500."""
    try:
        return query(store())
    except StorageUnavailable:
        raise ServiceUnavailableError("the session store is unreachable; try again") from None


@app.middleware("http")
def uniform_errors(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Reshape Chalice's `{"Code", "Message"}` error bodies into our stable error shape."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        response.body = {
            "error": _ERROR_CODES.get(body["Code"], "error"),
            "message": body.get("Message", ""),
        }
    return response


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def session_json(session: ChargingSession) -> dict[str, Any]:
    return {
        "charger_id": session.key.charger_id,
        "connector_id": session.key.connector_id,
        "session_id": session.session_id,
        "energy_delivered_in_kWh": _number(session.energy_delivered_in_kWh),
        "duration_in_seconds": session.duration_in_seconds,
        "session_cost_in_cents": session.session_cost_in_cents,
        "ended_at": format_time(session.ended_at),
        "ended_at_source": session.ended_at_source,
        "received_at": None if session.received_at is None else format_time(session.received_at),
    }


def _query_params() -> dict[str, str]:
    request = app.current_request
    return dict(request.query_params or {}) if request is not None else {}


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequestError(
            f"limit must be a whole number from 1 to {MAX_LIMIT}, got {raw[:40]!r}"
        )
    return int(raw)


def _identifier(raw: str, name: str) -> str:
    try:
        return identifier(raw, name)
    except InvalidSession as error:
        raise BadRequestError(str(error)) from None


@app.route("/health")
def health() -> Response:
    try:
        store().ping()
    except StorageUnavailable:
        return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return Response({"status": "ok", "database": "reachable"})


@app.route("/sessions")
def list_sessions() -> dict[str, Any]:
    params = _query_params()
    unknown = sorted(set(params) - {"limit", "charger"})
    if unknown:
        raise BadRequestError(f"unknown query parameter {unknown[0][:40]!r}; use limit or charger")
    charger = params.get("charger")
    limit = _limit(params.get("limit"))
    charger_id = None if charger is None else _identifier(charger, "charger")
    found = _read(lambda s: s.recent(limit, charger_id))
    return {"sessions": [session_json(s) for s in found], "count": len(found)}


@app.route("/sessions/{charger_id}/{connector_id}/{session_id}")
def get_session(charger_id: str, connector_id: str, session_id: str) -> dict[str, Any]:
    key = SessionKey(
        _identifier(charger_id, "charger_id"),
        _identifier(connector_id, "connector_id"),
        _identifier(session_id, "session_id"),
    )
    session = _read(lambda s: s.get(key))
    if session is None:
        raise NotFoundError(
            f"no session {session_id} on charger {charger_id} connector {connector_id}"
        )
    return session_json(session)
