"""DynamoDB adapter of the storage port (key design: see `dynamodb_items`).

Sessions are saved in transactions that also add them to every aggregate they belong to (see
`session_transactions`): a duplicate cancels its transaction, so it never counts twice, and a
reused session id with other content is stored as the identity's next occurrence. Every read is a
GetItem or a Query, never a Scan.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from evsessions.aws_clients import aws_client
from evsessions.contract import MAX_CLOCK_AHEAD, ChargingSession, SessionKey, format_time
from evsessions.dynamodb_items import (
    BUCKET_PREFIX,
    BY_CHARGER_TIME,
    BY_CONNECTOR_TIME,
    BY_MONTH,
    CHARGERS,
    FLEET_TOTALS,
    LAST_ENDED_AT,
    REUSE_COUNTER,
    REUSED_SESSION_IDS,
    charger_sk,
    charger_totals_pk,
    connectors_of,
    hours_of,
    occurrences_range,
    plain,
    session_from_item,
    session_item,
    session_key,
    totals_from_item,
    typed,
)
from evsessions.errors import StorageUnavailable
from evsessions.session_transactions import ItemKey, pack, plan
from evsessions.settings import Settings
from evsessions.storage import (
    Bucket,
    BucketTotals,
    ChargerSummary,
    ConnectorSummary,
    Position,
    SaveOutcome,
    SessionPage,
    SessionQuery,
    rounds,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
        "ResourceNotFoundException",
        "UnrecognizedClientException",
    }
)
_TRANSIENT_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
_MAX_PLANS = 20
"""Transactions tried for one group before giving up: each retry follows a cancellation that
found a duplicate, an occurrence another writer had just taken, or an end time another writer had
just raised."""
_INDEX_KEYS = {
    BY_CHARGER_TIME: ("pk", "charger_time"),
    BY_CONNECTOR_TIME: ("connector_pk", "charger_time"),
    BY_MONTH: ("month", "fleet_time"),
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _bound(moment: datetime) -> str:
    """A window bound on millisecond times: rounded up, so [start, end) stays exact."""
    return format_time(moment + timedelta(microseconds=-moment.microsecond % 1000))


def _cancellation_codes(error: ClientError) -> list[str]:
    """Why a transaction was cancelled, one code per item ('None' where the item was fine)."""
    return [str(r.get("Code", "None")) for r in error.response.get("CancellationReasons", [])]


def create_client(settings: Settings) -> DynamoDBClient:
    """A client with short timeouts: a handler should fail fast and be retried, not hang.

    Parameter validation is off: our requests are built by this module and tested, and checking
    a 100-item transaction against the model took a fifth of the listener's CPU time."""
    config = Config(
        connect_timeout=2,
        read_timeout=10,
        retries={"max_attempts": 3, "mode": "standard"},
        parameter_validation=False,
    )
    client: DynamoDBClient = aws_client(
        "dynamodb", settings.aws_region, settings.dynamodb_endpoint_url, config
    )
    return client


