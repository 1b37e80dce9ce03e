"""DynamoDB adapter of the storage port (key design: see `dynamodb.items`).

Sessions are saved in transactions that also add them to every aggregate they belong to (see
`dynamodb.planning`): a duplicate cancels its transaction, so it never counts twice, and a
reused session id with other content is stored as the identity's next occurrence. Every read is a
GetItem or a Query, never a Scan.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from evsessions import metrics
from evsessions.aws_clients import aws_client
from evsessions.contract import MAX_CLOCK_AHEAD, ChargingSession, SessionKey, format_time
from evsessions.dynamodb.backoff import ConflictBackoff
from evsessions.dynamodb.counts import TransactionCounts
from evsessions.dynamodb.errors import call
from evsessions.dynamodb.fan_out import WORKERS, FanOut, concurrently
from evsessions.dynamodb.items import (
    LAST_ENDED_AT,
    OPEN_SUSPECTS,
    REUSED_SESSION_IDS,
    SUSPECT_PREFIX,
    connectors_of,
    plain,
    session_from_item,
    session_item,
    totals_from_item,
    typed,
)
from evsessions.dynamodb.keys import (
    BUCKET_PREFIX,
    BY_CONNECTOR_TIME,
    BY_MONTH,
    BY_REVIEW,
    CHARGERS,
    FLEET_TOTALS,
    MONTH_PREFIX,
    MONTHS,
    OPEN_REVIEW,
    REUSE_COUNTER,
    charger_of_sk,
    charger_sk,
    chargers_pk,
    connector_partition,
    fleet_time,
    month_marker,
    occurrences_range,
    session_key,
)
from evsessions.dynamodb.paged_merge import Fetch, merge_pages
from evsessions.dynamodb.planning import ItemKey, pack, plan, plan_resolution
from evsessions.dynamodb.shards import SHARDS, sharded
from evsessions.dynamodb.single_flight import SingleFlight
from evsessions.errors import StorageUnavailable
from evsessions.integrity import Billed, Resolution
from evsessions.metrics import Metric
from evsessions.settings import Settings
from evsessions.storage import (
    Bucket,
    BucketTotals,
    ChargerSummary,
    ConnectorSummary,
    FleetCounts,
    Position,
    ResolutionRefused,
    SaveOutcome,
    SessionPage,
    SessionQuery,
    Totals,
    resolved,
    rounds,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

_TRANSIENT_CANCELLATIONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
_CONFLICT = "TransactionConflict"
_MAX_PLANS = 20
"""Transactions tried for one group before giving up: each retry follows a cancellation that
found a duplicate, an occurrence another writer had just taken, or an end time another writer had
just raised."""
_INDEX_KEYS = {
    BY_CONNECTOR_TIME: ("connector_pk", "charger_time"),
    BY_MONTH: ("month", "fleet_time"),
    BY_REVIEW: ("review", "fleet_time"),
}
SPARE_ITEMS = 3
"""Items a partition of a merge reads beyond its share of the page. The shares are uneven (a
shard holds the chargers CRC-32 gives it); with one spare, a fleet page of 50 sent most requests
back for a second round. Seven session items of about 400 bytes still fit the 4 KB that half a
read unit buys, so a spare costs no read unit and saves a round trip."""
MONTHS_FOR = 5.0
"""Seconds a store reuses the list of months it read. A month appears in it with its first
session; the fleet listing reads the newest possible month without it, so only a first session
stored in an older month (a late or back-dated one) can stay out of a listing, for this long."""
_VERDICT_FILTERS = {
    "clean": "attribute_not_exists(#findings)",
    "suspect": "attribute_exists(#findings)",
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _any_shard() -> int:
    return random.randrange(SHARDS)


def _bound(moment: datetime) -> str:
    """A window bound on millisecond times: rounded up, so [start, end) stays exact."""
    return format_time(moment + timedelta(microseconds=-moment.microsecond % 1000))


def _cancellation_codes(error: ClientError) -> list[str]:
    """Why a transaction was cancelled, one code per item ('None' where the item was fine)."""
    return [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]


def create_client(settings: Settings) -> DynamoDBClient:
    """A client with short timeouts: a handler should fail fast and be retried, not hang.

    Parameter validation is off: our requests are built by this module and tested, and checking
    a 100-item transaction against the model took a fifth of the listener's CPU time. The
    connection pool holds the shared read pool's requests and their callers' (botocore's default
    of 10 would open and drop connections under a fleet read's 16 Queries)."""
    config = Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 3, "mode": "standard"},
        parameter_validation=False,
        max_pool_connections=2 * WORKERS,
    )
    client: DynamoDBClient = aws_client(
        "dynamodb", settings.aws_region, settings.dynamodb_endpoint_url, config
    )
    return client


