"""Dead letters: messages a rule could not deliver, kept with what AWS IoT's error action keeps.

A JSON-lines file in the local data folder, appended and fsynced before the message is
acknowledged, so a dead letter survives a crash and a restart.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class DeadLetter:
    id: str
    time: str
    rule_name: str
    topic: str
    client_id: str
    payload_base64: str
    error_type: str
    error_message: str
    attempts: int


class DeadLetterStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def add(
        self,
        *,
        rule_name: str,
        topic: str,
        client_id: str,
        payload: bytes,
        error: BaseException,
        attempts: int,
    ) -> DeadLetter:
        letter = DeadLetter(
            id=uuid.uuid4().hex,
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            rule_name=rule_name,
            topic=topic,
            client_id=client_id,
            payload_base64=base64.b64encode(payload).decode("ascii"),
            error_type=type(error).__name__,
            error_message=str(error)[:2000],
            attempts=attempts,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(asdict(letter)) + "\n")
            file.flush()
            os.fsync(file.fileno())
        return letter

    def all(self) -> list[DeadLetter]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as file:
            return [DeadLetter(**json.loads(line)) for line in file if line.strip()]
