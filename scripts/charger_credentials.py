"""Print a charger's MQTT identity for the local broker, to connect a client by hand.

    .venv/bin/python scripts/charger_credentials.py CHARGER_ID [--password-only]

The password is derived from the fleet secret (MQTT_FLEET_SECRET, or the one the runner generated
in LOCAL_DATA_DIR/secrets). The broker and the OCPP endpoint let in only a charger with an ACTIVE
record in the charger registry (`./dev runner chargers show ID`); for any other the password is
refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dotenv import load_dotenv

from evsessions.mqtt.identity import charger_identity
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
    identity = charger_identity(secret or stored.read_text().strip(), args.charger_id)
    if args.password_only:
        print(identity.password)
    else:
        print(f"client id and username: {identity.username}\npassword: {identity.password}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
