"""The central system's answer to each OCPP 1.6 action a charge point sends.

Each action gets the charger id the authorizer vouched for and the CALL's validated payload, and
returns the CALLRESULT payload. A finished transaction is published as a session before its
StopTransaction is answered: when the broker did not acknowledge it, SessionNotAccepted makes the
handler answer with a CALLERROR, and the charger resends the Stop (OCPP 1.6 retries transaction
messages), which is then published again from what the store kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from centralsystem.store import CentralSystemStore
from centralsystem.transactions import OpenTransaction, StopReading, Tariff, session_message
from evsessions import metrics
from evsessions.contract import format_time, parse_time
from evsessions.errors import InvalidSession, PipelineError
from evsessions.publishing import MessagePublisher

log = logging.getLogger(__name__)

ACCEPTED = {"status": "Accepted"}


class SessionNotAccepted(PipelineError):
    """The session of a finished transaction was not acknowledged; the Stop must come again."""


class BadTime(PipelineError):
    """A timestamp the schema let through that is no usable time (answered as a CALLERROR)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _time(value: Any, field: str) -> datetime:
    try:
        return parse_time(value, field)
    except InvalidSession as error:
        raise BadTime(str(error)) from None


@dataclass
class CentralSystem:
    store: CentralSystemStore
    publisher: Callable[[], MessagePublisher]
    tariff: Tariff
    heartbeat_interval: int
    clock: Callable[[], datetime] = _utc_now

    def actions(self) -> frozenset[str]:
        return frozenset(self._handlers())

    def _handlers(self) -> dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]]:
        return {
            "BootNotification": self.boot_notification,
            "Heartbeat": self.heartbeat,
            "StatusNotification": self.status_notification,
            "Authorize": self.authorize,
            "StartTransaction": self.start_transaction,
            "MeterValues": self.meter_values,
            "StopTransaction": self.stop_transaction,
        }

    def answer(self, charger_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._handlers()[action](charger_id, payload)

    def boot_notification(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        self.store.charge_point_seen(
            charger_id,
            now,
            vendor=payload["chargePointVendor"],
            model=payload["chargePointModel"],
            firmware=payload.get("firmwareVersion", ""),
            booted_at=format_time(now),
        )
        return {
            "status": "Accepted",
            "currentTime": format_time(now),
            "interval": self.heartbeat_interval,
        }

    def heartbeat(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        self.store.charge_point_seen(charger_id, now)
        return {"currentTime": format_time(now)}

    def status_notification(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        connector = int(payload["connectorId"])
        self.store.charge_point_seen(
            charger_id,
            self.clock(),
            **{
                f"status#{connector}": payload["status"],
                f"error#{connector}": payload["errorCode"],
            },
        )
        return {}

    def authorize(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Every idTag is accepted: this central system bills sessions, it keeps no tag list."""
        return {"idTagInfo": ACCEPTED}

    def start_transaction(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        started_at = _time(payload["timestamp"], "timestamp")
        connector = int(payload["connectorId"])
        meter_start = int(payload["meterStart"])
        start_key = f"{connector}#{format_time(started_at)}#{meter_start}"
        transaction = self.store.start(
            OpenTransaction(
                charger_id=charger_id,
                transaction_id=self.store.next_transaction_id(charger_id),
                connector_id=connector,
                id_tag=str(payload["idTag"]),
                meter_start_wh=meter_start,
                started_at=started_at,
            ),
            start_key,
        )
        log.info("charger %s started transaction %s", charger_id, transaction.transaction_id)
        return {"transactionId": transaction.transaction_id, "idTagInfo": ACCEPTED}

    def meter_values(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        transaction_id = payload.get("transactionId")
        if transaction_id is None:
            return {}
        for reading in payload["meterValue"]:
            for sample in reading["sampledValue"]:
                measurand = sample.get("measurand", "Energy.Active.Import.Register")
                if measurand == "Energy.Active.Import.Register" and sample.get("unit", "Wh") in (
                    "Wh",
                    "kWh",
                ):
                    try:
                        value = float(sample["value"])
                    except ValueError:
                        continue
                    wh = int(value * 1000) if sample.get("unit") == "kWh" else int(value)
                    self.store.meter_value(
                        charger_id, int(transaction_id), wh, reading["timestamp"]
                    )
        return {}

    def stop_transaction(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        transaction_id = int(payload["transactionId"])
        found = self.store.transaction(charger_id, transaction_id)
        if found is None:
            log.warning(
                "charger %s stopped transaction %s that was never started here: kept as unmatched",
                charger_id,
                transaction_id,
            )
            self.store.unmatched_stop(charger_id, transaction_id, payload)
            return {}
        opened, kept = found
        resent = kept is not None
        if kept is None:
            kept = self.store.stop(
                charger_id,
                transaction_id,
                StopReading(
                    meter_stop_wh=int(payload["meterStop"]),
                    stopped_at=_time(payload["timestamp"], "timestamp"),
                    reason=payload.get("reason"),
                ),
            )
        message = session_message(opened, kept, self.tariff)
        report = self.publisher().publish_all([message])
        if report.failed or not report.published:
            raise SessionNotAccepted("; ".join(report.errors) or "not acknowledged")
        metrics.record(metrics.Metric.DUPLICATES if resent else metrics.Metric.SESSIONS_STORED)
        log.info(
            "charger %s transaction %s published as %s",
            charger_id,
            transaction_id,
            message.topic,
            extra={
                "charger_id": charger_id,
                "session_id": str(transaction_id),
                "topic": message.topic,
            },
        )
        return {"idTagInfo": ACCEPTED}
