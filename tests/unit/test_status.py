"""Status at a glance: counts, the snapshot `status` reads, the live line and the progress bar."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

from local_runner.infra.listening import Listener
from local_runner.observers.console import Console
from local_runner.observers.progress import Progress, render
from local_runner.observers.status import (
    Component,
    StatusBoard,
    StatusWriter,
    report,
    snapshot,
    status_path,
    write_atomically,
)
from local_runner.services.outcomes import Outcome, Status


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _write(data_dir: Path, board: StatusBoard, written_at: float | None = None) -> None:
    document = snapshot(
        board,
        [Component("mosquitto", "mqtt://127.0.0.1:1883"), Component("API", "http://h:8000")],
        in_flight=2,
        dead_letters=1,
        reused_session_ids=1,
        open_suspects=3,
        clock_now=datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        speed=60,
    )
    if written_at is not None:
        document["written_at"] = written_at
    write_atomically(status_path(data_dir), document)


def outcome(status: Status) -> Outcome:
    return Outcome(
        "ListenerFunction", "Rule", "charger/1/connector/1/session/1", "m1", status, 1, 0
    )


def test_the_board_counts_published_and_delivered() -> None:
    board = StatusBoard(wall=lambda: 100.0)
    board.tick({"published": 3, "failed": 0})
    board.tick(None)  # a failed tick publishes nothing
    board.outcomes([outcome("delivered"), outcome("delivered"), outcome("filtered")])
    board.outcomes([outcome("duplicate"), outcome("dead-lettered")])
    assert (board.published, board.delivered) == (3, 3)
    assert board.last_message_at == 100.0


def test_status_without_a_snapshot_says_not_running(tmp_path: Path) -> None:
    shown = report(tmp_path)
    assert not shown.running
    assert shown.lines[0].startswith("not running")


def test_status_probes_each_part_and_shows_the_counts(tmp_path: Path) -> None:
    board = StatusBoard(wall=lambda: 1000.0)
    board.tick({"published": 5})
    board.outcomes([outcome("delivered")])
    _write(tmp_path, board)
    # WHEN the broker answers and the API does not
    shown = report(tmp_path, probe=lambda address: address.startswith("mqtt"), now=lambda: 1030.0)
    # THEN the runner (this process) is up, the API down, and the counts are there
    assert shown.running
    assert not shown.all_up
    text = "\n".join(shown.lines)
    assert f"runner     up    pid {os.getpid()}" in text
    assert "mosquitto  up    mqtt://127.0.0.1:1883" in text
    assert "API        DOWN  http://h:8000" in text
    assert "(x60)" in text
    assert (
        "published 5, delivered 1, reused session ids 1, suspect open 3, dead letters 1, "
        "in flight 2"
    ) in text
    assert "last message 30 s ago" in text


def test_a_stale_snapshot_means_the_runner_is_not_running(tmp_path: Path) -> None:
    _write(tmp_path, StatusBoard(), written_at=0.0)
    shown = report(tmp_path, probe=lambda address: True)
    assert not shown.running
    assert shown.lines[0].startswith("runner     DOWN")
    assert "status is" in "\n".join(shown.lines)


def test_the_snapshot_is_plain_json(tmp_path: Path) -> None:
    _write(tmp_path, StatusBoard())
    document = json.loads(status_path(tmp_path).read_text())
    assert document["counts"]["in_flight"] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_on_a_terminal_log_lines_go_above_the_live_line() -> None:
    out = _Terminal()
    console = Console(out)
    console.status("published 1")
    console.say("a log line")
    console.close()
    written = out.getvalue()
    assert written.startswith("\r\033[Kpublished 1\r\033[K")
    assert written.index("a log line\n") < written.rindex("published 1")
    assert written.endswith("\r\033[K")


def test_elsewhere_the_status_is_a_plain_log_line_now_and_then() -> None:
    out = io.StringIO()
    now = [0.0]
    console = Console(out, log_every=10, monotonic=lambda: now[0])
    for second in range(0, 25):
        now[0] = float(second)
        console.status(f"published {second}")
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "status: published 0",
        "status: published 10",
        "status: published 20",
    ]
    assert "\r" not in out.getvalue()


def test_a_progress_bar_shows_share_count_rate_and_eta() -> None:
    assert render("replay", 50, 200, 5.0) == (
        f"replay [{'#' * 8}{'.' * 22}]  25%  50/200  10/s  eta 15 s"
    )
    assert render("replay", 0, 0, 0.0).startswith("replay [" + "#" * 30 + "] 100%")


def test_a_progress_bar_is_drawn_on_a_terminal_only() -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        with Progress(3, "replay", stream=stream, every=0) as bar:
            for _ in range(3):
                bar.advance()
    assert pipe.getvalue() == ""
    assert terminal.getvalue().count("\r\033[K") == 4
    assert "100%  3/3" in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")


def test_status_says_who_can_reach_each_local_part(tmp_path: Path) -> None:
    # GIVEN a database bound to every interface and a broker bound to loopback (IPv4 mapped in
    # IPv6, as Java binds)
    document = snapshot(
        StatusBoard(),
        [
            Component("DynamoDB Local", "http://127.0.0.1:8001"),
            Component("mosquitto", "mqtt://127.0.0.1:1883"),
            Component("external DynamoDB", "https://dynamodb.eu-north-1.amazonaws.com:443"),
        ],
        in_flight=0,
        dead_letters=0,
        clock_now=datetime(2026, 1, 5, 8, 0, tzinfo=UTC),
        speed=1,
    )
    write_atomically(status_path(tmp_path), document)
    sockets = [
        Listener(ip_address("0.0.0.0"), 8001, "1"),
        Listener(ip_address("::ffff:127.0.0.1"), 1883, "2"),
    ]
    # WHEN status is asked
    shown = report(tmp_path, probe=lambda address: True, sockets=lambda: sockets)
    lines = {line.split("  ")[0].strip(): line for line in shown.lines[:4]}
    # THEN the database is said to be open to the network, the broker this machine's only, and
    # nothing is claimed about a remote part
    assert lines["DynamoDB Local"].endswith("REACHABLE FROM THE NETWORK (every interface)")
    assert lines["mosquitto"].endswith("this machine only")
    assert lines["external DynamoDB"].endswith(":443")


def test_the_status_file_is_there_when_the_writer_has_started(tmp_path: Path) -> None:
    # GIVEN a writer that would write only every hour
    path = tmp_path / "status.json"
    writer = StatusWriter(path, lambda: {"counts": {"delivered": 3}}, every=3600)
    # WHEN it has started (`up` says "ready" right after) THEN the first document is there
    writer.start()
    try:
        assert json.loads(path.read_text()) == {"counts": {"delivered": 3}}
    finally:
        writer.shutdown()
    # AND a stopped writer leaves no file, so `status` says "not running"
    assert not path.exists()
