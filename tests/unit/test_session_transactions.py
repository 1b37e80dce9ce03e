"""Planning a batch's transactions: shared aggregates, the 100-item limit, end times that grow."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from evsessions.contract import ChargingSession, SessionKey
from evsessions.dynamodb.items import typed
from evsessions.dynamodb.planning import MAX_TRANSACTION_ITEMS, item_keys, pack, plan
from evsessions.dynamodb.shards import shard_of
from evsessions.storage import rounds

ENDED = datetime(2025, 11, 27, 18, 34, 10, 250_000, tzinfo=UTC)


def session(charger: str, connector: str, number: int, minutes: int = 0) -> ChargingSession:
    return ChargingSession(
        key=SessionKey(charger, connector, str(number)),
        session_id=number,
        energy_delivered_in_kWh=Decimal("10.5"),
        duration_in_seconds=600,
        session_cost_in_cents=400,
        ended_at=ENDED + timedelta(minutes=minutes),
        ended_at_source="payload",
        received_at=None,
    )


def charger_update(planned_items: list[dict[str, object]]) -> dict[str, object]:
    [update] = [
        item["Update"]
        for item in planned_items
        if "Update" in item and item["Update"]["Key"]["sk"] == {"S": "CHARGER#1"}
    ]
    return update


def test_sessions_of_one_charger_share_its_aggregate_items() -> None:
    # GIVEN two sessions on two connectors of one charger, in the same hour
    sessions = [session("1", "1", 1), session("1", "2", 2, minutes=1)]
    # WHEN planned
    planned = plan("Sessions", sessions, {})
    # THEN two puts and three aggregate updates (the fleet's hour and day, its lifetime item)
    assert len(planned.items) == 2 + 3
    update = charger_update(planned.items)
    names = update["ExpressionAttributeNames"]
    values = update["ExpressionAttributeValues"]
    # AND the charger's lifetime item adds both, each connector's counters one, and raises each
    # end time under the condition that it grows
    added = {names[f"#a{i}"]: values[f":v{i}"] for i in range(len(names))}
    assert added["sessions"] == {"N": "2"}
    assert added["connector#1#sessions"] == {"N": "1"}
    assert added["connector#2#energy_kwh"] == {"N": "10.5"}
    assert added["last_ended_at"] == {"S": "2025-11-27T18:35:10.250Z"}
    assert added["connector#1#last_ended_at"] == {"S": "2025-11-27T18:34:10.250Z"}
    assert update["ConditionExpression"].count("attribute_not_exists") == 3


def test_end_times_read_back_are_only_raised_where_they_grow() -> None:
    # GIVEN the charger's end time is already later, and connector 1 has none yet
    stored = {("CHARGERS#07", "CHARGER#1"): {"last_ended_at": "2099-01-01T00:00:00.000Z"}}
    # WHEN planned again with what was read
    update = charger_update(plan("Sessions", [session("1", "1", 1)], stored).items)
    # THEN only the connector's end time is set, on condition it still does not exist
    assert "last_ended_at" not in update["ExpressionAttributeNames"].values()
    assert update["ConditionExpression"].startswith("attribute_not_exists(")
    assert " OR " not in update["ConditionExpression"]


def test_a_batch_is_packed_into_transactions_of_at_most_100_items() -> None:
    # GIVEN 300 sessions of 150 chargers
    sessions = [session(str(c), str(n), c * 10 + n) for c in range(150) for n in (1, 2)]
    # WHEN packed
    groups = pack(sessions)
    # THEN every session is in exactly one group, and no group's transaction exceeds the limit
    assert sorted(s.key for g in groups for s in g) == sorted(s.key for s in sessions)
    for group in groups:
        aggregates = set().union(*(item_keys(s) for s in group))
        assert len(group) + len(aggregates) <= MAX_TRANSACTION_ITEMS
    # AND a charger's two sessions share a transaction
    assert all(len({s.key.charger_id for s in g}) * 2 == len(g) for g in groups[:-1])


def test_one_charger_with_many_sessions_is_split() -> None:
    many = [replace(session("1", "1", n), ended_at=ENDED) for n in range(250)]
    # 96 puts and 3 aggregate items fill a transaction, with room left for the reuse counter
    assert [len(g) for g in pack(many)] == [96, 96, 58]


def test_a_full_group_whose_sessions_all_turn_out_reused_still_fits() -> None:
    # GIVEN a packed group, each of whose sessions then finds its id reused (occurrence 2)
    many = [replace(session("1", "1", n), ended_at=ENDED) for n in range(250)]
    group = [replace(s, occurrence=2) for s in pack(many)[0]]
    # WHEN planned THEN the reuse counter's update fits in the transaction
    assert len(plan("Sessions", group, {}).items) == MAX_TRANSACTION_ITEMS


def test_a_later_occurrence_has_its_own_keys_and_counts_as_a_reuse() -> None:
    # GIVEN the second session under a reused id, and a first session on another connector
    reused = replace(session("1", "1", 7), occurrence=2)
    planned = plan("Sessions", [reused, session("1", "2", 8)], {})
    # THEN its put claims the identity's second key, under the same condition as any put
    put = planned.items[0]["Put"]
    assert put["Item"]["sk"] == {"S": "SESSION#1#7#2"}
    assert put["Item"]["charger_time"] == {"S": "2025-11-27T18:34:10.250Z#1#7#2"}
    assert put["Item"]["fleet_time"] == {"S": "2025-11-27T18:34:10.250Z#1#1#7#2"}
    assert put["Item"]["occurrence"] == {"N": "2"}
    assert put["ConditionExpression"] == "attribute_not_exists(pk)"
    assert put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    # AND the fleet's reuse counter gets one, once, with no condition that could cancel it
    [counter] = [
        item["Update"]
        for item in planned.items
        if "Update" in item and item["Update"]["Key"]["pk"] == {"S": "COUNTERS"}
    ]
    assert counter["UpdateExpression"] == "ADD #a0 :v0"
    assert counter["ExpressionAttributeNames"] == {"#a0": "reused_session_ids"}
    assert counter["ExpressionAttributeValues"] == {":v0": {"N": "1"}}
    assert "ConditionExpression" not in counter
    # AND the first occurrence of the other session adds to no such counter
    assert len(planned.items) == 2 + 3 + 1
    assert "COUNTERS" not in str(plan("Sessions", [session("1", "2", 8)], {}).items)


def test_a_batch_is_split_into_rounds_one_content_of_each_identity_a_round() -> None:
    # GIVEN a batch holding identity 7 with contents a, b, a again, c, and identity 8 once
    a = session("1", "1", 7)
    b = replace(a, session_cost_in_cents=999)
    c = replace(a, ended_at=ENDED + timedelta(hours=1))
    other = session("1", "1", 8)
    # WHEN split into rounds
    found = rounds([a, b, other, a, c])
    # THEN each round holds an identity once, a repeated content appears once, and the order of
    # an identity's contents is kept
    assert found == [[a, other], [b], [c]]


def test_the_receipt_time_is_not_content_but_a_sent_end_time_is() -> None:
    a = replace(session("1", "1", 7), ended_at_source="received")
    later = replace(a, received_at=ENDED, ended_at=ENDED + timedelta(seconds=5))
    assert later.content == a.content
    sent = replace(a, ended_at_source="payload")
    assert replace(sent, ended_at=ENDED + timedelta(seconds=5)).content != sent.content
    assert replace(a, energy_delivered_in_kWh=Decimal("10.500")).content == a.content


def test_end_times_known_to_be_later_are_left_out_with_their_condition() -> None:
    # GIVEN this process already wrote a later end time for the charger (another batch in flight)
    known = {("CHARGERS#07", "CHARGER#1"): {"last_ended_at": "2099-01-01T00:00:00.000Z"}}
    # WHEN planned
    planned = plan("Sessions", [session("1", "1", 1)], {}, known)
    update = charger_update(planned.items)
    # THEN the charger's end time is not set, so it cannot cancel the transaction; the connector's
    # still is, under its grows-condition, and is what the transaction raises
    assert "last_ended_at" not in update["ExpressionAttributeNames"].values()
    assert update["ConditionExpression"].count("attribute_not_exists") == 1
    assert planned.raised[("CHARGERS#07", "CHARGER#1")] == {
        "connector#1#last_ended_at": "2025-11-27T18:34:10.250Z"
    }


def test_a_transaction_adds_to_the_fleet_shard_it_is_given_whatever_its_chargers() -> None:
    # GIVEN sessions of chargers of many shards
    sessions = [session(str(c), "1", c) for c in range(40)]
    assert len({shard_of(s.key.charger_id) for s in sessions}) > 1
    # WHEN packed THEN they share one transaction, and so the fleet's hour and day items
    [group] = pack(sessions)
    planned = plan("Sessions", group, {}, fleet_shard=5)
    fleet = [
        item["Update"]["Key"]
        for item in planned.items
        if "Update" in item and item["Update"]["Key"]["pk"]["S"].startswith("TOTALS#FLEET")
    ]
    # AND those are the given shard's, each adding every session once
    assert fleet == [
        typed({"pk": "TOTALS#FLEET#05", "sk": "HOUR#2025-11-27T18"}),
        typed({"pk": "TOTALS#FLEET#05", "sk": "DAY#2025-11-27"}),
    ]
    assert len(planned.items) == 40 + 40 + 2
