"""The dashboard in a real browser: Playwright driving Debian's Chromium against the running system.

The page is loaded from the emulator's HTTP server (the unchanged Chalice app) while mosquitto,
the bridge, the listener and DynamoDB Local run; a session published over MQTT must appear on the
open page without a reload. Screenshots go to .local/screenshots/ (the docs site's
docs/pages/images/dashboard.png is one).
Chromium is Debian's (/usr/bin/chromium, installed by ./dev test); Playwright never downloads one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
from websockets import Subprotocol
from websockets.asyncio.client import connect

from evsessions.dynamodb.registry import DynamoDBChargerRegistry
from evsessions.dynamodb.store import create_client
from evsessions.mqtt.identity import charger_password
from evsessions.registry import record_from_json
from local_runner.system import LocalSystem
from tests.functional.test_charger_registry_store import charger_json
from tests.integration.conftest import COMMAND_CHARGERS, DASHBOARD_CHARGERS, ROOT
from tests.integration.helpers import eventually, publish, served

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Headless in a container with no network: without these Chromium stalls on its own calls home."""
SCREENSHOTS = ROOT / ".local" / "screenshots"
PLACES = (
    ("Kaigata 1", "Bergen", "dc-standard"),
    ("Karl Johans gate 22", "Oslo", "ac-standard"),
    ("Brattørkaia 17", "Trondheim", "ac-night"),
)
"""Each dashboard charger's registry record: address, city, tariff."""
WAIT_MS = 20_000
"""How long the page may take to show what the API already serves (it polls every 2 s)."""


def _api(system: LocalSystem) -> str:
    assert system.api is not None
    return system.api.url


def _session(session_id: int, ended_at: datetime, rng: random.Random) -> dict[str, Any]:
    energy = round(rng.uniform(6, 55), 2)
    return {
        "session_id": session_id,
        "energy_delivered_in_kWh": energy,
        "duration_in_seconds": rng.randint(20 * 60, 110 * 60),
        "session_cost_in_cents": round(energy * 39) + 50,
        "ended_at": ended_at.isoformat().replace("+00:00", "Z"),
    }


def _publish_session(
    system: LocalSystem, charger: str, connector: int, payload: dict[str, Any]
) -> str:
    topic = f"charger/{charger}/connector/{connector}/session/{payload['session_id']}"
    publish(system, topic, json.dumps(payload))
    return f"{charger}/{connector}/{payload['session_id']}"


@pytest.fixture(scope="module")
def history(local_system: LocalSystem) -> list[str]:
    """A day of sessions on three chargers, so the chart and the tables have something to show."""
    rng = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0)
    chargers = list(DASHBOARD_CHARGERS)
    with local_system.invoked_as("ApiFunction") as settings:
        registry = DynamoDBChargerRegistry(settings.sessions_table, create_client(settings))
        for charger, (address, city, tariff) in zip(chargers, PLACES, strict=True):
            location = {**charger_json()["location"], "address": address, "city": city}
            body = charger_json(name=f"{city} {address}", location=location, tariff_id=tariff)
            registry.put(record_from_json(charger, body))
    keys = []
    for hour in range(23, -1, -1):
        for charger in rng.sample(chargers, rng.randint(1, 3)):
            ended = now - timedelta(hours=hour, minutes=rng.randint(1, 50))
            payload = _session(int(ended.timestamp()), ended, rng)
            keys.append(_publish_session(local_system, charger, rng.randint(1, 2), payload))
    charger, connector, session = keys[-1].split("/")
    eventually(lambda: served(f"{_api(local_system)}/sessions/{charger}/{connector}/{session}"))
    return chargers


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: ./dev test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


