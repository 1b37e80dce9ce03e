"""Make (or renew) the local CA and the broker's TLS server certificate.

    .venv/bin/python scripts/make_certificates.py [--host NAME ...] [--renew]

The runner does this by itself on first run, into LOCAL_DATA_DIR/tls; run this to add a host name
(say, this machine's name, for chargers on your network) or to rotate the CA (--renew: every client
must then trust the new ca.crt). Keys are written readable by their owner only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dotenv import load_dotenv

from local_runner.infra.certificates import DEFAULT_HOSTS, ensure_tls_files
from local_runner.runner_settings import RunnerSettings

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", action="append", default=[], help="another name or address")
    parser.add_argument("--renew", action="store_true", help="a new CA and server certificate")
    args = parser.parse_args(argv)
    load_dotenv(ROOT / ".env")
    folder = RunnerSettings.from_env().local_data_dir / "tls"
    hosts = tuple(dict.fromkeys((*DEFAULT_HOSTS, *args.host)))
    files, made = ensure_tls_files(folder, hosts, renew=args.renew)
    print(("made" if made else "kept") + f" {files.server_cert} for {', '.join(hosts)}")
    print(f"clients trust: {files.ca_cert}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
