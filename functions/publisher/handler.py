"""Publisher Lambda: on each EventBridge tick, every connector of the charger registry's simulated
ACTIVE chargers reports one session (evsessions.registry_fleet)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from evsessions.errors import PublishIncomplete
from evsessions.mqtt.publishing import OutgoingMessage, publisher_for
from evsessions.registry_cache import cached_registry
from evsessions.registry_fleet import simulate_registry_tick, simulated_chargers
from evsessions.settings import Settings

log = logging.getLogger(__name__)


def scheduled_time(event: dict[str, Any]) -> datetime:
    """The tick's time from an EventBridge scheduled event; a retried tick carries the same one."""
    try:
        return datetime.fromisoformat(event["time"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            "not an EventBridge scheduled event: 'time' is missing or not ISO 8601"
        ) from None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publish the tick's sessions with QoS 1; raise if any was unconfirmed, so it is retried."""
    settings = Settings.from_env()
    tick = scheduled_time(event)
    chargers = simulated_chargers(cached_registry(settings), settings)
    messages = [
        OutgoingMessage(s.key.topic, json.dumps(s.payload, separators=(",", ":")).encode())
        for s in simulate_registry_tick(tick, settings, chargers)
    ]
    report = publisher_for(settings).publish_all(messages)
    summary = {
        "scheduled_time": event["time"],
        "published": report.published,
        "failed": report.failed,
    }
    if report.failed:
        log.error("publisher tick incomplete: %s (%s)", summary, "; ".join(report.errors))
        raise PublishIncomplete(report.published, report.failed, "; ".join(report.errors))
    return summary
