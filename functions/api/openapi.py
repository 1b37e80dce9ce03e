"""The query API's contract as an OpenAPI 3.0.3 document, built once and served at /openapi.json.

Every route of `api.app` (except the catch-all `/{proxy+}`, which only turns unknown paths into a
JSON 404) is described with its parameters, the 200 response and the error responses, all of the
shape `{"error": CODE, "message": TEXT}`. `api.docs` renders the same document as an HTML page,
and tests compare the paths with the Chalice routes and the template's Api events, and run
schemathesis against the served document.

The limits are the API's own (`api.limits`, which the app imports too); the patterns and codes
below repeat the contract's and the integrity rules', and tests keep them in step.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from api import openapi_billing
from api.limits import (
    DEFAULT_LIMIT,
    DEFAULT_TOTALS_WINDOW_DAYS,
    MAX_BUCKETS,
    MAX_LIMIT,
    MAX_OCCURRENCE,
)
from api.openapi_parameters import OPERATOR_KEY_HEADER
from evsessions.ocpp.commands import COMMAND_ACTIONS, RETENTION

JSON = dict[str, Any]

OPENAPI_VERSION: Final = "3.0.3"
IDENTIFIER_PATTERN: Final = r"^[A-Za-z0-9_.:-]{1,64}$"
"""Charger, connector and session ids (evsessions.contract)."""
CURSOR_PATTERN: Final = r"^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{24}$"
"""A cursor (api.cursors): a JSON object in unpadded base64url (so it starts `eyJ`, `{"`), a dot,
and its 18-byte HMAC-SHA256 signature in base64url (24 characters)."""
CURSOR_MAX_LENGTH: Final = 4096
_DATE = r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_OFFSET = r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
DATE_PATTERN: Final = f"^{_DATE}$"
DATE_TIME_PATTERN: Final = f"^{_DATE}[Tt]{_TIME}{_OFFSET}$"
ERROR_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    503: "unavailable",
}
FINDING_CODES: Final = (
    *("meter_regression", "zero_start_meter", "power_implausible", "clock_ahead"),
    *("end_before_start", "duration_above_limit", "energy_above_limit", "cost_above_limit"),
    *("clock_not_set", "transaction_id_out_of_range", "meter_value_invalid", "unit_mislabelled"),
    *("unknown_transaction", "id_tag_blocked", "id_tag_expired", "id_tag_invalid"),
    *("invalid_value", "unknown_field"),
)
"""evsessions.integrity.RULES' codes (a test keeps them in step)."""


def _ref(kind: str, name: str) -> JSON:
    return {"$ref": f"#/components/{kind}/{name}"}


def _nullable(schema: JSON) -> JSON:
    return {**schema, "nullable": True}


def _object(properties: JSON, description: str, optional: tuple[str, ...] = ()) -> JSON:
    """A closed object: every property but the `optional` is required; no other may appear."""
    return {
        "type": "object",
        "description": description,
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "additionalProperties": False,
    }


_TIMESTAMP: Final = {
    "type": "string",
    "format": "date-time",
    "description": "UTC, milliseconds, e.g. 2026-11-27T18:35:00.000Z",
    "example": "2026-11-27T18:35:00.000Z",
}
_IDENTIFIER: Final = {
    "type": "string",
    "pattern": IDENTIFIER_PATTERN,
    "minLength": 1,
    "maxLength": 64,
}
_COUNT: Final = {"type": "integer", "minimum": 0}


def _totals_properties() -> JSON:
    return {
        "sessions": {
            **_COUNT,
            "description": "Sessions counted, each once (a duplicate never, a session under a"
            " reused session id always).",
        },
        "energy_kWh": {
            "type": "number",
            "minimum": 0,
            "description": "Energy delivered, kWh, to the watt-hour.",
        },
        "cost_cents": {**_COUNT, "description": "Sum of session_cost_in_cents."},
        "average_duration_seconds": {
            "type": "number",
            "minimum": 0,
            "description": "Mean duration_in_seconds (0 when there are no sessions).",
        },
    }


def _billed_properties() -> JSON:
    return {
        "energy_delivered_in_kWh": {"type": "number", "minimum": 0},
        "duration_in_seconds": {"type": "integer", "minimum": 0},
        "session_cost_in_cents": {"type": "integer", "minimum": 0},
    }


