"""Routes for billing: tariffs kept as data (read by anyone with the API key, written with the
operator key), a session's CDRs (the dashboard's link), and the OCPI 2.2.1 Sender interface a
roaming or billing partner polls with its own token (`api.ocpi`).

A Chalice blueprint registered by `api.app`; the app's helpers are imported when a view runs,
since the app imports this module first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalice.app import (
    BadRequestError,
    Blueprint,
    ConflictError,
    NotFoundError,
    Request,
    Response,
)

from api import ocpi
from evsessions.cdr_issuer import cached_issuer
from evsessions.contract import ChargingSession, parse_time
from evsessions.dynamodb.cdrs import DynamoDBCdrs
from evsessions.dynamodb.tariffs import DynamoDBTariffs, TariffVersion, VersionRefused, VersionTaken
from evsessions.errors import InvalidSession, StorageUnavailable
from evsessions.settings import Settings
from evsessions.tariffs import TariffError, tariff_from_json, valid_tariff_id

routes = Blueprint(__name__)
OCPI_BASE = f"/ocpi/{ocpi.VERSION}"


def _settings() -> Settings:
    from api.app import settings

    return settings()


def _client() -> Any:
    from api.app import store

    return store().client


def _tariffs() -> DynamoDBTariffs:
    return DynamoDBTariffs(_settings().sessions_table, _client())


def _request() -> Request:
    request = routes.current_request
    assert request is not None
    return request


def issue_cdrs(session: ChargingSession) -> None:
    """Issue a resolved session's CDRs (none for one still open); idempotent."""
    cached_issuer(_settings(), _client()).issue([session])


# --- tariffs ------------------------------------------------------------------------------------


def _tariff_json(tariff_id: str, versions: list[TariffVersion]) -> dict[str, Any]:
    config = _settings()
    return {
        "tariff_id": tariff_id,
        "versions": [v.ocpi_json(config.ocpi_country_code, config.ocpi_party_id) for v in versions],
    }


def _tariff_id(raw: str) -> str:
    if not valid_tariff_id(raw):
        raise BadRequestError("tariff_id: 1-36 characters of letters, digits, '.', '_' or '-'")
    return raw


def _guarded(call: Any) -> Any:
    from api.app import ServiceUnavailableError

    try:
        return call()
    except StorageUnavailable:
        raise ServiceUnavailableError("the store is unreachable; try again") from None


@routes.route("/tariffs")
def list_tariffs() -> dict[str, Any]:
    """Every tariff with its versions, oldest first."""
    from api.app import _params

    _params(set())
    tariffs = _tariffs()
    ids = _guarded(tariffs.tariff_ids)
    return {"tariffs": [_tariff_json(i, _guarded(lambda i=i: tariffs.versions(i))) for i in ids]}


@routes.route("/tariffs/{tariff_id}", methods=["GET", "PUT"], content_types=["application/json"])
def tariff(tariff_id: str) -> Response:
    """GET: the tariff's versions. PUT (operator key): a new version, from `start_date_time`
    (at least a minute ahead: a version never changes what is already priced)."""
    from api.app import _params, require_operator

    request = _request()
    _params(set())
    name = _tariff_id(tariff_id)
    tariffs = _tariffs()
    if request.method == "GET":
        versions = _guarded(lambda: tariffs.versions(name))
        if not versions:
            raise NotFoundError(f"no tariff {name!r}")
        return Response(_tariff_json(name, versions))
    require_operator(request)
    try:
        parsed, start_raw = tariff_from_json(request.json_body)
        start = None if start_raw is None else parse_time(start_raw, "start_date_time")
    except (TariffError, InvalidSession) as error:
        raise BadRequestError(str(error)) from None
    try:
        version = _guarded(lambda: tariffs.put_version(name, parsed, start))
    except VersionTaken as taken:
        raise ConflictError(str(taken)) from None
    except VersionRefused as refused:
        raise BadRequestError(str(refused)) from None
    config = _settings()
    return Response(
        version.ocpi_json(config.ocpi_country_code, config.ocpi_party_id), status_code=201
    )


