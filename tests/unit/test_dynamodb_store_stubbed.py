"""The DynamoDB adapter's error translation, with botocore's Stubber (no sockets, no moto).

DynamoDB Local never throttles, and it serialises concurrent transactions instead of cancelling
them with TransactionConflict, so these paths are shown with stubs here (and conflicts against
the real database with `harness.dynamodb_conflicts` in the integration tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from evsessions.contract import ChargingSession, SessionKey
from evsessions.dynamodb.backoff import ConflictBackoff
from evsessions.dynamodb.fan_out import in_order
from evsessions.dynamodb.items import plain, session_from_item, session_item, typed
from evsessions.dynamodb.keys import month_marker
from evsessions.dynamodb.shards import SHARDS
from evsessions.dynamodb.single_flight import SingleFlight
from evsessions.dynamodb.store import MONTHS_FOR, SPARE_ITEMS, DynamoDbSessionStore
from evsessions.errors import StorageUnavailable
from evsessions.storage import SaveOutcome, SessionPage, SessionQuery

ENDED = datetime(2025, 11, 27, 18, 34, 10, 250_000, tzinfo=UTC)
SESSION = ChargingSession(
    key=SessionKey("1", "2", "1764268440"),
    session_id=1764268440,
    energy_delivered_in_kWh=Decimal("42.125"),
    duration_in_seconds=3120,
    session_cost_in_cents=1693,
    ended_at=ENDED,
    ended_at_source="payload",
    received_at=datetime(2025, 11, 27, 18, 34, 10, 500_000, tzinfo=UTC),
)


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoDbSessionStore, Stubber]]:
    client = boto3.client(
        "dynamodb",
        region_name="eu-north-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        store = DynamoDbSessionStore(
            "Sessions", client, fleet_shard=lambda: FLEET_SHARD, fan_out=in_order
        )
        marker_put(stubber, "2025-11")  # the tests' sessions end in November 2025
        store.mark_months({"2025-11"})
        yield store, stubber


FLEET_SHARD = 11
"""The fleet totals shard the store draws for every transaction here."""


def marker_put(stubber: Stubber, month: str) -> None:
    stubber.add_response(
        "put_item", {}, {"TableName": "Sessions", "Item": typed(month_marker(month))}
    )


def cancelled(stubber: Stubber, *codes: str, holder: ChargingSession | None = None) -> None:
    """The next TransactWriteItems is cancelled with one reason per item; the first reason
    carries `holder`'s item, as DynamoDB returns it (ALL_OLD) for a put whose condition failed."""
    reasons: list[dict[str, Any]] = [{"Code": code} for code in codes]
    if holder is not None:
        reasons[0]["Item"] = typed(session_item(holder))
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled",
        http_status_code=400,
        modeled_fields={"CancellationReasons": reasons},
    )


def occurrences_read(stubber: Stubber, *stored: ChargingSession) -> None:
    """The next call is the consistent Query of SESSION's identity, which finds `stored`."""
    stubber.add_response(
        "query",
        {"Items": [typed(session_item(session)) for session in stored]},
        {
            "TableName": "Sessions",
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :first AND :last",
            "ExpressionAttributeValues": typed(
                {
                    ":pk": "CHARGER#1",
                    ":first": "SESSION#2#1764268440",
                    ":last": "SESSION#2#1764268440#~",
                }
            ),
            "ConsistentRead": True,
        },
    )


def test_item_round_trips_to_the_same_session() -> None:
    # GIVEN a session turned into its item
    item = session_item(SESSION)
    # THEN the keys are the documented ones and reading it back gives the session again
    assert item["pk"] == "CHARGER#1"
    assert item["sk"] == "SESSION#2#1764268440"
    assert item["charger_time"] == "2025-11-27T18:34:10.250Z#2#1764268440"
    assert item["fleet_time"] == "2025-11-27T18:34:10.250Z#1#2#1764268440"
    assert item["month"] == "2025-11#07"  # charger 1 is in shard 7
    assert item["connector_pk"] == "CONNECTOR#1#2"
    numeric = {**item, "session_id": Decimal(item["session_id"])}  # as DynamoDB returns numbers
    assert session_from_item(numeric) == SESSION


