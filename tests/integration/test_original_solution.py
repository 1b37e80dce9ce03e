"""A charger of the original solution, unchanged, through the real pipeline: its payload variant,
its session ids that restart at 1, its messages dead-lettered before the upgrade, and listeners
storing reused ids side by side (mosquitto, the bridge, the listener, DynamoDB Local, HTTP)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from typing import Any

import pytest

from evsessions.contract import SessionKey, parse_session
from evsessions.dynamodb.store import DynamoDbSessionStore
from evsessions.errors import InvalidSession, StorageUnavailable
from evsessions.storage import SaveOutcome
from local_runner.commands.dead_letter_replay import replay
from local_runner.system import LocalSystem
from tests.integration.helpers import eventually, get_json, publish

pytestmark = pytest.mark.integration

STARTED = 1_764_420_000  # 2025-11-29T12:40:00Z


def variant(session_id: int, published: int, energy: int, cost: int) -> dict[str, Any]:
    """The original solution's publisher's payload: its own spellings, `timestamp` the end."""
    return {
        "session_id": session_id,
        "timestamp": published,
        "energy_delivered_in_kwh": energy,
        "duration_in_seconds": 45,
        "session_cost_in_cents": cost,
    }


def _api(system: LocalSystem) -> str:
    assert system.api is not None
    return system.api.url


def test_a_restarted_original_publisher_is_served_whole_through_the_broker(
    local_system: LocalSystem,
) -> None:
    api = _api(local_system)
    reused_before = get_json(f"{api}/health")[1]["reused_session_ids"]
    delivered_before = local_system.board.delivered
    # GIVEN the original solution's publisher on charger "legacy", connector 8: a run of three
    # sessions, then a restart that sends ids 1 and 2 again with new content
    # (the restart comes after the first run is stored: batches run side by side, so messages
    # sent together could be stored in another order, and the occurrences numbered otherwise)
    first = [variant(i, STARTED + 60 * i, 10 + i, 70 + i) for i in (1, 2, 3)]
    second = [variant(i, STARTED + 3600 + 60 * i, 40 + i, 200 + i) for i in (1, 2)]
    listing = f"{api}/sessions?charger=legacy&connector=8"
    sent = 0
    for run in (first, second):
        for payload in run:
            publish(
                local_system,
                f"charger/legacy/connector/8/session/{payload['session_id']}",
                json.dumps(payload),
            )
        sent += len(run)
        eventually(lambda sent=sent: get_json(listing)[1]["count"] == sent)
    # WHEN every session is stored, and then a true redelivery of a reused id arrives
    publish(local_system, "charger/legacy/connector/8/session/1", json.dumps(second[0]))
    eventually(lambda: local_system.board.delivered >= delivered_before + 6)
    # THEN the API serves every session the publisher sent, once, the reused ids as occurrence 2
    _, body = get_json(listing)
    assert sorted((s["session_id"], s["occurrence"]) for s in body["sessions"]) == [
        (1, 1),
        (1, 2),
        (2, 1),
        (2, 2),
        (3, 1),
    ]
    _, reused = get_json(f"{api}/sessions/legacy/8/1?occurrence=2")
    assert reused["energy_delivered_in_kWh"] == 41
    assert reused["ended_at"] == "2025-11-29T13:41:00.000Z"
    assert reused["ended_at_source"] == "payload"
    # AND the totals are the sum of the five distinct sessions: all suspect, since 11 kWh or more
    # in 45 s is above any charger's power, so counted apart from revenue
    _, totals = get_json(f"{api}/totals?charger=legacy&from=2025-11-29&to=2025-11-30")
    assert (totals["totals"]["sessions"], totals["suspect"]["sessions"]) == (0, 5)
    sent = sum(p["session_cost_in_cents"] for p in first + second)
    assert totals["suspect"]["cost_cents"] == sent
    # AND the reuse is visible: two more reused ids in /health
    assert get_json(f"{api}/health")[1]["reused_session_ids"] == reused_before + 2


def test_variant_messages_dead_lettered_before_the_upgrade_are_stored_by_a_replay(
    local_system: LocalSystem,
) -> None:
    assert local_system.dead_letters is not None
    store = local_system.dead_letters
    # GIVEN letters the listener dead-lettered before it knew the variant: a restarted
    # publisher's session 4 twice with different content, and one of them delivered twice
    payloads = [
        variant(4, STARTED + 240, 12, 90),
        variant(4, STARTED + 7200, 33, 250),
        variant(4, STARTED + 7200, 33, 250),
    ]
    letters = [
        store.add(
            rule_name="SessionMessagesRule",
            topic="charger/legacy/connector/9/session/4",
            client_id="legacy",
            payload=json.dumps(payload).encode(),
            error=InvalidSession(
                "energy_delivered_in_kwh",
                "unknown field; allowed fields are session_id, energy_delivered_in_kWh, ...",
            ),
            attempts=1,
        )
        for payload in payloads
    ]
    # WHEN they are replayed as `dlq replay --all` does
    results = replay(
        letters, local_system.template, lambda n, e: local_system.invokers[n](e), store
    )
    # THEN both sessions are stored, the second under its reused id, the repeat absorbed
    assert all(r.replayed for r in results)
    assert not {letter.id for letter in letters} & {d.id for d in store.all()}
    _, body = get_json(f"{_api(local_system)}/sessions?charger=legacy&connector=9")
    assert sorted(s["session_cost_in_cents"] for s in body["sessions"]) == [90, 250]


def test_listeners_in_flight_together_store_each_content_once(local_system: LocalSystem) -> None:
    # GIVEN four listener containers (each its own store) and ten identities, each sent with
    # three contents by restarted chargers, every message delivered to two containers at once
    contents = [(session, generation) for session in range(10) for generation in range(3)]
    events = [
        parse_session(
            {
                **variant(session, STARTED + 600 * generation + session, 5 + generation, 100),
                "topic": f"charger/race/connector/1/session/{session}",
                "received_at": (STARTED + 86_000) * 1000,
            }
        )
        for session, generation in contents
    ]
    with local_system.invoked_as("ListenerFunction") as settings:
        stores = [DynamoDbSessionStore.from_settings(settings) for _ in range(4)]
    outcomes: list[SaveOutcome] = []
    lock = threading.Lock()

    def listener(number: int) -> None:
        batch = events[number % 2 :: 2] + events[(number + 1) % 2 :: 2][::-1]
        for _ in range(50):  # a batch cancelled by a conflict comes back, as SQS redelivers it
            try:
                found = stores[number].save_many(batch)
            except StorageUnavailable:
                continue
            with lock:
                outcomes.extend(found)
            return
        raise AssertionError("a batch never went through")

    # WHEN they store their batches at the same time
    threads = [threading.Thread(target=listener, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    # THEN each content was stored exactly once: 10 first sessions and 20 under reused ids
    assert outcomes.count(SaveOutcome.STORED) == 10
    assert outcomes.count(SaveOutcome.REUSED) == 20
    assert outcomes.count(SaveOutcome.DUPLICATE) == 4 * 30 - 30
    # AND each identity holds occurrences 1 to 3, one content each, and the totals count 30
    for session in range(10):
        key = SessionKey("race", "1", str(session))
        stored = [stores[0].get(key, occurrence) for occurrence in (1, 2, 3, 4)]
        assert stored[3] is None
        assert sorted(s.energy_delivered_in_kWh for s in stored[:3] if s is not None) == [
            Decimal(5),
            Decimal(6),
            Decimal(7),
        ]
    [charger], _ = stores[0].chargers(1, "racd")
    assert charger.charger_id == "race"
    # (5-7 kWh in 45 s is above any charger's power: counted apart, as suspect, but counted)
    assert charger.totals.sessions + charger.suspect.sessions == 30
