"""The local MQTT broker: Debian's mosquitto when installed, else an embedded amqtt broker.

mosquitto's defaults lose data (a 1,000-message queue per client whose excess is dropped while the
publisher still gets its PUBACK; persistence off; a 30-minute autosave), so the emulator writes its
own configuration: persistence on, saved every second, queues sized for long outages.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_runner.processes import ManagedProcess, free_port, port_open

MAX_QUEUED_MESSAGES = 1_000_000
"""Messages mosquitto keeps per offline or slow client (default 1,000; the excess is dropped)."""


@dataclass
class Broker:
    kind: str
    host: str
    port: int
    stop: Callable[[], None]
    process: ManagedProcess | None = None

    @property
    def address(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


def mosquitto_config(port: int, state_dir: Path) -> str:
    # Started as root, mosquitto switches to the `mosquitto` user, which cannot write our state
    # folder: persistence then fails at every autosave, and a restart loses every queue. Stay.
    user = [f"user {getpass.getuser()}"] if os.geteuid() == 0 else []
    return "\n".join(
        [
            *user,
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {state_dir}/",
            "autosave_interval 1",
            f"max_queued_messages {MAX_QUEUED_MESSAGES}",
            "max_queued_bytes 0",
            "max_inflight_messages 60000",  # the bridge's batches in flight (16-bit ids)
            "max_qos 1",  # as AWS IoT Core: a QoS 2 publish disconnects the client
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "",
        ]
    )


def start_mosquitto(data_dir: Path, port: int) -> Broker:
    binary = mosquitto_path()
    if binary is None:
        raise RuntimeError("mosquitto is not installed")
    state_dir = (data_dir / "mosquitto").resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    if port_open("127.0.0.1", port):
        raise RuntimeError(
            f"port {port} is already in use (a system mosquitto? stop it, or set MQTT_PORT)"
        )
    config = state_dir / "mosquitto.conf"
    config.write_text(mosquitto_config(port, state_dir))
    process = ManagedProcess(
        "mosquitto", [binary, "-c", str(config)], data_dir / "logs" / "mosquitto.log"
    )
    process.wait_until(lambda: port_open("127.0.0.1", port), timeout=15)
    return Broker("mosquitto", "127.0.0.1", port, process.stop, process)


def start_embedded(port: int) -> Broker:
    """amqtt in a thread of its own. It keeps a client's session only when anonymous access is
    off and the client sends a username, so any username is accepted and anonymous ones are not."""
    from amqtt.broker import Broker as AmqttBroker

    port = port or free_port()
    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
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

    return Broker("embedded amqtt", "127.0.0.1", port, stop)
