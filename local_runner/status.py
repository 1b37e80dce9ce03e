"""Status at a glance: what the running `up` counts, the snapshot it keeps, and what `status` shows.

The running system counts as it goes (`StatusBoard`) and writes a small JSON snapshot into the
data folder about every second (`StatusWriter`, atomically: a reader never sees half a file). The
`status` command, another process, reads the snapshot and probes every component's address
itself, so a runner that died shows its parts down instead of its last good word.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evsessions.dead_letter_count import count_dead_letters
from evsessions.settings import Settings

STALE_AFTER_SECONDS = 5.0
"""A snapshot older than this means the runner stopped writing it: it is not running."""


def status_path(data_dir: Path) -> Path:
    return data_dir / "status.json"


class StatusBoard:
    """Counters the scheduler and the rule bridges report into; safe from any thread."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self.published = 0
        self.stored = 0
        self.duplicates = 0
        self.reused = 0
        """Of the stored: sessions stored under a session id their charger had already used."""
        self.last_message_at: float | None = None

    def tick(self, result: Any) -> None:
        """A publisher invocation's result: how many messages it published."""
        if isinstance(result, dict) and isinstance(result.get("published"), int):
            with self._lock:
                self.published += result["published"]

    def outcome(self, outcome: str) -> None:
        """A bridge's outcome for one message (stored, duplicate, dead-lettered, ...)."""
        with self._lock:
            self.last_message_at = self._wall()
            if outcome in ("stored", "reused"):
                self.stored += 1
                self.reused += outcome == "reused"
            elif outcome == "duplicate":
                self.duplicates += 1


@dataclass(frozen=True)
class Component:
    name: str
    address: str


def snapshot(
    board: StatusBoard,
    components: list[Component],
    *,
    in_flight: int,
    dead_letters: int | None,
    clock_now: datetime,
    speed: float,
) -> dict[str, Any]:
    """What the running system writes for `status`: plain JSON."""
    return {
        "pid": os.getpid(),
        "written_at": time.time(),
        "clock": clock_now.astimezone(UTC).isoformat(timespec="seconds"),
        "speed": speed,
        "components": [{"name": c.name, "address": c.address} for c in components],
        "counts": {
            "published": board.published,
            "stored": board.stored,
            "duplicates": board.duplicates,
            "reused": board.reused,
            "dead_letters": dead_letters,
            "in_flight": in_flight,
        },
        "last_message_at": board.last_message_at,
    }


def write_atomically(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2))
    os.replace(temporary, path)


class StatusWriter:
    """Writes `make()` to `path` every `every` seconds and hands it to `show` (the live line);
    removes the file when stopped, so `status` then says "not running"."""

    def __init__(
        self,
        path: Path,
        make: Callable[[], dict[str, Any]],
        show: Callable[[dict[str, Any]], None] = lambda document: None,
        every: float = 1.0,
    ) -> None:
        self.path, self.make, self.show, self.every = path, make, show, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                document = self.make()
                write_atomically(self.path, document)
                self.show(document)
            except Exception as error:  # a status hiccup must never stop the system
                self.show({"error": str(error)})
            self._stop.wait(self.every)


def dead_letter_count(dead_letter_file: Path) -> int | None:
    return count_dead_letters(Settings(dead_letter_file=str(dead_letter_file)))


def probe(address: str, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection at the address's host and port."""
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:  # not host:port; nothing to probe
        return False
    if not host or not port:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _process_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Report:
    running: bool
    lines: list[str]
    all_up: bool


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none yet"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago"


def counts_line(document: dict[str, Any], now: float) -> str:
    """One line of counts, for `status`, the live line and the periodic log line."""
    counts = document.get("counts", {})
    last = document.get("last_message_at")
    dead = counts.get("dead_letters")
    return (
        f"published {counts.get('published', 0)}, stored {counts.get('stored', 0)} "
        f"(+{counts.get('duplicates', 0)} duplicates), reused ids {counts.get('reused', 0)}, "
        f"dead letters {'?' if dead is None else dead}, in flight {counts.get('in_flight', 0)}, "
        f"last message {_age(None if last is None else max(0.0, now - float(last)))}"
    )


def report(
    data_dir: Path, probe: Callable[[str], bool] = probe, now: Callable[[], float] = time.time
) -> Report:
    """Read the snapshot, probe each component, and say what is up."""
    path = status_path(data_dir)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return Report(False, [f"not running (no status in {path})"], False)
    except (OSError, ValueError) as error:
        return Report(False, [f"not running (unreadable status {path}: {error})"], False)
    moment = now()
    fresh = moment - float(document.get("written_at", 0)) < STALE_AFTER_SECONDS
    runner_up = fresh and _process_alive(document.get("pid"))
    rows = [("runner", f"pid {document.get('pid')}", runner_up)]
    rows += [(c["name"], c["address"], probe(c["address"])) for c in document.get("components", [])]
    width = max(len(name) for name, _, _ in rows)
    lines = [
        f"{name:<{width}}  {'up  ' if up else 'DOWN'}  {address}" for name, address, up in rows
    ]
    speed = document.get("speed", 1)
    clock = f"clock {document.get('clock')}" + (f" (x{speed:g})" if speed != 1 else "")
    lines.append(
        clock + ("" if fresh else f"; status is {moment - document['written_at']:.0f} s old")
    )
    lines.append(counts_line(document, moment))
    return Report(runner_up, lines, all(up for _, _, up in rows))