class DynamoDbSessionStore:
    def __init__(
        self,
        table: str,
        client: DynamoDBClient,
        clock: Callable[[], datetime] = _utc_now,
        backoff: ConflictBackoff | None = None,
        fleet_shard: Callable[[], int] = _any_shard,
        fan_out: FanOut = concurrently,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.client = client
        self.clock = clock
        self.backoff = backoff or ConflictBackoff()
        self.fleet_shard = fleet_shard
        """Draws the fleet totals shard of each transaction planned: drawn again when a
        transaction is planned again, so one that met another on a shard's items moves away."""
        self._marked_months: set[str] = set()
        """Months whose marker this store has put; a marker is idempotent, so this only saves
        requests."""
        self.fan_out = fan_out
        self.monotonic = monotonic
        self.flights = SingleFlight()
        """Fleet-wide reads that overlap an identical one share it (see `single_flight`)."""
        self._months_read: tuple[float, list[str]] | None = None
        """When the month markers were last read, and the months they named, newest first."""
        """Runs a read's independent Queries (one a shard or connector) at once."""
        self.counts = TransactionCounts()
        self._known_last_ended: dict[ItemKey, dict[str, str]] = {}
        """End times this store wrote or read; they only grow (one item a charger: bounded)."""
        self._known_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoDbSessionStore:
        return cls(settings.sessions_table, create_client(settings))

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        return call(self.client, operation, **arguments)

    def save(self, session: ChargingSession) -> SaveOutcome:
        return self.save_many([session])[0]

    def save_many(self, sessions: Sequence[ChargingSession]) -> list[SaveOutcome]:
        return [outcome for outcome, _ in self.save_placed(sessions)]

    def save_placed(self, sessions: Sequence[ChargingSession]) -> list[tuple[SaveOutcome, int]]:
        """save_many, with the occurrence each session is (stored as, or found as): what the
        store learned while saving, so a caller that needs it (the listener's CDRs) reads
        nothing again.

        Store each new session once, in as few transactions as the aggregates allow.

        A transaction that DynamoDB cancelled was not applied at all, so it is planned again
        after learning what cancelled it; one that fails otherwise raises, and the caller retries
        the whole batch, whose stored sessions then cancel as duplicates and count nothing twice.
        The contents of one identity in a batch go in successive rounds, so each finds the
        occurrences of the one before."""
        known: dict[SessionKey, list[tuple[object, ...]]] = {}
        decided: dict[tuple[SessionKey, tuple[object, ...]], SaveOutcome] = {}
        self.mark_months({format_time(session.ended_at)[:7] for session in sessions})
        for round_ in rounds(sessions):
            for group in pack(round_):
                decided.update(self._save_group(group, known))
        return [
            (outcome, known[session.key].index(session.content) + 1)
            for session, outcome in zip(sessions, _outcomes(sessions, decided), strict=True)
        ]

    def mark_months(self, months: set[str]) -> None:
        """Put the marker of each month not marked yet, before any of its sessions is stored."""
        for month in sorted(months - self._marked_months):
            self._call("put_item", TableName=self.table, Item=typed(month_marker(month)))
            self._marked_months.add(month)

    def _save_group(
        self, group: list[ChargingSession], known: dict[SessionKey, list[tuple[object, ...]]]
    ) -> dict[tuple[SessionKey, tuple[object, ...]], SaveOutcome]:
        """Save sessions of distinct identities. `known[key]` is the content of the identity's
        occurrences 1..n as last read or written: a session whose content is among them is a
        duplicate, any other claims occurrence n + 1. A cancelled transaction is planned again
        (a duplicate, an occurrence taken, an end time that moved) or, on a conflict with another
        writer, tried again after a jittered wait: a conflict is never a batch's failure while
        the backoff's budget lasts."""
        decided: dict[SessionKey, SaveOutcome] = {}
        stored: dict[ItemKey, dict[str, str | None]] = {}
        waits = self.backoff.waits()
        plans = 0
        while True:
            pending = []
            for session in group:
                if session.key in decided:
                    continue
                contents = known.get(session.key, [])
                if session.content in contents:
                    decided[session.key] = SaveOutcome.DUPLICATE
                else:
                    pending.append(replace(session, occurrence=len(contents) + 1))
            if not pending:
                break
            planned = plan(self.table, pending, stored, self._known_last_ended, self.fleet_shard())
            try:
                self._call("transact_write_items", TransactItems=planned.items)
                self._remember_last_ended(planned.raised)
                self.counts.commit()
                for session in pending:
                    known.setdefault(session.key, []).append(session.content)
                    decided[session.key] = (
                        SaveOutcome.STORED if session.occurrence == 1 else SaveOutcome.REUSED
                    )
                break
            except ClientError as error:
                reasons = error.response.get("CancellationReasons", [])
                codes = _cancellation_codes(error)
                failed = [
                    (role, reason)
                    for role, reason in zip(planned.roles, reasons, strict=False)
                    if reason.get("Code") == "ConditionalCheckFailed"
                ]
                if not failed:
                    if _CONFLICT in codes:
                        wait = next(waits, None)
                        if wait is None:
                            raise StorageUnavailable(
                                "DynamoDB transactions kept conflicting past the backoff budget"
                            ) from error
                        self.counts.cancel(codes, "conflict")
                        metrics.record(Metric.CONFLICTS_RETRIED)
                        self.backoff.sleep(wait)
                        continue
                    if any(code in _TRANSIENT_CANCELLATIONS for code in codes):
                        raise StorageUnavailable(
                            f"DynamoDB transaction cancelled: {sorted(set(codes))}"
                        ) from error
                    raise
                plans += 1
                if plans >= _MAX_PLANS:
                    raise StorageUnavailable(
                        f"stores kept conflicting over {_MAX_PLANS} transactions"
                    ) from error
                self.counts.cancel(codes, "replanned")
                claimed = {session.key: session for session in pending}
                for role, reason in failed:
                    if isinstance(role, SessionKey):
                        known[role] = self._occurrences(
                            claimed[role], reason.get("Item"), known.get(role, [])
                        )
                    else:
                        stored[role] = self._last_ended_times(role)
                        self._remember_last_ended(
                            {role: {k: v for k, v in stored[role].items() if v is not None}}
                        )
        return {(s.key, s.content): decided[s.key] for s in group}

    def _occurrences(
        self,
        claimed: ChargingSession,
        holder: Mapping[str, Any] | None,
        before: list[tuple[object, ...]],
    ) -> list[tuple[object, ...]]:
        """The contents of an identity's occurrences, after `claimed` found its occurrence taken
        by `holder` (the item DynamoDB returned, if it did); `before` holds the ones below it.
        When the holder has the same content the message is a duplicate and nothing needs
        reading; otherwise every occurrence is read (a consistent Query of the identity's few
        items), to find whether the content is among them and which occurrence is next."""
        if holder is not None:
            held = session_from_item(plain(holder)).content
            if held == claimed.content:
                return [*before, held]
        pk, first, last = occurrences_range(claimed.key)
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues=typed({":pk": pk, ":first": first, ":last": last}),
            ConsistentRead=True,
        )
        found = sorted((session_from_item(item) for item in items), key=lambda s: s.occurrence)
        return [session.content for session in found]

    def _remember_last_ended(self, times: Mapping[ItemKey, Mapping[str, str]]) -> None:
        with self._known_lock:
            for key, attributes in times.items():
                known = self._known_last_ended.setdefault(key, {})
                for attribute, value in attributes.items():
                    known[attribute] = max(known.get(attribute, value), value)

    def _last_ended_times(self, key: ItemKey) -> dict[str, str | None]:
        response = self._call(
            "get_item",
            TableName=self.table,
            Key=typed({"pk": key[0], "sk": key[1]}),
            ConsistentRead=True,
        )
        item = plain(response.get("Item") or {})
        return {name: value for name, value in item.items() if name.endswith(LAST_ENDED_AT)}

    def get(
        self, key: SessionKey, occurrence: int = 1, consistent: bool = False
    ) -> ChargingSession | None:
        response = self._call(
            "get_item",
            TableName=self.table,
            Key=typed(session_key(key, occurrence)),
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        return None if item is None else session_from_item(plain(item))

    def _fleet_counters(self) -> dict[str, Any]:
        response = self._call(
            "get_item",
            TableName=self.table,
            Key=typed({"pk": REUSE_COUNTER[0], "sk": REUSE_COUNTER[1]}),
        )
        return plain(response.get("Item") or {})

    def resolve(
        self,
        key: SessionKey,
        occurrence: int,
        resolution: Resolution,
        corrected: Billed | None = None,
    ) -> ChargingSession | None:
        """One transaction, conditional on the session still being open: of two operators
        deciding at once, one succeeds and the other is told what was decided."""
        before = self.get(key, occurrence, consistent=True)
        if before is None:
            return None
        after = resolved(before, resolution, corrected)
        try:
            self._call(
                "transact_write_items",
                TransactItems=plan_resolution(self.table, before, after, self.fleet_shard()),
            )
        except ClientError as error:
            if "ConditionalCheckFailed" not in _cancellation_codes(error):
                raise
            now = self.get(key, occurrence, consistent=True)
            if now is None:  # pragma: no cover - sessions are never deleted
                raise StorageUnavailable("the session vanished while being resolved") from None
            action = now.resolution.action if now.resolution else "unknown"
            raise ResolutionRefused(f"the session was already resolved ({action})", now) from None
        return after

    def list_sessions(self, query: SessionQuery) -> SessionPage:
        if query.open_review:
            sessions, position = self._query_index(
                BY_REVIEW, OPEN_REVIEW, query, query.limit, query.after
            )
            return SessionPage(sessions, position)
        if query.charger_id is None:
            return self.flights.run(("sessions", repr(query)), lambda: self._list_fleet(query))
        if query.connector_id is None:
            return self._list_charger(query, query.charger_id)
        partition = connector_partition(query.charger_id, query.connector_id)
        sessions, position = self._query_index(
            BY_CONNECTOR_TIME, partition, query, query.limit, query.after
        )
        return SessionPage(sessions, position)

    def _connectors(self, charger_id: str) -> list[str]:
        """The charger's connectors, from its lifetime item (one GetItem of a small item)."""
        response = self._call(
            "get_item",
            TableName=self.table,
            Key=typed({"pk": chargers_pk(charger_id), "sk": charger_sk(charger_id)}),
        )
        return sorted(connectors_of(plain(response.get("Item") or {})))

    def _list_charger(self, query: SessionQuery, charger_id: str) -> SessionPage:
        """A charger's sessions, newest first: the merge of its connectors' ByConnectorTime
        partitions, each read a share of the page at a time."""
        before = None if query.after is None else query.after["charger_time"]
        partitions = [connector_partition(charger_id, c) for c in self._connectors(charger_id)]
        found = self._merged_page(
            BY_CONNECTOR_TIME, "connector_pk", "charger_time", partitions, query, before
        )
        if len(found) < query.limit:
            return SessionPage(found, None)
        return SessionPage(found, {"charger_time": session_item(found[-1])["charger_time"]})

    def _list_fleet(self, query: SessionQuery) -> SessionPage:
        """Walk the months that hold sessions, newest first; each month is a k-way merge of its
        ByMonth shards, each read only as far as the page needs (see `_month_page`).

        The newest possible month (the cursor's, or the window's end, or now plus the contract's
        allowance for clocks ahead) is read first: it usually fills the page alone, and the list
        of months is read only when it does not."""
        after = query.after
        if after is not None:
            newest = after["month"]
        else:
            newest = format_time(query.end or self.clock() + MAX_CLOCK_AHEAD)[:7]
        before = None if after is None else after["fleet_time"]
        found = self._month_page(newest, query, query.limit, before)
        for month in [] if len(found) >= query.limit else self._months(query, below=newest):
            found += self._month_page(month, query, query.limit - len(found), None)
            if len(found) >= query.limit:
                break
        if len(found) < query.limit:
            return SessionPage(found, None)
        last = found[-1]
        position = {"month": format_time(last.ended_at)[:7], "fleet_time": fleet_time(last)}
        return SessionPage(found, position)

    def _month_page(
        self, month: str, query: SessionQuery, limit: int, before: str | None
    ) -> list[ChargingSession]:
        partitions = [sharded(month, shard) for shard in range(SHARDS)]
        return self._merged_page(BY_MONTH, "month", "fleet_time", partitions, query, before, limit)

    def _merged_page(
        self,
        index: str,
        partition_key: str,
        sort_key: str,
        partitions: list[str],
        query: SessionQuery,
        before: str | None,
        limit: int | None = None,
    ) -> list[ChargingSession]:
        """The newest `limit` sessions of several partitions in the window (and before the
        cursor's sort key), merged. Each partition is read in pages of a share of `limit`, so a
        page of n sessions reads about n plus a share a partition, whatever the table holds."""
        limit = query.limit if limit is None else limit
        low = _bound(query.start) if query.start else "0"
        high = _bound(query.end) if query.end else "~"
        if before is not None:
            high = min(high, before)  # inclusive here: the cursor's own session is dropped below
        chunk = -(-limit // max(1, len(partitions))) + SPARE_ITEMS
        pages = [
            self._page(
                {
                    "IndexName": index,
                    "ScanIndexForward": False,
                    "KeyConditionExpression": "#p = :p AND #s BETWEEN :low AND :high",
                    "ExpressionAttributeNames": {
                        "#p": partition_key,
                        "#s": sort_key,
                        **_filter_names(query),
                    },
                    "ExpressionAttributeValues": typed(
                        {":p": partition, ":low": low, ":high": high}
                    ),
                    **_verdict_filter(query),
                },
                chunk,
            )
            for partition in partitions
        ]
        items = merge_pages(
            pages,
            key=lambda item: str(item[sort_key]),
            limit=limit + 1,
            descending=True,
            fan_out=self.fan_out,
        )
        sessions = [session_from_item(i) for i in items if i[sort_key] != before]
        return sessions[:limit]

    def _page(self, arguments: dict[str, Any], chunk: int) -> Fetch[dict[str, Any]]:
        """Reads a Query `chunk` items at a time, one page a call, from the cursor it is given
        (the merge asks for a page only when it may need one)."""
        base = {"TableName": self.table, "Limit": chunk, **arguments}

        def fetch(cursor: Any) -> tuple[list[dict[str, Any]], Any]:
            start = {} if cursor is None else {"ExclusiveStartKey": cursor}
            response = self._call("query", **base, **start)
            return [plain(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")

        return fetch

    def _months(self, query: SessionQuery, below: str) -> list[str]:
        """Months with sessions inside the query's window and before `below`, newest first: the
        month markers (one Query of a few items, reused for `MONTHS_FOR` seconds)."""
        now = self.monotonic()
        if self._months_read is None or now - self._months_read[0] >= MONTHS_FOR:
            items = self._query_all(
                KeyConditionExpression="pk = :pk", ExpressionAttributeValues=typed({":pk": MONTHS})
            )
            months = {item["sk"].removeprefix(MONTH_PREFIX) for item in items}
            self._months_read = (now, sorted(months, reverse=True))
        low = format_time(query.start)[:7] if query.start else ""
        return [month for month in self._months_read[1] if low <= month < below]

    def _query_index(
        self, index: str, partition: str, query: SessionQuery, limit: int, after: Position | None
    ) -> tuple[list[ChargingSession], Position | None]:
        partition_key, sort_key = _INDEX_KEYS[index]
        condition = "#p = :p"
        values: dict[str, Any] = {":p": partition}
        if query.start or query.end:
            # Sort keys are "{ended_at}#...": text bounds on ended_at select [start, end).
            condition += " AND #s BETWEEN :low AND :high"
            values[":low"] = _bound(query.start) if query.start else "0"
            values[":high"] = _bound(query.end) if query.end else "~"
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "ScanIndexForward": False,
            "Limit": limit,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {
                "#p": partition_key,
                **({"#s": sort_key} if "#s" in condition else {}),
                **_filter_names(query),
            },
            "ExpressionAttributeValues": typed(values),
            **_verdict_filter(query),
        }
        if index == BY_REVIEW:
            arguments.update(_review_filter(query, arguments["ExpressionAttributeValues"]))
        if after is not None:
            arguments["ExclusiveStartKey"] = typed(after)
        response = self._call("query", **arguments)
        sessions = [session_from_item(plain(item)) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return sessions, None if last is None else {k: str(v) for k, v in plain(last).items()}

    def totals(
        self, charger_id: str | None, bucket: Bucket, first: str, last: str
    ) -> list[BucketTotals]:
        if charger_id is not None:
            return self._charger_totals(charger_id, bucket, first, last)
        return self.flights.run(
            ("totals", bucket, first, last), lambda: self._fleet_totals(bucket, first, last)
        )

    def _fleet_totals(self, bucket: Bucket, first: str, last: str) -> list[BucketTotals]:
        prefix = BUCKET_PREFIX[bucket]
        summed: dict[str, tuple[Totals, Totals]] = {}
        shards = self.fan_out(  # the fleet's shards, read at once, add up bucket by bucket
            [
                functools.partial(
                    self._query_all,
                    KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
                    ExpressionAttributeValues=typed(
                        {
                            ":pk": sharded(FLEET_TOTALS, shard),
                            ":first": prefix + first,
                            ":last": prefix + last,
                        }
                    ),
                )
                for shard in range(SHARDS)
            ]
        )
        for items in shards:
            for item in items:
                start = item["sk"].removeprefix(prefix)
                clean, suspect = summed.get(start, (Totals(), Totals()))
                summed[start] = (
                    clean.add(totals_from_item(item)),
                    suspect.add(totals_from_item(item, SUSPECT_PREFIX)),
                )
        return [BucketTotals(start, *summed[start]) for start in sorted(summed)]

    def _charger_totals(
        self, charger_id: str, bucket: Bucket, first: str, last: str
    ) -> list[BucketTotals]:
        """A charger's totals per bucket, summed from its sessions in the window (each
        connector's partition read once, only the fields a sum needs)."""
        width = len(first)  # a bucket start is the prefix of the times inside it
        summed: dict[str, dict[str, Totals]] = {}
        connectors = self.fan_out(  # each connector's partition, read at once
            [
                functools.partial(
                    self._query_all,
                    IndexName=BY_CONNECTOR_TIME,
                    KeyConditionExpression="connector_pk = :p AND charger_time "
                    "BETWEEN :low AND :high",
                    ExpressionAttributeValues=typed(
                        {
                            ":p": connector_partition(charger_id, connector),
                            ":low": first,
                            ":high": last + "~",
                        }
                    ),
                    ProjectionExpression="ended_at, energy_delivered_in_kWh, "
                    "session_cost_in_cents, duration_in_seconds, #review, #resolution.#action",
                    ExpressionAttributeNames={
                        "#review": "review",
                        "#resolution": "resolution",
                        "#action": "action",
                    },
                )
                for connector in self._connectors(charger_id)
            ]
        )
        for items in connectors:
            for item in items:
                start = str(item["ended_at"])[:width]
                add = Totals(
                    1,
                    Decimal(item["energy_delivered_in_kWh"]),
                    int(item["session_cost_in_cents"]),
                    int(item["duration_in_seconds"]),
                )
                kind = _counts_as(item)
                kinds = summed.setdefault(start, {})
                kinds[kind] = kinds.get(kind, Totals()).add(add)
        return [
            BucketTotals(start, kinds.get("clean", Totals()), kinds.get("suspect", Totals()))
            for start, kinds in sorted(summed.items())
        ]

    def _query_all(self, **arguments: Any) -> list[dict[str, Any]]:
        """Every item of a Query, following pagination."""
        items: list[dict[str, Any]] = []
        while True:
            response = self._call("query", TableName=self.table, **arguments)
            items += [plain(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            if last is None:
                return items
            arguments["ExclusiveStartKey"] = last

    def chargers(self, limit: int, after: str | None) -> tuple[list[ChargerSummary], str | None]:
        return self.flights.run(("chargers", limit, after), lambda: self._chargers(limit, after))

    def _chargers(self, limit: int, after: str | None) -> tuple[list[ChargerSummary], str | None]:
        """One item a charger, its connectors inside, in id order: a k-way merge of the CHARGERS
        shards, each read a share of the page at a time; one more than the page says if there
        is more."""
        start = charger_sk(after or "")
        chunk = -(-(limit + 1) // SHARDS) + SPARE_ITEMS
        shards = [
            self._page(
                {
                    "KeyConditionExpression": "pk = :pk AND sk > :start",
                    "ExpressionAttributeValues": typed(
                        {":pk": sharded(CHARGERS, shard), ":start": start}
                    ),
                },
                chunk,
            )
            for shard in range(SHARDS)
        ]
        items = merge_pages(
            shards, key=lambda item: str(item["sk"]), limit=limit + 1, fan_out=self.fan_out
        )
        summaries = [_charger_summary(item) for item in items]
        if len(summaries) > limit:
            return summaries[:limit], summaries[limit - 1].charger_id
        return summaries, None

    def fleet_counts(self) -> FleetCounts:
        """One GetItem, which is also the health check's proof that the table answers: a
        DescribeTable costs DynamoDB Local a count of the table's items (687 ms p50 at 100,000
        sessions, docs/pages/performance.md) and AWS a control-plane call."""
        counters = self._fleet_counters()
        return FleetCounts(
            int(counters.get(REUSED_SESSION_IDS, 0)), int(counters.get(OPEN_SUSPECTS, 0))
        )


def _verdict_filter(query: SessionQuery) -> dict[str, str]:
    """A filter on the verdict: it reads past the sessions it drops, so a page of rare suspect
    sessions costs more reads than the page (the open ones have their own index)."""
    if query.verdict is None:
        return {}
    return {"FilterExpression": _VERDICT_FILTERS[query.verdict]}


def _filter_names(query: SessionQuery) -> dict[str, str]:
    """The attribute names the filters use, as placeholders (never a reserved word)."""
    names = {"#findings": "findings"} if query.verdict is not None else {}
    if query.open_review and query.charger_id is not None:
        names["#charger"] = "charger_id"
    if query.open_review and query.connector_id is not None:
        names["#connector"] = "connector_id"
    return names


def _review_filter(query: SessionQuery, values: dict[str, Any]) -> dict[str, Any]:
    """The open suspects of one charger or connector (and verdict): a filter on the sparse index,
    which holds the open suspects alone, so it reads few items it drops."""
    conditions = [_VERDICT_FILTERS[query.verdict]] if query.verdict else []
    added = {}
    for name, value in (("charger", query.charger_id), ("connector", query.connector_id)):
        if value is not None:
            conditions.append(f"#{name} = :{name}")
            added[f":{name}"] = value
    if not conditions:
        return {}
    return {
        "FilterExpression": " AND ".join(conditions),
        "ExpressionAttributeValues": {**values, **typed(added)},
    }


def _outcomes(
    sessions: Sequence[ChargingSession],
    decided: Mapping[tuple[SessionKey, tuple[object, ...]], SaveOutcome],
) -> list[SaveOutcome]:
    """Each session's outcome, in order; a repeat within the batch is a duplicate."""
    seen: set[tuple[SessionKey, tuple[object, ...]]] = set()
    result = []
    for session in sessions:
        identity = (session.key, session.content)
        result.append(SaveOutcome.DUPLICATE if identity in seen else decided[identity])
        seen.add(identity)
    return result


def _counts_as(item: Mapping[str, Any]) -> str:
    """Which totals a stored session (read with review and resolution.action) counts in."""
    if item.get("review") == OPEN_REVIEW:
        return "suspect"
    return "void" if (item.get("resolution") or {}).get("action") == "void" else "clean"


def _charger_summary(item: dict[str, Any]) -> ChargerSummary:
    connectors = [
        ConnectorSummary(connector, totals, last_ended_at)
        for connector, (totals, last_ended_at) in sorted(connectors_of(item).items())
    ]
    return ChargerSummary(
        charger_of_sk(item["sk"]),
        totals_from_item(item),
        item.get(LAST_ENDED_AT),
        connectors,
        totals_from_item(item, SUSPECT_PREFIX),
    )


@functools.lru_cache(maxsize=4)
def cached_store(settings: Settings) -> DynamoDbSessionStore:
    """One client per configuration, created on first use (never at import) and then reused."""
    return DynamoDbSessionStore.from_settings(settings)
