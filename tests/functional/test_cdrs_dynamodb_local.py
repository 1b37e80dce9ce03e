"""Tariffs, CDRs and the OCPI 2.2.1 Sender interface, against DynamoDB Local.

Storage matters here: a CDR is issued once by a conditional put and paged through a global
secondary index by `last_updated`, and a tariff is a set of versions read by a key range; moto's
in-process table is no database to show those. Every CDR and tariff the API serves is loaded by
`ocpi-types` (OCPI 2.2.1 models nobody here wrote) and must come back out unchanged: a missing
or mistyped field, an unknown enum value or an extra field fails.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from ocpi_types.v2_2_1 import Cdr, Tariff, Version, VersionDetails

from api.app import app
from evsessions.cdr_issuer import cached_issuer
from evsessions.cdrs import CREDIT_SUFFIX, cdr_id
from evsessions.contract import SessionKey, format_time
from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.store import cached_store
from evsessions.dynamodb.tariffs import DynamoDBTariffs
from evsessions.registry import record_from_json
from evsessions.tariffs import tariff_from_json
from listener.handler import handler as listener
from local_runner.infra.database import client, create_tables, start_dynamodb_local
from tests.functional.conftest import API_DIR, REGION, sessions_table_spec

ROOT = Path(__file__).resolve().parents[2]
JARS = ROOT / ".local" / "dynamodb-local"
TOKEN = "partner-token-1"
OPERATOR = "operator-key-1"
AUTH = {"Authorization": "Token " + base64.b64encode(TOKEN.encode()).decode()}
DAY = datetime(2026, 11, 27, tzinfo=UTC)
MORNING = {"type": "ENERGY", "price": 0.25, "vat": 25.0, "step_size": 1}
AFTERNOON = {"type": "ENERGY", "price": 0.40, "vat": 25.0, "step_size": 1}
FEE = {"type": "FLAT", "price": 0.50, "vat": 25.0, "step_size": 1}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    """DynamoDB Local with the template's table: (a client, the table, the endpoint)."""
    if not (JARS / "DynamoDBLocal.jar").exists():
        pytest.fail(f"DynamoDB Local is not installed in {JARS}: run ./dev setup")
    data_dir = tmp_path_factory.mktemp("cdrs")
    (data_dir / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
    local = start_dynamodb_local(data_dir, 0, REGION)
    try:
        spec = sessions_table_spec()
        create_tables(local.endpoint_url, REGION, [spec])
        yield client(local.endpoint_url, REGION), spec.name, local.endpoint_url
    finally:
        local.stop()


@pytest.fixture
def api(database: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    _, table, endpoint = database
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "SESSIONS_TABLE": table,
        "DYNAMODB_ENDPOINT_URL": endpoint,
        "OPERATOR_KEY": OPERATOR,
        "OCPI_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("API_KEY", raising=False)
    cached_issuer.cache_clear()
    with Client(app, stage_name="dev", project_dir=str(API_DIR)) as test_client:
        yield test_client
    cached_issuer.cache_clear()
    cached_store.cache_clear()


def register(db: Any, table: str, charger: str, tariff_id: str | None, city: str = "Oslo") -> None:
    body: dict[str, Any] = {
        "name": f"Charger {charger}",
        "location": {
            "address": "Storgata 1",
            "city": city,
            "postal_code": "0155",
            "country": "NOR",
            "coordinates": {"latitude": 59.9127, "longitude": 10.7461},
            "time_zone": "Europe/Oslo",
        },
        "connectors": [
            {
                "connector_id": 1,
                "standard": "IEC_62196_T2",
                "format": "SOCKET",
                "power_type": "AC_3_PHASE",
                "max_electric_power_w": 22_000,
            }
        ],
    }
    if tariff_id is not None:
        body["tariff_id"] = tariff_id
    DynamoDBChargerRegistry(table, db).put(record_from_json(charger, body))


def version(db: Any, table: str, tariff_id: str, start: datetime, *components: Any) -> None:
    """A version written a day before it starts (a version may not start sooner than a minute
    after it is written)."""
    tariff = tariff_from_json(
        {"currency": "NOK", "elements": [{"price_components": list(components)}]}
    )[0]
    DynamoDBTariffs(table, db, now=lambda: start - timedelta(days=1)).put_version(
        tariff_id, tariff, start
    )


def session(
    charger: str, number: int, ended: datetime, kwh: float, seconds: int, cents: int
) -> None:
    event = {
        "session_id": number,
        "energy_delivered_in_kWh": kwh,
        "duration_in_seconds": seconds,
        "session_cost_in_cents": cents,
        "ended_at": format_time(ended),
        "topic": f"charger/{charger}/connector/1/session/{number}",
        "received_at": int(ended.timestamp() * 1000) + 2_000,
    }
    assert listener(event, None)["status"] == "stored"


def cdrs(api: Client, query: str = "") -> tuple[int, dict[str, str], dict[str, Any]]:
    response = api.http.get(f"/ocpi/2.2.1/cdrs{query}", headers=AUTH)
    return response.status_code, dict(response.headers), json.loads(response.body)


def assert_ocpi(served: dict[str, Any]) -> None:
    """The independent model loads the CDR and gives back exactly what was served."""
    assert Cdr.from_dict(served).to_dict() == served


def all_cdrs(api: Client, query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _ in range(100):
        status, _, body = cdrs(api, query)
        assert status == 200
        if body["data"]:
            found = body["data"]
            break
    return found


def test_clean_sessions_become_cdrs_priced_by_the_tariff_in_force_when_they_started(
    api: Client, database: tuple[Any, str, str]
) -> None:
    db, table, _ = database
    # GIVEN charger MID-1 on tariff DAY-1, whose price changes at noon
    register(db, table, "MID-1", "DAY-1")
    version(db, table, "DAY-1", DAY, MORNING, FEE)
    version(db, table, "DAY-1", DAY + timedelta(hours=12), AFTERNOON, FEE)
    # WHEN a session before noon and one after it are stored (10 kWh, one hour each):
    # 10 x 0.25 + 0.50 = 3.00 excl, 3.13 + 0.63 = 3.76 incl; 10 x 0.40 + 0.50 = 4.50 excl, 5.63 incl
    session("MID-1", 1, DAY + timedelta(hours=12), 10, 3600, 376)
    session("MID-1", 2, DAY + timedelta(hours=14), 10, 3600, 563)
    # THEN each is one CDR, priced by its own version, and the library loads both
    served = all_cdrs(api, "?date_from=2026-11-27T00:00:00Z")
    mine = {c["id"]: c for c in served if c["cdr_location"]["id"] == "MID-1"}
    morning = mine[cdr_id(SessionKey("MID-1", "1", "1"), 1)]
    afternoon = mine[cdr_id(SessionKey("MID-1", "1", "2"), 1)]
    for cdr in (morning, afternoon):
        assert_ocpi(cdr)
        assert cdr["currency"] == "NOK"
        assert "remark" not in cdr  # the tariff priced it to the cent billed
    assert morning["total_cost"] == {"excl_vat": 3, "incl_vat": 3.76}
    assert morning["total_energy_cost"] == {"excl_vat": 2.5, "incl_vat": 3.13}
    assert afternoon["total_cost"] == {"excl_vat": 4.5, "incl_vat": 5.63}
    assert morning["tariffs"][0]["start_date_time"] == "2026-11-27T00:00:00.000Z"
    assert afternoon["tariffs"][0]["start_date_time"] == "2026-11-27T12:00:00.000Z"
    for tariff in (morning["tariffs"][0], afternoon["tariffs"][0]):
        assert Tariff.from_dict(tariff).to_dict() == tariff
    assert morning["cdr_location"]["city"] == "Oslo"
    assert morning["charging_periods"][0]["tariff_id"] == "DAY-1"


def test_a_cdr_does_not_change_when_the_registry_or_the_tariff_does(
    api: Client, database: tuple[Any, str, str]
) -> None:
    db, table, _ = database
    register(db, table, "MOVE-1", "MOVE-T")
    version(db, table, "MOVE-T", DAY, MORNING)
    session("MOVE-1", 1, DAY + timedelta(hours=3), 4, 1800, 125)
    key = SessionKey("MOVE-1", "1", "1")
    first = api.http.get("/sessions/MOVE-1/1/1/cdrs")
    [before] = json.loads(first.body)["cdrs"]
    # WHEN the charger moves to Bergen, and its session's message is delivered again
    register(db, table, "MOVE-1", "MOVE-T", city="Bergen")
    cached_issuer.cache_clear()
    event_again = {
        "session_id": 1,
        "energy_delivered_in_kWh": 4,
        "duration_in_seconds": 1800,
        "session_cost_in_cents": 125,
        "ended_at": format_time(DAY + timedelta(hours=3)),
        "topic": "charger/MOVE-1/connector/1/session/1",
        "received_at": int((DAY + timedelta(hours=3)).timestamp() * 1000) + 9_000,
    }
    assert listener(event_again, None)["status"] == "duplicate"
    # THEN the CDR is the one first issued, in Oslo, byte for byte
    [after] = json.loads(api.http.get("/sessions/MOVE-1/1/1/cdrs").body)["cdrs"]
    assert after == before
    assert after["cdr_location"]["city"] == "Oslo"
    assert after["id"] == cdr_id(key, 1)


def test_voiding_a_suspect_session_issues_its_cdr_and_a_credit_cdr(
    api: Client, database: tuple[Any, str, str]
) -> None:
    db, table, _ = database
    register(db, table, "VOID-1", "VOID-T")
    version(db, table, "VOID-T", DAY, MORNING, FEE)
    # GIVEN a suspect session: 900 kWh in 60 s is no plausible power
    session("VOID-1", 7, DAY + timedelta(hours=5), 900, 60, 28_175)
    assert json.loads(api.http.get("/sessions/VOID-1/1/7/cdrs").body)["cdrs"] == []
    # WHEN an operator voids it
    answer = api.http.post(
        "/sessions/VOID-1/1/7/resolution",
        headers={"x-operator-key": OPERATOR, "content-type": "application/json"},
        body=json.dumps({"action": "void", "reason": "meter test"}),
    )
    assert answer.status_code == 200, answer.body
    # THEN the session has its CDR and a Credit CDR that cancels it, both valid OCPI
    issued = json.loads(api.http.get("/sessions/VOID-1/1/7/cdrs").body)["cdrs"]
    first, credit = issued
    for cdr in issued:
        assert_ocpi(cdr)
    assert credit["credit"] is True
    assert credit["credit_reference_id"] == first["id"]
    assert credit["id"] == first["id"] + CREDIT_SUFFIX
    assert credit["total_cost"] == {
        "excl_vat": -first["total_cost"]["excl_vat"],
        "incl_vat": -first["total_cost"]["incl_vat"],
    }
    # AND asking again changes nothing (409), and issues nothing twice
    again = api.http.post(
        "/sessions/VOID-1/1/7/resolution",
        headers={"x-operator-key": OPERATOR, "content-type": "application/json"},
        body=json.dumps({"action": "void", "reason": "meter test"}),
    )
    assert again.status_code == 409
    assert json.loads(api.http.get("/sessions/VOID-1/1/7/cdrs").body)["cdrs"] == issued


def test_cdrs_page_with_ocpi_headers_and_links(api: Client, database: tuple[Any, str, str]) -> None:
    db, table, _ = database
    register(db, table, "PAGE-1", None)
    for number in range(1, 6):
        session("PAGE-1", number, DAY + timedelta(hours=20, minutes=number), 1, 600, 89)
    # every CDR is paged once, in last_updated order, with the total and the limit in headers
    status, headers, body = cdrs(api, "?limit=2")
    assert status == 200
    total = int(headers["X-Total-Count"])
    assert headers["X-Limit"] == "2"
    assert body["status_code"] == 1000
    seen: list[dict[str, Any]] = list(body["data"])
    link = headers.get("Link")
    while link:
        target = link.split(">", 1)[0].lstrip("<")
        path = target[target.index("/ocpi/") :]
        response = api.http.get(path, headers=AUTH)
        seen.extend(json.loads(response.body)["data"])
        link = dict(response.headers).get("Link")
    assert len(seen) == total >= 5
    assert len({c["id"] for c in seen}) == total
    times = [c["last_updated"] for c in seen]
    assert times == sorted(times)
    for cdr in seen:
        assert_ocpi(cdr)
    # a charger with no tariff is priced by the settings' tariff: 39 cents a kWh + 50 (EUR)
    [page_one] = [c for c in seen if c["cdr_location"]["id"] == "PAGE-1"][:1]
    assert page_one["currency"] == "EUR" and "tariffs" not in page_one
    # a window by last_updated: nothing was updated in 2020
    status, headers, body = cdrs(api, "?date_to=2020-01-01T00:00:00Z")
    assert (status, headers["X-Total-Count"], body["data"]) == (200, "0", [])


def test_ocpi_discovery_and_refusals(api: Client) -> None:
    versions = api.http.get("/ocpi/versions", headers=AUTH)
    assert versions.status_code == 200
    [listed] = json.loads(versions.body)["data"]
    assert Version.from_dict(listed).to_dict() == listed
    details = json.loads(api.http.get("/ocpi/2.2.1", headers=AUTH).body)["data"]
    assert VersionDetails.from_dict(details).to_dict() == details
    assert details["endpoints"][0]["url"].endswith("/ocpi/2.2.1/cdrs")
    # no token, a wrong one: 401 in OCPI's envelope
    for headers in ({}, {"Authorization": "Token nope"}):
        refused = api.http.get("/ocpi/2.2.1/cdrs", headers=headers)
        assert refused.status_code == 401
        assert json.loads(refused.body)["status_code"] == 2001
    # bad parameters: 400 saying what to fix
    for query, says in (
        ("?limit=0", "limit"),
        ("?offset=-1", "offset"),
        ("?date_from=yesterday", "date_from"),
        ("?page=2", "unknown parameter"),
        ("?date_from=2026-01-02T00:00:00Z&date_to=2026-01-01T00:00:00Z", "after"),
    ):
        response = api.http.get("/ocpi/2.2.1/cdrs" + query, headers=AUTH)
        assert response.status_code == 400, query
        assert says in json.loads(response.body)["status_message"]


def test_tariffs_are_managed_with_the_operator_key(api: Client) -> None:
    start = format_time(datetime.now(UTC) + timedelta(hours=1))
    body = {"currency": "EUR", "elements": [{"price_components": [MORNING]}]}
    put = {"content-type": "application/json"}
    assert api.http.put("/tariffs/AC-9", headers=put, body=json.dumps(body)).status_code == 401
    operator = {**put, "x-operator-key": OPERATOR}
    made = api.http.put(
        "/tariffs/AC-9", headers=operator, body=json.dumps({**body, "start_date_time": start})
    )
    assert made.status_code == 201, made.body
    assert Tariff.from_dict(json.loads(made.body)).to_dict() == json.loads(made.body)
    # the same start again: 409; a start in the past: 400 that says why
    again = api.http.put(
        "/tariffs/AC-9", headers=operator, body=json.dumps({**body, "start_date_time": start})
    )
    assert again.status_code == 409
    past = api.http.put(
        "/tariffs/AC-9",
        headers=operator,
        body=json.dumps({**body, "start_date_time": "2026-01-01T00:00:00Z"}),
    )
    assert past.status_code == 400
    assert "already priced" in json.loads(past.body)["message"]
    bad = api.http.put(
        "/tariffs/AC-9",
        headers=operator,
        body=json.dumps(
            {"currency": "EUR", "elements": [{"price_components": [{**MORNING, "vat": 200}]}]}
        ),
    )
    assert bad.status_code == 400
    assert "vat" in json.loads(bad.body)["message"]
    listed = json.loads(api.http.get("/tariffs/AC-9").body)
    assert [v["start_date_time"] for v in listed["versions"]] == [start]
    every = json.loads(api.http.get("/tariffs").body)["tariffs"]
    for served in [*listed["versions"], *(v for t in every for v in t["versions"])]:
        assert Tariff.from_dict(served).to_dict() == served
    assert api.http.get("/tariffs/NONE").status_code == 404


def test_a_clean_session_whose_cdr_was_not_issued_gets_it_when_redelivered(
    api: Client, database: tuple[Any, str, str]
) -> None:
    db, table, _ = database
    # GIVEN a clean session stored, whose CDR is then lost (as if the listener had failed
    # between storing the batch and issuing its CDRs)
    register(db, table, "LOST-1", None)
    ended = DAY + timedelta(hours=9)
    session("LOST-1", 3, ended, 2, 600, 128)
    [issued] = json.loads(api.http.get("/sessions/LOST-1/1/3/cdrs").body)["cdrs"]
    db.delete_item(
        TableName=table,
        Key={"pk": {"S": "SESSIONCDRS#LOST-1#1#3#1"}, "sk": {"S": issued["id"]}},
    )
    # WHEN the message comes again (the failed batch is redelivered)
    event = {
        "session_id": 3,
        "energy_delivered_in_kWh": 2,
        "duration_in_seconds": 600,
        "session_cost_in_cents": 128,
        "ended_at": format_time(ended),
        "topic": "charger/LOST-1/connector/1/session/3",
        "received_at": int(ended.timestamp() * 1000) + 60_000,
    }
    assert listener(event, None)["status"] == "duplicate"
    # THEN the session has its CDR again, under the same id
    [again] = json.loads(api.http.get("/sessions/LOST-1/1/3/cdrs").body)["cdrs"]
    assert again["id"] == issued["id"]
    assert_ocpi(again)


def test_a_reused_session_id_gets_its_cdr_under_its_own_occurrence(
    api: Client, database: tuple[Any, str, str]
) -> None:
    db, table, _ = database
    # GIVEN a clean session stored with its CDR
    register(db, table, "REUSED-1", None)
    ended = DAY + timedelta(hours=10)
    session("REUSED-1", 4, ended, 2, 600, 128)
    # WHEN the charger reuses the session id for another session (its counter restarted)
    event = {
        "session_id": 4,
        "energy_delivered_in_kWh": 5,
        "duration_in_seconds": 900,
        "session_cost_in_cents": 245,
        "ended_at": format_time(ended + timedelta(hours=1)),
        "topic": "charger/REUSED-1/connector/1/session/4",
        "received_at": int(ended.timestamp() * 1000) + 3_700_000,
    }
    assert listener(event, None)["status"] == "reused"
    # THEN each occurrence has its own CDR, of its own energy
    [first] = json.loads(api.http.get("/sessions/REUSED-1/1/4/cdrs").body)["cdrs"]
    [second] = json.loads(api.http.get("/sessions/REUSED-1/1/4/cdrs?occurrence=2").body)["cdrs"]
    assert (first["total_energy"], second["total_energy"]) == (2, 5)
    assert first["id"] != second["id"]


def test_a_batch_of_cdrs_issues_the_new_ones_beside_ones_issued_before(
    database: tuple[Any, str, str],
) -> None:
    from evsessions.dynamodb.cdrs import DynamoDBCdrs, Issue

    db, table, _ = database
    cdrs = DynamoDBCdrs(table, db)

    def issue(number: int, city: str) -> Issue:
        key = SessionKey("MIX-1", "1", str(number))
        cdr = {"id": cdr_id(key, 1), "last_updated": "2026-11-27T10:00:00.000Z", "city": city}
        return Issue(key, 1, [cdr])

    # GIVEN one session's CDR issued already
    assert cdrs.issue([issue(2, "Oslo")]) == 1
    # WHEN it is issued again in one transaction with two new ones
    assert cdrs.issue([issue(1, "Bergen"), issue(2, "Bergen"), issue(3, "Bergen")]) == 2
    # THEN the two new ones are issued, and the one issued before stays as it was
    cities = [cdrs.of_session(SessionKey("MIX-1", "1", str(n)), 1)[0]["city"] for n in (1, 2, 3)]
    assert cities == ["Bergen", "Oslo", "Bergen"]
