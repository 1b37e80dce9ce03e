"""Integrity verdicts: a session its sender was told is accepted is stored, doubtful or not.

A charger that got its confirmation (a PUBACK, an OCPP StopTransaction.conf) never sends the
session again, so refusing it afterwards loses the money it stands for. Implausible values are
therefore not refusals: the session is stored with a verdict, `clean`, or `suspect` with its
findings and the message as it arrived, and suspect sessions are counted apart from revenue until
an operator resolves them (accept, correct or void). Only what cannot be a session at all (not
JSON, no identity) is a dead letter.

Each rule is a named code. The listener finds what a message's own values show (`contract`);
the central system adds what only it can know (a transaction it never saw, the id tag's status,
the meter readings it saw) as `findings` in the message it publishes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Verdict = Literal["clean", "suspect"]

RULES: dict[str, str] = {
    "meter_regression": "the meter ran backwards: energy below zero, or meterStop below "
    "meterStart (a meter replaced or reset)",
    "zero_start_meter": "the transaction started at meter 0 while the connector's previous "
    "transaction ended higher: the start is no baseline",
    "power_implausible": "the energy is implausible for the duration: the average power is above "
    "the configured maximum",
    "clock_ahead": "the end time is further after the message's arrival than the allowance: the "
    "charger's clock runs ahead (the arrival time is billed)",
    "end_before_start": "the session started after it ended (a clock stepped back)",
    "duration_above_limit": "the duration is above the contract's limit",
    "energy_above_limit": "the energy is above the contract's limit",
    "cost_above_limit": "the cost is above the contract's limit",
    "clock_not_set": "a timestamp before 2000 or after 2099: the charger has no real-time clock "
    "set (the arrival time is billed)",
    "transaction_id_out_of_range": "the transaction id is outside OCPP's positive 32-bit range",
    "meter_value_invalid": "a meter reading is not a finite number (NaN, inf) or overflows",
    "unit_mislabelled": "a reading's kWh/Wh label is 1,000x off the Start and Stop meters",
    "unknown_transaction": "a Stop for a transaction the central system never saw started",
    "id_tag_blocked": "the id tag that started the transaction is blocked",
    "id_tag_expired": "the id tag that started the transaction has expired",
    "id_tag_invalid": "the id tag that started the transaction is unknown or invalid",
    "invalid_value": "a required value is missing or not a number (billed as 0)",
    "unknown_field": "the message carries a field the contract does not know (kept in raw)",
}
"""Every finding's code and what it means; the docs' rule table is generated from this."""

MAX_FINDINGS = 20
MAX_DETAIL = 200
MAX_RAW_BYTES = 32 * 1024
"""A message above this is a dead letter: no charger sends a session this large, and a stored
raw copy must stay far below DynamoDB's 400 KB item limit."""
_TAG = re.compile(r"[\x20-\x7e]{1,20}")
"""OCPP 1.6's IdToken: CiString20Type, printable ASCII."""
BILLED_FROM = ("meters", "meter_values", "transaction_data", "received")
"""Where a session's billed values came from when they are not the charger's own totals."""


class FindingError(ValueError):
    """A `findings` entry of a message that is not one (an unknown code, too long)."""


@dataclass(frozen=True, order=True)
class Finding:
    code: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


def finding(code: str, detail: str) -> Finding:
    if code not in RULES:
        raise FindingError(f"unknown finding code {code[:40]!r}")
    return Finding(code, detail[:MAX_DETAIL])


def verdict_of(findings: Iterable[Finding]) -> Verdict:
    return "suspect" if any(True for _ in findings) else "clean"


def parse_findings(value: object) -> tuple[Finding, ...]:
    """The `findings` a message carries: a list of {"code", "detail"} with known codes."""
    if not isinstance(value, list) or len(value) > MAX_FINDINGS:
        raise FindingError(f"must be a list of at most {MAX_FINDINGS} {{code, detail}} objects")
    found = []
    for entry in value:
        if not isinstance(entry, Mapping) or set(entry) - {"code", "detail"}:
            raise FindingError("each finding is an object with code and detail")
        code, detail = entry.get("code"), entry.get("detail", "")
        if not isinstance(code, str) or not isinstance(detail, str):
            raise FindingError("a finding's code and detail are strings")
        found.append(finding(code, detail))
    return tuple(found)


def id_tag(value: object) -> str:
    """An OCPP id tag as a session records it."""
    if not isinstance(value, str) or not _TAG.fullmatch(value):
        raise FindingError("must be 1-20 printable ASCII characters (OCPP IdToken)")
    return value


def merged(*groups: Iterable[Finding]) -> tuple[Finding, ...]:
    """Findings of several sources, each code once (the first detail kept), in rule order."""
    kept: dict[str, Finding] = {}
    for group in groups:
        for found in group:
            kept.setdefault(found.code, found)
    order = list(RULES)
    return tuple(sorted(kept.values(), key=lambda f: order.index(f.code)))


def findings_json(findings: Iterable[Finding]) -> list[dict[str, str]]:
    return [f.as_json() for f in findings]


def findings_from_json(value: Any) -> tuple[Finding, ...]:
    """Stored findings back (no validation of codes: a code retired later still reads back)."""
    return tuple(Finding(str(f["code"]), str(f.get("detail", ""))) for f in value or [])


ResolutionAction = Literal["accept", "correct", "void"]
RESOLUTION_ACTIONS: tuple[ResolutionAction, ...] = ("accept", "correct", "void")


@dataclass(frozen=True)
class Billed:
    """The three values a session bills and its totals add up."""

    energy_kwh: Decimal
    duration_seconds: int
    cost_cents: int

    def as_json(self) -> dict[str, Any]:
        energy = self.energy_kwh
        return {
            "energy_delivered_in_kWh": int(energy)
            if energy == energy.to_integral_value()
            else float(energy),
            "duration_in_seconds": self.duration_seconds,
            "session_cost_in_cents": self.cost_cents,
        }


@dataclass(frozen=True)
class Resolution:
    """An operator's decision on a suspect session, made once: accepted as billed, corrected to
    other values (`original` keeps what was billed before), or voided (it counts nowhere)."""

    action: ResolutionAction
    at: datetime
    reason: str
    by: str
    original: Billed | None = None
