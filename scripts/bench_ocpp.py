"""OCPP benchmark: N charge points connected at once, each completing a transaction.

Starts the system as `./dev up` does (DynamoDB Local, mosquitto, the rule and the listener, the
API, the WebSocket gateway) in a temporary folder. A separate process plays the charge points,
each the `ocpp` package's ChargePoint on its own WebSocket connection with its own password:
all connect first, then all at once send BootNotification, Heartbeat, StartTransaction,
MeterValues and StopTransaction. It prints p50/p99 of the StopTransaction round trip (stored
transaction, session published with its PUBACK, answer through the management API) beside the
Heartbeat round trip measured in the same run (the same path with one small write and no
publish: the floor), then waits until the API's totals hold every session, to the cent.

    ./dev bench-ocpp                       # 1,000 charge points
    .venv/bin/python scripts/bench_ocpp.py --charge-points 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from bench_api import machine  # sibling scripts: the same machine line and cold imports
from bench_ingest import cold_import_medians

from evsessions.dynamodb.store import cached_store
from evsessions.mqtt.identity import charger_password
from evsessions.settings import Settings
from local_runner.infra.processes import free_port
from local_runner.runner_settings import RunnerSettings
from local_runner.system import start_system

ROOT = Path(__file__).resolve().parents[1]
JARS = ROOT / ".local" / "dynamodb-local"
DAY = "2020-01-01"
"""The transactions' day: nothing else the system does (its schedule) lands on it."""
CONNECT_WINDOW = 100
"""Handshakes in flight at once (each runs the authorizer and $connect)."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _charger(index: int) -> str:
    return f"bench-{index}"


def _meter_stop(index: int) -> int:
    return 5_000 + index  # Wh; each transaction starts at 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- the charge points, in their own process ----------------------------------------------------


async def _charge_points(url: str, count: int, secret: str) -> dict[str, Any]:
    import websockets
    from ocpp.v16 import ChargePoint, call
    from websockets.asyncio.client import connect

    window = asyncio.Semaphore(CONNECT_WINDOW)
    everyone_connected = asyncio.Event()
    attempted = 0
    heartbeats: list[float] = []
    stops: list[float] = []
    failures: list[str] = []
    first_handshake = time.perf_counter()

    async def one(index: int) -> None:
        nonlocal attempted
        charger = _charger(index)
        token = base64.b64encode(f"{charger}:{charger_password(secret, charger)}".encode())
        try:
            async with window:
                socket = await connect(
                    url + charger,
                    subprotocols=[websockets.Subprotocol("ocpp1.6")],
                    additional_headers={"Authorization": "Basic " + token.decode()},
                    open_timeout=300,
                    ping_interval=None,
                    max_queue=None,
                )
        except Exception as error:
            failures.append(f"{charger} connect: {type(error).__name__} {error}")
            return
        finally:  # everyone starts once every handshake is done, whatever its outcome
            attempted += 1
            if attempted == count:
                seconds = time.perf_counter() - first_handshake
                _say(f"  all {count:,} handshakes done after {seconds:.1f} s")
                everyone_connected.set()
        async with socket:
            point = ChargePoint(charger, socket, response_timeout=120)
            task = asyncio.create_task(point.start())
            await everyone_connected.wait()
            try:
                await point.call(
                    call.BootNotification(charge_point_model="B", charge_point_vendor="V")
                )
                began = time.perf_counter()
                await point.call(call.Heartbeat())
                heartbeats.append(time.perf_counter() - began)
                started = await point.call(
                    call.StartTransaction(
                        connector_id=1, id_tag="BENCH", meter_start=0, timestamp=f"{DAY}T10:00:00Z"
                    )
                )
                await point.call(
                    call.MeterValues(
                        connector_id=1,
                        transaction_id=started.transaction_id,
                        meter_value=[
                            {
                                "timestamp": f"{DAY}T10:30:00Z",
                                "sampledValue": [{"value": str(_meter_stop(index) // 2)}],
                            }
                        ],
                    )
                )
                began = time.perf_counter()
                stopped = await point.call(
                    call.StopTransaction(
                        meter_stop=_meter_stop(index),
                        timestamp=f"{DAY}T11:00:00Z",
                        transaction_id=started.transaction_id,
                    )
                )
                stops.append(time.perf_counter() - began)
                if stopped.id_tag_info["status"] != "Accepted":
                    failures.append(f"{charger}: {stopped}")
            except Exception as error:
                failures.append(f"{charger}: {type(error).__name__} {error}")
            finally:
                task.cancel()

    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    failures += [f"connect: {r}" for r in results if isinstance(r, BaseException)]
    return {
        "seconds": time.perf_counter() - first_handshake,
        "heartbeats": heartbeats,
        "stops": stops,
        "failures": failures,
    }


def run_charge_points(url: str, count: int) -> dict[str, Any]:
    """The charge points in a child process, so client and server do not share one GIL."""
    out = subprocess.run(
        [sys.executable, __file__, "--play", url, "--charge-points", str(count)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        env=os.environ,  # the fleet secret travels in the environment, never in argv
    )
    return dict(json.loads(out.stdout))


# --- the system, and what it stored -------------------------------------------------------------


def _totals(api_url: str) -> dict[str, Any]:
    query = f"/totals?from={DAY}&to=2020-01-02"
    with urllib.request.urlopen(api_url + query, timeout=30) as response:
        return dict(json.loads(response.read())["totals"])


def expected_totals(count: int, settings: Settings) -> tuple[Decimal, int]:
    energy = Decimal(0)
    cost = 0
    for index in range(count):
        kwh = Decimal(_meter_stop(index)) / 1000
        energy += kwh
        cost += settings.ocpp_session_fee_cents + int(
            (kwh * settings.ocpp_tariff_cents_per_kwh).quantize(Decimal(1), ROUND_HALF_UP)
        )
    return energy, cost


def cold_imports() -> dict[str, float]:
    """Median import time (ms) of the central system's handler, beside the listener's."""
    names = ("listener.handler", "centralsystem.handler", "centralsystem.authorizer")
    return cold_import_medians({name: name for name in names})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--charge-points", type=int, default=1000)
    parser.add_argument("--play", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.play:
        secret = os.environ["MQTT_FLEET_SECRET"]
        print(json.dumps(asyncio.run(_charge_points(args.play, args.charge_points, secret))))
        return 0
    if not (JARS / "DynamoDBLocal.jar").exists():
        _say(f"DynamoDB Local is not installed in {JARS}: run ./dev setup first")
        return 2
    count = args.charge_points
    with tempfile.TemporaryDirectory(prefix="bench-ocpp-") as work:
        data_dir = Path(work) / "data"
        data_dir.mkdir()
        (data_dir / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
        runner = RunnerSettings(
            local_data_dir=data_dir,
            template_path=ROOT / "template.yaml",
            api_port=0,
            dynamodb_local_port=0,
            broker="mosquitto",
            database="dynamodb-local",
            publish_on_start=False,
            mqtt_tls_port=0,
            ocpp_port=0,
            ocpp_tls_port=0,
        )
        os.environ["MQTT_PORT"] = str(free_port())
        os.environ["MQTT_CHARGER_IDS"] = ",".join(_charger(i) for i in range(count))
        cached_store.cache_clear()
        _say("starting the system as ./dev up does ...")
        system = start_system(runner, say=lambda _line: None)
        try:
            assert system.api is not None and system.access is not None
            os.environ["MQTT_FLEET_SECRET"] = system.access.fleet_secret
            _say(f"{count:,} charge points: connect, then a transaction each ...")
            played = run_charge_points(system.gateways[0].url, count)
            _say(f"  done in {played['seconds']:.1f} s; waiting until every session is stored ...")
            began = time.monotonic()
            totals: dict[str, Any] = {}
            while time.monotonic() - began < 120:
                totals = _totals(system.api.url)
                if totals.get("sessions", 0) >= count:
                    break
                time.sleep(0.5)
            ocpp = system.invokers["OcppFunction"].environment
            energy, cost = expected_totals(count, Settings.from_env(ocpp))
        finally:
            system.stop()
    cold = cold_imports()
    stops, beats = played["stops"], played["heartbeats"]
    stored_ok = (
        totals.get("sessions") == count
        and Decimal(str(totals.get("energy_kWh"))) == energy
        and totals.get("cost_cents") == cost
    )
    lines = [
        f"OCPP benchmark, {machine()}",
        "",
        "| measurement | charge points | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| Heartbeat round trip (the floor) | {len(beats):,} | "
        f"{percentile(beats, 0.5) * 1000:.0f} | {percentile(beats, 0.99) * 1000:.0f} |",
        f"| **StopTransaction round trip** | {len(stops):,} | "
        f"{percentile(stops, 0.5) * 1000:.0f} | {percentile(stops, 0.99) * 1000:.0f} |",
        "",
        f"all {count:,} connected at once, transactions done in {played['seconds']:.1f} s; "
        f"failures: {len(played['failures'])}"
        + (f" (first: {played['failures'][0]})" if played["failures"] else ""),
        f"stored: {totals.get('sessions')} sessions, {totals.get('energy_kWh')} kWh, "
        f"{totals.get('cost_cents')} cents; expected {count}, {energy} kWh, {cost} cents: "
        + ("exact" if stored_ok else "MISMATCH"),
        "cold import (median of 5, ms): "
        + ", ".join(f"{name} {ms:.0f}" for name, ms in cold.items()),
    ]
    print("\n".join(lines))
    return 0 if stored_ok and not played["failures"] else 1


if __name__ == "__main__":
    sys.exit(main())
