"""CDRs kept in the sessions table, each as issued: `SESSIONCDRS#{charger}#{connector}#{session}
#{occurrence}` / `{cdr id}`, holding the CDR's JSON text.

A CDR is put once, conditional on its key being free, and never updated: what a partner read is
what it reads again, whatever the registry or the tariffs say later (the CDR holds its own copy
of the location and tariff). Its session's CDRs are one Query (the dashboard's link). The OCPI
listing pages by `last_updated`, as OCPI asks, through the table's ByMonth index: a CDR carries
`month` = `CDRS#{yyyy-mm}` and `fleet_time` = `{last_updated}#{id}`, partitions no session uses;
`CDRMONTHS` / `{yyyy-mm}` marks each month that has CDRs. Every read is a Query, never a Scan;
the index is eventually consistent, so a CDR shows in the listing a moment after it is issued.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from evsessions.contract import SessionKey, format_time
from evsessions.dynamodb.errors import ConditionFailed, call, raise_translated
from evsessions.dynamodb.fan_out import FanOut, concurrently
from evsessions.dynamodb.items import plain, typed
from evsessions.dynamodb.keys import BY_MONTH, CDR_MONTHS, cdr_month_partition, session_cdrs_pk
from evsessions.errors import StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

MAX_TRANSACTION_ITEMS = 100
"""DynamoDB's limit on the items of one TransactWriteItems call."""
_TRANSIENT = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def cdr_item(key: SessionKey, occurrence: int, cdr: dict[str, Any]) -> dict[str, Any]:
    updated = str(cdr["last_updated"])
    return {
        "pk": session_cdrs_pk(key, occurrence),
        "sk": str(cdr["id"]),
        "month": cdr_month_partition(updated[:7]),
        "fleet_time": f"{updated}#{cdr['id']}",
        "cdr": json.dumps(cdr, separators=(",", ":")),
    }


@dataclass(frozen=True)
class Issue:
    """The CDRs of one session occurrence, to be issued together."""

    key: SessionKey
    occurrence: int
    cdrs: list[dict[str, Any]]


@dataclass(frozen=True)
class CdrPage:
    cdrs: list[dict[str, Any]]
    total: int
    """How many CDRs the whole window holds (OCPI's X-Total-Count)."""