def _schemas() -> JSON:
    connector = _object(
        {
            "connector_id": _IDENTIFIER,
            **_totals_properties(),
            "last_session_ended_at": _nullable(_TIMESTAMP),
        },
        "One connector of a charger with its lifetime totals.",
    )
    return {
        "Error": _object(
            {
                "error": {"type": "string", "enum": sorted(set(ERROR_CODES.values()))},
                "message": {"type": "string", "description": "What went wrong and what to do."},
            },
            "Every error has this shape; the message never holds internals.",
        ),
        "Health": {
            **_object(
                {
                    "status": {"type": "string", "enum": ["ok", "unavailable"]},
                    "database": {"type": "string", "enum": ["reachable", "unreachable"]},
                    "dead_letters": _nullable(
                        {
                            **_COUNT,
                            "description": "Messages waiting in the dead-letter queue for a"
                            " replay; null when the queue is not configured or not reachable.",
                        }
                    ),
                    "reused_session_ids": {
                        **_COUNT,
                        "description": "Sessions stored under a session id that their charger"
                        " had already used for another session (its counter restarted): each"
                        " is an occurrence above 1 of its identity.",
                    },
                    "suspect_sessions_open": {
                        **_COUNT,
                        "description": "Suspect sessions waiting for an operator's decision"
                        " (GET /sessions?review=open lists them).",
                    },
                    "alarms": _nullable(
                        {
                            "type": "array",
                            "description": "The template's alarms the local emulator evaluates,"
                            " with their state; null deployed, where CloudWatch evaluates them"
                            " (its dashboard and the alarm topic show them).",
                            "items": _object(
                                {
                                    "logical_id": {"type": "string"},
                                    "label": {"type": "string"},
                                    "state": {"type": "string", "enum": ["ALARM", "OK"]},
                                    "value": {"type": "number"},
                                    "condition": {"type": "string"},
                                },
                                "One alarm: its name in template.yaml, its short name, its"
                                " state and the value it was evaluated on.",
                            ),
                        }
                    ),
                },
                "Whether the API can reach its table, how many messages were dead-lettered, and"
                " how many session ids were reused.",
            ),
            "required": ["status", "database"],
        },
        "Session": _object(
            {
                "charger_id": _IDENTIFIER,
                "connector_id": _IDENTIFIER,
                "session_id": {
                    "description": "As the charger sent it (the original chargers send integers).",
                    "oneOf": [
                        {"type": "integer", "minimum": 0},
                        {"type": "string", "pattern": IDENTIFIER_PATTERN},
                    ],
                },
                **_billed_properties(),
                "ended_at": _TIMESTAMP,
                "ended_at_source": {
                    "type": "string",
                    "enum": ["payload", "received"],
                    "description": "payload: the charger sent it; received: when IoT received it.",
                },
                "received_at": _nullable(_TIMESTAMP),
                "transaction": _object(
                    {
                        "started_at": _nullable(_TIMESTAMP),
                        "stop_reason": _nullable({"type": "string"}),
                        "meter_start_wh": _nullable({"type": "integer", "minimum": 0}),
                        "meter_stop_wh": _nullable({"type": "integer", "minimum": 0}),
                        "id_tag": _nullable(
                            {"type": "string", "description": "The id tag that started it."}
                        ),
                        "stop_id_tag": _nullable(
                            {"type": "string", "description": "The one that stopped it, if other."}
                        ),
                        "billed_from": _nullable(
                            {
                                "type": "string",
                                "description": "Where the billed energy came from when not"
                                " from the Start and Stop meters.",
                            }
                        ),
                        "remote_start_by": _nullable(
                            {
                                "type": "string",
                                "description": "Who asked for it (RemoteStartTransaction).",
                            }
                        ),
                        "remote_stop_by": _nullable(
                            {
                                "type": "string",
                                "description": "Who asked for its end (RemoteStopTransaction).",
                            }
                        ),
                    },
                    "What a real charger's OCPP transaction told (its sessions only).",
                ),
                "verdict": {
                    "type": "string",
                    "enum": ["clean", "suspect"],
                    "description": "The integrity verdict on arrival: suspect sessions are"
                    " stored, with their findings, and counted apart from revenue.",
                },
                "findings": {"type": "array", "items": _ref("schemas", "Finding")},
                "counts_as": {
                    "type": "string",
                    "enum": ["clean", "suspect", "void"],
                    "description": "Which totals it adds to now: revenue (clean, or suspect and"
                    " accepted or corrected), the suspect totals (open), or none (voided).",
                },
                "raw": {
                    "description": "A suspect session's message as it arrived (without what the"
                    " rule added).",
                },
                "resolution": _ref("schemas", "Resolution"),
                "occurrence": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_OCCURRENCE,
                    "description": "1 for the first session under its identity; 2, 3, ... for"
                    " sessions the charger sent later under the same session id with other"
                    " content (a reused id). Get one with ?occurrence=n.",
                },
            },
            "One charging session.",
            optional=("transaction", "raw", "resolution"),
        ),
        "Finding": _object(
            {
                "code": {"type": "string", "enum": list(FINDING_CODES)},
                "detail": {"type": "string", "maxLength": 200},
            },
            "Why a session is suspect: a rule's code and what it saw.",
        ),
        "Resolution": _object(
            {
                "action": {"type": "string", "enum": ["accept", "correct", "void"]},
                "at": _TIMESTAMP,
                "reason": {"type": "string"},
                "by": {"type": "string"},
                "original": _nullable(
                    _object(_billed_properties(), "What was billed before a correction.")
                ),
            },
            "An operator's decision on a suspect session, made once.",
        ),
        "ResolutionRequest": _object(
            {
                "action": {"type": "string", "enum": ["accept", "correct", "void"]},
                "reason": {"type": "string", "minLength": 1, "maxLength": 500},
                "values": _object(
                    _billed_properties(), "The values to bill (action correct only)."
                ),
            },
            "accept: bill it as stored; correct: bill these values; void: bill nothing.",
            optional=("values",),
        ),
        "SessionPage": _object(
            {
                "sessions": {"type": "array", "items": _ref("schemas", "Session")},
                "count": {**_COUNT, "maximum": MAX_LIMIT},
                "next_cursor": _nullable(
                    {
                        "type": "string",
                        "pattern": CURSOR_PATTERN,
                        "description": "Pass as cursor for the next page; null on the last page.",
                    }
                ),
            },
            "One page of sessions, newest first.",
        ),
        "Connector": connector,
        "Charger": _object(
            {
                "charger_id": _IDENTIFIER,
                **_totals_properties(),
                "suspect": _ref("schemas", "Totals"),
                "last_session_ended_at": _nullable(_TIMESTAMP),
                "connectors": {"type": "array", "items": _ref("schemas", "Connector")},
            },
            "One charger with its lifetime totals and its connectors.",
        ),
        "ChargerPage": _object(
            {
                "chargers": {"type": "array", "items": _ref("schemas", "Charger")},
                "next_cursor": _nullable({"type": "string", "pattern": CURSOR_PATTERN}),
            },
            "One page of chargers in id order.",
        ),
        "ChargePoint": _object(
            {
                "charger_id": _IDENTIFIER,
                "connected": {"type": "boolean"},
                "last_seen": _nullable(_TIMESTAMP),
                "vendor": _nullable({"type": "string"}),
                "model": _nullable({"type": "string"}),
                "transactions_started": _COUNT,
                "diagnostics_status": _nullable(
                    {"type": "string", "description": "The last DiagnosticsStatusNotification."}
                ),
                "firmware_status": _nullable(
                    {"type": "string", "description": "The last FirmwareStatusNotification."}
                ),
                "connectors": {
                    "type": "array",
                    "items": _object(
                        {
                            "connector_id": {"type": "string"},
                            "status": {"type": "string"},
                            "error_code": {"type": "string"},
                        },
                        "A connector's last StatusNotification.",
                    ),
                },
                "open_transactions": {
                    "type": "array",
                    "items": _object(
                        {
                            "connector_id": {"type": "string"},
                            "transaction_id": {"type": "integer", "minimum": 1},
                        },
                        "A transaction started and not stopped yet (RemoteStopTransaction"
                        " names it).",
                    ),
                },
            },
            "A real charger (OCPP) as the central system last saw it.",
        ),
        "ChargePointList": _object(
            {
                "charge_points": {"type": "array", "items": _ref("schemas", "ChargePoint")},
                "count": {**_COUNT, "maximum": MAX_LIMIT},
                "more": {"type": "boolean", "description": "More charge points than the limit."},
            },
            "Real chargers in id order.",
        ),
        **_id_tag_schemas(),
        **_registry_schemas(),
        **openapi_billing.schemas(),
        **_command_schemas(),
        "Totals": _object(_totals_properties(), "Aggregates over a set of sessions."),
        "BucketTotals": _object(
            {"start": _TIMESTAMP, **_totals_properties(), "suspect": _ref("schemas", "Totals")},
            "The totals of one hour or day that has sessions.",
        ),
        "TotalsReport": _object(
            {
                "charger": _nullable(_IDENTIFIER),
                "bucket": {"type": "string", "enum": ["hour", "day"]},
                "from": {**_TIMESTAMP, "description": "Start of the first bucket."},
                "to": {**_TIMESTAMP, "description": "End of the last bucket (exclusive)."},
                "totals": _ref("schemas", "Totals"),
                "suspect": _ref("schemas", "Totals"),
                "buckets": {"type": "array", "items": _ref("schemas", "BucketTotals")},
            },
            "Totals for the fleet or one charger over a window, and per bucket (empty ones left"
            " out).",
        ),
    }


