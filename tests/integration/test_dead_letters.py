"""Dead letters: kept with their reason, listed, replayed into the real store once fixed."""

from __future__ import annotations

import json

import pytest

from local_runner.commands.dead_letter_replay import replay
from local_runner.services.events import scheduled_event
from local_runner.system import LocalSystem
from tests.integration.helpers import get_json, served

pytestmark = pytest.mark.integration

VALID = {
    "session_id": 9,
    "energy_delivered_in_kWh": 18.25,
    "duration_in_seconds": 1800,
    "session_cost_in_cents": 762,
}


def test_replay_stores_a_fixed_letter_and_keeps_a_still_invalid_one(
    local_system: LocalSystem,
) -> None:
    assert local_system.dead_letters is not None and local_system.api is not None
    store = local_system.dead_letters
    # GIVEN a valid message dead-lettered by a (since fixed) handler bug, and an invalid one
    fixed = store.add(
        rule_name="SessionMessagesRule",
        topic="charger/replay/connector/1/session/9",
        client_id="charger-replay",
        payload=json.dumps(VALID).encode(),
        error=RuntimeError("simulated bug, since fixed"),
        attempts=3,
    )
    invalid = store.add(
        rule_name="SessionMessagesRule",
        topic="charger/replay/connector/1/session/10",
        client_id="charger-replay",
        payload=b'{"session_id": 11}',  # not its topic's session: no identity, never a session
        error=ValueError("session id mismatch"),
        attempts=1,
    )
    # WHEN both are replayed through the rule and the listener
    assert local_system.dead_letter_queue is not None
    claim = local_system.dead_letter_queue.claim
    results = replay(
        [fixed, invalid],
        local_system.template,
        lambda name, event: local_system.invokers[name](event),
        store,
        claim=claim,
    )
    # THEN the fixed one is stored and leaves the dead letters; the invalid one stays, with why
    outcomes = {r.letter.id: r for r in results}
    assert outcomes[fixed.id].replayed and outcomes[fixed.id].outcome == "delivered"
    assert not outcomes[invalid.id].replayed
    assert "does not match the topic" in outcomes[invalid.id].outcome
    body = served(f"{local_system.api.url}/sessions/replay/1/9")
    assert body["energy_delivered_in_kWh"] == 18.25
    remaining = {d.id for d in store.all()}
    assert fixed.id not in remaining and invalid.id in remaining
    # AND replaying the same message again changes nothing (idempotent write)
    again = store.add(
        rule_name="SessionMessagesRule",
        topic="charger/replay/connector/1/session/9",
        client_id="charger-replay",
        payload=json.dumps(VALID).encode(),
        error=RuntimeError("again"),
        attempts=1,
    )
    [result] = replay(
        [again],
        local_system.template,
        lambda n, e: local_system.invokers[n](e),
        store,
        claim=claim,
    )
    assert result.replayed
    _, listing = get_json(f"{local_system.api.url}/sessions?charger=replay")
    assert listing["count"] == 1


def test_the_archivers_daily_run_finds_nothing_to_archive_locally(
    local_system: LocalSystem,
) -> None:
    # GIVEN the running system, whose dead-letter store keeps letters without expiry
    before = local_system.dead_letters.count() if local_system.dead_letters else None
    # WHEN the template's archiver runs, as its schedule runs it
    result = local_system.invokers["DeadLetterArchiveFunction"](
        scheduled_event(local_system.clock.now(), "Daily")
    )
    # THEN the local SQS stand-in hands it no letter, and the dead letters stay where they are
    assert result == {"archived": 0, "kept": 0}
    assert (local_system.dead_letters.count() if local_system.dead_letters else None) == before
