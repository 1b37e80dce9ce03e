"""An OCPP transaction, open and finished, and the session message a finished one becomes.

Pure: no I/O. The message is made only from what the store kept of the transaction (the first
StopTransaction's meter and time included), so a replayed Stop republishes the same bytes on the
same topic, and the listener absorbs it as a duplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from evsessions.contract import format_time
from evsessions.publishing import OutgoingMessage


@dataclass(frozen=True)
class Tariff:
    cents_per_kwh: int
    session_fee_cents: int

    def cost_cents(self, energy_kwh: Decimal) -> int:
        energy_cost = (energy_kwh * self.cents_per_kwh).quantize(Decimal(1), ROUND_HALF_UP)
        return self.session_fee_cents + max(0, int(energy_cost))


@dataclass(frozen=True)
class OpenTransaction:
    charger_id: str
    transaction_id: int
    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: datetime


@dataclass(frozen=True)
class StopReading:
    """What the first StopTransaction said; replays are answered from this, not from theirs."""

    meter_stop_wh: int
    stopped_at: datetime
    reason: str | None


def session_message(
    transaction: OpenTransaction, stop: StopReading, tariff: Tariff
) -> OutgoingMessage:
    """The session a finished transaction is, as the pipeline's contract says it."""
    energy_kwh = Decimal(stop.meter_stop_wh - transaction.meter_start_wh) / 1000
    duration = max(0, int((stop.stopped_at - transaction.started_at).total_seconds()))
    payload: dict[str, Any] = {
        "session_id": transaction.transaction_id,
        "energy_delivered_in_kWh": float(energy_kwh),
        "duration_in_seconds": duration,
        "session_cost_in_cents": tariff.cost_cents(energy_kwh),
        "ended_at": format_time(stop.stopped_at),
        "started_at": format_time(transaction.started_at),
        "meter_start_wh": transaction.meter_start_wh,
        "meter_stop_wh": stop.meter_stop_wh,
    }
    if stop.reason:
        payload["stop_reason"] = stop.reason
    topic = (
        f"charger/{transaction.charger_id}/connector/{transaction.connector_id}"
        f"/session/{transaction.transaction_id}"
    )
    return OutgoingMessage(topic, json.dumps(payload, separators=(",", ":")).encode())
