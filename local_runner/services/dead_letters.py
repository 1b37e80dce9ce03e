"""Dead letters: messages a rule could not deliver, kept with what AWS IoT's error action keeps.

A JSON-lines file in the local data folder, appended and fsynced before the message is
acknowledged, so a dead letter survives a crash and a restart. The running bridge appends while
`dlq replay` (another process) removes what it replayed, so both hold an exclusive file lock.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
    error_field: str | None = None
    """For an invalid session: the field at fault, and the problem with it."""
    error_problem: str | None = None


class DeadLetterStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

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
            error_field=getattr(error, "field", None),
            error_problem=getattr(error, "problem", None),
        )
        with self._locked(), self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(asdict(letter)) + "\n")
            file.flush()
            os.fsync(file.fileno())
        return letter

    def _read(self) -> list[DeadLetter]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as file:
            return [DeadLetter(**json.loads(line)) for line in file if line.strip()]

    def all(self) -> list[DeadLetter]:
        with self._locked():
            return self._read()

    def remove(self, ids: set[str]) -> None:
        """Drop the given letters, rewriting the file atomically (a crash keeps old or new)."""
        with self._locked():
            kept = [letter for letter in self._read() if letter.id not in ids]
            temporary = self.path.with_suffix(".tmp")
            with temporary.open("w", encoding="utf-8") as file:
                file.writelines(json.dumps(asdict(letter)) + "\n" for letter in kept)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)

    def count(self) -> int:
        """How many letters wait, without parsing them."""
        if not self.path.exists():
            return 0
        with self._locked(), self.path.open("rb") as file:
            return sum(1 for line in file if line.strip())


def dead_letter_store(data_dir: Path) -> DeadLetterStore:
    """The one dead-letter file of a local data folder."""
    return DeadLetterStore(data_dir / "dead-letters.jsonl")