def _open(browser: Browser, system: LocalSystem, **context: Any) -> tuple[Page, list[str]]:
    """The dashboard in a fresh browser context, with every script error it raises collected."""
    page = browser.new_context(**context).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{_api(system)}/")
    return page, errors


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_a_published_session_appears_without_a_reload(
    browser: Browser, local_system: LocalSystem, history: list[str]
) -> None:
    # GIVEN the dashboard open on a laptop-sized window, showing the day's sessions
    page, errors = _open(browser, local_system, viewport={"width": 1280, "height": 900})
    # live, or live with a warning when other tests left dead letters in the shared system
    expect(page.locator("#status")).to_have_attribute(
        "data-state", re.compile("^(live|warn)$"), timeout=WAIT_MS
    )
    expect(page.locator(f'tr[data-charger="{history[0]}"]')).to_be_visible(timeout=WAIT_MS)
    page.evaluate("window.sameDocument = true")
    # WHEN a charger publishes a session over MQTT
    payload = _session(424242, datetime.now(UTC).replace(microsecond=0), random.Random(1))
    key = _publish_session(local_system, history[1], 2, payload)
    # THEN it appears at the top of the sessions table, marked as new, in the same document
    # (one locator for both: the mark lasts until the next refresh, 2 s later, so a row seen
    # first and its class read after could miss it on a busy machine)
    row = page.locator(f'tr.new[data-session="{key}"]')
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#session-rows tr").first).to_have_attribute("data-session", key)
    assert page.evaluate("window.sameDocument") is True
    # AND it links to its CDR, which the listener issued beside it
    link = row.locator("a.cdr")
    expect(link).to_have_text("CDR")
    href = link.get_attribute("href")
    assert href is not None and href.endswith("/cdrs?occurrence=1")
    url = f"{_api(local_system)}/{href}"
    [cdr] = eventually(lambda: (served(url) or {}).get("cdrs"), WAIT_MS / 1000)
    assert cdr["cdr_location"]["id"] == history[1]
    # AND the charger's totals, the hourly chart and the pipeline's health are shown
    expect(page.locator(f'tr[data-charger="{history[1]}"]')).to_be_visible()
    assert page.evaluate("typeof window.Chart") == "function", "chart library not served"
    expect(page.locator("#chart-missing")).to_be_hidden()
    expect(page.locator("#health-database")).to_have_text("reachable")
    health = served(f"{_api(local_system)}/health")
    expect(page.locator("#health-dead-letters")).to_have_text(str(health["dead_letters"]))
    assert int(page.locator("#kpi-sessions").inner_text()) >= len(history)
    assert errors == []
    _screenshot(page, "dashboard.png")


def test_a_charger_shows_its_location_and_tariff_from_the_registry(
    browser: Browser, local_system: LocalSystem, history: list[str]
) -> None:
    # GIVEN chargers with sessions and registry records with a place and a tariff (`history`)
    # WHEN the dashboard is open
    page, errors = _open(browser, local_system, viewport={"width": 1280, "height": 900})
    # THEN each charger's row shows where it is and its tariff
    for charger, (address, city, tariff) in zip(history, PLACES, strict=True):
        row = page.locator(f'tr[data-charger="{charger}"]')
        expect(row).to_contain_text(f"{address}, {city}", timeout=WAIT_MS)
        expect(row).to_contain_text(tariff)
    assert errors == []