ITEMS_PER_SESSION = 4
"""One session: its put, the fleet's hour and day (in the transaction's shard), and the
charger's lifetime item (connectors inside)."""


def transaction(items: int) -> dict[str, Any]:
    return {"TransactItems": [ANY] * items}


def test_save_is_one_transaction_and_nothing_else(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN DynamoDB accepts the transaction
    store, stubber = stubbed
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION))
    # WHEN a new session is saved
    outcome = store.save(SESSION)
    # THEN the put, every counter and the last end times were one call
    assert outcome is SaveOutcome.STORED
    stubber.assert_no_pending_responses()


def test_a_months_first_session_puts_its_marker_first_and_once(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a session of a month the store has not marked
    store, stubber = stubbed
    later = replace(SESSION, ended_at=datetime(2025, 12, 1, tzinfo=UTC))
    marker_put(stubber, "2025-12")
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION))
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION))
    # WHEN it is saved, and then another session of the month
    store.save(later)
    store.save(replace(later, key=SessionKey("1", "2", "2")))
    # THEN the marker was put before the first transaction, and only then
    stubber.assert_no_pending_responses()


def test_a_later_end_already_recorded_is_read_and_left_alone(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN the charger's item already has a later end time: its condition cancels the transaction
    store, stubber = stubbed
    cancelled(stubber, *["None"] * (ITEMS_PER_SESSION - 1), "ConditionalCheckFailed")
    # AND its end times are read back, consistently
    stubber.add_response(
        "get_item",
        {"Item": typed({"pk": "CHARGERS#07", "sk": "CHARGER#1", "last_ended_at": "2099-01-01"})},
        {
            "TableName": "Sessions",
            "Key": typed({"pk": "CHARGERS#07", "sk": "CHARGER#1"}),
            "ConsistentRead": True,
        },
    )
    # AND the transaction is planned again
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION))
    # WHEN saved THEN it is stored
    assert store.save(SESSION) is SaveOutcome.STORED
    stubber.assert_no_pending_responses()


def test_a_batch_shares_its_aggregates_in_one_transaction(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN two sessions of the same connector in the same hour, and the first again
    store, stubber = stubbed
    second = replace(SESSION, key=SessionKey("1", "2", "1764268441"), session_id=1764268441)
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION + 1))
    # WHEN the batch is saved
    outcomes = store.save_many([SESSION, second, SESSION])
    # THEN one transaction holds both puts and each aggregate once; the repeat is a duplicate
    assert outcomes == [SaveOutcome.STORED, SaveOutcome.STORED, SaveOutcome.DUPLICATE]
    stubber.assert_no_pending_responses()


def test_a_stored_session_in_a_batch_is_planned_out(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a batch whose first session is already stored: its put cancels the transaction
    store, stubber = stubbed
    second = replace(SESSION, key=SessionKey("1", "2", "1764268441"), session_id=1764268441)
    cancelled(stubber, "ConditionalCheckFailed", *["None"] * ITEMS_PER_SESSION, holder=SESSION)
    # AND the transaction planned again holds the second session alone
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION))
    # WHEN saved THEN the first is a duplicate and only the second counts
    assert store.save_many([SESSION, second]) == [SaveOutcome.DUPLICATE, SaveOutcome.STORED]
    stubber.assert_no_pending_responses()


