"""Event shapes exactly as AWS sends them, for the emulator and for `generate-event`."""

from __future__ import annotations

import hashlib
import json
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


def sqs_event(
    queue_name: str, records: list[tuple[str, dict[str, Any], int, int]]
) -> dict[str, Any]:
    """An SQS event source's batch: (message id, body, sent at ms, receive count) per record."""
    return {"Records": [sqs_record(queue_name, *record) for record in records]}


def sqs_record(
    queue_name: str, message_id: str, body: dict[str, Any], sent_ms: int, receive_count: int
) -> dict[str, Any]:
    text = json.dumps(body, separators=(",", ":"))
    return {
        "messageId": message_id,
        "receiptHandle": f"{message_id}#{receive_count}",
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent_ms),
            "SenderId": "AROAIOTRULE",
            "ApproximateFirstReceiveTimestamp": str(sent_ms),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}",
        "awsRegion": REGION,
    }
