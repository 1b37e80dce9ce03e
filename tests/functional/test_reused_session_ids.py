"""A publisher whose session ids restart loses nothing and counts nothing twice (moto).

The original solution's publisher keeps its session counter in memory, so every restart sends
ids from 1 again, with new content; QoS 1 may deliver any message twice. On the batched and the
direct listener paths alike, every session it published must be served by the API, told apart by
its occurrence, and counted once in every total; the reuse shows in /health.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from chalice.test import Client

from listener.handler import handle_batch, handler
from local_runner.services.events import sqs_event
from tests.functional.conftest import get

RUN_START = 1_764_420_000  # 2025-11-29T12:40:00Z


def original_publisher_run(started: int, count: int, seed: int) -> list[dict[str, Any]]:
    """One run of the original solution's publisher on charger 1, connector 8: ids 1..count, a
    session a minute, in its own payload variant, as the IoT rule hands them over."""
    events = []
    for session_id in range(1, count + 1):
        published = started + 60 * session_id
        events.append(
            {
                "session_id": session_id,
                "timestamp": published,
                "energy_delivered_in_kwh": 10 + (seed * 7 + session_id * 3) % 40,
                "duration_in_seconds": 600 + seed * 60 + session_id,
                "session_cost_in_cents": 500 + (seed * 11 + session_id * 13) % 900,
                "topic": f"charger/1/connector/8/session/{session_id}",
                "received_at": published * 1000 + 300,
            }
        )
    return events


Deliver = Callable[[list[dict[str, Any]]], list[str] | None]


def deliver_in_batches(events: list[dict[str, Any]]) -> None:
    """Through the queue's batches of three, as SQS hands them to `handle_batch`, which answers
    with the partial batch response alone: what became of each message shows in the store."""
    for start in range(0, len(events), 3):
        chunk = events[start : start + 3]
        ids = [f"m{start + i}" for i in range(len(chunk))]
        result = handle_batch(
            sqs_event("SessionQueue", [(m, e, 0, 1) for m, e in zip(ids, chunk, strict=True)]),
            None,
        )
        assert result == {"batchItemFailures": []}


def deliver_one_by_one(events: list[dict[str, Any]]) -> list[str]:
    """Through the rule's direct Lambda action, one message an invocation."""
    return [str(handler(event, None)["status"]) for event in events]


@pytest.mark.parametrize("deliver", [deliver_in_batches, deliver_one_by_one])
def test_a_restarted_publisher_loses_nothing_and_counts_nothing_twice(
    client: Client, deliver: Deliver
) -> None:
    # GIVEN a first run of six sessions, then a restart that sends ids 1 to 4 again with new
    # content, with QoS 1 redeliveries of a message of each run after the restart
    first = original_publisher_run(RUN_START, 6, seed=1)
    second = original_publisher_run(RUN_START + 3600, 4, seed=2)
    redelivered = [{**first[2], "received_at": first[2]["received_at"] + 9_000_000}, second[1]]
    # WHEN the listener gets them in order
    outcomes = deliver(first + second + redelivered)
    # THEN the first run is stored, the second stored under reused ids, redeliveries absorbed
    # (the direct action's handler says so for each message; the queue's only in the store)
    if outcomes is not None:
        assert outcomes == ["stored"] * 6 + ["reused"] * 4 + ["duplicate"] * 2
    # AND the API lists every session, the reused ids as occurrence 2
    status, body = get(client, "/sessions?charger=1&connector=8&limit=500")
    assert status == 200
    listed = sorted((s["session_id"], s["occurrence"]) for s in body["sessions"])
    assert listed == sorted([(i, 1) for i in range(1, 7)] + [(i, 2) for i in range(1, 5)])
    # AND get-one reaches each: the first by default, the reused one with its occurrence
    assert (
        get(client, "/sessions/1/8/2")[1]["energy_delivered_in_kWh"]
        == first[1]["energy_delivered_in_kwh"]
    )
    status, reused = get(client, "/sessions/1/8/2?occurrence=2")
    assert status == 200
    assert reused["occurrence"] == 2
    assert reused["energy_delivered_in_kWh"] == second[1]["energy_delivered_in_kwh"]
    assert reused["ended_at"] == "2025-11-29T13:42:00.000Z"
    assert get(client, "/sessions/1/8/2?occurrence=3")[0] == 404
    assert get(client, "/sessions/1/8/2?occurrence=0")[0] == 400
    # AND the totals equal the sum of the ten distinct sessions
    distinct = first + second
    _, totals = get(client, "/totals?from=2025-11-29&to=2025-11-30&bucket=hour")
    assert totals["totals"]["sessions"] == 10
    assert Decimal(str(totals["totals"]["energy_kWh"])) == sum(
        Decimal(e["energy_delivered_in_kwh"]) for e in distinct
    )
    assert totals["totals"]["cost_cents"] == sum(e["session_cost_in_cents"] for e in distinct)
    [charger] = get(client, "/chargers")[1]["chargers"]
    assert charger["sessions"] == 10
    assert charger["connectors"][0]["cost_cents"] == totals["totals"]["cost_cents"]
    # AND the reuse is visible to an operator
    _, health = get(client, "/health")
    assert health["reused_session_ids"] == 4


def test_a_redelivery_of_a_reused_id_in_the_same_batch_counts_once(client: Client) -> None:
    # GIVEN one batch with a session, its id reused with new content, and that one redelivered
    [old] = original_publisher_run(RUN_START, 1, seed=1)
    [new] = original_publisher_run(RUN_START + 600, 1, seed=2)
    later = {**new, "received_at": new["received_at"] + 2_000}
    # WHEN the listener stores the batch
    deliver_in_batches([old, new, later])
    # THEN two sessions are stored and counted
    _, body = get(client, "/sessions?charger=1")
    assert [s["occurrence"] for s in body["sessions"]] == [2, 1]
    _, totals = get(client, "/totals?from=2025-11-29&to=2025-11-30")
    assert totals["totals"]["sessions"] == 2
    assert (
        totals["totals"]["cost_cents"]
        == old["session_cost_in_cents"] + (new["session_cost_in_cents"])
    )
    assert get(client, "/health")[1]["reused_session_ids"] == 1
