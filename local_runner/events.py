"""Event shapes exactly as AWS sends them, for the emulator and for `generate-event`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

REGION = "eu-north-1"
ACCOUNT = "123456789012"


def scheduled_event(moment: datetime, rule_name: str) -> dict[str, Any]:
    """An EventBridge 'Scheduled Event' for the tick at `moment`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
        "detail": {},
    }


def sample_iot_event(now: datetime) -> dict[str, Any]:
    """What the listener's rule SELECT gives for a message in the original challenge's format."""
    return {
        "session_id": 1,
        "energy_delivered_in_kWh": 30,
        "duration_in_seconds": 45,
        "session_cost_in_cents": 70,
        "topic": "charger/1/connector/1/session/1",
        "received_at": int(now.timestamp() * 1000),
    }
