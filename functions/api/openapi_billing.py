"""The billing routes' part of the OpenAPI document (`api.billing`): tariffs, a session's CDRs,
and the OCPI 2.2.1 Sender interface. A CDR and a tariff are OCPI 2.2.1 objects, described here
by their top-level fields; the full shape is OCPI's (tests load every one served with an OCPI
model library nobody here wrote).
"""

from __future__ import annotations

from typing import Any, Final

from api import ocpi
from api.limits import MAX_OCCURRENCE
from api.openapi_parameters import OPERATOR_KEY_HEADER

JSON = dict[str, Any]
TARIFF_ID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,36}$"

_OCPI_TIME: Final = {"type": "string", "format": "date-time"}
_PRICE: Final = {
    "type": "object",
    "required": ["excl_vat"],
    "properties": {"excl_vat": {"type": "number"}, "incl_vat": {"type": "number"}},
}


def schemas() -> JSON:
    tariff = {
        "type": "object",
        "description": "An OCPI 2.2.1 Tariff object: one version of a tariff, from its"
        " start_date_time.",
        "required": ["country_code", "party_id", "id", "currency", "elements", "last_updated"],
        "properties": {
            "country_code": {"type": "string"},
            "party_id": {"type": "string"},
            "id": {"type": "string", "pattern": TARIFF_ID_PATTERN},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "elements": {"type": "array", "items": {"type": "object"}},
            "start_date_time": _OCPI_TIME,
            "last_updated": _OCPI_TIME,
        },
    }
    cdr = {
        "type": "object",
        "description": "An OCPI 2.2.1 CDR object, as issued (never changed afterwards).",
        "required": [
            *("id", "start_date_time", "end_date_time", "cdr_token", "cdr_location"),
            *("currency", "charging_periods", "total_cost", "total_energy", "total_time"),
            "last_updated",
        ],
        "properties": {
            "id": {"type": "string", "maxLength": 39},
            "start_date_time": _OCPI_TIME,
            "end_date_time": _OCPI_TIME,
            "cdr_token": {"type": "object"},
            "cdr_location": {"type": "object"},
            "currency": {"type": "string"},
            "charging_periods": {"type": "array", "items": {"type": "object"}},
            "total_cost": _PRICE,
            "total_energy": {"type": "number"},
            "total_time": {"type": "number"},
            "credit": {"type": "boolean"},
            "credit_reference_id": {"type": "string"},
            "last_updated": _OCPI_TIME,
        },
    }
    return {
        "Tariff": tariff,
        "TariffVersions": {
            "type": "object",
            "required": ["tariff_id", "versions"],
            "properties": {
                "tariff_id": {"type": "string", "pattern": TARIFF_ID_PATTERN},
                "versions": {"type": "array", "items": {"$ref": "#/components/schemas/Tariff"}},
            },
        },
        "TariffList": {
            "type": "object",
            "required": ["tariffs"],
            "properties": {
                "tariffs": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/TariffVersions"},
                }
            },
        },
        "TariffRequest": {
            "type": "object",
            "description": "A new version: OCPI's currency and elements (no restrictions), and"
            " when it starts (default: a minute from now, the earliest allowed).",
            "required": ["currency", "elements"],
            "properties": {
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                "elements": {"type": "array", "items": {"type": "object"}},
                "start_date_time": _OCPI_TIME,
            },
        },
        "Cdr": cdr,
        "SessionCdrs": {
            "type": "object",
            "required": ["cdrs", "count"],
            "properties": {
                "cdrs": {"type": "array", "items": {"$ref": "#/components/schemas/Cdr"}},
                "count": {"type": "integer", "minimum": 0},
            },
        },
        "OcpiResponse": {
            "type": "object",
            "description": "OCPI's response envelope.",
            "required": ["status_code", "status_message", "timestamp"],
            "properties": {
                "data": {},
                "status_code": {"type": "integer"},
                "status_message": {"type": "string"},
                "timestamp": _OCPI_TIME,
            },
        },
    }


def _envelope(description: str) -> JSON:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OcpiResponse"}}},
    }


def _errors(*statuses: int) -> JSON:
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
    names |= {405: "MethodNotAllowed", 409: "Conflict", 503: "Unavailable"}
    return {str(s): {"$ref": f"#/components/responses/{names[s]}"} for s in statuses}


def _ok(schema: str, description: str) -> JSON:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


_TARIFF_ID: Final = {
    "name": "tariff_id",
    "in": "path",
    "required": True,
    "description": "The tariff.",
    "schema": {"type": "string", "pattern": TARIFF_ID_PATTERN},
    "example": "AC-STANDARD",
}
_OPERATOR_KEY: Final = OPERATOR_KEY_HEADER
_OCPI_SECURITY: Final[list[JSON]] = [{"ocpiToken": []}]