def test_transaction_puts_the_session_item_itself(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a transaction whose put must carry the session's typed item
    store, stubber = stubbed
    expected = transaction(ITEMS_PER_SESSION)
    expected["TransactItems"][0] = {
        "Put": {
            "TableName": "Sessions",
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "Item": {
                "pk": {"S": "CHARGER#1"},
                "sk": {"S": "SESSION#2#1764268440"},
                "charger_time": {"S": "2025-11-27T18:34:10.250Z#2#1764268440"},
                "connector_pk": {"S": "CONNECTOR#1#2"},
                "month": {"S": "2025-11#07"},
                "fleet_time": {"S": "2025-11-27T18:34:10.250Z#1#2#1764268440"},
                "charger_id": {"S": "1"},
                "connector_id": {"S": "2"},
                "session_id": {"N": "1764268440"},
                "energy_delivered_in_kWh": {"N": "42.125"},
                "duration_in_seconds": {"N": "3120"},
                "session_cost_in_cents": {"N": "1693"},
                "ended_at": {"S": "2025-11-27T18:34:10.250Z"},
                "ended_at_source": {"S": "payload"},
                "received_at": {"S": "2025-11-27T18:34:10.500Z"},
                "occurrence": {"N": "1"},
            },
        }
    }
    stubber.add_response("transact_write_items", {}, expected)
    # WHEN saved THEN the stubber saw exactly that item
    assert store.save(SESSION) is SaveOutcome.STORED
    stubber.assert_no_pending_responses()


def test_failed_condition_on_the_session_with_the_same_content_is_a_duplicate(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN DynamoDB reports the session item already exists with the same content (received
    # later: the receipt time is the rule's, not the charger's), so no counter was added
    store, stubber = stubbed
    earlier = replace(SESSION, received_at=datetime(2025, 11, 27, 18, 34, 11, tzinfo=UTC))
    cancelled(
        stubber, "ConditionalCheckFailed", *["None"] * (ITEMS_PER_SESSION - 1), holder=earlier
    )
    # WHEN the session is saved THEN it is a duplicate, not an error, and nothing else is
    # written or read
    assert store.save(SESSION) is SaveOutcome.DUPLICATE
    stubber.assert_no_pending_responses()


REUSED = replace(SESSION, energy_delivered_in_kWh=Decimal(99), session_cost_in_cents=2999)
"""The same identity with other content: the charger restarted its session ids."""


def test_other_content_under_a_stored_identity_is_stored_as_its_next_occurrence(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN occurrence 1 of the identity holds other content
    store, stubber = stubbed
    cancelled(
        stubber, "ConditionalCheckFailed", *["None"] * (ITEMS_PER_SESSION - 1), holder=SESSION
    )
    # AND the identity's occurrences are read, consistently: only that one
    occurrences_read(stubber, SESSION)
    # AND the transaction planned again puts occurrence 2 and adds one to the reuse counter
    expected = transaction(ITEMS_PER_SESSION + 1)
    expected["TransactItems"][0] = {
        "Put": {
            "TableName": "Sessions",
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "Item": typed(session_item(replace(REUSED, occurrence=2))),
        }
    }
    stubber.add_response("transact_write_items", {}, expected)
    # WHEN saved THEN it is stored, as a reuse
    assert store.save(REUSED) is SaveOutcome.REUSED
    stubber.assert_no_pending_responses()
    assert expected["TransactItems"][0]["Put"]["Item"]["sk"] == {"S": "SESSION#2#1764268440#2"}


def test_a_redelivery_of_occurrence_2_is_a_duplicate(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN occurrence 1 holds other content and occurrence 2 this very content
    store, stubber = stubbed
    cancelled(
        stubber, "ConditionalCheckFailed", *["None"] * (ITEMS_PER_SESSION - 1), holder=SESSION
    )
    occurrences_read(stubber, SESSION, replace(REUSED, occurrence=2))
    # WHEN it is saved again THEN it is a duplicate: no third occurrence, no other write
    assert store.save(REUSED) is SaveOutcome.DUPLICATE
    stubber.assert_no_pending_responses()


def test_without_the_holder_in_the_reason_the_occurrences_are_read(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a cancellation that does not return the item holding the key
    store, stubber = stubbed
    cancelled(stubber, "ConditionalCheckFailed", *["None"] * (ITEMS_PER_SESSION - 1))
    occurrences_read(stubber, SESSION)
    # WHEN saved THEN the read finds the same content: a duplicate
    assert store.save(SESSION) is SaveOutcome.DUPLICATE
    stubber.assert_no_pending_responses()


def test_throttling_is_storage_unavailable(stubbed: tuple[DynamoDbSessionStore, Stubber]) -> None:
    store, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="ProvisionedThroughputExceededException",
        http_status_code=400,
    )
    with pytest.raises(StorageUnavailable, match="ProvisionedThroughputExceededException"):
        store.save(SESSION)


def test_a_conflict_is_tried_again_after_a_jittered_wait(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN another listener batch adding to the same counters at the same moment: DynamoDB
    # cancels the transaction twice with TransactionConflict, then takes it
    store, stubber = stubbed
    slept: list[float] = []
    store.backoff = ConflictBackoff(0.01, 0.5, 15.0, slept.append, lambda _low, high: high)
    for _ in range(2):
        cancelled(stubber, "None", "TransactionConflict", *["None"] * (ITEMS_PER_SESSION - 2))
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION))
    # WHEN the session is saved
    outcome = store.save(SESSION)
    # THEN it is stored, after two waits that grow (the draws here are the bounds), and counted
    assert outcome is SaveOutcome.STORED
    assert slept == [0.01, 0.02]
    counts = store.counts.snapshot()
    assert (counts.committed, counts.conflict_retries) == (1, 2)
    assert counts.cancelled["TransactionConflict"] == 2
    stubber.assert_no_pending_responses()


def test_conflict_waits_are_capped_and_their_sum_bounded() -> None:
    # GIVEN a backoff whose draws are their bounds
    backoff = ConflictBackoff(0.1, 0.4, 1.0, lambda _s: None, lambda _low, high: high)
    # THEN the waits double up to the cap and stop before the budget is exceeded
    assert list(backoff.waits()) == [0.1, 0.2, 0.4]


def test_conflict_waits_stay_at_the_cap_until_the_budget_is_spent() -> None:
    # GIVEN a backoff whose cap is reached before its budget, and whose draws are their bounds
    backoff = ConflictBackoff(0.1, 0.2, 1.0, lambda _s: None, lambda _low, high: high)
    # THEN the waits double up to the cap, and then stay there (uncapped, the third would be
    # 0.4 and the fourth 0.8, past the budget: three tries instead of five)
    assert list(backoff.waits()) == [0.1, 0.2, 0.2, 0.2, 0.2]


def test_the_default_conflict_backoff_never_draws_a_wait_above_half_a_second() -> None:
    # GIVEN the store's default backoff, recording the bound of every draw
    bounds: list[float] = []

    def draw(low: float, high: float) -> float:
        bounds.append(high)
        return high

    waits = list(replace(ConflictBackoff(), uniform=draw).waits())
    # THEN every bound, and so every wait, is at most the 0.5 s cap, and the budget's 15 s are
    # spent in waits of the cap: many short tries, not a few ever longer ones
    assert max(bounds) == 0.5
    assert bounds[:7] == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5]
    assert sum(waits) <= 15.0
    assert len(waits) > 25


def test_conflicts_past_the_budget_are_storage_unavailable(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN conflicts that outlast the backoff's budget (one wait of 0.3 s fits in 0.5 s)
    store, stubber = stubbed
    store.backoff = ConflictBackoff(0.3, 0.3, 0.5, lambda _s: None, lambda _low, high: high)
    for _ in range(2):
        cancelled(stubber, "None", "TransactionConflict", *["None"] * (ITEMS_PER_SESSION - 2))
    # WHEN saved THEN the failure is the transient, retryable kind, not a raw botocore error
    with pytest.raises(StorageUnavailable, match="conflicting"):
        store.save(SESSION)
    stubber.assert_no_pending_responses()


def test_a_cancellation_for_another_reason_is_not_hidden(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a transaction DynamoDB refuses because an item is invalid (a bug, not an outage)
    store, stubber = stubbed
    cancelled(stubber, "ValidationError", *["None"] * (ITEMS_PER_SESSION - 1))
    # WHEN saved THEN it surfaces as the ClientError it is, neither a duplicate nor retryable
    with pytest.raises(ClientError) as excinfo:
        store.save(SESSION)
    assert not isinstance(excinfo.value, StorageUnavailable)


def test_other_client_errors_are_not_hidden(stubbed: tuple[DynamoDbSessionStore, Stubber]) -> None:
    # GIVEN a request DynamoDB refuses as invalid (a bug on our side, not an outage)
    store, stubber = stubbed
    stubber.add_client_error("get_item", service_error_code="ValidationException")
    # THEN it surfaces as it is, not as a retryable outage
    with pytest.raises(ClientError) as excinfo:
        store.get(SESSION.key)
    assert not isinstance(excinfo.value, StorageUnavailable)


def query_of(index: str, partition_key: str, partition: str, limit: int) -> dict[str, Any]:
    return {
        "TableName": "Sessions",
        "IndexName": index,
        "ScanIndexForward": False,
        "Limit": limit,
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": partition_key},
        "ExpressionAttributeValues": {":p": {"S": partition}},
    }


def test_sessions_of_a_charger_merge_its_connectors_partitions_newest_first(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a charger whose lifetime item names two connectors, each with one session
    store, stubber = stubbed
    later = replace(
        SESSION,
        key=SessionKey("1", "1", "1764268441"),
        session_id=1764268441,
        ended_at=ENDED.replace(minute=50),
    )
    stubber.add_response(
        "get_item",
        {
            "Item": typed(
                {
                    "pk": "CHARGERS#07",
                    "sk": "CHARGER#1",
                    "connector#1#sessions": 1,
                    "connector#2#sessions": 1,
                }
            )
        },
        {"TableName": "Sessions", "Key": typed({"pk": "CHARGERS#07", "sk": "CHARGER#1"})},
    )
    for connector, found in (("1", later), ("2", SESSION)):
        expected = query_of(
            "ByConnectorTime", "connector_pk", f"CONNECTOR#1#{connector}", 1 + SPARE_ITEMS
        )
        expected["KeyConditionExpression"] = "#p = :p AND #s BETWEEN :low AND :high"
        expected["ExpressionAttributeNames"]["#s"] = "charger_time"
        expected["ExpressionAttributeValues"] |= {":low": {"S": "0"}, ":high": {"S": "~"}}
        stubber.add_response("query", {"Items": [typed(session_item(found))]}, expected)
    # WHEN a page of two is listed
    page = store.list_sessions(SessionQuery(limit=2, charger_id="1"))
    # THEN it is both, newest first, with a position after the older one
    assert page.sessions == [later, SESSION]
    assert page.next == {"charger_time": session_item(SESSION)["charger_time"]}
    stubber.assert_no_pending_responses()


def test_sessions_of_a_connector_query_the_connector_index(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN one connector WHEN listed THEN one Query of ByConnectorTime, newest first
    store, stubber = stubbed
    expected = query_of("ByConnectorTime", "connector_pk", "CONNECTOR#1#2", 7)
    stubber.add_response("query", {"Items": []}, expected)
    query = SessionQuery(limit=7, charger_id="1", connector_id="2")
    assert store.list_sessions(query) == SessionPage([], None)
    stubber.assert_no_pending_responses()


def test_a_window_is_a_range_on_the_time_ordered_sort_key(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a window [start, end) on one connector's sessions
    store, stubber = stubbed
    expected = query_of("ByConnectorTime", "connector_pk", "CONNECTOR#1#2", 5)
    expected["KeyConditionExpression"] = "#p = :p AND #s BETWEEN :low AND :high"
    expected["ExpressionAttributeNames"]["#s"] = "charger_time"
    expected["ExpressionAttributeValues"] |= {
        ":low": {"S": "2025-11-01T00:00:00.000Z"},
        ":high": {"S": "2025-12-01T00:00:00.000Z"},
    }
    stubber.add_response("query", {"Items": []}, expected)
    query = SessionQuery(
        limit=5,
        charger_id="1",
        connector_id="2",
        start=datetime(2025, 11, 1, tzinfo=UTC),
        end=datetime(2025, 12, 1, tzinfo=UTC),
    )
    # WHEN listed THEN the bounds are on the sort key (no filter expression, no scan)
    assert store.list_sessions(query).sessions == []
    stubber.assert_no_pending_responses()


def month_shard_query(month: str, shard: int, chunk: int) -> dict[str, Any]:
    return {
        "TableName": "Sessions",
        "Limit": chunk,
        "IndexName": "ByMonth",
        "ScanIndexForward": False,
        "KeyConditionExpression": "#p = :p AND #s BETWEEN :low AND :high",
        "ExpressionAttributeNames": {"#p": "month", "#s": "fleet_time"},
        "ExpressionAttributeValues": typed(
            {":p": f"{month}#{shard:02d}", ":low": "0", ":high": "~"}
        ),
    }


def test_fleet_listing_merges_the_month_shards_and_walks_the_months_newest_first(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN two months are marked, and the newer one holds the only session, in the ByMonth
    # shard of its charger (7)
    store, stubber = stubbed
    store.clock = lambda: datetime(2025, 11, 20, tzinfo=UTC)
    item = typed(session_item(SESSION))
    chunk = 1 + SPARE_ITEMS  # a share of the page of 2 a shard (rounded up), and the spares
    # (the newest possible month is read first, every shard a chunk; the months list only
    # because it did not fill the page)
    for shard in range(SHARDS):
        found = [item] if shard == 7 else []
        stubber.add_response("query", {"Items": found}, month_shard_query("2025-11", shard, chunk))
    months = [{"pk": {"S": "MONTHS"}, "sk": {"S": f"MONTH#2025-{m}"}} for m in ("10", "11")]
    stubber.add_response(
        "query",
        {"Items": months},
        {
            "TableName": "Sessions",
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": typed({":pk": "MONTHS"}),
        },
    )
    for shard in range(SHARDS):
        stubber.add_response("query", {"Items": []}, month_shard_query("2025-10", shard, chunk))
    # WHEN the fleet's sessions are listed
    page = store.list_sessions(SessionQuery(limit=2))
    # THEN the page holds the one session, and there is no next page
    assert page == SessionPage([SESSION], None)
    stubber.assert_no_pending_responses()


def test_throttled_read_is_storage_unavailable(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN DynamoDB throttles a Query THEN the read fails as retryable StorageUnavailable
    store, stubber = stubbed
    stubber.add_client_error("query", service_error_code="ThrottlingException")
    with pytest.raises(StorageUnavailable, match="ThrottlingException"):
        store.list_sessions(SessionQuery(limit=5, charger_id="1", connector_id="1"))


def test_typed_json_round_trips_every_type_our_items_use() -> None:
    # GIVEN an item with text, whole and decimal numbers, a flag, nothing, a map and a list
    item = {
        "s": "x",
        "n": 3,
        "d": Decimal("42.125"),
        "big": Decimal("1E+3"),
        "b": True,
        "none": None,
        "m": {"k": "v"},
        "l": ["a", 1],
    }
    # WHEN typed THEN it is DynamoDB's typed JSON, with plain decimal text
    assert typed(item)["big"] == {"N": "1000"}
    assert typed(item)["d"] == {"N": "42.125"}
    # AND it comes back with numbers as Decimal, as boto3 returns them
    assert plain(typed(item)) == {**item, "n": Decimal(3), "l": ["a", Decimal(1)]}


def test_a_float_is_refused_as_boto3_refuses_it() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        typed({"energy": 1.5})


def test_an_occurrence_taken_by_another_writer_meanwhile_sends_it_one_further(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN occurrence 1 holds other content, and another listener stores a third content as
    # occurrence 2 between this one's read and its write
    store, stubber = stubbed
    other = replace(SESSION, duration_in_seconds=1, occurrence=2)
    cancelled(
        stubber, "ConditionalCheckFailed", *["None"] * (ITEMS_PER_SESSION - 1), holder=SESSION
    )
    occurrences_read(stubber, SESSION)
    cancelled(stubber, "ConditionalCheckFailed", *["None"] * ITEMS_PER_SESSION, holder=other)
    # AND the occurrences read again hold both
    occurrences_read(stubber, SESSION, other)
    expected = transaction(ITEMS_PER_SESSION + 1)
    expected["TransactItems"][0] = {
        "Put": {
            "TableName": "Sessions",
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "Item": typed(session_item(replace(REUSED, occurrence=3))),
        }
    }
    stubber.add_response("transact_write_items", {}, expected)
    # WHEN saved THEN it is stored as occurrence 3: neither lost nor written over the other
    assert store.save(REUSED) is SaveOutcome.REUSED
    stubber.assert_no_pending_responses()


def test_the_same_content_stored_by_another_writer_meanwhile_is_a_duplicate(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN occurrence 1 holds other content, and a redelivery of this very message, handled by
    # another listener at the same time, takes occurrence 2 first
    store, stubber = stubbed
    cancelled(
        stubber, "ConditionalCheckFailed", *["None"] * (ITEMS_PER_SESSION - 1), holder=SESSION
    )
    occurrences_read(stubber, SESSION)
    twin = replace(REUSED, received_at=ENDED, occurrence=2)
    cancelled(stubber, "ConditionalCheckFailed", *["None"] * ITEMS_PER_SESSION, holder=twin)
    # WHEN saved THEN it is a duplicate: no third occurrence, no further read or write
    assert store.save(REUSED) is SaveOutcome.DUPLICATE
    stubber.assert_no_pending_responses()


def test_two_contents_of_one_identity_in_a_batch_are_two_occurrences(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a batch that holds a new identity twice, with two contents (a restarted charger)
    store, stubber = stubbed
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION))
    # AND the second content, in the next round, claims occurrence 2 directly: no read
    stubber.add_response("transact_write_items", {}, transaction(ITEMS_PER_SESSION + 1))
    # WHEN saved THEN the first is stored, the second stored as a reuse, a repeat a duplicate
    outcomes = store.save_many([SESSION, REUSED, SESSION])
    assert outcomes == [SaveOutcome.STORED, SaveOutcome.REUSED, SaveOutcome.DUPLICATE]
    stubber.assert_no_pending_responses()


def test_fleet_reads_hand_every_shards_query_to_the_read_pool_at_once(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a store whose read pool records each batch of calls it is handed
    store, stubber = stubbed
    store.clock = lambda: datetime(2025, 11, 20, tzinfo=UTC)
    batches: list[int] = []

    def recording(calls: Any) -> Any:
        batches.append(len(calls))
        return in_order(calls)

    store.fan_out = recording
    for shard in range(SHARDS):
        item = [typed(session_item(SESSION))] if shard == 7 else []
        more = {"LastEvaluatedKey": {"pk": {"S": "x"}}} if shard == 7 else {}
        stubber.add_response(
            "query", {"Items": item, **more}, month_shard_query("2025-11", shard, 1 + SPARE_ITEMS)
        )
    stubber.add_response("query", {"Items": []})
    # WHEN a fleet page of one is listed
    page = store.list_sessions(SessionQuery(limit=1))
    # THEN the first round handed all 16 shards' Queries over at once; a second, shard 7's alone
    assert page.sessions == [SESSION]
    assert batches == [SHARDS, 1]


def test_the_months_are_read_once_for_a_few_seconds(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a store whose clock for the months' reuse stands still, then moves past the bound
    store, stubber = stubbed
    store.clock = lambda: datetime(2025, 11, 20, tzinfo=UTC)
    now = [100.0]
    store.monotonic = lambda: now[0]
    months = {"Items": [{"pk": {"S": "MONTHS"}, "sk": {"S": "MONTH#2025-11"}}]}

    def empty_month() -> None:
        for shard in range(SHARDS):
            stubber.add_response(
                "query", {"Items": []}, month_shard_query("2025-11", shard, 1 + SPARE_ITEMS)
            )

    empty_month()
    stubber.add_response("query", months)
    # WHEN the fleet is listed twice within the bound, then once after it
    store.list_sessions(SessionQuery(limit=2))
    now[0] += MONTHS_FOR - 0.1
    empty_month()
    store.list_sessions(SessionQuery(limit=2))
    stubber.assert_no_pending_responses()
    now[0] += 0.2
    empty_month()
    stubber.add_response("query", months)
    store.list_sessions(SessionQuery(limit=2))
    # THEN the markers were read by the first and the third listing only
    stubber.assert_no_pending_responses()


def test_fleet_reads_go_through_the_shared_flights(
    stubbed: tuple[DynamoDbSessionStore, Stubber],
) -> None:
    # GIVEN a store that records which reads it shares with overlapping identical ones
    store, stubber = stubbed
    store.clock = lambda: datetime(2025, 11, 20, tzinfo=UTC)
    shared: list[str] = []

    class Recording(SingleFlight):
        def run(self, key: Any, read: Any) -> Any:
            shared.append(key[0])
            return super().run(key, read)

    store.flights = Recording()
    # the month's shards and the months; the totals' shards; the chargers' shards
    for _ in range(SHARDS + 1 + SHARDS + SHARDS):
        stubber.add_response("query", {"Items": []})
    # WHEN the fleet's sessions, totals and chargers are read
    store.list_sessions(SessionQuery(limit=2))
    store.totals(None, "day", "2025-11-01", "2025-11-20")
    store.chargers(10, None)
    # THEN each went through the shared flights
    assert shared == ["sessions", "totals", "chargers"]
    stubber.assert_no_pending_responses()