_ID_TAG_STATUS: Final = {"type": "string", "enum": ["Accepted", "Blocked", "Expired", "Invalid"]}
_ID_TAG: Final = {
    "type": "string",
    "pattern": "^[\\x20-\\x7e]{1,20}$",
    "description": "An OCPP IdToken: 1-20 printable ASCII characters.",
    "example": "CARD-0001",
}


REGISTRY_ID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,36}$"
"""A registry charger id (evsessions.registry): a topic segment, an OCPP id and an OCPI uid."""
REGISTRY_STATUSES: Final = ("ACTIVE", "RETIRED")
REGISTRY_STANDARDS: Final = (
    *("CHADEMO", "DOMESTIC_F", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2"),
    *("IEC_62196_T2_COMBO", "GBT_DC", "TESLA_S"),
)
"""evsessions.registry's STATUSES and STANDARDS (a test keeps them in step)."""
_REGISTRY_ID: Final = {"type": "string", "pattern": REGISTRY_ID_PATTERN, "example": "depot-7"}


def _text(longest: int, example: str) -> JSON:
    return {"type": "string", "minLength": 1, "maxLength": longest, "example": example}


def _registry_schemas() -> JSON:
    location = _object(
        {
            "address": _text(45, "Kaigata 1"),
            "city": _text(45, "Bergen"),
            "postal_code": _text(10, "5016"),
            "country": {
                "type": "string",
                "pattern": "^[A-Z]{3}$",
                "description": "ISO 3166-1 alpha-3 (ZZZ: not recorded yet).",
                "example": "NOR",
            },
            "coordinates": _object(
                {
                    "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                    "longitude": {"type": "number", "minimum": -180, "maximum": 180},
                },
                "WGS 84 decimal degrees.",
            ),
            "time_zone": {**_text(255, "Europe/Oslo"), "description": "An IANA time zone."},
        },
        "Where the charger is (OCPI Location's fields).",
    )
    connector = _object(
        {
            "connector_id": {"type": "integer", "minimum": 1},
            "standard": {"type": "string", "enum": list(REGISTRY_STANDARDS)},
            "format": {"type": "string", "enum": ["SOCKET", "CABLE"]},
            "power_type": {
                "type": "string",
                "enum": ["AC_1_PHASE", "AC_2_PHASE", "AC_3_PHASE", "DC"],
            },
            "max_electric_power_w": {"type": "integer", "minimum": 1, "maximum": 2_000_000},
        },
        "One connector (OCPI Connector's fields).",
    )
    fields = {
        "charger_id": _REGISTRY_ID,
        "name": _text(255, "Harbour depot 7"),
        "location": location,
        "connectors": {"type": "array", "minItems": 1, "items": connector},
        "tariff_id": {**_REGISTRY_ID, "example": "dc-standard"},
        "status": {
            "type": "string",
            "enum": list(REGISTRY_STATUSES),
            "description": "RETIRED: refused by the broker and the OCPP endpoint, not simulated.",
        },
        "simulated": {
            "type": "boolean",
            "description": "One of the publisher's simulated chargers (publishes while ACTIVE).",
        },
        "last_updated": {**_TIMESTAMP, "description": "When the record was last written."},
    }
    return {
        "RegistryChargerPut": _object(
            fields,
            "A charger as an operator sends it: name, location and connectors; the rest"
            " optional (status ACTIVE, simulated false; last_updated is ignored).",
            optional=("charger_id", "tariff_id", "status", "simulated", "last_updated"),
        ),
        "RegistryCharger": _object(fields, "A charger of the registry.", optional=("tariff_id",)),
        "RegistryChargerList": _object(
            {
                "chargers": {"type": "array", "items": _ref("schemas", "RegistryCharger")},
                "count": _COUNT,
            },
            "The registry's chargers in charger-id order.",
        ),
    }


def _id_tag_schemas() -> JSON:
    entry = {
        "status": _ID_TAG_STATUS,
        "expiry_date": {
            **_TIMESTAMP,
            "description": "After it, an Accepted tag answers Expired.",
        },
        "parent_id_tag": _ID_TAG,
    }
    return {
        "IdTagEntry": _object(
            entry,
            "An id tag as an operator sets it.",
            optional=("expiry_date", "parent_id_tag"),
        ),
        "IdTag": _object(
            {
                "id_tag": _ID_TAG,
                **entry,
                "status_now": {**_ID_TAG_STATUS, "description": "What it answers now."},
                "updated_at": _nullable(_TIMESTAMP),
            },
            "An id tag of the OCPP central system's list.",
            optional=("expiry_date", "parent_id_tag"),
        ),
        "IdTagList": _object(
            {
                "id_tags": {"type": "array", "items": _ref("schemas", "IdTag")},
                "count": {**_COUNT, "maximum": MAX_LIMIT},
                "more": {"type": "boolean", "description": "More id tags than the limit."},
            },
            "Id tags in tag order.",
        ),
    }


def _command_schemas() -> JSON:
    ocpp_object = {"type": "object", "additionalProperties": True}
    return {
        "Command": _object(
            {
                "command_id": {"type": "string", "description": "The CALL's unique id."},
                "charger_id": _IDENTIFIER,
                "action": {"type": "string", "enum": list(COMMAND_ACTIONS)},
                "request": {**ocpp_object, "description": "The OCPP request payload as sent."},
                "requested_at": _TIMESTAMP,
                "requested_by": {"type": "string", "description": "Who asked (the operator)."},
                "timeout_at": {
                    **_TIMESTAMP,
                    "description": "Unanswered by then, the command is timed_out.",
                },
                "status": {
                    "type": "string",
                    "enum": ["pending", "answered", "error", "timed_out"],
                    "description": "answered: the charger's CALLRESULT is in response; error:"
                    " its CALLERROR (or a lost connection, or a malformed answer) is in error.",
                },
                "response": _nullable({**ocpp_object, "description": "The CALLRESULT payload."}),
                "error": _nullable(
                    _object(
                        {
                            "code": {"type": "string", "example": "NotImplemented"},
                            "description": {"type": "string"},
                            "details": ocpp_object,
                        },
                        "The charger's CALLERROR, or ConnectionLost, NotConnected,"
                        " FormationViolation.",
                    )
                ),
                "answered_at": _nullable(_TIMESTAMP),
            },
            "An operator's OCPP command to a charge point, and its answer.",
        ),
    }


def _error_response(status: int, description: str) -> JSON:
    code = ERROR_CODES[status]
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": _ref("schemas", "Error"),
                "example": {"error": code, "message": description},
            }
        },
    }


