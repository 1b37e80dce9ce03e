"""A session is costed with its charger's tariff at the session's time: an OCPP transaction by
the central system, a simulated one by the fleet; a charger with no record or no tariff keeps
today's settings. On moto: what is tested is the choice, not the storage (that is
test_cdrs_dynamodb_local.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3

from centralsystem.actions import CentralSystem
from evsessions.charger_tariffs import ChargerTariffs
from evsessions.dynamodb.charge_points import CentralSystemStore
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.tariffs import DynamoDBTariffs
from evsessions.fleet import simulate_session
from evsessions.ocpp.transactions import Tariff
from evsessions.registry import record_from_json
from evsessions.settings import Settings
from evsessions.tariffs import Usage, price, tariff_from_json
from tests.functional.conftest import REGION
from tests.functional.test_central_system import RecordingPublisher

NOON = datetime(2026, 11, 29, 12, tzinfo=UTC)
CHEAP = {"type": "ENERGY", "price": 0.20, "vat": 25.0, "step_size": 1}
DEAR = {"type": "ENERGY", "price": 0.60, "vat": 25.0, "step_size": 1}
PARK = {"type": "TIME", "price": 1.20, "vat": 25.0, "step_size": 60}


def registered(table: str, db: Any, charger: str, tariff_id: str | None) -> None:
    where = {"address": "Storgata 1", "city": "Oslo", "postal_code": "0155", "country": "NOR"}
    where |= {"coordinates": {"latitude": 59.9, "longitude": 10.7}, "time_zone": "Europe/Oslo"}
    plug = {"connector_id": 1, "standard": "IEC_62196_T2", "format": "SOCKET"}
    plug |= {"power_type": "AC_3_PHASE", "max_electric_power_w": 22_000}
    body: dict[str, Any] = {"name": charger, "location": where, "connectors": [plug]}
    if tariff_id:
        body["tariff_id"] = tariff_id
    DynamoDBChargerRegistry(table, db).put(record_from_json(charger, body))


def versioned(table: str, db: Any) -> DynamoDBTariffs:
    """Tariff DAY: cheap until noon, dear (and per minute) from noon."""
    tariffs = DynamoDBTariffs(table, db, now=lambda: NOON - timedelta(days=2))
    for start, components in ((NOON - timedelta(days=1), [CHEAP]), (NOON, [DEAR, PARK])):
        tariff = tariff_from_json(
            {"currency": "EUR", "elements": [{"price_components": components}]}
        )
        tariffs.put_version("DAY", tariff[0], start)
    return tariffs


def ocpp_session(
    system: CentralSystem, charger: str, start: datetime, minutes: int
) -> dict[str, Any]:
    publisher = system.publisher()
    started = system.answer(
        charger,
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": start.isoformat()},
    )
    stop = {
        "transactionId": started["transactionId"],
        "meterStop": 10_000,
        "timestamp": (start + timedelta(minutes=minutes)).isoformat(),
    }
    system.answer(charger, "StopTransaction", stop)
    assert isinstance(publisher, RecordingPublisher)
    return publisher.payloads()[-1]


def test_an_ocpp_session_is_costed_with_its_chargers_tariff_at_its_start(
    sessions_table: str,
) -> None:
    db = boto3.client("dynamodb", region_name=REGION)
    tariffs = versioned(sessions_table, db)
    registered(sessions_table, db, "CP-T", "DAY")
    registered(sessions_table, db, "CP-NONE", None)
    publisher = RecordingPublisher()
    system = CentralSystem(
        CentralSystemStore(sessions_table, db),
        lambda: publisher,
        Tariff(39, 50),
        heartbeat_interval=300,
        clock=lambda: NOON + timedelta(hours=3),
        charger_tariffs=ChargerTariffs(DynamoDBChargerRegistry(sessions_table, db).get, tariffs),
    )
    # 10 kWh each; one started before noon (cheap), one after (dear, plus 45 min of time)
    morning = ocpp_session(system, "CP-T", NOON - timedelta(minutes=50), 45)
    afternoon = ocpp_session(system, "CP-T", NOON + timedelta(minutes=10), 45)
    # 10 x 0.20 = 2.00, 2.50 with VAT
    assert morning["session_cost_in_cents"] == 250
    # 10 x 0.60 = 6.00 (7.50) + 0.75 h x 1.20 = 0.90 (1.13): 8.63
    assert afternoon["session_cost_in_cents"] == 863
    # a charger with no tariff, and one not in the registry: today's settings, 10 x 39 + 50
    assert ocpp_session(system, "CP-NONE", NOON, 45)["session_cost_in_cents"] == 440
    assert ocpp_session(system, "CP-UNKNOWN", NOON, 45)["session_cost_in_cents"] == 440


def test_a_simulated_session_is_costed_with_its_chargers_tariff(sessions_table: str) -> None:
    db = boto3.client("dynamodb", region_name=REGION)
    tariffs = versioned(sessions_table, db)
    registered(sessions_table, db, "1", "DAY")
    chooser = ChargerTariffs(DynamoDBChargerRegistry(sessions_table, db).get, tariffs)
    settings = Settings.from_env()
    tick = NOON + timedelta(hours=6)

    def tariff_for(charger: str, started: datetime) -> Any:
        chosen = chooser.choose(charger, started)
        return None if chosen.version is None else chosen.version.tariff

    priced = simulate_session(tick, 1, 1, settings, tariff_for=tariff_for).payload
    plain = simulate_session(tick, 1, 1, settings).payload
    # the same charge, another price: the tariff's, for what the payload says was delivered
    assert priced["energy_delivered_in_kWh"] == plain["energy_delivered_in_kWh"]
    energy = Decimal(str(priced["energy_delivered_in_kWh"])) * 1000
    started = datetime.fromisoformat(priced["ended_at"]) - timedelta(
        seconds=priced["duration_in_seconds"]
    )
    version = tariffs.version_at("DAY", started)
    assert version is not None
    expected = price(version.tariff, Usage(energy, priced["duration_in_seconds"])).total.cents
    assert priced["session_cost_in_cents"] == expected != plain["session_cost_in_cents"]
    # a charger with no tariff: today's settings, unchanged
    assert (
        simulate_session(tick, 2, 1, settings, tariff_for=tariff_for).payload
        == simulate_session(tick, 2, 1, settings).payload
    )
    assert json.dumps(plain)  # the payload stays JSON


def test_a_replayed_stop_is_priced_with_the_tariff_of_its_first_stop(sessions_table: str) -> None:
    db = boto3.client("dynamodb", region_name=REGION)
    tariffs = versioned(sessions_table, db)
    registered(sessions_table, db, "CP-R", "DAY")
    publisher = RecordingPublisher()

    def central_system() -> CentralSystem:
        """A container's central system, with a fresh view of the registry."""
        return CentralSystem(
            CentralSystemStore(sessions_table, db),
            lambda: publisher,
            Tariff(39, 50),
            heartbeat_interval=300,
            clock=lambda: NOON + timedelta(hours=3),
            charger_tariffs=ChargerTariffs(
                DynamoDBChargerRegistry(sessions_table, db).get, tariffs
            ),
        )

    # GIVEN a Stop priced with the charger's tariff (10 kWh before noon: 250 cents)
    first = ocpp_session(central_system(), "CP-R", NOON - timedelta(minutes=50), 45)
    assert first["session_cost_in_cents"] == 250
    # WHEN the charger is moved off its tariff, and the Stop comes again (a reconnect)
    registered(sessions_table, db, "CP-R", None)
    stop = {"transactionId": first["session_id"], "meterStop": 10_000}
    stop["timestamp"] = (NOON - timedelta(minutes=5)).isoformat()
    central_system().answer("CP-R", "StopTransaction", stop)
    # THEN the replay republishes the same bytes: priced as the first Stop was
    assert publisher.sent[-1] == publisher.sent[-2]
