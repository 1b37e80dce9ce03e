"""A DynamoDB client that cancels concurrent transactions on one item, as DynamoDB does.

DynamoDB cancels a TransactWriteItems that touches an item another transaction is writing
(`TransactionCanceledException`, reason `TransactionConflict` on that item). DynamoDB Local does
not: we ran 16 threads of 100 transactions, each adding to one shared item, and all 1,600 were
applied one after another, none cancelled. Wrapping the client the store is given in this double
brings the conflicts back, so the store's retry path runs against the real database: a
transaction is refused, before it reaches DynamoDB Local, while another one in flight through
the same wrapper touches one of its items. Everything else passes through unchanged.

Whether two transactions are in flight at once is otherwise a matter of timing: `meeting=n`
makes the first n transactions meet. Each of them is checked against the others in flight (and
registered when it may go on), then waits at a barrier until all n were checked; only then does
the admitted one reach DynamoDB Local and the refused ones raise. So of n first transactions that
share an item, exactly one goes through and n - 1 are cancelled, on any machine at any load.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError

ItemKey = tuple[str, str, str]
"""(table, partition key value, sort key value)."""

MEETING_SECONDS = 120.0
"""How long the first transactions wait for one another before the meeting is called off."""


def _item_key(action: dict[str, Any]) -> ItemKey:
    [(kind, body)] = action.items()
    key = body["Item"] if kind == "Put" else body["Key"]
    return body["TableName"], str(key["pk"]), str(key.get("sk"))


class MeetingFailed(RuntimeError):
    """Fewer transactions than the meeting expects came within its deadline."""


class ConflictingClient:
    def __init__(self, client: Any, meeting: int = 0) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._in_flight: Counter[ItemKey] = Counter()
        self._meeting = threading.Barrier(meeting) if meeting > 0 else None
        self._to_meet = meeting
        self.conflicts = 0
        """Transactions this wrapper cancelled."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **arguments: Any) -> Any:
        keys = [_item_key(action) for action in arguments["TransactItems"]]
        with self._lock:
            meets = self._to_meet > 0
            if meets:
                self._to_meet -= 1
            busy = [key in self._in_flight for key in keys]
            if any(busy):
                self.conflicts += 1
            else:
                self._in_flight.update(keys)
        if meets:
            self._meet()
        if any(busy):
            raise _conflict(busy)
        try:
            return self._client.transact_write_items(**arguments)
        finally:
            with self._lock:
                self._in_flight.subtract(keys)
                self._in_flight += Counter()  # drops the keys no longer in flight

    def _meet(self) -> None:
        assert self._meeting is not None
        try:
            self._meeting.wait(MEETING_SECONDS)
        except threading.BrokenBarrierError:
            raise MeetingFailed(
                f"{self._meeting.parties} transactions were to meet within"
                f" {MEETING_SECONDS:.0f} s; fewer came"
            ) from None


def _conflict(busy: list[bool]) -> ClientError:
    reasons = [
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
        if conflicting
        else {"Code": "None"}
        for conflicting in busy
    ]
    response: Any = {
        "Error": {
            "Code": "TransactionCanceledException",
            "Message": "Transaction cancelled, please refer cancellation reasons for specific "
            "reasons [" + ", ".join(r["Code"] for r in reasons) + "]",
        },
        "CancellationReasons": reasons,
    }
    return ClientError(response, "TransactWriteItems")