def _responses() -> JSON:
    return {
        "BadRequest": _error_response(
            400, "A parameter is malformed, out of range, unknown, or needs another one."
        ),
        "Unauthorized": _error_response(
            401, "API_KEY is set and x-api-key is missing or wrong (or x-operator-key, on a write)."
        ),
        "Forbidden": _error_response(403, "Operator writes are off: OPERATOR_KEY is not set."),
        "Conflict": _error_response(
            409, "The session is clean, or an operator already resolved it."
        ),
        "NotFound": _error_response(404, "No such session, or no such route."),
        "MethodNotAllowed": _error_response(405, "The path exists, but only for GET."),
        "Unavailable": _error_response(503, "The session store is unreachable; retry later."),
    }


def _time_parameter(name: str, description: str, example: str) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description
        + " ISO 8601 with an offset (2026-11-27T18:00:00Z) or a date (2026-11-27, midnight UTC);"
        " the years 2000-2099, its offset applied (2000-01-01T00:30:00+01:00 is 1999 in UTC:"
        " a 400).",
        "schema": {
            "anyOf": [
                {"type": "string", "format": "date", "pattern": DATE_PATTERN},
                {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN},
            ]
        },
        "example": example,
    }


def _parameters() -> JSON:
    return {
        "limit": {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"Page size, 1 to {MAX_LIMIT}; more is a 400.",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "default": DEFAULT_LIMIT,
            },
            "example": 10,
        },
        "cursor": {
            "name": "cursor",
            "in": "query",
            "required": False,
            "description": (
                "next_cursor of the previous page, as is, with the same filters. Signed and valid"
                " for 24 hours: a forged, altered, expired or foreign cursor is a 400."
            ),
            "schema": {
                "type": "string",
                "pattern": CURSOR_PATTERN,
                "minLength": 29,
                "maxLength": CURSOR_MAX_LENGTH,
            },
        },
        "charger": {
            "name": "charger",
            "in": "query",
            "required": False,
            "description": "Only this charger.",
            "schema": _IDENTIFIER,
            "example": "1",
        },
        "connector": {
            "name": "connector",
            "in": "query",
            "required": False,
            "description": "Only this connector of the charger; needs charger (a 400 without).",
            "schema": _IDENTIFIER,
            "example": "1",
        },
        "from": _time_parameter("from", "Sessions that ended at or after this time.", "2026-11-01"),
        "to": _time_parameter(
            "to", "Sessions that ended before this time (must be after from).", "2026-12-01"
        ),
        "verdict": {
            "name": "verdict",
            "in": "query",
            "required": False,
            "description": "Only sessions judged so on arrival.",
            "schema": {"type": "string", "enum": ["clean", "suspect"]},
            "example": "suspect",
        },
        "review": {
            "name": "review",
            "in": "query",
            "required": False,
            "description": "open: only suspect sessions no operator resolved yet, newest first"
            " (from their own sparse index; charger and connector filter it).",
            "schema": {"type": "string", "enum": ["open"]},
            "example": "open",
        },
        "bucket": {
            "name": "bucket",
            "in": "query",
            "required": False,
            "description": (
                f"Bucket width. A window holds at most {MAX_BUCKETS['hour']} hours or"
                f" {MAX_BUCKETS['day']} days; a wider one is a 400."
            ),
            "schema": {"type": "string", "enum": ["hour", "day"], "default": "day"},
            "example": "day",
        },
    }


