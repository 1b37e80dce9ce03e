"""How long one publisher tick takes when every charger publishes under its own identity.

Starts mosquitto with the emulator's secured configuration (password file and ACL for the whole
fleet, TLS listener) on free ports in a temporary folder, with the rule bridge's persistent
session subscribed and offline (so the broker queues every message, as for a busy bridge), then
times the publisher's handler: the first (cold) tick connects every charger, the next reuse the
pooled connections.

    .venv/bin/python scripts/bench_publisher.py --chargers 5000 --connectors 2 --ticks 3 [--tls]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from local_runner.infra.broker import start_mosquitto
from local_runner.infra.broker_access import broker_access
from local_runner.infra.certificates import ensure_tls_files
from local_runner.system import raise_open_file_limit

ROOT = Path(__file__).resolve().parents[1]

RULE_FILTER = "charger/+/connector/+/session/+"


def park_bridge_session(host: str, port: int, username: str, password: str | None) -> None:
    """Subscribe with a persistent session, then leave: the broker queues what arrives."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, clean_session=False)
    client.username_pw_set(username, password)
    client.connect(host, port)
    client.loop_start()
    client.subscribe(RULE_FILTER, qos=1)[1]
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=5000)
    parser.add_argument("--connectors", type=int, default=2)
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--tls", action="store_true", help="publish over the TLS listener")
    args = parser.parse_args()
    raise_open_file_limit()
    with tempfile.TemporaryDirectory(prefix="bench-publisher-") as folder:
        data_dir = Path(folder)
        access = broker_access(
            data_dir,
            fleet_chargers=args.chargers,
            extra_chargers=(),
            rule_filters={"SessionMessagesRule": RULE_FILTER},
            fleet_secret=None,
            bridge_password=None,
        )
        tls, _ = ensure_tls_files(data_dir / "tls")
        broker = start_mosquitto(data_dir, 0, 0, "127.0.0.1", tls, access)
        try:
            bridge = access.bridge("SessionMessagesRule")
            park_bridge_session(broker.host, broker.port, bridge.username, bridge.password)
            port = broker.tls_port if args.tls else broker.port
            os.environ.update(
                {
                    "PUBLISH_TRANSPORT": "mqtt",
                    "MQTT_HOST": broker.host,
                    "MQTT_PORT": str(port),
                    "MQTT_TLS": "true" if args.tls else "false",
                    "MQTT_CA_FILE": str(tls.ca_cert),
                    "MQTT_FLEET_SECRET": access.fleet_secret,
                    "FLEET_CHARGERS": str(args.chargers),
                    "FLEET_CONNECTORS_PER_CHARGER": str(args.connectors),
                    "PUBLISH_ACK_TIMEOUT_SECONDS": "120",
                }
            )
            from evsessions.registry import MemoryChargerRegistry
            from evsessions.registry_cache import CachedRegistry
            from publisher import handler as publisher

            # The charger registry in memory: the tick's cost is publishing; the registry costs
            # one Query per REGISTRY_CACHE_SECONDS, seeded on the first tick as deployed.
            registry = CachedRegistry(MemoryChargerRegistry(), 3600)
            publisher.cached_registry = lambda settings: registry  # type: ignore[assignment]
            handler = publisher.handler

            start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
            messages = args.chargers * args.connectors
            print(f"{args.chargers} chargers x {args.connectors} connectors = {messages} messages")
            for tick in range(args.ticks):
                moment = start + timedelta(minutes=tick)
                event = {"time": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
                began = time.perf_counter()
                result = handler(event, None)
                seconds = time.perf_counter() - began
                kind = "cold" if tick == 0 else "warm"
                print(f"tick {tick + 1} ({kind}): {seconds:.2f} s, {result}")
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
