"""A charge point's answer to one of our CALLs: a CALLRESULT [3, id, payload] or a CALLERROR
[4, id, code, description, details]. Such a frame is never answered (OCPP answers only CALLs);
it is recorded against the pending command with its id (`evsessions.dynamodb.commands`).

A CALLRESULT whose payload breaks the action's confirmation schema is recorded as an error
(`FormationViolation`, with what was wrong), so an operator never reads a malformed answer as a
valid one; the payload as sent is kept in the error's details.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaViolation
from ocpp.messages import get_validator

from centralsystem.frames import OCPP_VERSION

CALLRESULT = 3
CALLERROR = 4


@dataclass(frozen=True)
class Reply:
    unique_id: str
    payload: dict[str, Any] | None = None
    """The CALLRESULT's payload; None for a CALLERROR."""
    error: tuple[str, str, Any] | None = None
    """A CALLERROR's (code, description, details)."""


def parse_reply(raw: str) -> Reply | None:
    """The frame as a reply, or None when it is no CALLRESULT or CALLERROR (a CALL, or garbage
    for the CALL parser to answer)."""
    try:
        frame = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(frame, list) or len(frame) < 3 or frame[0] not in (CALLRESULT, CALLERROR):
        return None
    unique_id = frame[1]
    if not isinstance(unique_id, str) or not 0 < len(unique_id) <= 36:
        return None
    if frame[0] == CALLRESULT:
        payload = frame[2]
        return Reply(unique_id, payload=payload if isinstance(payload, dict) else {"_": payload})
    code = str(frame[2])[:50]
    description = str(frame[3])[:500] if len(frame) > 3 else ""
    details = frame[4] if len(frame) > 4 and isinstance(frame[4], dict) else {}
    return Reply(unique_id, error=(code, description, details))


def confirmation_problem(action: str, payload: dict[str, Any]) -> str | None:
    """What is wrong with a CALLRESULT's payload for `action`, or None when it is valid."""
    try:
        get_validator(CALLRESULT, action, OCPP_VERSION).validate(payload)
    except SchemaViolation as error:
        where = "/".join(str(part) for part in error.absolute_path) or "payload"
        return f"{where}: {error.message[:300]}"
    return None