_CURSOR_RULE: Final = "cursor only as the next_cursor the same query returned, within 24 hours"
_WINDOW_RULE: Final = "from earlier than to"


def _rules(*rules: str) -> str:
    """Rules that span parameters (OpenAPI 3.0 cannot express them in the parameters' schemas)."""
    return " Rules across parameters, each a 400 when broken: " + "; ".join(rules) + "."


def _path_parameter(name: str, description: str, example: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": _IDENTIFIER,
        "example": example,
    }


def _session_identity() -> list[JSON]:
    """The path parameters that name one session."""
    return [
        _path_parameter("charger_id", "The charger.", "1"),
        _path_parameter("connector_id", "The connector of that charger.", "1"),
        _path_parameter("session_id", "The session id the charger sent.", "1"),
    ]


def _ok(schema: JSON, description: str, media_type: str = "application/json") -> JSON:
    return {"description": description, "content": {media_type: {"schema": schema}}}


def _errors(*statuses: int) -> JSON:
    names = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        409: "Conflict",
        503: "Unavailable",
    }
    return {str(status): _ref("responses", names[status]) for status in statuses}


def _operation(
    operation_id: str,
    summary: str,
    description: str,
    parameters: list[JSON],
    responses: JSON,
    examples: list[str],
    tag: str,
) -> JSON:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "tags": [tag],
            "parameters": parameters,
            "responses": responses,
            "x-example-requests": examples,
        }
    }


