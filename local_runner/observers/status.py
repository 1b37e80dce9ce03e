"""Status at a glance: what the running `up` counts, the snapshot it keeps, and what `status` shows.

The running system counts as it goes (`StatusBoard`) and writes a small JSON snapshot into the
data folder about every second (`StatusWriter`, atomically: a reader never sees half a file). The
`status` command, another process, reads the snapshot and probes every component's address
itself, so a runner that died shows its parts down instead of its last good word.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local_runner.infra.listening import Listener, listeners, reach
from local_runner.observers.alarm_board import alarm_lines
from local_runner.services.outcomes import ACKNOWLEDGED, Outcome

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
        self.delivered = 0
        self.last_message_at: float | None = None

    def tick(self, result: Any) -> None:
        """A publisher invocation's result: how many messages it published."""
        if isinstance(result, dict) and isinstance(result.get("published"), int):
            with self._lock:
                self.published += result["published"]

    def outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """A bridge's outcomes: the messages its function took count as delivered."""
        with self._lock:
            self.last_message_at = self._wall()
            self.delivered += sum(outcome.status in ACKNOWLEDGED for outcome in outcomes)


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
    reused_session_ids: int | None = None,
    open_suspects: int | None = None,
    clock_now: datetime,
    speed: float,
    alarms: list[dict[str, Any]] | None = None,
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
            "delivered": board.delivered,
            "reused_session_ids": reused_session_ids,
            "suspect_sessions_open": open_suspects,
            "dead_letters": dead_letters,
            "in_flight": in_flight,
        },
        "last_message_at": board.last_message_at,
        "alarms": alarms or [],
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
        """Write the first document before returning: once `up` says it is ready, `status`
        finds the system running. Then again every `every` seconds."""
        self._write()
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.path.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._write()

    def _write(self) -> None:
        try:
            document = self.make()
            write_atomically(self.path, document)
            self.show(document)
        except Exception as error:  # a status hiccup must never stop the system
            self.show({"error": str(error)})


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
    reused = counts.get("reused_session_ids")
    suspect = counts.get("suspect_sessions_open")
    return (
        f"published {counts.get('published', 0)}, delivered {counts.get('delivered', 0)}, "
        f"reused session ids {'?' if reused is None else reused}, "
        f"suspect open {'?' if suspect is None else suspect}, "
        f"dead letters {'?' if dead is None else dead}, in flight {counts.get('in_flight', 0)}, "
        f"last message {_age(None if last is None else max(0.0, now - float(last)))}"
    )


def _reach(address: str, found: list[Listener] | None) -> str:
    """Who can reach a local part's port, from the kernel's socket table; '' for a remote one."""
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        return ""
    if host is None or port is None:
        return ""
    try:
        local = ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        local = host == "localhost"
    return reach(port, found) if local else ""


def report(
    data_dir: Path,
    probe: Callable[[str], bool] = probe,
    now: Callable[[], float] = time.time,
    sockets: Callable[[], list[Listener] | None] = listeners,
) -> Report:
    """Read the snapshot, probe each component, and say what is up and who can reach it."""
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
    address_width = max(len(address) for _, address, _ in rows)
    found = sockets()
    lines = [
        f"{name:<{width}}  {'up  ' if up else 'DOWN'}  {address:<{address_width}}  "
        f"{_reach(address, found) if up and name != 'runner' else ''}".rstrip()
        for name, address, up in rows
    ]
    speed = document.get("speed", 1)
    clock = f"clock {document.get('clock')}" + (f" (x{speed:g})" if speed != 1 else "")
    lines.append(
        clock + ("" if fresh else f"; status is {moment - document['written_at']:.0f} s old")
    )
    lines.append(counts_line(document, moment))
    lines += alarm_lines(document.get("alarms") or [])
    return Report(runner_up, lines, all(up for _, _, up in rows))
