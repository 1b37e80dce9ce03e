"""Records the MQTT traffic of a run to a JSON-lines file, for `replay`.

A separate subscriber (not the rule bridge): QoS 1 on every topic filter the template's rules
select, so the recording holds what the rules saw. One line per message:

    {"time": "2026-11-27T18:43:00.412Z", "topic": "charger/1/...", "qos": 1, "payload": "{...}"}

`payload` is the text when it is UTF-8 JSON, else base64 with `"base64": true`. `time` is the
receipt time on the run's clock (simulated under `up --speed`). Each line is flushed as written,
so a run that is killed keeps all but the line being written.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

log = logging.getLogger("local_runner.observers.recorder")


@dataclass(frozen=True)
class RecordedMessage:
    time: datetime
    topic: str
    qos: int
    payload: bytes
    line: int = 0
    """Where it is in its file (1-based), for error messages."""


class RecordingError(ValueError):
    """A recording line that cannot be read; says which line and why."""


def encode(time: datetime, topic: str, qos: int, payload: bytes) -> str:
    """One recording line (no newline)."""
    record: dict[str, Any] = {
        "time": time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "topic": topic,
        "qos": qos,
    }
    try:
        text = payload.decode("utf-8")
        json.loads(text)
        record["payload"] = text
    except ValueError:  # not UTF-8, or not JSON: kept byte for byte
        record["payload"] = base64.b64encode(payload).decode("ascii")
        record["base64"] = True
    return json.dumps(record, ensure_ascii=False)


def decode(text: str, line: int = 0) -> RecordedMessage:
    """One recording line back into a message; RecordingError says what is wrong with it."""
    try:
        record = json.loads(text)
    except ValueError as error:
        raise RecordingError(f"line {line}: not JSON ({error})") from None
    if not isinstance(record, dict):
        raise RecordingError(f"line {line}: expected a JSON object")
    missing = [name for name in ("time", "topic", "qos", "payload") if name not in record]
    if missing:
        raise RecordingError(f"line {line}: missing {', '.join(missing)}")
    if not isinstance(record["topic"], str) or not record["topic"]:
        raise RecordingError(f"line {line}: topic must be a non-empty string")
    if record["qos"] not in (0, 1):
        raise RecordingError(f"line {line}: qos must be 0 or 1, got {record['qos']!r}")
    if not isinstance(record["payload"], str):
        raise RecordingError(f"line {line}: payload must be a string")
    try:
        moment = datetime.fromisoformat(str(record["time"]))
    except ValueError:
        raise RecordingError(f"line {line}: time {record['time']!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise RecordingError(f"line {line}: time {record['time']!r} has no UTC offset")
    if record.get("base64") is True:
        try:
            payload = base64.b64decode(record["payload"], validate=True)
        except ValueError:
            raise RecordingError(f"line {line}: payload is not valid base64") from None
    else:
        payload = record["payload"].encode("utf-8")
    return RecordedMessage(moment.astimezone(UTC), record["topic"], record["qos"], payload, line)


def read_recording(path: Path) -> list[RecordedMessage]:
    """Every message of a recording, or RecordingError for the first bad line (nothing is
    replayed from a file that cannot be read whole)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecordingError(f"cannot read the recording {path}: {error}") from None
    return [
        decode(line, number)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


class Recorder:
    """Subscribes to `topic_filters` with QoS 1 and appends every message to `path`."""

    def __init__(
        self,
        path: Path,
        topic_filters: list[str],
        *,
        host: str,
        port: int,
        clock: Callable[[], datetime],
        client_id: str = "local-recorder",
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.path = path
        self.topic_filters = sorted(set(topic_filters))
        self.clock = clock
        self.recorded = 0
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._connected = threading.Event()
        try:
            self._file = path.open("a", encoding="utf-8")
        except OSError as error:
            raise RuntimeError(f"cannot record to {path}: {error}") from None
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self._client.suppress_exceptions = True
        self._client.username_pw_set(username or client_id, password)
        if tls is not None:
            self._client.tls_set_context(tls)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def start(self, timeout: float = 15) -> None:
        """Connect and wait until every subscription is granted, so nothing after is missed."""
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(timeout):
            self.shutdown()
            raise RuntimeError(f"recorder: no subscription on the broker at {self._host}")

    def shutdown(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("recorder: broker refused the connection: %s", reason)
            return
        client.subscribe([(topic_filter, 1) for topic_filter in self.topic_filters])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        if all(not code.is_failure for code in codes):
            self._connected.set()
        else:
            log.error("recorder: broker refused a subscription: %s", codes)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        line = encode(self.clock(), message.topic, message.qos, bytes(message.payload))
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()
            self.recorded += 1
