"""Publisher Lambda: on each EventBridge tick, every connector of the charger registry's simulated
ACTIVE chargers reports one session (evsessions.registry_fleet)."""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from evsessions.errors import PublishIncomplete
from evsessions.fleet import TariffFor
from evsessions.mqtt.publishing import OutgoingMessage, publisher_for
from evsessions.registry_cache import cached_registry
from evsessions.registry_fleet import simulate_registry_tick, simulated_chargers
from evsessions.settings import Settings
from evsessions.tariffs import Tariff

if TYPE_CHECKING:
    from evsessions.charger_tariffs import ChargerTariffs

log = logging.getLogger(__name__)


def scheduled_time(event: dict[str, Any]) -> datetime:
    """The tick's time from an EventBridge scheduled event; a retried tick carries the same one."""
    try:
        return datetime.fromisoformat(event["time"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            "not an EventBridge scheduled event: 'time' is missing or not ISO 8601"
        ) from None


@functools.lru_cache(maxsize=4)
def _charger_tariffs(settings: Settings) -> ChargerTariffs:
    """Made once per container and settings (not at import: tests mock AWS first); its caches
    then live as long as the container. Its modules are imported here, not at the top: they
    import botocore, which the publisher otherwise imports only when it first publishes (half a
    second of a cold start here)."""
    from botocore.config import Config

    from evsessions.aws_clients import aws_client
    from evsessions.charger_tariffs import ChargerTariffs
    from evsessions.dynamodb.tariffs import DynamoDBTariffs

    client = aws_client(
        "dynamodb",
        settings.aws_region,
        settings.dynamodb_endpoint_url,
        Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 3}),
    )
    table = settings.sessions_table
    return ChargerTariffs(cached_registry(settings).get, DynamoDBTariffs(table, client))


def _tariff_for(settings: Settings) -> TariffFor:
    """A simulated charger's tariff at a moment: the registry's, when it names one."""
    chooser = _charger_tariffs(settings)

    def tariff_for(charger_id: str, started: datetime) -> Tariff | None:
        version = chooser.choose(charger_id, started).version
        return None if version is None else version.tariff

    return tariff_for


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publish the tick's sessions with QoS 1; raise if any was unconfirmed, so it is retried."""
    settings = Settings.from_env()
    tick = scheduled_time(event)
    chargers = simulated_chargers(cached_registry(settings), settings)
    messages = [
        OutgoingMessage(s.key.topic, json.dumps(s.payload, separators=(",", ":")).encode())
        for s in simulate_registry_tick(tick, settings, chargers, _tariff_for(settings))
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
