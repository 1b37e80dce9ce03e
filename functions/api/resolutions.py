"""The body of an operator's resolution request, checked before anything is written."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from evsessions.contract import MAX_COST_CENTS, MAX_DURATION_SECONDS, MAX_ENERGY_KWH
from evsessions.integrity import RESOLUTION_ACTIONS, Billed, ResolutionAction

MAX_REASON = 500
_BILLED = {
    "energy_delivered_in_kWh": MAX_ENERGY_KWH * 10,
    "duration_in_seconds": MAX_DURATION_SECONDS * 10,
    "session_cost_in_cents": MAX_COST_CENTS,
}
"""A correction's values and their ceilings: an operator may bill above the contract's
plausibility limits (a bus depot's 1,200 kWh), not without bound."""


class ResolutionBodyError(ValueError):
    """What is wrong with a resolution request's body (answered as a 400)."""


def _value(values: dict[str, Any], name: str) -> Decimal:
    value = values.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResolutionBodyError(f"values.{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ResolutionBodyError(f"values.{name} must be finite")
    if not 0 <= value <= _BILLED[name]:
        raise ResolutionBodyError(f"values.{name} must be from 0 to {_BILLED[name]}")
    return Decimal(str(value))


def _whole(values: dict[str, Any], name: str) -> int:
    number = _value(values, name)
    if number != number.to_integral_value():
        raise ResolutionBodyError(f"values.{name} must be a whole number")
    return int(number)


def resolution_request(body: Any) -> tuple[ResolutionAction, str, Billed | None]:
    """(action, reason, the values to bill for a correction) from
    `{"action": ..., "reason": ..., "values": {...}}`."""
    if not isinstance(body, dict):
        raise ResolutionBodyError("the body must be a JSON object")
    unknown = sorted(set(body) - {"action", "reason", "values"})
    if unknown:
        raise ResolutionBodyError(f"unknown field {unknown[0][:40]!r}")
    action = body.get("action")
    if action not in RESOLUTION_ACTIONS:
        raise ResolutionBodyError(f"action must be one of {', '.join(RESOLUTION_ACTIONS)}")
    reason = body.get("reason")
    if not isinstance(reason, str) or not 0 < len(reason.strip()) <= MAX_REASON:
        raise ResolutionBodyError(f"reason must be 1-{MAX_REASON} characters saying why")
    values = body.get("values")
    if action != "correct":
        if values is not None:
            raise ResolutionBodyError("values go with action correct only")
        return action, reason.strip(), None
    if not isinstance(values, dict) or set(values) != set(_BILLED):
        raise ResolutionBodyError(f"values must hold exactly {', '.join(_BILLED)}")
    corrected = Billed(
        _value(values, "energy_delivered_in_kWh"),
        _whole(values, "duration_in_seconds"),
        _whole(values, "session_cost_in_cents"),
    )
    return action, reason.strip(), corrected