def _ocpi_get(operation_id: str, summary: str, description: str, parameters: list[JSON]) -> JSON:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "tags": ["ocpi"],
            "security": _OCPI_SECURITY,
            "parameters": parameters,
            "responses": {
                "200": _envelope("Success (status_code 1000)."),
                "401": _envelope("No token, or not the configured one (status_code 2001)."),
                **_errors(405),
            },
        }
    }


def paths(session_identity: list[JSON]) -> JSON:
    query = {"in": "query", "required": False}
    cdrs = _ocpi_get(
        "ocpiCdrs",
        "CDRs (OCPI 2.2.1 Sender)",
        "The CDRs last updated in [date_from, date_to), oldest first, from offset. Headers:"
        " X-Total-Count (the window's CDRs), X-Limit, and Link to the next page. date_to must"
        " be after date_from.",
        [
            {"name": "date_from", **query, "schema": _OCPI_TIME},
            {"name": "date_to", **query, "schema": _OCPI_TIME},
            {
                "name": "offset",
                **query,
                "schema": {"type": "integer", "minimum": 0, "maximum": ocpi.MAX_OFFSET},
            },
            {
                "name": "limit",
                **query,
                "schema": {"type": "integer", "minimum": 1, "maximum": ocpi.MAX_LIMIT},
            },
        ],
    )
    cdrs["get"]["responses"]["200"]["headers"] = {
        "X-Total-Count": {"schema": {"type": "integer"}},
        "X-Limit": {"schema": {"type": "integer"}},
        "Link": {"schema": {"type": "string"}},
    }
    cdrs["get"]["responses"]["400"] = _envelope("A parameter is malformed (status_code 2001).")
    cdrs["get"]["responses"]["503"] = _envelope("The store is unreachable (status_code 3000).")
    return {
        "/tariffs": {
            "get": {
                "operationId": "listTariffs",
                "summary": "Tariffs and their versions",
                "description": "Every tariff kept as data, each with its versions, oldest first.",
                "tags": ["billing"],
                "parameters": [],
                "responses": {
                    "200": _ok("TariffList", "The tariffs."),
                    **_errors(401, 405, 503),
                },
                "x-example-requests": ["/tariffs"],
            }
        },
        "/tariffs/{tariff_id}": {
            "get": {
                "operationId": "getTariff",
                "summary": "One tariff's versions",
                "description": "Each version an OCPI 2.2.1 Tariff, from its start_date_time.",
                "tags": ["billing"],
                "parameters": [_TARIFF_ID],
                "responses": {
                    "200": _ok("TariffVersions", "The versions."),
                    **_errors(400, 401, 404, 405, 503),
                },
            },
            "put": {
                "operationId": "putTariffVersion",
                "summary": "A new version of a tariff (operator)",
                "description": "From start_date_time, at least a minute ahead: a version never"
                " changes a cost already priced. Needs x-operator-key.",
                "tags": ["billing"],
                "parameters": [_TARIFF_ID, _OPERATOR_KEY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/TariffRequest"}
                        }
                    },
                },
                "responses": {
                    "201": _ok("Tariff", "The version, as OCPI serves it."),
                    **_errors(400, 401, 403, 405, 409, 503),
                },
            },
        },
        "/sessions/{charger_id}/{connector_id}/{session_id}/cdrs": {
            "get": {
                "operationId": "getSessionCdrs",
                "summary": "A session's CDRs",
                "description": "The OCPI CDRs issued for the session, in the order issued: one"
                " for a clean or accepted session; with a Credit CDR once voided; and a CDR of"
                " the corrected values once corrected. None while it is open for review.",
                "tags": ["billing"],
                "parameters": [
                    *session_identity,
                    {
                        "name": "occurrence",
                        **query,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_OCCURRENCE},
                    },
                ],
                "responses": {
                    "200": _ok("SessionCdrs", "The CDRs."),
                    **_errors(400, 401, 405, 503),
                },
                "x-example-requests": ["/sessions/1/1/1/cdrs"],
            }
        },
        "/ocpi/versions": _ocpi_get(
            "ocpiVersions", "OCPI versions", "The OCPI versions offered: 2.2.1.", []
        ),
        "/ocpi/2.2.1": _ocpi_get(
            "ocpiVersionDetails",
            "OCPI 2.2.1 endpoints",
            "The modules offered: cdrs, as SENDER.",
            [],
        ),
        "/ocpi/2.2.1/cdrs": cdrs,
    }


SECURITY_SCHEME: Final = {
    "ocpiToken": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "OCPI partners: 'Token <token>' (OCPI_TOKEN, base64 or plain).",
    }
}
