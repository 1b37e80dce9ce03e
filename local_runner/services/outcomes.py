"""What became of each message a rule took: a typed record the bridge hands to its subscribers
(the console, the status board, the outcome file, a benchmark's watcher), so nobody reads logs.

Statuses: `delivered` (the function took it and the message was acknowledged; on the queue path
the function does not say whether the store found it new or a duplicate, just as SQS does not
learn it), `stored` / `duplicate` (a direct Lambda action's handler says so), `filtered` (the
rule's WHERE dropped it), `dead-lettered` (with the error's type, and for an invalid session its
field and problem).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from evsessions.errors import InvalidSession

Status = Literal["delivered", "stored", "duplicate", "filtered", "dead-lettered"]
ACKNOWLEDGED: tuple[Status, ...] = ("delivered", "stored", "duplicate")
"""Statuses of a message the function took."""


@dataclass(frozen=True)
class Outcome:
    function: str
    rule: str
    topic: str
    message_id: str
    status: Status
    attempts: int
    seconds: float
    error_type: str | None = None
    field: str | None = None
    problem: str | None = None

    @classmethod
    def dead_lettered(
        cls,
        function: str,
        rule: str,
        topic: str,
        message_id: str,
        attempts: int,
        error: BaseException,
    ) -> Outcome:
        field, problem = (
            (error.field, error.problem)
            if isinstance(error, InvalidSession)
            else (None, str(error))
        )
        return cls(
            function, rule, topic, message_id, "dead-lettered", attempts, 0.0,
            type(error).__name__, field, problem,
        )  # fmt: skip

    @property
    def reason(self) -> str:
        """The error in words, for people."""
        where = f"{self.field}: " if self.field else ""
        return f"{self.error_type}: {where}{self.problem}"

    def line(self) -> str:
        """One message's log line."""
        if self.status == "dead-lettered":
            return f"{self.function} {self.topic}: dead-lettered ({self.reason})"
        return f"{self.function} {self.topic}: {self.status} ({self.seconds * 1000:.0f} ms)"


Subscriber = Callable[[Sequence[Outcome]], None]
"""Takes the outcomes of one invocation (or of one message the rule settled on its own)."""


def console_lines(outcomes: Sequence[Outcome], per_message_up_to: int = 10) -> list[str]:
    """A line per message for small batches; at scale a line per batch, and one per dead letter."""
    if len(outcomes) <= per_message_up_to:
        return [outcome.line() for outcome in outcomes]
    counts = Counter(outcome.status for outcome in outcomes)
    slowest = max(outcome.seconds for outcome in outcomes)
    summary = ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
    return [
        f"{outcomes[0].function} batch of {len(outcomes)}: {summary} ({slowest * 1000:.0f} ms)",
        *(outcome.line() for outcome in outcomes if outcome.status == "dead-lettered"),
    ]


class OutcomeFile:
    """Appends each outcome as a JSON line; readers take complete lines only."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, outcomes: Sequence[Outcome]) -> None:
        text = "".join(json.dumps(asdict(outcome)) + "\n" for outcome in outcomes)
        with self._lock:
            self._file.write(text)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_outcomes(path: Path, start: int = 0) -> tuple[list[Outcome], int]:
    """The complete lines from byte `start` on, and where the next read starts."""
    try:
        with path.open("rb") as file:
            file.seek(start)
            chunk = file.read()
    except FileNotFoundError:
        return [], start
    end = chunk.rfind(b"\n") + 1
    return list(_parse(chunk[:end])), start + end


def _parse(data: bytes) -> Iterator[Outcome]:
    for line in data.splitlines():
        if line.strip():
            yield Outcome(**json.loads(line))
