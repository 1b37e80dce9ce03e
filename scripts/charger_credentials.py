"""Print a charger's MQTT identity for the local broker, to connect a client by hand.

    .venv/bin/python scripts/charger_credentials.py CHARGER_ID [--password-only]

The password is derived from the fleet secret (MQTT_FLEET_SECRET, or the one the runner generated
in LOCAL_DATA_DIR/secrets). The broker and the OCPP endpoint know chargers 1..FLEET_CHARGERS and
MQTT_CHARGER_IDS only: for any other id it warns that the password will be refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dotenv import load_dotenv

from evsessions.mqtt.identity import charger_identity, known_charger
from evsessions.settings import Settings
from local_runner.runner_settings import RunnerSettings

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("charger_id")
    parser.add_argument("--password-only", action="store_true", help='for -P "$(...)"')
    args = parser.parse_args(argv)
    load_dotenv(ROOT / ".env")
    settings = Settings.from_env()
    secret = settings.mqtt_fleet_secret
    stored = RunnerSettings.from_env().local_data_dir / "secrets" / "mqtt-fleet-secret"
    if secret is None and not stored.exists():
        print("no fleet secret yet: start the system once (./dev up)", file=sys.stderr)
        return 1
    if not known_charger(args.charger_id, settings.fleet_chargers, settings.mqtt_charger_ids):
        print(
            f"warning: charger {args.charger_id} is not known: add it to MQTT_CHARGER_IDS in .env "
            "and restart ./dev up, or the broker and the OCPP endpoint refuse it",
            file=sys.stderr,
        )
    identity = charger_identity(secret or stored.read_text().strip(), args.charger_id)
    if args.password_only:
        print(identity.password)
    else:
        print(f"client id and username: {identity.username}\npassword: {identity.password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
