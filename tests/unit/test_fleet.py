"""The simulated fleet: deterministic per tick, plausible, and always inside the contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from evsessions.contract import format_time, parse_session
from evsessions.fleet import CHARGER_TYPES, charger_type, simulate_session, simulate_tick
from evsessions.settings import Settings

TICK = datetime(2025, 11, 27, 18, 35, tzinfo=UTC)
SETTINGS = Settings(fleet_chargers=25, fleet_connectors_per_charger=4)
# Enough ticks x connectors to see every charger type and both ends of every random range.
SAMPLE = [
    s for minute in range(8) for s in simulate_tick(TICK + timedelta(minutes=minute), SETTINGS)
]


def as_rule_output(payload: dict[str, object], topic: str, received: datetime) -> dict[str, object]:
    return {**payload, "topic": topic, "received_at": int(received.timestamp() * 1000)}


def test_same_tick_charger_and_connector_give_an_identical_payload() -> None:
    # GIVEN one tick simulated twice (a retried EventBridge invocation)
    first = simulate_session(TICK, 3, 2, SETTINGS)
    again = simulate_session(TICK, 3, 2, SETTINGS)
    # THEN the messages are byte-identical, so the listener sees a duplicate
    assert first == again
    assert json.dumps(first.payload) == json.dumps(again.payload)


def test_whole_tick_is_reproducible() -> None:
    assert simulate_tick(TICK, SETTINGS) == simulate_tick(TICK, SETTINGS)


def test_different_ticks_give_different_session_ids() -> None:
    # GIVEN two consecutive ticks on the same connector
    first = simulate_session(TICK, 1, 1, SETTINGS)
    second = simulate_session(TICK + timedelta(minutes=1), 1, 1, SETTINGS)
    # THEN they are two sessions
    assert first.key.session_id != second.key.session_id
    assert first.payload["session_id"] != second.payload["session_id"]


def test_session_id_is_the_ticks_epoch_second() -> None:
    session = simulate_session(TICK, 1, 1, SETTINGS)
    assert session.payload["session_id"] == int(TICK.timestamp())
    assert session.key.session_id == str(int(TICK.timestamp()))


def test_connectors_of_one_tick_differ() -> None:
    # GIVEN one tick over the fleet
    payloads = [s.payload for s in simulate_tick(TICK, SETTINGS)]
    # THEN the connectors did not all report the same session
    assert len({json.dumps(p, sort_keys=True) for p in payloads}) == len(payloads)


@pytest.mark.parametrize(("chargers", "connectors"), [(1, 1), (3, 2), (7, 16)])
def test_fleet_size_comes_from_settings(chargers: int, connectors: int) -> None:
    # GIVEN a fleet of chargers x connectors
    settings = Settings(fleet_chargers=chargers, fleet_connectors_per_charger=connectors)
    # WHEN one tick is simulated
    sessions = simulate_tick(TICK, settings)
    # THEN every connector, numbered from 1, reports exactly once
    assert len(sessions) == chargers * connectors
    assert {(s.key.charger_id, s.key.connector_id) for s in sessions} == {
        (str(c), str(n)) for c in range(1, chargers + 1) for n in range(1, connectors + 1)
    }


def test_every_payload_passes_the_contract() -> None:
    # GIVEN many simulated sessions
    for simulated in SAMPLE:
        # WHEN each goes through the rule and the listener's validation
        event = as_rule_output(simulated.payload, simulated.key.topic, TICK)
        session = parse_session(event)
        # THEN it is accepted with the identity the publisher chose and its own end time
        assert session.key == simulated.key
        assert session.ended_at_source == "payload"


def test_payload_has_exactly_the_contract_fields() -> None:
    payload = simulate_session(TICK, 1, 1, SETTINGS).payload
    assert set(payload) == {
        "session_id",
        "energy_delivered_in_kWh",
        "duration_in_seconds",
        "session_cost_in_cents",
        "ended_at",
    }


def test_session_ends_within_the_minute_before_the_tick() -> None:
    for simulated in SAMPLE[:200]:
        ended = datetime.fromisoformat(str(simulated.payload["ended_at"]))
        scheduled = datetime.fromtimestamp(int(simulated.payload["session_id"]), UTC)
        assert scheduled - timedelta(seconds=59) <= ended <= scheduled
        assert simulated.payload["ended_at"] == format_time(ended)


def test_energy_fits_the_chargers_power_and_the_duration() -> None:
    for simulated in SAMPLE:
        # GIVEN a session on a charger of known peak power
        kind = charger_type(int(simulated.key.charger_id))
        energy = simulated.payload["energy_delivered_in_kWh"]
        hours = simulated.payload["duration_in_seconds"] / 3600
        # THEN it delivered something, and no more than full power for the whole session
        assert 0 < energy <= kind.power_kw * hours + 0.001, simulated


def test_cost_is_energy_times_tariff_plus_fee() -> None:
    for simulated in SAMPLE:
        kind = charger_type(int(simulated.key.charger_id))
        tariff = (
            SETTINGS.tariff_dc_cents_per_kwh
            if kind.direct_current
            else SETTINGS.tariff_ac_cents_per_kwh
        )
        energy = simulated.payload["energy_delivered_in_kWh"]
        cost = simulated.payload["session_cost_in_cents"]
        # energy is rounded to 3 decimals after the cost was computed: allow that and half a cent
        assert abs(cost - (energy * tariff + SETTINGS.session_fee_cents)) <= 0.5 + tariff * 0.0005


def test_tariffs_and_fee_come_from_settings() -> None:
    # GIVEN free energy and a fee of 123 cents
    settings = Settings(tariff_ac_cents_per_kwh=0, tariff_dc_cents_per_kwh=0, session_fee_cents=123)
    # THEN every session costs exactly the fee
    costs = {s.payload["session_cost_in_cents"] for s in simulate_tick(TICK, settings)}
    assert costs == {123}


def test_dc_sessions_are_shorter_than_two_hours() -> None:
    dc = [s for s in SAMPLE if charger_type(int(s.key.charger_id)).direct_current]
    assert dc, "the sample should hold DC chargers"
    assert max(s.payload["duration_in_seconds"] for s in dc) < 2 * 3600


def test_sample_holds_every_charger_type() -> None:
    # Keeps the plausibility tests above meaningful: they cover AC and DC alike.
    seen = {charger_type(int(s.key.charger_id)) for s in SAMPLE}
    assert seen == set(CHARGER_TYPES)


def test_charger_type_is_stable_per_charger() -> None:
    # GIVEN the same charger asked about repeatedly
    # THEN its hardware never changes
    for charger in range(1, 200):
        assert charger_type(charger) == charger_type(charger)
    assert len({charger_type(c) for c in range(1, 200)}) > 1


def test_ten_thousand_connector_tick_is_generated() -> None:
    # GIVEN a fleet of 2,500 chargers with 4 connectors
    settings = Settings(fleet_chargers=2_500, fleet_connectors_per_charger=4)
    # WHEN one tick is simulated
    sessions = simulate_tick(TICK, settings)
    # THEN there is one distinct identity per connector
    assert len(sessions) == 10_000
    assert len({s.key for s in sessions}) == 10_000
    assert sessions[-1].key.topic == f"charger/2500/connector/4/session/{int(TICK.timestamp())}"