def _paths() -> JSON:
    query = [_ref("parameters", name) for name in ("limit", "charger", "connector", "from", "to")]
    return {
        "/health": _operation(
            "getHealth",
            "Is the API up and its table reachable?",
            "One GetItem of the fleet's counters (reused session ids, open suspects), which"
            " also shows the table answers.",
            [],
            {
                "200": _ok(_ref("schemas", "Health"), "The table is reachable."),
                "503": _ok(_ref("schemas", "Health"), "The table is unreachable."),
                **_errors(401, 405),
            },
            ["/health"],
            "operations",
        ),
        "/sessions": _operation(
            "listSessions",
            "Sessions, newest first",
            "For the fleet, one charger or one connector, ending in [from, to). One Query per"
            " page (the fleet walks the months that hold sessions, newest first)."
            + _rules("connector needs charger", _WINDOW_RULE, _CURSOR_RULE),
            [*query, *(_ref("parameters", n) for n in ("verdict", "review", "cursor"))],
            {
                "200": _ok(_ref("schemas", "SessionPage"), "One page of sessions."),
                **_errors(400, 401, 405, 503),
            },
            [
                "/sessions?limit=10",
                "/sessions?charger=1&connector=2&from=2026-11-01&to=2026-12-01",
                "/sessions?from=2026-11-27T18:00:00Z&limit=100",
            ],
            "sessions",
        ),
        "/sessions/{charger_id}/{connector_id}/{session_id}": _operation(
            "getSession",
            "One session by its identity",
            "A GetItem on (charger, connector, session, occurrence).",
            [
                *_session_identity(),
                {
                    "name": "occurrence",
                    "in": "query",
                    "required": False,
                    "description": "Which session under this identity, when the charger reused"
                    " the session id (see Session.occurrence); more than there are is a 404.",
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_OCCURRENCE,
                        "default": 1,
                    },
                    "example": 1,
                },
            ],
            {
                "200": _ok(_ref("schemas", "Session"), "The session."),
                **_errors(400, 401, 404, 405, 503),
            },
            ["/sessions/1/1/1", "/sessions/1/1/1?occurrence=1"],
            "sessions",
        ),
        "/sessions/{charger_id}/{connector_id}/{session_id}/resolution": {
            "post": {
                "operationId": "resolveSession",
                "summary": "An operator's decision on a suspect session",
                "description": "accept (it joins revenue as billed), correct (revenue gets the"
                " values given) or void (it counts nowhere); once per session, recorded with"
                " when, why and by whom. Needs the operator key in x-operator-key.",
                "tags": ["sessions"],
                "parameters": [
                    *_session_identity(),
                    {
                        "name": "occurrence",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_OCCURRENCE},
                    },
                    OPERATOR_KEY_HEADER,
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("schemas", "ResolutionRequest")}
                    },
                },
                "responses": {
                    "200": _ok(_ref("schemas", "Session"), "The session as resolved."),
                    **_errors(400, 401, 403, 404, 405, 409, 503),
                },
            }
        },
        "/chargers": _operation(
            "listChargers",
            "Chargers with their connectors and lifetime totals",
            "In charger id order; totals and last end times are kept at write time."
            + _rules(_CURSOR_RULE),
            [_ref("parameters", "limit"), _ref("parameters", "cursor")],
            {
                "200": _ok(_ref("schemas", "ChargerPage"), "One page of chargers."),
                **_errors(400, 401, 405, 503),
            },
            ["/chargers", "/chargers?limit=100"],
            "chargers",
        ),
        "/chargepoints": _operation(
            "listChargePoints",
            "Real chargers (OCPP 1.6J): connected or not, last seen, connector statuses",
            "What the OCPP central system keeps of each charge point, in charger id order.",
            [_ref("parameters", "limit")],
            {
                "200": _ok(_ref("schemas", "ChargePointList"), "The charge points."),
                **_errors(400, 401, 405, 503),
            },
            ["/chargepoints", "/chargepoints?limit=10"],
            "chargers",
        ),
        "/totals": _operation(
            "getTotals",
            "Totals per hour or day for the fleet or one charger",
            f"The window defaults to the {DEFAULT_TOTALS_WINDOW_DAYS} days before now. Read from"
            " aggregates kept at write time: the cost does not grow with the number of sessions."
            + _rules(
                f"{_WINDOW_RULE} (to defaults to now, from to {DEFAULT_TOTALS_WINDOW_DAYS} days"
                " before to)",
                f"the window [from, to) spans at most {MAX_BUCKETS['hour']} hours with"
                f" bucket=hour, {MAX_BUCKETS['day']} days with bucket=day",
            ),
            [_ref("parameters", name) for name in ("charger", "from", "to", "bucket")],
            {
                "200": _ok(_ref("schemas", "TotalsReport"), "The totals and the buckets."),
                **_errors(400, 401, 405, 503),
            },
            [
                "/totals",
                "/totals?charger=1&bucket=hour&from=2026-11-27&to=2026-11-28",
                "/totals?from=2026-01-01&to=2027-01-01",
            ],
            "totals",
        ),
        **_id_tag_paths(),
        **_registry_paths(),
        **openapi_billing.paths(_session_identity()),
        **_command_paths(),
        "/openapi.json": _operation(
            "getOpenApi",
            "This document",
            "The OpenAPI 3.0.3 description of the API.",
            [],
            {"200": _ok({"type": "object"}, "The document."), **_errors(401, 405)},
            ["/openapi.json"],
            "operations",
        ),
        "/docs": _operation(
            "getDocs",
            "This API as a readable page",
            "Server-rendered HTML generated from /openapi.json.",
            [],
            {"200": _ok({"type": "string"}, "The page.", "text/html"), **_errors(401, 405)},
            ["/docs"],
            "operations",
        ),
    }


