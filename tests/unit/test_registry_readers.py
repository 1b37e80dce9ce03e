"""The charger registry's readers: the cache's bound, the settings as seeds that never overwrite,
and the simulated fleet drawn from the records (GIVEN / WHEN / THEN)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from evsessions.fleet import simulate_tick
from evsessions.registry import RETIRED, MemoryChargerRegistry
from evsessions.registry_cache import CachedRegistry
from evsessions.registry_fleet import simulate_registry_tick, simulated_chargers
from evsessions.registry_seed import fleet_record, listed_record, seed_missing, seed_records
from evsessions.settings import Settings

TICK = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_reused_within_the_bound_and_read_again_after_it() -> None:
    # GIVEN a cached reader with a 30 s bound, which has seen that depot-7 is unknown
    backing = MemoryChargerRegistry()
    clock = Clock()
    cached = CachedRegistry(backing, 30, clock)
    assert cached.get("depot-7") is None and cached.records() == []
    # WHEN depot-7 is added behind its back
    backing.put(listed_record("depot-7"))
    # THEN it still answers from its cache for less than the bound, and reads again after
    clock.now = 29.9
    assert cached.get("depot-7") is None and cached.records() == []
    clock.now = 30.0
    assert cached.get("depot-7") == listed_record("depot-7")
    assert [r.charger_id for r in cached.records()] == ["depot-7"]


def test_a_write_through_the_cache_is_seen_at_once() -> None:
    cached = CachedRegistry(MemoryChargerRegistry(), 3600, Clock())
    assert cached.get("depot-7") is None and cached.records() == []
    cached.put(listed_record("depot-7"))
    assert cached.get("depot-7") is not None and len(cached.records()) == 1


def test_the_settings_seed_the_registry_and_never_overwrite_a_record() -> None:
    # GIVEN two simulated chargers and two listed ones (one also a fleet id), and an operator
    # who already retired charger 2
    settings = Settings.from_env({"FLEET_CHARGERS": "2", "MQTT_CHARGER_IDS": "CP1,2"})
    registry = MemoryChargerRegistry([replace(fleet_record(2, 1), status=RETIRED)])
    # WHEN the seeds are put
    written = seed_missing(registry, seed_records(settings), ["2"])
    # THEN the missing ones were written, the operator's record stayed, and seeding again is a
    # no-op
    assert written == ["1", "CP1"]
    assert registry.get("2") is not None and registry.get("2").status == RETIRED  # type: ignore[union-attr]
    assert registry.get("1").simulated and not registry.get("CP1").simulated  # type: ignore[union-attr]
    assert seed_missing(registry, seed_records(settings), []) == []


def test_a_seeded_fleet_publishes_what_the_settings_fleet_always_published() -> None:
    # GIVEN the settings' fleet of 5 chargers x 2 connectors, seeded into the registry
    settings = Settings.from_env({"FLEET_CHARGERS": "5", "FLEET_CONNECTORS_PER_CHARGER": "2"})
    registry = CachedRegistry(MemoryChargerRegistry(), 0)
    # WHEN the publisher draws its fleet from the registry
    sessions = simulate_registry_tick(TICK, settings, simulated_chargers(registry, settings))
    # THEN the sessions are byte for byte the ones the settings alone made (sorted: the
    # registry lists chargers in text order)
    assert sorted(sessions, key=str) == sorted(simulate_tick(TICK, settings), key=str)


def test_a_retired_or_real_charger_does_not_publish_and_a_records_connectors_do() -> None:
    # GIVEN charger 1 retired, charger 2 given a third connector, a real charger CP1
    settings = Settings.from_env({"FLEET_CHARGERS": "2", "MQTT_CHARGER_IDS": "CP1"})
    two = fleet_record(2, 1)
    registry = MemoryChargerRegistry(
        [
            replace(fleet_record(1, 1), status=RETIRED),
            replace(two, connectors=(*two.connectors, replace(two.connectors[0], connector_id=3))),
        ]
    )
    # WHEN a tick is simulated from the registry
    chargers = simulated_chargers(CachedRegistry(registry, 0), settings)
    topics = [s.key.topic for s in simulate_registry_tick(TICK, settings, chargers)]
    # THEN only charger 2 publishes, on connectors 1 and 3
    epoch = int(TICK.timestamp())
    assert topics == [f"charger/2/connector/{n}/session/{epoch}" for n in (1, 3)]
