"""The local MQTT broker: Debian's mosquitto when installed, else an embedded amqtt broker.

mosquitto's defaults lose data (a 1,000-message queue per client whose excess is dropped while the
publisher still gets its PUBACK; persistence off; a 30-minute autosave), so the emulator writes its
own configuration: persistence on, saved every second, queues sized for long outages.

Either broker refuses anonymous clients and enforces `BrokerAccess` (who may publish or subscribe
where); plain MQTT listens on 127.0.0.1 only, MQTT over TLS 1.2+ on `tls_bind` with the local CA's
server certificate.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_runner.infra.broker_access import BrokerAccess, LiveAccess
from local_runner.infra.certificates import TlsFiles, write_private
from local_runner.infra.processes import ManagedProcess, free_port, port_open

MAX_QUEUED_MESSAGES = 1_000_000
"""Messages mosquitto keeps per offline or slow client (default 1,000; the excess is dropped)."""
MAX_INFLIGHT_MESSAGES = 60_000
"""Unacknowledged messages per client (default 20): room for the bridge's batches in flight,
below MQTT's 16-bit packet ids."""


@dataclass
class Broker:
    kind: str
    host: str
    port: int
    stop: Callable[[], None]
    process: ManagedProcess | None = None
    tls_port: int | None = None
    ca_file: Path | None = None
    reload: Callable[[BrokerAccess], None] | None = None
    """Gives the running broker new identities (a charger added or retired in the registry)
    without a restart; None for an external broker."""

    @property
    def address(self) -> str:
        tls = f" and mqtts://localhost:{self.tls_port} (TLS)" if self.tls_port else ""
        return f"mqtt://{self.host}:{self.port}{tls}"


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


LISTENER_SETTINGS = (
    "max_qos 1",  # as AWS IoT Core: a QoS 2 publish disconnects the client
    # A client's id is its username: nobody can take over a bridge's or a charger's session (and
    # wipe its queue) by connecting with that client id.
    "use_username_as_clientid true",
)


def mosquitto_config(
    port: int, state_dir: Path, tls_port: int, tls_bind: str, tls: TlsFiles
) -> str:
    # Started as root, mosquitto switches to the `mosquitto` user, which cannot write our state
    # folder: persistence then fails at every autosave, and a restart loses every queue. Stay.
    user = [f"user {getpass.getuser()}"] if os.geteuid() == 0 else []
    return "\n".join(
        [
            *user,
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {state_dir}/passwords",
            f"acl_file {state_dir}/acl",
            "persistence true",
            f"persistence_location {state_dir}/",
            "autosave_interval 1",
            f"max_queued_messages {MAX_QUEUED_MESSAGES}",
            "max_queued_bytes 0",
            f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            # Listener settings follow their `listener` line: one before any would create
            # mosquitto's default listener, on port 1883 of every interface.
            f"listener {port} 127.0.0.1",
            *LISTENER_SETTINGS,
            f"listener {tls_port} {tls_bind}",
            *LISTENER_SETTINGS,
            f"cafile {tls.ca_cert}",
            f"certfile {tls.server_cert}",
            f"keyfile {tls.server_key}",
            "tls_version tlsv1.2",
            "",
        ]
    )


def _free_ports(port: int, tls_port: int) -> tuple[int, int]:
    """The two listeners' ports; a 0 gets a free port that is not the other one."""
    chosen: list[int] = []
    for wanted, name in ((port, "MQTT_PORT"), (tls_port, "MQTT_TLS_PORT")):
        candidate = wanted
        while not candidate or (not wanted and candidate in (port, *chosen)):
            candidate = free_port()
        if port_open("127.0.0.1", candidate) or candidate in chosen:
            raise RuntimeError(
                f"port {candidate} is already in use (a system mosquitto? stop it, or set {name})"
            )
        chosen.append(candidate)
    return chosen[0], chosen[1]


def start_mosquitto(
    data_dir: Path, port: int, tls_port: int, tls_bind: str, tls: TlsFiles, access: BrokerAccess
) -> Broker:
    binary = mosquitto_path()
    if binary is None:
        raise RuntimeError("mosquitto is not installed")
    state_dir = (data_dir / "mosquitto").resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    port, tls_port = _free_ports(port, tls_port)
    write_private(state_dir / "passwords", access.password_file().encode())
    write_private(state_dir / "acl", access.acl_file().encode())
    config = state_dir / "mosquitto.conf"
    config.write_text(mosquitto_config(port, state_dir, tls_port, tls_bind, tls))
    process = ManagedProcess(
        "mosquitto", [binary, "-c", str(config)], data_dir / "logs" / "mosquitto.log"
    )
    process.wait_until(
        lambda: port_open("127.0.0.1", port) and port_open("127.0.0.1", tls_port), timeout=15
    )

    def reload(access: BrokerAccess) -> None:
        """mosquitto re-reads its password and ACL files on SIGHUP (connections stay)."""
        write_private(state_dir / "passwords", access.password_file().encode())
        write_private(state_dir / "acl", access.acl_file().encode())
        process.process.send_signal(signal.SIGHUP)

    return Broker(
        "mosquitto", "127.0.0.1", port, process.stop, process, tls_port, tls.ca_cert, reload
    )


def start_embedded(
    port: int, tls_port: int, tls_bind: str, tls: TlsFiles, access: BrokerAccess
) -> Broker:
    """amqtt in a thread of its own, with `local_runner.infra.embedded_access`'s plugins enforcing
    the same identities and topic permissions as mosquitto's password and ACL files."""
    from amqtt.broker import Broker as AmqttBroker

    port, tls_port = _free_ports(port, tls_port)
    live = LiveAccess(access)
    config: dict[str, Any] = {
        "listeners": {
            "default": {"type": "tcp", "bind": f"127.0.0.1:{port}"},
            "tls": {
                "type": "tcp",
                "bind": f"{tls_bind}:{tls_port}",
                "ssl": True,
                "certfile": str(tls.server_cert),
                "keyfile": str(tls.server_key),
            },
        },
        "plugins": {
            "local_runner.infra.embedded_access.FleetAuthPlugin": {"access": live},
            "local_runner.infra.embedded_access.FleetTopicPlugin": {"access": live},
        },
    }
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    holder: list[Any] = []

    async def main() -> None:
        try:
            broker = AmqttBroker(config, loop=loop)
            await broker.start()
            holder.append(broker)
        except BaseException as error:  # reported to the starting thread below
            failure.append(error)
        finally:
            started.set()

    thread = threading.Thread(target=loop.run_forever, name="amqtt", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(main(), loop)
    started.wait(15)
    if failure or not holder:
        raise RuntimeError(
            f"the embedded broker did not start: {failure[0] if failure else 'timeout'}"
        )

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(holder[0].shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    def reload(access: BrokerAccess) -> None:
        live.current = access

    return Broker("embedded amqtt", "127.0.0.1", port, stop, None, tls_port, tls.ca_cert, reload)