def _id_tag_paths() -> JSON:
    tag = {
        "name": "tag",
        "in": "path",
        "required": True,
        "description": "The id tag.",
        "schema": _ID_TAG,
        "example": "CARD-0001",
    }
    operator_key = OPERATOR_KEY_HEADER
    one = _ok(_ref("schemas", "IdTag"), "The id tag.")
    return {
        "/idtags": _operation(
            "listIdTags",
            "The OCPP central system's id tags",
            "What Authorize, StartTransaction and StopTransaction answer each tag; a tag not"
            " listed answers as OCPP_UNKNOWN_ID_TAGS says.",
            [_ref("parameters", "limit")],
            {
                "200": _ok(_ref("schemas", "IdTagList"), "The id tags."),
                **_errors(400, 401, 405, 503),
            },
            ["/idtags", "/idtags?limit=10"],
            "chargers",
        ),
        "/idtags/{tag}": {
            **_operation(
                "getIdTag",
                "One id tag",
                "A GetItem of the tag's entry.",
                [tag],
                {"200": one, **_errors(400, 401, 404, 405, 503)},
                ["/idtags/CARD-0001"],
                "chargers",
            ),
            "put": {
                "operationId": "putIdTag",
                "summary": "Set an id tag's status (operator)",
                "description": "Creates or replaces the entry; needs x-operator-key.",
                "tags": ["chargers"],
                "parameters": [tag, operator_key],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("schemas", "IdTagEntry")}},
                },
                "responses": {"200": one, **_errors(400, 401, 403, 405, 503)},
            },
            "delete": {
                "operationId": "deleteIdTag",
                "summary": "Remove an id tag (operator)",
                "description": "It then answers as an unknown tag; needs x-operator-key.",
                "tags": ["chargers"],
                "parameters": [tag, operator_key],
                "responses": {
                    "204": {"description": "Removed."},
                    **_errors(400, 401, 403, 404, 405, 503),
                },
            },
        },
    }


def _registry_paths() -> JSON:
    charger = {
        "name": "charger_id",
        "in": "path",
        "required": True,
        "description": "The charger.",
        "schema": _REGISTRY_ID,
        "example": "1",
    }
    operator_key = OPERATOR_KEY_HEADER
    status = {
        "name": "status",
        "in": "query",
        "required": False,
        "description": "Only the chargers of this status.",
        "schema": {"type": "string", "enum": list(REGISTRY_STATUSES)},
    }
    one = _ok(_ref("schemas", "RegistryCharger"), "The charger's record.")
    return {
        "/registry/chargers": _operation(
            "listRegistryChargers",
            "The charger registry",
            "Every charger the broker, the OCPP endpoint and the simulated fleet know, with its"
            " location, connectors, tariff and status (a Query of one partition).",
            [status],
            {
                "200": _ok(_ref("schemas", "RegistryChargerList"), "The chargers."),
                **_errors(400, 401, 405, 503),
            },
            ["/registry/chargers", "/registry/chargers?status=ACTIVE"],
            "chargers",
        ),
        "/registry/chargers/{charger_id}": {
            **_operation(
                "getRegistryCharger",
                "One charger's registry record",
                "A GetItem of the charger's record.",
                [charger],
                {"200": one, **_errors(400, 401, 404, 405, 503)},
                ["/registry/chargers/1"],
                "chargers",
            ),
            "put": {
                "operationId": "putRegistryCharger",
                "summary": "Add, edit or retire a charger (operator)",
                "description": "Creates or replaces the record; retiring is a PUT with status"
                " RETIRED (never a delete: sessions refer to the charger). The broker, the OCPP"
                " endpoint and the publisher see it within REGISTRY_CACHE_SECONDS. Needs"
                " x-operator-key.",
                "tags": ["chargers"],
                "parameters": [charger, operator_key],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("schemas", "RegistryChargerPut")}
                    },
                },
                "responses": {"200": one, **_errors(400, 401, 403, 405, 503)},
            },
        },
    }


