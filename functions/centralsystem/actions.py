"""The central system's answer to each OCPP 1.6 action a charge point sends.

Each action gets the charger id the authorizer vouched for and the CALL's validated payload, and
returns the CALLRESULT payload. A finished transaction is published as a session before its
StopTransaction is answered: when the broker did not acknowledge it, SessionNotAccepted makes the
handler answer with a CALLERROR, and the charger resends the Stop (OCPP 1.6 retries transaction
messages), which is then published again from what the store kept.

Once a Stop is confirmed nothing may be refused, so values are judged, not rejected: whatever the
central system alone can see is doubtful becomes a finding in the session (see
evsessions.ocpp.transactions). Only what comes before a confirmation may be refused with a CALLERROR
the charger can act on (a Start for no real connector; a Stop whose session was not acknowledged).
Every action a charger may start in OCPP 1.6 gets its confirmation.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from centralsystem.pricing import ChargerPricing, priced_by
from evsessions import metrics
from evsessions.charger_tariffs import ChargerTariffs
from evsessions.contract import format_time
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.errors import PipelineError
from evsessions.integrity import Finding, finding
from evsessions.mqtt.publishing import MessagePublisher
from evsessions.ocpp.idtags import IdTagEntry, id_tag_info, status_at, tag_finding, valid_tag
from evsessions.ocpp.transactions import (
    MAX_TRANSACTION_ID,
    OpenTransaction,
    Pricing,
    StopReading,
    Tariff,
    energy_readings,
    meter_wh,
    sent_time,
    session_message,
    valid_transaction_id,
)

log = logging.getLogger(__name__)


class SessionNotAccepted(PipelineError):
    """The session of a finished transaction was not acknowledged; the Stop must come again."""


class BadValue(PipelineError):
    """A value the schema let through that no confirmation can be given for (answered with a
    CALLERROR PropertyConstraintViolation, before anything was confirmed)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RemoteAsks(Protocol):
    """The operators' RemoteStartTransaction and RemoteStopTransaction, as the transactions they
    caused find them (evsessions.dynamodb.commands)."""

    def remote_start_by(
        self, charger_id: str, id_tag: str, connector_id: int, start_key: str, now: datetime
    ) -> str | None: ...

    def remote_stop_by(self, charger_id: str, transaction_id: int) -> str | None: ...