class DynamoDbSessionStore:
    def __init__(
        self, table: str, client: DynamoDBClient, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.table = table
        self.client = client
        self.clock = clock
        self._known_last_ended: dict[ItemKey, dict[str, str]] = {}
        """End times this store wrote or read; they only grow (one item a charger: bounded)."""
        self._known_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoDbSessionStore:
        return cls(settings.sessions_table, create_client(settings))

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Run one API call, translating transport and throttling errors to StorageUnavailable."""
        try:
            return cast(dict[str, Any], getattr(self.client, operation)(**kwargs))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _TRANSIENT_CODES:
                raise StorageUnavailable(f"DynamoDB {operation} failed: {code}") from error
            raise
        except BotoCoreError as error:
            raise StorageUnavailable(f"DynamoDB {operation} failed: {error}") from error

    def save(self, session: ChargingSession) -> SaveOutcome:
        return self.save_many([session])[0]

    def save_many(self, sessions: Sequence[ChargingSession]) -> list[SaveOutcome]:
        """Store each new session once, in as few transactions as the aggregates allow.

        A transaction that DynamoDB cancelled was not applied at all, so it is planned again
        after learning what cancelled it; one that fails otherwise raises, and the caller retries
        the whole batch, whose stored sessions then cancel as duplicates and count nothing twice.
        The contents of one identity in a batch go in successive rounds, so each finds the
        occurrences of the one before."""
        known: dict[SessionKey, list[tuple[object, ...]]] = {}
        decided: dict[tuple[SessionKey, tuple[object, ...]], SaveOutcome] = {}
        for round_ in rounds(sessions):
            for group in pack(round_):
                decided.update(self._save_group(group, known))
        return _outcomes(sessions, decided)

    def _save_group(
        self, group: list[ChargingSession], known: dict[SessionKey, list[tuple[object, ...]]]
    ) -> dict[tuple[SessionKey, tuple[object, ...]], SaveOutcome]:
        """Save sessions of distinct identities. `known[key]` is the content of the identity's
        occurrences 1..n as last read or written: a session whose content is among them is a
        duplicate, any other claims occurrence n + 1."""
        decided: dict[SessionKey, SaveOutcome] = {}
        stored: dict[ItemKey, dict[str, str | None]] = {}
        for _ in range(_MAX_PLANS):
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
            planned = plan(self.table, pending, stored, self._known_last_ended)
            try:
                self._call("transact_write_items", TransactItems=planned.items)
                self._remember_last_ended(planned.raised)
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
                    if any(code in _TRANSIENT_CANCELLATIONS for code in codes):
                        raise StorageUnavailable(
                            f"DynamoDB transaction cancelled: {sorted(set(codes))}"
                        ) from error
                    raise
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
        else:
            raise StorageUnavailable(f"stores kept conflicting over {_MAX_PLANS} transactions")
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

    def get(self, key: SessionKey, occurrence: int = 1) -> ChargingSession | None:
        response = self._call(
            "get_item", TableName=self.table, Key=typed(session_key(key, occurrence))
        )
        item = response.get("Item")
        return None if item is None else session_from_item(plain(item))

    def reused_session_ids(self) -> int:
        response = self._call(
            "get_item",
            TableName=self.table,
            Key=typed({"pk": REUSE_COUNTER[0], "sk": REUSE_COUNTER[1]}),
        )
        return int(plain(response.get("Item") or {}).get(REUSED_SESSION_IDS, 0))

    def list_sessions(self, query: SessionQuery) -> SessionPage:
        if query.charger_id is None:
            return self._list_fleet(query)
        if query.connector_id is None:
            index, partition = BY_CHARGER_TIME, f"CHARGER#{query.charger_id}"
        else:
            index = BY_CONNECTOR_TIME
            partition = f"CONNECTOR#{query.charger_id}#{query.connector_id}"
        sessions, position = self._query_index(index, partition, query, query.limit, query.after)
        return SessionPage(sessions, position)

    def _list_fleet(self, query: SessionQuery) -> SessionPage:
        """Walk the months that hold sessions, newest first, one ByMonth partition each.

        The newest possible month (the cursor's, or the window's end, or now plus the contract's
        allowance for clocks ahead) is read first: it usually fills the page alone, and the list
        of months is read only when it does not."""
        after = query.after
        if after is not None:
            newest = after["month"]
        else:
            newest = format_time(query.end or self.clock() + MAX_CLOCK_AHEAD)[:7]
        sessions, position = self._query_index(BY_MONTH, newest, query, query.limit, after)
        found = list(sessions)
        for month in self._months(query, below=newest):
            if len(found) >= query.limit:
                break
            sessions, position = self._query_index(
                BY_MONTH, month, query, query.limit - len(found), None
            )
            found += sessions
        if len(found) >= query.limit:
            return SessionPage(found, position or self._position_after(BY_MONTH, found[-1]))
        return SessionPage(found, None)

    def _months(self, query: SessionQuery, below: str) -> list[str]:
        """Months with sessions inside the query's window and before `below`, newest first."""
        low = "MONTH#" + (format_time(query.start)[:7] if query.start else "")
        response = self._call(
            "query",
            TableName=self.table,
            ScanIndexForward=False,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues=typed(
                {":pk": FLEET_TOTALS, ":low": low, ":high": f"MONTH#{below}"}
            ),
            ProjectionExpression="sk",
        )
        months = [plain(item)["sk"].removeprefix("MONTH#") for item in response.get("Items", [])]
        return [month for month in months if month != below]

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
            },
            "ExpressionAttributeValues": typed(values),
        }
        if after is not None:
            arguments["ExclusiveStartKey"] = typed(after)
        response = self._call("query", **arguments)
        sessions = [session_from_item(plain(item)) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return sessions, None if last is None else {k: str(v) for k, v in plain(last).items()}

    @staticmethod
    def _position_after(index: str, session: ChargingSession) -> Position:
        item = session_item(session)
        return {name: str(item[name]) for name in ("pk", "sk", *_INDEX_KEYS[index])}

    def totals(
        self, charger_id: str | None, bucket: Bucket, first: str, last: str
    ) -> list[BucketTotals]:
        hours_inside_days = charger_id is not None and bucket == "hour"
        prefix = BUCKET_PREFIX["day" if hours_inside_days else bucket]
        low, high = (first[:10], last[:10]) if hours_inside_days else (first, last)
        items = self._query_all(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
            ExpressionAttributeValues=typed(
                {
                    ":pk": FLEET_TOTALS if charger_id is None else charger_totals_pk(charger_id),
                    ":first": prefix + low,
                    ":last": prefix + high,
                }
            ),
        )
        if hours_inside_days:
            return [
                BucketTotals(hour, totals)
                for item in items
                for hour, totals in hours_of(item).items()
                if first <= hour <= last
            ]
        return [BucketTotals(i["sk"].removeprefix(prefix), totals_from_item(i)) for i in items]

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
        # One item a charger, its connectors inside: one more than the page says if there is more.
        response = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk > :start",
            ExpressionAttributeValues=typed(
                {":pk": CHARGERS, ":start": charger_sk(after) if after is not None else "CHARGER#"}
            ),
            Limit=limit + 1,
        )
        summaries = [_charger_summary(plain(item)) for item in response.get("Items", [])]
        if len(summaries) > limit:
            return summaries[:limit], summaries[limit - 1].charger_id
        return summaries, None

    def ping(self) -> None:
        self._call("describe_table", TableName=self.table)


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


def _charger_summary(item: dict[str, Any]) -> ChargerSummary:
    connectors = [
        ConnectorSummary(connector, totals, last_ended_at)
        for connector, (totals, last_ended_at) in sorted(connectors_of(item).items())
    ]
    return ChargerSummary(
        item["sk"].removeprefix("CHARGER#"),
        totals_from_item(item),
        item.get(LAST_ENDED_AT),
        connectors,
    )


@functools.lru_cache(maxsize=4)
def cached_store(settings: Settings) -> DynamoDbSessionStore:
    """One client per configuration, created on first use (never at import) and then reused."""
    return DynamoDbSessionStore.from_settings(settings)
