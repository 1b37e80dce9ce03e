"""OCPP-J frames: a charge point's CALL in, our CALLRESULT or CALLERROR out.

Parsing and schema validation are the `ocpp` package's (its unpack and the 1.6 JSON schemas it
ships); what is ours is the mapping of its exceptions to OCPP 1.6's error codes, which spell one
differently ("FormationViolation") and must never carry a Python object or a traceback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaViolation
from ocpp import exceptions
from ocpp.messages import Call, get_validator, unpack

OCPP_VERSION = "1.6"
SUBPROTOCOL = "ocpp1.6"

_CODES_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
"""The `ocpp` package speaks OCPP 2.0's spelling; 1.6 chargers expect these."""


_UNPACK_ERRORS = {
    "FormatViolation": "the frame is not valid JSON",
    "ProtocolError": "a CALL is a JSON array [2, uniqueId, action, {payload}]",
    "PropertyConstraintViolation": "unknown MessageTypeId",
}
"""Our words for what unpack found: its own carry Python type names."""
_ACTION_NAME = re.compile(r"[A-Za-z]{1,40}")
"""OCPP action names; anything else is unknown before it gets near a schema file name."""


@dataclass(frozen=True)
class CallFrame:
    unique_id: str
    action: str
    payload: dict[str, Any]


class FrameError(Exception):
    """A frame we answer with a CALLERROR (when it carried a unique id we can answer to)."""

    def __init__(self, unique_id: str | None, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.unique_id = unique_id
        self.code = _CODES_16.get(code, code)
        self.description = description[:500]


def _unique_id(raw: str) -> str | None:
    """The frame's unique id when it has a usable one, so even a bad frame gets its answer."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str):
        return frame[1][:36]
    return None


def _schema_error(unique_id: str, error: SchemaViolation) -> FrameError:
    code = {
        "type": "TypeConstraintViolation",
        "maxLength": "TypeConstraintViolation",
        "required": "OccurenceConstraintViolation",
        "enum": "PropertyConstraintViolation",
        "additionalProperties": "FormationViolation",
    }.get(str(error.validator), "FormationViolation")
    where = "/".join(str(part) for part in error.absolute_path) or "payload"
    return FrameError(unique_id, code, f"{where}: {error.message}")


def parse_call(raw: str, known_actions: frozenset[str]) -> CallFrame:
    """A valid CALL for one of `known_actions`, or a FrameError saying what OCPP calls it."""
    try:
        message = unpack(raw)
    except exceptions.OCPPError as error:
        description = _UNPACK_ERRORS.get(error.code, "the frame is malformed")
        raise FrameError(_unique_id(raw), error.code, description) from None
    if not isinstance(message, Call):
        raise FrameError(None, "ProtocolError", "only CALL frames are expected here")
    if not isinstance(message.unique_id, str) or not 0 < len(message.unique_id) <= 36:
        raise FrameError(None, "ProtocolError", "the unique id must be a string of 1-36 chars")
    if not isinstance(message.action, str) or not isinstance(message.payload, dict):
        raise FrameError(message.unique_id, "FormationViolation", "action or payload malformed")
    if message.action not in known_actions:
        if not _ACTION_NAME.fullmatch(message.action):
            raise FrameError(message.unique_id, "NotImplemented", "unknown action")
        try:
            get_validator(2, message.action, OCPP_VERSION)
        except (OSError, ValueError):
            raise FrameError(
                message.unique_id, "NotImplemented", f"unknown action {message.action[:60]!r}"
            ) from None
        raise FrameError(
            message.unique_id, "NotSupported", f"{message.action} is not supported here"
        )
    try:
        get_validator(2, message.action, OCPP_VERSION).validate(message.payload)
    except SchemaViolation as error:
        raise _schema_error(message.unique_id, error) from None
    return CallFrame(message.unique_id, message.action, message.payload)


def call_result(unique_id: str, payload: dict[str, Any]) -> str:
    return json.dumps([3, unique_id, payload], separators=(",", ":"))


def call_error(unique_id: str, code: str, description: str) -> str:
    return json.dumps([4, unique_id, code, description, {}], separators=(",", ":"))