class DynamoDBCdrs:
    def __init__(self, table: str, client: DynamoDBClient, fan_out: FanOut = concurrently) -> None:
        self.table = table
        self.client = client
        self.fan_out = fan_out
        self._marked: set[str] = set()

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        return call(self.client, operation, **arguments)

    # --- issuing ---

    def issue(self, issues: Sequence[Issue]) -> int:
        """Issue each session's CDRs, unless they were issued before (a redelivery, a retried
        resolution): then what was issued stays as it was. Returns how many were new. A session
        named twice (a batch holding a message and its redelivery) is issued once: a transaction
        may not put one item twice."""
        issues = list({(i.key, i.occurrence): i for i in reversed(issues)}.values())[::-1]
        months = {str(c["last_updated"])[:7] for issue in issues for c in issue.cdrs}
        for month in sorted(months - self._marked):
            self._call(
                "put_item", TableName=self.table, Item=typed({"pk": CDR_MONTHS, "sk": month})
            )
            self._marked.add(month)
        chunks: list[list[Issue]] = [[]]
        for issue in (i for i in issues if len(i.cdrs) > 1):
            if sum(len(i.cdrs) for i in chunks[-1]) + len(issue.cdrs) > MAX_TRANSACTION_ITEMS:
                chunks.append([])
            chunks[-1].append(issue)
        calls: list[Callable[[], int]] = [
            functools.partial(self._issue_chunk, chunk) for chunk in chunks if chunk
        ]
        calls += [functools.partial(self._issue_one, i) for i in issues if len(i.cdrs) == 1]
        return sum(self.fan_out(calls))

    def _issue_one(self, issue: Issue) -> int:
        """A session's only CDR (every clean session's): a conditional put, half the write units
        of a put inside a transaction (bench_store: 2 against 4 on the table), with nothing to
        keep together."""
        [put] = self._puts(issue)
        try:
            self._call("put_item", **put["Put"])
        except ConditionFailed:
            return 0
        return 1

    def _puts(self, issue: Issue) -> list[dict[str, Any]]:
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": typed(cdr_item(issue.key, issue.occurrence, cdr)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for cdr in issue.cdrs
        ]

    def _issue_chunk(self, chunk: list[Issue]) -> int:
        """One transaction for up to 100 CDRs of sessions that have several (a resolution's),
        each session's together: its CDRs are issued all or none (a Credit CDR never without
        the CDR it credits). A session whose CDRs were issued before cancels the transaction; it
        is left out and the rest tried again."""
        pending = list(chunk)
        while pending:
            puts = [put for issue in pending for put in self._puts(issue)]
            try:
                self.client.transact_write_items(TransactItems=cast(Any, puts))
                return len(pending)
            except ClientError as error:
                reasons = [
                    str(r.get("Code")) for r in error.response.get("CancellationReasons", [])
                ]
                if "ConditionalCheckFailed" not in reasons:
                    if any(code in _TRANSIENT for code in reasons):
                        raise StorageUnavailable(
                            f"CDRs not issued: {sorted(set(reasons))}"
                        ) from error
                    raise_translated("transact_write_items", error)
                issued_before: set[int] = set()
                position = 0
                for index, issue in enumerate(pending):
                    mine = reasons[position : position + len(issue.cdrs)]
                    position += len(issue.cdrs)
                    if "ConditionalCheckFailed" in mine:
                        issued_before.add(index)
                pending = [issue for i, issue in enumerate(pending) if i not in issued_before]
            except BotoCoreError as error:
                raise StorageUnavailable(
                    f"DynamoDB transact_write_items failed: {error}"
                ) from error
        return 0

    # --- reading ---

    def of_session(self, key: SessionKey, occurrence: int) -> list[dict[str, Any]]:
        """A session occurrence's CDRs, in the order they were issued."""
        page = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=typed({":pk": session_cdrs_pk(key, occurrence)}),
            ConsistentRead=True,
        )
        found = [json.loads(str(plain(item)["cdr"])) for item in page.get("Items", [])]
        return sorted(found, key=lambda cdr: (cdr["last_updated"], len(cdr["id"])))

    def _months(self, date_from: datetime | None, date_to: datetime | None) -> list[str]:
        page = self._call(
            "query",
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=typed({":pk": CDR_MONTHS}),
        )
        months = sorted(str(plain(item)["sk"]) for item in page.get("Items", []))
        low = "" if date_from is None else format_time(date_from)[:7]
        high = "~" if date_to is None else format_time(date_to)[:7]
        return [month for month in months if low <= month <= high]

    def _window(
        self, month: str, date_from: datetime | None, date_to: datetime | None
    ) -> dict[str, Any]:
        """A month's CDRs with date_from <= last_updated < date_to (`{time}#{id}` sorts after
        `{time}` and before the next instant's text)."""
        low = "" if date_from is None else format_time(date_from)
        high = "~" if date_to is None else format_time(date_to)
        return {
            "TableName": self.table,
            "IndexName": BY_MONTH,
            "KeyConditionExpression": "#m = :m AND fleet_time BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#m": "month"},
            "ExpressionAttributeValues": typed(
                {":m": cdr_month_partition(month), ":low": low or "0", ":high": high}
            ),
        }

    def _count(self, arguments: dict[str, Any]) -> int:
        count, start = 0, None
        while True:
            page = self._call(
                "query",
                Select="COUNT",
                **arguments,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            count += int(page.get("Count", 0))
            start = page.get("LastEvaluatedKey")
            if not start:
                return count

    def page(
        self, date_from: datetime | None, date_to: datetime | None, offset: int, limit: int
    ) -> CdrPage:
        """The CDRs last updated in [date_from, date_to), oldest first, from `offset`."""
        windows = [self._window(m, date_from, date_to) for m in self._months(date_from, date_to)]
        counts = self.fan_out([functools.partial(self._count, w) for w in windows])
        found: list[dict[str, Any]] = []
        skip = offset
        for window, count in zip(windows, counts, strict=True):
            if len(found) >= limit:
                break
            if skip >= count:
                skip -= count
                continue
            start = None
            while len(found) < limit:
                page = self._call(
                    "query",
                    **window,
                    Limit=skip + limit - len(found),
                    **({"ExclusiveStartKey": start} if start else {}),
                )
                items = page.get("Items", [])
                taken = items[skip:]
                skip = max(0, skip - len(items))
                found.extend(json.loads(str(plain(item)["cdr"])) for item in taken)
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
        return CdrPage(found[:limit], sum(counts))