def _command_paths() -> JSON:
    charger = {
        "name": "charger_id",
        "in": "path",
        "required": True,
        "description": "The charge point (an active charger of the registry).",
        "schema": _REGISTRY_ID,
        "example": "1",
    }
    operator_key = OPERATOR_KEY_HEADER
    command = _ok(_ref("schemas", "Command"), "The command, answered (or failed).")
    pending = _ok(
        _ref("schemas", "Command"),
        "Not answered yet: poll GET /chargepoints/{charger_id}/commands/{command_id}.",
    )
    return {
        "/chargepoints/{charger_id}/commands/{command}": {
            "get": {
                "operationId": "getCommand",
                "summary": "An operator's command to a charge point, by its id",
                "description": "A GetItem of the command: pending, answered, error or timed out."
                f" Commands are kept {RETENTION.days} days.",
                "tags": ["chargers"],
                "parameters": [
                    charger,
                    {
                        "name": "command",
                        "in": "path",
                        "required": True,
                        "description": "The command id a POST returned.",
                        "schema": {"type": "string", "maxLength": 64},
                        "example": "0b6f4e8c-3c1e-4f59-9a36-63c0d7d0f3a1",
                    },
                ],
                "responses": {
                    "200": command,
                    "202": pending,
                    **_errors(400, 401, 403, 404, 405, 503),
                },
            },
            "post": {
                "operationId": "sendCommand",
                "summary": "Send an OCPP 1.6 command to a connected charge point (operator)",
                "description": "The body is the OCPP request payload, validated against the"
                " action's schema. The API waits OCPP_COMMAND_WAIT_SECONDS for the charger's"
                " answer: 200 with it, else 202 with the command to poll. One command per"
                " charger at a time (OCPP): another while one is outstanding is a 409. A"
                " charger that never connected is a 404, one not connected now a 409, one not"
                " of this system's registry (or retired) a 403. Needs x-operator-key.",
                "tags": ["chargers"],
                "parameters": [
                    charger,
                    {
                        "name": "command",
                        "in": "path",
                        "required": True,
                        "description": "The OCPP action.",
                        "schema": {"type": "string", "enum": list(COMMAND_ACTIONS)},
                        "example": "Reset",
                    },
                    operator_key,
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "additionalProperties": True},
                            "example": {"type": "Soft"},
                        }
                    },
                },
                "responses": {
                    "200": command,
                    "202": pending,
                    **_errors(400, 401, 403, 404, 405, 409, 503),
                },
            },
        }
    }


def _build() -> JSON:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "EV charging sessions",
            "version": "1.0.0",
            "description": (
                "Charging sessions stored by the pipeline, chargers with their lifetime totals, and"
                " fleet or charger totals per hour or day. Every route is a DynamoDB Query or"
                ' GetItem. Errors are JSON: {"error": CODE, "message": TEXT}. When the API_KEY'
                " setting is set (and always on the deployed API), send the key in x-api-key."
                " Unknown paths are a 404, other methods than GET a 405."
            ),
        },
        "tags": [
            {"name": "sessions", "description": "Stored charging sessions."},
            {"name": "chargers", "description": "Chargers and connectors."},
            {"name": "totals", "description": "Aggregates per hour or day."},
            {"name": "operations", "description": "Health and this documentation."},
            {"name": "billing", "description": "Tariffs and a session's CDRs."},
            {"name": "ocpi", "description": "The OCPI 2.2.1 Sender interface (CDRs)."},
        ],
        "security": [{}, {"apiKey": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-api-key",
                    "description": "Needed only when the API has a key (API_KEY, or deployed).",
                },
                **openapi_billing.SECURITY_SCHEME,
            },
            "parameters": _parameters(),
            "schemas": _schemas(),
            "responses": _responses(),
        },
    }


_DOCUMENT: Final = _build()


def openapi_document() -> JSON:
    """The document (a copy: callers may change theirs without changing what is served)."""
    return copy.deepcopy(_DOCUMENT)