def test_usable_in_a_phone_sized_window(
    browser: Browser, local_system: LocalSystem, history: list[str]
) -> None:
    # GIVEN a 375 px wide phone screen
    page, errors = _open(
        browser,
        local_system,
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    # WHEN the dashboard has loaded its data
    expect(page.locator(f'tr[data-charger="{history[0]}"]')).to_be_visible(timeout=WAIT_MS)
    # THEN nothing is wider than the screen: no sideways scrolling of the page
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    # AND the tables fit too, with no column cut off behind a sideways scroll
    clipped = page.evaluate(
        "[...document.querySelectorAll('.table-wrap')]"
        ".filter((wrap) => wrap.offsetParent && wrap.scrollWidth > wrap.clientWidth)"
        ".map((wrap) => wrap.querySelector('table').id)"
    )
    assert clipped == []
    # AND the sessions table keeps its essential columns in view
    expect(page.locator("#sessions th").filter(has_text="Charger")).to_be_visible()
    expect(page.locator("#sessions th").filter(has_text="Duration")).to_be_hidden()
    assert errors == []
    _screenshot(page, "dashboard-phone.png")


def test_asks_for_the_api_key_and_keeps_it_in_the_browser(
    browser: Browser,
    local_system: LocalSystem,
    history: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the API function has a key (read by the app on every request)
    key = f"dash-{uuid.uuid4().hex}"
    monkeypatch.setitem(local_system.invokers["ApiFunction"].environment, "API_KEY", key)
    page, errors = _open(browser, local_system, viewport={"width": 1024, "height": 768})
    # WHEN the page gets its first 401 THEN it asks for the key
    expect(page.locator("#key-form")).to_be_visible(timeout=WAIT_MS)
    # AND a wrong key is refused and asked for again
    page.fill("#key-input", "wrong")
    page.click("#key-form button")
    expect(page.locator("#key-error")).to_be_visible(timeout=WAIT_MS)
    # WHEN the right key is given THEN the data arrives, and the key stays in this browser
    page.fill("#key-input", key)
    page.click("#key-form button")
    expect(page.locator(f'tr[data-charger="{history[0]}"]')).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#key-form")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('evsessions.apiKey')") == key
    page.reload()
    expect(page.locator(f'tr[data-charger="{history[0]}"]')).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#key-form")).to_be_hidden()
    # AND the key is in no page the app serves
    assert key not in page.content()
    assert errors == []


def test_without_the_chart_library_the_page_says_so_and_still_works(
    browser: Browser, local_system: LocalSystem, history: list[str]
) -> None:
    # GIVEN a server without the chart library (set up without npm): its asset is a 404
    context = browser.new_context(viewport={"width": 1024, "height": 768})

    def missing(route: Route) -> None:
        route.fulfill(status=404, content_type="application/json", body="{}")

    context.route("**/assets/chart.umd.min.js", missing)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{_api(local_system)}/")
    # THEN the page says the chart is missing, lists the hours instead, and the rest is live
    expect(page.locator("#chart-missing")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#hourly-rows tr").first).to_be_visible()
    expect(page.locator(f'tr[data-charger="{history[2]}"]')).to_be_visible(timeout=WAIT_MS)
    assert errors == []


def test_an_unreachable_database_shows_and_the_page_recovers(
    browser: Browser, local_system: LocalSystem, history: list[str]
) -> None:
    # GIVEN the dashboard open and live
    page, errors = _open(browser, local_system, viewport={"width": 1024, "height": 768})
    # live, or live with a warning when other tests left dead letters in the shared system
    expect(page.locator("#status")).to_have_attribute(
        "data-state", re.compile("^(live|warn)$"), timeout=WAIT_MS
    )

    def unreachable(route: Route) -> None:
        body = {"status": "unavailable", "database": "unreachable"}
        if "/health" not in route.request.url:
            body = {"error": "unavailable", "message": "the session store is unreachable"}
        route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

    # WHEN the API answers 503 as it does while DynamoDB is down
    page.route("**/{health,sessions,chargers,totals}*", unreachable)
    # THEN the page says the database is unreachable, and keeps what it last showed
    expect(page.locator("#status")).to_have_attribute("data-state", "down", timeout=WAIT_MS)
    expect(page.locator("#health-database")).to_have_text("unreachable")
    expect(page.locator(f'tr[data-charger="{history[0]}"]')).to_be_visible()
    # AND when the database is back, so is the page, without a reload
    page.unroute("**/{health,sessions,chargers,totals}*", unreachable)
    # live, or live with a warning when other tests left dead letters in the shared system
    expect(page.locator("#status")).to_have_attribute(
        "data-state", re.compile("^(live|warn)$"), timeout=WAIT_MS
    )
    expect(page.locator("#health-database")).to_have_text("reachable")
    assert errors == []


def test_api_gateways_403_without_a_key_also_brings_up_the_key_form(
    browser: Browser, local_system: LocalSystem
) -> None:
    # GIVEN the deployed API, where API Gateway refuses a request without its key with a 403
    context = browser.new_context()

    def forbidden(route: Route) -> None:
        route.fulfill(status=403, content_type="application/json", body='{"message":"Forbidden"}')

    context.route("**/health", forbidden)
    page = context.new_page()
    page.goto(f"{_api(local_system)}/")
    # THEN the page asks for the key
    expect(page.locator("#key-form")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#status")).to_have_text("API key needed")


def test_a_real_charge_point_shows_connected_with_its_status_then_offline(
    browser: Browser, local_system: LocalSystem
) -> None:
    # GIVEN a charge point (the ocpp package's) connected over OCPP, booted, its connector charging
    charger = DASHBOARD_CHARGERS[0]
    booted, hang_up = threading.Event(), threading.Event()

    async def charge_point() -> None:
        assert local_system.access is not None
        password = charger_password(local_system.access.fleet_secret, charger)
        token = base64.b64encode(f"{charger}:{password}".encode()).decode()
        async with connect(
            local_system.gateways[0].url + charger,
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers={"Authorization": f"Basic {token}"},
            open_timeout=20,
        ) as socket:
            point = ChargePoint(charger, socket, response_timeout=20)
            task = asyncio.create_task(point.start())
            await point.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            await point.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
            )
            booted.set()
            await asyncio.get_running_loop().run_in_executor(None, hang_up.wait, 60)
            task.cancel()

    thread = threading.Thread(target=lambda: asyncio.run(charge_point()), daemon=True)
    thread.start()
    try:
        assert booted.wait(30), "the charge point did not boot"
        # WHEN the dashboard is open
        page, errors = _open(browser, local_system, viewport={"width": 1280, "height": 900})
        # THEN it lists the charge point as connected, with its connector's status
        row = page.locator(f'tr[data-charge-point="{charger}"]')
        expect(row).to_contain_text("connected", timeout=WAIT_MS)
        expect(row).to_contain_text("1: Charging")
    finally:
        hang_up.set()
        thread.join(30)
    # AND once it hangs up, as offline
    expect(row).to_contain_text("offline", timeout=WAIT_MS)
    assert errors == []


def test_a_dead_letter_alarm_shows_on_the_dashboard(
    local_system: LocalSystem, browser: Browser
) -> None:
    # GIVEN a message with no identity (its session id is not its topic's), dead-lettered
    bad = {"session_id": 708, "energy_delivered_in_kWh": 1, "duration_in_seconds": 45,
           "session_cost_in_cents": 70}  # fmt: skip
    publish(local_system, "charger/poison/connector/1/session/78", json.dumps(bad))
    eventually(lambda: (served(f"{_api(local_system)}/health") or {}).get("dead_letters"))
    # WHEN the dashboard is open
    page, errors = _open(browser, local_system)
    # THEN its health panel shows the template's dead-letter alarm, as `status` does
    expect(page.locator("#health-alarms")).to_contain_text(
        re.compile(r"ALARM dead letters: \d+"), timeout=WAIT_MS
    )
    assert errors == []
    page.context.close()


class ObedientChargePoint(ChargePoint):
    """Accepts a reset and a remote stop, unlocks its connector."""

    @on(Action.reset)
    def reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    def unlock(self, connector_id: int) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.remote_stop_transaction)
    def remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        return call_result.RemoteStopTransaction(status="Accepted")


def test_an_operator_resets_unlocks_and_stops_a_transaction_from_the_dashboard(
    browser: Browser, local_system: LocalSystem
) -> None:
    # GIVEN a connected charge point with a transaction open on connector 1
    charger = COMMAND_CHARGERS[7]
    ready, hang_up = threading.Event(), threading.Event()
    opened: list[int] = []

    async def charge_point() -> None:
        assert local_system.access is not None
        password = charger_password(local_system.access.fleet_secret, charger)
        token = base64.b64encode(f"{charger}:{password}".encode()).decode()
        async with connect(
            local_system.gateways[0].url + charger,
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers={"Authorization": f"Basic {token}"},
            open_timeout=20,
        ) as socket:
            point = ObedientChargePoint(charger, socket, response_timeout=20)
            task = asyncio.create_task(point.start())
            await point.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
            )
            started = await point.call(
                call.StartTransaction(
                    connector_id=1, id_tag="TAG-D", meter_start=0, timestamp="2026-11-29T10:00:00Z"
                )
            )
            opened.append(started.transaction_id)
            ready.set()
            await asyncio.get_running_loop().run_in_executor(None, hang_up.wait, 90)
            task.cancel()

    thread = threading.Thread(target=lambda: asyncio.run(charge_point()), daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the charge point did not start its transaction"
        page, errors = _open(browser, local_system, viewport={"width": 1280, "height": 900})
        key = local_system.invokers["ApiFunction"].environment["OPERATOR_KEY"]
        page.on("dialog", lambda dialog: dialog.accept(key))  # asked once, at the first command
        row = page.locator(f'tr[data-charge-point="{charger}"]')
        result = page.locator("#command-result")
        # WHEN the operator presses Reset: THEN the charger's answer shows
        row.get_by_role("button", name="Reset").click(timeout=WAIT_MS)
        expect(result).to_have_text(f"Reset on {charger}: answered Accepted", timeout=WAIT_MS)
        # AND unlocking connector 1
        row.get_by_role("button", name="Unlock 1").click(timeout=WAIT_MS)
        expect(result).to_have_text(
            f"Unlock connector 1 on {charger}: answered Unlocked", timeout=WAIT_MS
        )
        # AND stopping its open transaction, by its id
        row.get_by_role("button", name=f"Stop #{opened[0]}").click(timeout=WAIT_MS)
        expect(result).to_have_text(
            f"Stop transaction {opened[0]} on {charger}: answered Accepted", timeout=WAIT_MS
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the panel only, for the docs page
        panel = page.locator("section", has=page.locator("#charge-points"))
        panel.screenshot(path=str(SCREENSHOTS / "dashboard-commands.png"))
    finally:
        hang_up.set()
        thread.join(30)
    assert errors == []