@dataclass
class CentralSystem:
    store: CentralSystemStore
    publisher: Callable[[], MessagePublisher]
    tariff: Tariff
    """The settings' tariff: what a charger with no tariff of its own is billed with."""
    heartbeat_interval: int
    clock: Callable[[], datetime] = _utc_now
    unknown_id_tags_accepted: bool = True
    data_transfer_vendors: frozenset[str] = field(default_factory=frozenset)
    charger_tariffs: ChargerTariffs | None = None
    """The registry's tariffs; None: every session is billed with `tariff`."""

    def pricing(self, charger_id: str, recorded: str | None) -> Pricing:
        if self.charger_tariffs is None:
            return self.tariff
        return ChargerPricing(charger_id, self.charger_tariffs, self.tariff, recorded)

    def priced_by(self, charger_id: str) -> str | None:
        """What a first Stop records as its tariff (None when tariffs are not kept as data)."""
        if self.charger_tariffs is None:
            return None
        return priced_by(self.charger_tariffs, charger_id)

    remote: RemoteAsks | None = None
    """Who asked for remote starts and stops (the operators' commands); None: nobody can."""

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
            "DataTransfer": self.data_transfer,
            "DiagnosticsStatusNotification": self.diagnostics_status_notification,
            "FirmwareStatusNotification": self.firmware_status_notification,
        }

    def answer(self, charger_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._handlers()[action](charger_id, payload)

    # --- the charge point ---

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

    def data_transfer(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """OCPP 1.6 answers a DataTransfer with its own status, never a CALLERROR: no vendor's
        messages are implemented here, so a recognised vendor's are UnknownMessageId."""
        known = payload["vendorId"] in self.data_transfer_vendors
        log.info("charger %s DataTransfer from vendor %r", charger_id, payload["vendorId"][:60])
        return {"status": "UnknownMessageId" if known else "UnknownVendorId"}

    def diagnostics_status_notification(
        self, charger_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        now = self.clock()
        self.store.charge_point_seen(
            charger_id,
            now,
            diagnostics_status=payload["status"],
            diagnostics_at=format_time(now),
        )
        return {}

    def firmware_status_notification(
        self, charger_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        now = self.clock()
        self.store.charge_point_seen(
            charger_id, now, firmware_status=payload["status"], firmware_at=format_time(now)
        )
        return {}

    # --- id tags ---

    def _tag(self, tag: str, now: datetime) -> tuple[str, dict[str, Any]]:
        """A tag's status and IdTagInfo; a tag that is no IdToken is Invalid, never looked up."""
        if not valid_tag(tag):
            return "Invalid", {"status": "Invalid"}
        item = self.store.id_tag(tag)
        entry = None if item is None else IdTagEntry.from_item(item)
        accepted = self.unknown_id_tags_accepted
        return status_at(entry, now, accepted), id_tag_info(entry, now, accepted)

    def authorize(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"idTagInfo": self._tag(payload["idTag"], self.clock())[1]}

    # --- transactions ---

    def start_transaction(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Recorded whatever the tag's status: the charger may be charging already (offline, or
        it started before asking); the session carries the finding."""
        now = self.clock()
        connector = int(payload["connectorId"])
        if not 1 <= connector <= MAX_TRANSACTION_ID:
            raise BadValue(f"connectorId {str(connector)[:20]} is no connector (1 or more)")
        tag = str(payload["idTag"])
        status, info = self._tag(tag, now)
        started_at, clock = sent_time(payload["timestamp"], "timestamp", now)
        meter_start = meter_wh(payload["meterStart"])
        findings: list[Finding] = []
        raw: dict[str, Any] = {}
        if clock is not None:
            findings.append(clock)
            raw["started_at"] = str(payload["timestamp"])[:40]
        if meter_start is None:
            sent = str(payload["meterStart"])[:40]
            findings.append(finding("meter_value_invalid", f"meterStart {sent}"))
            raw["meter_start_wh"] = sent
        elif meter_start == 0:
            previous = self.store.connector_meter(charger_id, connector)
            if previous:
                findings.append(
                    finding(
                        "zero_start_meter",
                        f"meterStart 0 after connector {connector}'s previous transaction "
                        f"ended at {previous} Wh",
                    )
                )
        tagged = tag_finding(tag, status)
        if tagged is not None:
            findings.append(tagged)
        start_key = _start_key(
            connector, payload, None if clock or meter_start is None else started_at
        )
        asked = (
            None
            if self.remote is None
            else self.remote.remote_start_by(charger_id, tag, connector, start_key, now)
        )
        transaction = self.store.start(
            OpenTransaction(
                charger_id=charger_id,
                transaction_id=self.store.next_transaction_id(charger_id),
                connector_id=connector,
                id_tag=tag,
                meter_start_wh=meter_start,
                started_at=started_at,
                findings=tuple(findings),
                raw=raw,
                remote_start_by=asked,
            ),
            start_key,
        )
        self.store.transaction_open(charger_id, connector, transaction.transaction_id)
        log.info("charger %s started transaction %s", charger_id, transaction.transaction_id)
        return {"transactionId": transaction.transaction_id, "idTagInfo": info}

    def meter_values(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Always confirmed: an unusable reading is kept as a finding of its transaction."""
        readings, problems = energy_readings(payload["meterValue"])
        transaction_id = payload.get("transactionId")
        if transaction_id is None or not valid_transaction_id(int(transaction_id)):
            return {}
        if readings or problems:
            self.store.meter_readings(
                charger_id, int(transaction_id), readings, [p.as_json() for p in problems[:1]]
            )
        return {}

    def stop_transaction(self, charger_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Always answered, and always a session: a Stop for a transaction never started here
        too. The session is published before the answer; a replay republishes the same bytes."""
        now = self.clock()
        transaction_id = int(payload["transactionId"])
        tag = payload.get("idTag")
        answer = {} if tag is None else {"idTagInfo": self._tag(str(tag), now)[1]}
        found = (
            self.store.transaction(charger_id, transaction_id)
            if valid_transaction_id(transaction_id)
            else None
        )
        if found is None:
            opened, kept, resent = self._unknown(charger_id, transaction_id, payload, now)
        elif found[1] is None:
            asked = (
                None
                if self.remote is None
                else self.remote.remote_stop_by(charger_id, transaction_id)
            )
            opened, kept = self.store.stop(
                charger_id,
                transaction_id,
                payload,
                now,
                priced_by=self.priced_by(charger_id),
                remote_stop_by=asked,
            )
            self.store.transaction_closed(charger_id, opened.connector_id, transaction_id)
            if kept.meter_stop_wh is not None:
                self.store.connector_stopped(charger_id, opened.connector_id, kept.meter_stop_wh)
            resent = False
        else:
            opened, kept, resent = found[0], found[1], True
        message = session_message(opened, kept, self.pricing(charger_id, kept.priced_by))
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
                "session_id": message.topic.rsplit("/", 1)[1],
                "topic": message.topic,
            },
        )
        return answer

    def _unknown(
        self, charger_id: str, transaction_id: int, payload: dict[str, Any], now: datetime
    ) -> tuple[OpenTransaction, StopReading, bool]:
        """A Stop for a transaction never started here (data lost, an offline start with -1):
        a session of its own, on connector 0 (the Stop names none), with what the Stop says;
        and whether it is a replay of one kept before."""
        log.warning(
            "charger %s stopped transaction %s that was never started here: published as suspect",
            charger_id,
            str(transaction_id)[:20],
        )
        session_id, kept, replayed = self.store.unknown_stop(
            charger_id, transaction_id, payload, now, self.priced_by(charger_id)
        )
        findings = [
            finding(
                "unknown_transaction",
                f"transactionId {str(transaction_id)[:20]} was never started here: "
                "connector, start and id tag unknown",
            )
        ]
        if not valid_transaction_id(transaction_id):
            findings.append(
                finding(
                    "transaction_id_out_of_range",
                    f"transactionId {str(transaction_id)[:20]} is outside 1..{MAX_TRANSACTION_ID}",
                )
            )
        opened = OpenTransaction(
            charger_id=charger_id,
            transaction_id=transaction_id,
            connector_id=0,
            id_tag="",
            meter_start_wh=None,
            started_at=kept.stopped_at,
            findings=tuple(findings),
            session_id=session_id,
        )
        return opened, kept, replayed


def _start_key(connector: int, payload: dict[str, Any], started_at: datetime | None) -> str:
    """What identifies one StartTransaction, so its replay gets the transaction it started."""
    if started_at is not None:
        return f"{connector}#{format_time(started_at)}#{payload['meterStart']}"
    seed = f"{payload['timestamp']}#{payload['meterStart']}"
    return f"{connector}#sent#{hashlib.sha256(seed.encode()).hexdigest()[:16]}"