# --- a session's CDRs ---------------------------------------------------------------------------


@routes.route("/sessions/{charger_id}/{connector_id}/{session_id}/cdrs")
def session_cdrs(charger_id: str, connector_id: str, session_id: str) -> dict[str, Any]:
    """The CDRs issued for a session (none while it is open for review), as OCPI CDR objects."""
    from api.app import _occurrence, _params, _session_key

    occurrence = _occurrence(_params({"occurrence"}).get("occurrence"))
    key = _session_key(charger_id, connector_id, session_id)
    cdrs = DynamoDBCdrs(_settings().sessions_table, _client())
    found = _guarded(lambda: cdrs.of_session(key, occurrence))
    return {"cdrs": found, "count": len(found)}


# --- OCPI 2.2.1 Sender --------------------------------------------------------------------------


def _ocpi_error(status: int, message: str) -> Response:
    body = ocpi.envelope(None, datetime.now(UTC), ocpi.CLIENT_ERROR, message)
    return Response(body, status_code=status)


def _base_url(request: Request) -> str:
    """Where this API is reached, as the partner reached it (API Gateway adds its stage)."""
    headers = request.headers
    scheme = str(headers.get("x-forwarded-proto") or "http")
    host = str(headers.get("host") or "localhost")
    context = request.context
    prefix = str(context.get("path", "")).removesuffix(str(context.get("resourcePath", "")))
    return f"{scheme}://{host}{prefix}"


def _authorised(request: Request) -> bool:
    return ocpi.token_accepted(request.headers.get("authorization"), _settings().ocpi_token)


_UNAUTHORISED = "send Authorization: Token <the token you were given>"


@routes.route("/ocpi/versions")
def ocpi_versions() -> Response:
    request = _request()
    if not _authorised(request):
        return _ocpi_error(401, _UNAUTHORISED)
    data = [{"version": ocpi.VERSION, "url": _base_url(request) + OCPI_BASE}]
    return Response(ocpi.envelope(data, datetime.now(UTC)))


@routes.route(OCPI_BASE)
def ocpi_version_details() -> Response:
    request = _request()
    if not _authorised(request):
        return _ocpi_error(401, _UNAUTHORISED)
    base = _base_url(request) + OCPI_BASE
    data = {
        "version": ocpi.VERSION,
        "endpoints": [{"identifier": "cdrs", "role": "SENDER", "url": base + "/cdrs"}],
    }
    return Response(ocpi.envelope(data, datetime.now(UTC)))


@routes.route(OCPI_BASE + "/cdrs")
def ocpi_cdrs() -> Response:
    """The CDRs last updated in [date_from, date_to), oldest first, paged by offset and limit
    with OCPI's Link, X-Total-Count and X-Limit headers."""
    request = _request()
    if not _authorised(request):
        return _ocpi_error(401, _UNAUTHORISED)
    try:
        window = ocpi.cdr_window(dict(request.query_params or {}))
    except ocpi.OcpiRequestError as error:
        return _ocpi_error(400, str(error))
    cdrs = DynamoDBCdrs(_settings().sessions_table, _client())
    try:
        page = cdrs.page(window.date_from, window.date_to, window.offset, window.limit)
    except StorageUnavailable:
        body = ocpi.envelope(None, datetime.now(UTC), 3000, "the store is unreachable; try again")
        return Response(body, status_code=503)
    headers: dict[str, str | list[str]] = {
        "X-Total-Count": str(page.total),
        "X-Limit": str(window.limit),
    }
    link = window.link(_base_url(request) + OCPI_BASE + "/cdrs", page.total)
    if link is not None:
        headers["Link"] = link
    return Response(ocpi.envelope(page.cdrs, datetime.now(UTC)), headers=headers)
