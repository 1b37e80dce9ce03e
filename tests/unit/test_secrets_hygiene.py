"""No password, key or token in the repository; .env.example holds placeholders only; secrets
never show in a settings object's repr (which is what ends up in logs and error messages)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from evsessions.settings import Settings
from local_runner.runner_settings import RunnerSettings

ROOT = Path(__file__).resolve().parents[2]

SECRET_SETTINGS = (
    "MQTT_PASSWORD",
    "MQTT_FLEET_SECRET",
    "MQTT_BRIDGE_PASSWORD",
    "CURSOR_SECRET",
    "API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
)
PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"aws_secret_access_key\W{1,4}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])", re.I
    ),
    "a GitHub or Slack token": re.compile(r"\b(ghp_[A-Za-z0-9]{30,}|xox[baprs]-[A-Za-z0-9-]{10,})"),
}


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [ROOT / name.decode() for name in listed if name]


def test_no_tracked_file_holds_a_key_or_token() -> None:
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [
            (str(path.relative_to(ROOT)), kind) for kind, p in PATTERNS.items() if p.search(text)
        ]
    assert found == []


def test_the_local_secrets_of_this_checkout_are_in_no_tracked_file() -> None:
    # GIVEN whatever secrets a local run generated here (nothing to check on a fresh clone)
    generated = [
        p.read_text().strip()
        for p in [*(ROOT / ".local" / "secrets").glob("*"), ROOT / ".local" / "cursor-secret"]
        if p.is_file()
    ]
    for path in tracked_files():
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not [s for s in generated if s and s in text], path


def test_generated_secrets_and_env_files_are_ignored_by_git() -> None:
    for path in (
        ".env",
        ".local/secrets/mqtt-fleet-secret",
        ".local/tls/ca.key",
        ".local/mosquitto/passwords",
    ):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} is not ignored by git"


def test_env_example_holds_placeholders_only() -> None:
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {name: values[name] for name in SECRET_SETTINGS} == dict.fromkeys(SECRET_SETTINGS, "")


@pytest.mark.parametrize(
    "settings",
    [
        Settings(
            mqtt_password="pw-of-the-broker",
            mqtt_fleet_secret="fleet-secret-value",
            cursor_secret="cursor-secret-value",
            api_key="api-key-value",
        ),
        RunnerSettings(mqtt_bridge_password="bridge-password-value"),
    ],
)
def test_a_settings_repr_shows_no_secret(settings: object) -> None:
    shown = repr(settings)
    assert "value" not in shown and "pw-of" not in shown


def test_every_generated_secret_file_is_created_owner_only_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the one helper that creates secret files, watched at os.open
    import os

    from local_runner.environments import cursor_secret
    from local_runner.infra import certificates
    from local_runner.infra.broker_access import local_secret

    created: dict[str, int] = {}
    real_open = os.open

    def watched_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            created[Path(path).name] = mode
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(certificates.os, "open", watched_open)
    # WHEN the emulator makes its cursor secret, a broker secret and its TLS key
    cursor_secret(tmp_path, None)
    local_secret(tmp_path, "mqtt-fleet-secret", None)
    certificates.ensure_tls_files(tmp_path / "tls")
    # THEN each was created through it, with mode 0600 at creation (never written, then chmodded)
    for name in ("cursor-secret", "mqtt-fleet-secret", "ca.key", "server.key"):
        assert created.get(name) == 0o600, (name, created)
