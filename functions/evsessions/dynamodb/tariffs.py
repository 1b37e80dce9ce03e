"""Tariffs kept in the sessions table as versions: `TARIFF#{id}` / `{start}`.

A change is a new version from a start time, never an edit: a version is put once (conditional
on its key being free) and never rewritten, and it may not start before `VERSION_LEAD` from now.
So the version that priced a session is the version that will price it whenever it is priced
again (an OCPP Stop replayed, a CDR issued later), and a reader may keep what it read for up to
`VERSION_LEAD` without ever pricing with a stale tariff. `TARIFFS` / `{id}` marks each tariff, so
the list of tariffs is one Query. Every read is a Query, never a Scan.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from evsessions.contract import format_time
from evsessions.dynamodb.errors import call, raise_translated
from evsessions.dynamodb.items import plain, typed
from evsessions.dynamodb.keys import TARIFFS, tariff_of_partition, tariff_partition
from evsessions.errors import PipelineError, StorageUnavailable
from evsessions.tariffs import Tariff, elements_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

VERSION_LEAD = timedelta(seconds=60)
"""How far ahead of its writing a version must start; also how long a reader may cache."""


class VersionRefused(PipelineError):
    """A version that would change what is already priced: it starts too soon."""


class VersionTaken(VersionRefused):
    """A version of the tariff starts at that moment already (it is never rewritten)."""


@dataclass(frozen=True)
class TariffVersion:
    tariff_id: str
    start: datetime
    tariff: Tariff
    last_updated: str

    def ocpi_json(self, country_code: str, party_id: str) -> dict[str, Any]:
        """The version as an OCPI 2.2.1 Tariff object."""
        return {
            "country_code": country_code,
            "party_id": party_id,
            "id": self.tariff_id,
            "currency": self.tariff.currency,
            "elements": self.tariff.elements_json(),
            "start_date_time": _ocpi_time(self.start),
            "last_updated": _ocpi_time(datetime.fromisoformat(self.last_updated)),
        }


def _ocpi_time(moment: datetime) -> str:
    """OCPI's DateTime: UTC, `Z`, no fraction needed (we keep milliseconds)."""
    return format_time(moment)


def version_item(version: TariffVersion) -> dict[str, Any]:
    return {
        "pk": tariff_partition(version.tariff_id),
        "sk": format_time(version.start),
        "tariff": json.dumps(
            {"currency": version.tariff.currency, "elements": version.tariff.elements_json()},
            separators=(",", ":"),
        ),
        "last_updated": version.last_updated,
    }


def version_of_item(item: dict[str, Any]) -> TariffVersion:
    kept = json.loads(str(item["tariff"]))
    return TariffVersion(
        tariff_id=tariff_of_partition(str(item["pk"])),
        start=datetime.fromisoformat(str(item["sk"])),
        tariff=Tariff(str(kept["currency"]), elements_of(kept["elements"])),
        last_updated=str(item["last_updated"]),
    )


class DynamoDBTariffs:
    def __init__(
        self,
        table: str,
        client: DynamoDBClient,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.client = client
        self.now = now
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, list[TariffVersion]]] = {}
        self._lock = threading.Lock()

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        return call(self.client, operation, **arguments)

    def put_version(self, tariff_id: str, tariff: Tariff, start: datetime | None) -> TariffVersion:
        """A new version from `start` (default: as soon as allowed); refused when it would start
        before `VERSION_LEAD` from now or at the start of a version already kept."""
        now = self.now()
        earliest = now + VERSION_LEAD
        start = earliest if start is None else start
        if start < earliest:
            raise VersionRefused(
                f"start_date_time must be at least {int(VERSION_LEAD.total_seconds())} s from "
                f"now ({format_time(earliest)} or later): a version never changes what is "
                "already priced"
            )
        version = TariffVersion(tariff_id, start, tariff, format_time(now))
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": typed(version_item(version)),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": typed({"pk": TARIFFS, "sk": tariff_id}),
                        }
                    },
                ]
            )
        except ClientError as error:
            reasons = error.response.get("CancellationReasons", [])
            if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                raise VersionTaken(
                    f"tariff {tariff_id} has a version starting {format_time(start)} already"
                ) from None
            raise_translated("transact_write_items", error)
        except BotoCoreError as error:
            raise StorageUnavailable(f"DynamoDB transact_write_items failed: {error}") from error
        with self._lock:
            self._cache.pop(tariff_id, None)
        return version

    def versions(self, tariff_id: str) -> list[TariffVersion]:
        """Every version, oldest first (a tariff has few: one a price change)."""
        found: list[TariffVersion] = []
        start: dict[str, Any] | None = None
        while True:
            page = self._call(
                "query",
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues=typed({":pk": tariff_partition(tariff_id)}),
                **({"ExclusiveStartKey": start} if start else {}),
            )
            found.extend(version_of_item(plain(item)) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                return found

    def tariff_ids(self) -> list[str]:
        page = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=typed({":pk": TARIFFS}),
        )
        return [str(plain(item)["sk"]) for item in page.get("Items", [])]

    def version_at(self, tariff_id: str, moment: datetime) -> TariffVersion | None:
        """The version in force at `moment`, or None when the tariff had none yet. Versions are
        cached for `VERSION_LEAD`: a version written since cannot have started yet."""
        now = self.monotonic()
        with self._lock:
            cached = self._cache.get(tariff_id)
        if cached is None or now - cached[0] >= VERSION_LEAD.total_seconds():
            cached = (now, self.versions(tariff_id))
            with self._lock:
                self._cache[tariff_id] = cached
        in_force = [v for v in cached[1] if v.start <= moment]
        return in_force[-1] if in_force else None
