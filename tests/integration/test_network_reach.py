"""What the network can reach of a running `up`: nothing, by default.

DynamoDB Local checks no credentials, so whoever reaches its port owns the sessions; its jar binds
every interface. These tests run `up` as a user does and read the kernel's socket table for every
process it started, then knock on each port from another address of this machine. A control
socket bound to every interface answers on that address, so a refused connection means the port
is closed to it, not that the address is unreachable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from evsessions.settings import Settings
from local_runner.infra import database
from local_runner.infra.database import Database
from local_runner.infra.listening import Listener, listeners_of
from local_runner.infra.processes import free_port
from local_runner.runner_settings import RunnerSettings
from local_runner.system import start_database
from tests.integration.conftest import JARS, ROOT, prepare_data_dir, up_environment

pytestmark = pytest.mark.integration

SPARE_ADDRESS = "198.51.100.77"
"""Added to the loopback interface (as root) on a machine whose only address is loopback."""


@dataclass
class RunningUp:
    process: subprocess.Popen[str]
    output: str
    env: dict[str, str]
    ports: dict[str, int]


def _descendants(pid: int) -> set[int]:
    """The process and every process it started, from /proc's parent links."""
    children: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), set()).add(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, set()) - found)
    return found


def _other_addresses() -> list[str]:
    """This machine's addresses besides loopback: the source address of its routes (a UDP
    connect sends nothing) and its global IPv6 addresses."""
    found = set()
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((target, 9))
            found.add(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            hex_address, scope = line.split()[0], line.split()[3]
            if scope == "00":  # global scope only: link-local needs an interface to reach
                found.add(str(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hex_address))))
    return sorted(a for a in found if not a.startswith("127.") and a != "::1")


@pytest.fixture(scope="module")
def other_addresses() -> Iterator[list[str]]:
    """Addresses of this machine that are not loopback; on a machine with none, one added to
    the loopback interface for this module (root only), since every local address counts."""
    addresses = _other_addresses()
    if addresses:
        yield addresses
        return
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("this machine has no address besides loopback, and adding one needs root")
    subprocess.run(["ip", "addr", "add", f"{SPARE_ADDRESS}/32", "dev", "lo"], check=True)
    try:
        yield [SPARE_ADDRESS]
    finally:
        subprocess.run(["ip", "addr", "del", f"{SPARE_ADDRESS}/32", "dev", "lo"], check=False)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _control_socket() -> Iterator[int]:
    """A socket listening on every interface (IPv4 and IPv6): what an open port looks like."""
    with socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True) as server:
        yield server.getsockname()[1]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUp]:
    """`python -m local_runner up` as a user runs it, with every setting at its default."""
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("reach") / "data")
    env = up_environment(data_dir, free_port())
    for name in ("API_HOST", "DATABASE_BIND", "MQTT_TLS_BIND", "OCPP_TLS_BIND"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local_runner", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "ready. Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "ready. Ctrl-C" in output, output
        ports = {
            "database": int(env["DYNAMODB_LOCAL_PORT"]),
            "broker": int(env["MQTT_PORT"]),
            "broker TLS": int(env["MQTT_TLS_PORT"]),
            "API": int(env["API_PORT"]),
            "OCPP": int(env["OCPP_PORT"]),
            "OCPP TLS": int(env["OCPP_TLS_PORT"]),
        }
        yield RunningUp(process, output, env, ports)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)


def test_every_port_the_running_system_opens_is_bound_to_loopback(up: RunningUp) -> None:
    # GIVEN every listening socket held by `up` and the processes it started (java, mosquitto)
    found = listeners_of(_descendants(up.process.pid))
    # THEN the database, both broker listeners, the API and both OCPP listeners are among them
    assert set(up.ports.values()) <= {listener.port for listener in found}, found
    # AND every one of them is bound to loopback
    assert [listener for listener in found if not listener.loopback_only] == []


def test_no_port_of_the_running_system_answers_from_another_address(
    up: RunningUp, other_addresses: list[str]
) -> None:
    with _control_socket() as control:
        for address in other_addresses:
            # GIVEN another address of this machine, where a port open to the network answers
            assert _answers(address, control), f"the control socket does not answer on {address}"
            # THEN the database, the broker's listeners, the API and OCPP's do not answer there
            answering = [name for name, port in up.ports.items() if _answers(address, port)]
            assert answering == [], f"{answering} answer on {address}"


def test_up_and_status_say_the_parts_are_reachable_from_this_machine_only(up: RunningUp) -> None:
    # GIVEN what `up` said at start
    assert (
        "network: DynamoDB Local, mosquitto, mosquitto (TLS), API, WebSocket API OcppWebSocketApi,"
        " WebSocket API OcppWebSocketApi (TLS) reachable from this machine only" in up.output
    )
    # WHEN status is asked by another process
    shown = subprocess.run(
        [sys.executable, "-m", "local_runner", "status"],
        cwd=ROOT,
        env=up.env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    # THEN it says so for each part
    rows = [line for line in shown.splitlines() if "  up  " in line and "pid" not in line]
    assert len(rows) == 6, shown
    assert all(row.endswith("this machine only") for row in rows), shown


def _start(data_dir: Path, bind: str, said: list[str]) -> Database:
    runner = RunnerSettings(local_data_dir=data_dir, database="dynamodb-local", database_bind=bind)
    return start_database(runner, Settings.from_env(), said.append)


def test_database_bind_opens_the_database_to_the_network_when_asked(
    tmp_path: Path, other_addresses: list[str]
) -> None:
    # GIVEN DATABASE_BIND=0.0.0.0
    said: list[str] = []
    started = _start(prepare_data_dir(tmp_path / "data"), "0.0.0.0", said)
    try:
        assert started.process is not None
        port = int(started.endpoint_url.rsplit(":", 1)[1])
        # THEN DynamoDB Local listens on every interface, and answers on another address
        found = listeners_of([started.process.process.pid])
        assert [str(listener.address) for listener in found] == ["::"]
        assert _answers(other_addresses[0], port)
        assert started.unbound is None and said == ["starting DynamoDB Local (Java) ..."]
    finally:
        started.stop()


def test_a_launcher_that_cannot_bind_falls_back_to_the_jar_and_says_so_plainly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a jar whose server the launcher cannot bind (stood in by a launcher that says so)
    launcher = tmp_path / "BoundDynamoDBLocal.java"
    launcher.write_text(
        "public final class BoundDynamoDBLocal { public static void main(String[] a) {"
        ' System.err.println("cannot bind: no field server"); System.exit(3); } }\n'
    )
    monkeypatch.setattr(database, "LAUNCHER", launcher)
    data_dir = tmp_path / "data"
    jars = data_dir / "dynamodb-local"  # its own folder, so the stand-in is compiled there
    jars.mkdir(parents=True)
    for part in ("DynamoDBLocal.jar", "DynamoDBLocal_lib"):
        (jars / part).symlink_to(JARS / part)
    said: list[str] = []
    # WHEN the database starts
    started = _start(data_dir, "127.0.0.1", said)
    try:
        assert started.process is not None
        # THEN it runs (the jar's own main), says plainly that it listens on every interface
        found: list[Listener] = listeners_of([started.process.process.pid])
        assert [listener.everywhere for listener in found] == [True]
        assert started.unbound is not None and "cannot bind: no field server" in started.unbound
        assert any("LISTENS ON EVERY INTERFACE" in line for line in said), said
    finally:
        started.stop()
