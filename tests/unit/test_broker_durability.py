"""mosquitto's defaults lose acknowledged messages (persistence off, a 30-minute autosave, a
1,000-message queue dropped silently): the configuration the emulator writes must not."""

from __future__ import annotations

from pathlib import Path

from local_runner.infra.broker import mosquitto_config
from local_runner.infra.certificates import tls_files


def settings(tmp_path: Path) -> dict[str, str]:
    lines = mosquitto_config(1883, tmp_path, 8883, "127.0.0.1", tls_files(tmp_path)).splitlines()
    return dict(line.split(" ", 1) for line in lines if line and not line.startswith("#"))


def test_the_broker_keeps_its_queues_across_a_crash(tmp_path: Path) -> None:
    config = settings(tmp_path)
    assert config["persistence"] == "true"
    assert config["persistence_location"] == f"{tmp_path}/"
    assert int(config["autosave_interval"]) <= 1
    assert "autosave_on_changes" not in config  # interval means seconds, not changes


def test_the_broker_never_drops_a_queue_it_acknowledged(tmp_path: Path) -> None:
    config = settings(tmp_path)
    assert int(config["max_queued_messages"]) >= 1_000_000
    assert config["max_queued_bytes"] == "0"  # no byte limit either
    assert int(config["max_inflight_messages"]) > 20
