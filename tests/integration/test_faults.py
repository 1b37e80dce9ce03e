"""Fault injection (issue 3): under crashes, outages and poison, nothing published is lost and
nothing is counted twice; a deliberately lossy broker proves the harness would see a loss.

Each test builds its own world (mosquitto, DynamoDB Local, the runner as a subprocess) through
harness.faults and judges from DynamoDB and the dead letters, not from the runner's output.
Sizes are the issue's where it names them (5,000 messages for the bridge kills, 1,000 good and 50
poison messages), small elsewhere, so the file runs in a few minutes on two cores.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from harness.faults import (
    POISON_KINDS,
    FaultResult,
    Options,
    Outcomes,
    good_messages,
    judge,
    run_scenario,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def options() -> Options:
    # Not tmp_path: pytest's base folder is 0700, which mosquitto (dropping root for its own
    # user) could not enter; each scenario makes and removes its own folder in the temp dir.
    return Options(say=print)


def _assert_nothing_lost(result: FaultResult, published: int) -> None:
    assert result.published == published, result.summary()
    assert result.lost == 0, result.summary()
    assert result.unexpected == 0, result.summary()
    assert result.problems == [], result.summary()


def test_judge_sees_a_lost_message_a_changed_row_and_a_row_never_published() -> None:
    # GIVEN three published messages, of which the store holds one changed and one foreign row
    messages = good_messages("judge", 3, random.Random(1))
    expected = messages[0].expected
    assert expected is not None
    changed = {
        "sk": "SESSION#1#1",
        "charger_id": "judge",
        "session_id": Decimal(1),
        "energy_delivered_in_kWh": expected.energy + 1,
        "duration_in_seconds": Decimal(expected.duration),
        "session_cost_in_cents": Decimal(expected.cost),
    }
    foreign = {**changed, "sk": "SESSION#1#99"}
    rows = {
        "charger/judge/connector/1/session/1": changed,
        "charger/judge/connector/1/session/99": foreign,
    }
    # WHEN the harness judges
    result = judge("judge", messages, {m.topic for m in messages}, rows, [], Outcomes())
    # THEN it reports two lost, two unexpected, and totals that do not add up
    assert result.lost == 2
    assert result.unexpected == 2
    assert any("totals differ" in problem for problem in result.problems)


def test_bridge_killed_three_times_loses_nothing(options: Options) -> None:
    # GIVEN 5,000 QoS 1 messages in the original format flowing through the pipeline
    # WHEN the runner (bridge + listener) is SIGKILLed three times at random points and restarted
    result = run_scenario("bridge-sigkill", 5000, options)
    # THEN every message is stored once, exactly as published
    _assert_nothing_lost(result, 5000)
    assert result.stored == 5000
    assert result.dead_lettered == 0
    assert result.details["runner_lifetimes"] == 4


def test_dynamodb_down_for_30_seconds_loses_nothing(options: Options) -> None:
    # GIVEN messages flowing
    # WHEN DynamoDB Local is stopped for 30 s mid-stream, then restarted on its port and data
    result = run_scenario("dynamodb-outage", 400, options)
    # THEN the bridge retried without acknowledging, and every message is stored once
    _assert_nothing_lost(result, 400)
    assert result.stored == 400
    assert result.dead_lettered == 0


def test_broker_restart_loses_nothing(options: Options) -> None:
    # GIVEN messages flowing from a persistent-session publisher to the bridge
    # WHEN mosquitto is restarted gracefully mid-stream
    result = run_scenario("broker-restart", 400, options)
    # THEN both reconnect to their sessions and every message is stored once
    _assert_nothing_lost(result, 400)
    assert result.stored == 400
    assert result.dead_lettered == 0


def test_poison_messages_are_dead_lettered_with_reasons_and_the_rest_stored(
    options: Options,
) -> None:
    # GIVEN 50 bad messages (bad JSON, non-UTF-8, over 128 KB; wrong types, negative values)
    # scattered among 1,000 good ones
    result = run_scenario("poison", 1000, options)
    # THEN the 1,000 good ones and the 20 with values no charger should send (stored suspect,
    # billed 0 where unusable: the broker acknowledged them) are rows, the 30 that cannot be a
    # session are dead letters with a reason (the judge checks error_type and error_message),
    # and the runner is still alive
    _assert_nothing_lost(result, 1050)
    assert result.stored == 1020
    assert result.dead_lettered == 30
    assert result.details["dead_letter_records"] == 30
    assert {result.details[f"dead_lettered_{kind}"] for kind in POISON_KINDS} == {10}
    assert result.details["runner_alive_at_end"] == 1


def test_dynamodb_killed_keeps_every_acknowledged_row(options: Options) -> None:
    # GIVEN writes that DynamoDB Local acknowledged
    # WHEN it is SIGKILLed and restarted on the same data
    result = run_scenario("dynamodb-sigkill", 400, options)
    # THEN every acknowledged row is still there, unchanged, and then everything arrives
    assert result.details["acknowledged_before_kill"] > 0, result.summary()
    assert result.details["missing_after_restart"] == 0, result.summary()
    _assert_nothing_lost(result, 400)
    assert result.stored == 400


def test_lossy_control_is_reported_as_lossy(options: Options) -> None:
    # GIVEN mosquitto queueing only 10 messages for an offline client (it still PUBACKs the rest)
    # WHEN 200 messages are published while the bridge is offline, and it comes back
    result = run_scenario("lossy-control", 200, options)
    # THEN the harness reports the loss: it can see one when there is one
    assert result.published == 200, result.summary()
    assert result.lost > 0, result.summary()
    assert result.stored + result.lost == 200, result.summary()
