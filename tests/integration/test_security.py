"""Trying to get in: the secured local system against anonymous clients, chargers reaching for
other chargers' topics, a bridge that tries to publish, a client trusting another CA, API callers
without the key. Then the logs of the whole run are searched for every secret it used.

The module runs its own system (fresh data folder, so its secrets are generated on first run, and
an API key set), because one test connects with the bridge's identity, which takes over the
bridge's connection for a moment.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from evsessions.errors import PublishIncomplete
from evsessions.mqtt.identity import charger_password
from local_runner.infra.certificates import make_ca, make_server_certificate
from local_runner.services.events import scheduled_event
from local_runner.system import LocalSystem
from tests.integration.conftest import (
    prepare_data_dir,
    runner_settings,
    running_system,
    without_ticks_of_its_own,
)
from tests.integration.helpers import charger_client, eventually, publish, settled

pytestmark = pytest.mark.integration

API_KEY = "integration-api-key-" + "x7Qe2Lr9Vb"  # a known value the log scan must not find
MESSAGE = {
    "session_id": 1,
    "energy_delivered_in_kWh": 30,
    "duration_in_seconds": 45,
    "session_cost_in_cents": 70,
}
NOT_AUTHORIZED = 135  # MQTT 5 reason code


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def said() -> list[str]:
    return []


@pytest.fixture(scope="module")
def recorder() -> Iterator[_Recorder]:
    handler = _Recorder()
    handler.setFormatter(logging.Formatter("%(name)s %(message)s %(exc_info)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module")
def secure_system(
    tmp_path_factory: pytest.TempPathFactory, said: list[str], recorder: _Recorder
) -> Iterator[LocalSystem]:
    data_dir = prepare_data_dir(tmp_path_factory.mktemp("secure") / "data")
    secrets = ("MQTT_FLEET_SECRET", "MQTT_BRIDGE_PASSWORD", "CURSOR_SECRET")
    environ = {name: value for name, value in os.environ.items() if name not in secrets}

    def say(line: str) -> None:
        said.append(line)
        print(line)

    with running_system(
        runner_settings(data_dir), say=say, environ={**environ, "API_KEY": API_KEY}
    ) as system:
        yield without_ticks_of_its_own(system)


def _connack(client: mqtt.Client, host: str, port: int) -> str:
    """Connect and return the broker's answer: 'accepted', its refusal, or 'no answer'."""
    answer: list[str] = []
    done = threading.Event()

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        answer.append("accepted" if not reason.is_failure else str(reason))
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_: done.set()
    try:
        client.connect(host, port)
    except (OSError, ssl.SSLError) as error:
        return f"connection failed: {error}"
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return answer[0] if answer else "no answer"


def _api(system: LocalSystem) -> str:
    assert system.api is not None
    return system.api.url


def _get(url: str, key: str | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers={"x-api-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


# -- broker: identities --------------------------------------------------------------------------


def test_secrets_are_generated_on_first_run_readable_by_the_owner_only(
    secure_system: LocalSystem,
) -> None:
    # GIVEN a system started on an empty data folder with no secret in the environment
    data_dir = secure_system.runner.local_data_dir
    # THEN its secrets, keys and broker password file exist and only their owner may read them
    private = [
        data_dir / "secrets" / "mqtt-fleet-secret",
        data_dir / "secrets" / "mqtt-bridge-password",
        data_dir / "tls" / "ca.key",
        data_dir / "tls" / "server.key",
        data_dir / "mosquitto" / "passwords",
        data_dir / "mosquitto" / "acl",
    ]
    for path in private:
        assert path.stat().st_mode & 0o777 == 0o600, path
    # AND the password file holds hashes, never a password
    assert secure_system.access is not None
    passwords = (data_dir / "mosquitto" / "passwords").read_text()
    assert secure_system.access.charger("1").password not in passwords
    assert secure_system.access.bridge_password not in passwords


@pytest.mark.parametrize("listener", ["plain", "tls"])
def test_an_anonymous_client_is_refused(secure_system: LocalSystem, listener: str) -> None:
    # GIVEN a client without username or password, on either listener
    broker = secure_system.broker
    assert broker is not None and broker.tls_port is not None and broker.ca_file is not None
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    port = broker.port
    if listener == "tls":
        client.tls_set(ca_certs=str(broker.ca_file))
        port = broker.tls_port
    # WHEN it connects THEN the broker refuses it
    assert _connack(client, broker.host, port) == "Not authorized"


def test_a_wrong_password_and_an_unknown_charger_are_refused(secure_system: LocalSystem) -> None:
    broker = secure_system.broker
    assert broker is not None
    for username, password in (("1", "not-the-password"), ("9999", "anything")):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.username_pw_set(username, password)
        assert _connack(client, broker.host, broker.port) == "Not authorized"


def test_plain_mqtt_listens_on_loopback_only(secure_system: LocalSystem) -> None:
    # GIVEN the kernel's table of listening TCP sockets
    broker = secure_system.broker
    assert broker is not None
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state == "0A" and int(port, 16) == broker.port:  # 0A: LISTEN
                listening.add(address)
    # THEN the plain port is bound to 127.0.0.1 and nothing else
    assert listening == {"0100007F"}


def _listening(pid: int) -> set[tuple[str, int]]:
    """(hex address, port) of every listening TCP socket the process holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add((address, int(port, 16)))
    return found


def test_the_broker_listens_on_its_two_ports_and_nothing_else(secure_system: LocalSystem) -> None:
    # GIVEN the running mosquitto
    broker = secure_system.broker
    assert broker is not None and broker.process is not None
    # THEN it listens on plain MQTT and TLS, both on 127.0.0.1, and nowhere else (no default
    # listener on 1883 of every interface)
    assert _listening(broker.process.process.pid) == {
        ("0100007F", broker.port),
        ("0100007F", broker.tls_port),
    }


# -- broker: topic permissions -------------------------------------------------------------------


def test_charger_a_cannot_publish_on_charger_b_topics(secure_system: LocalSystem) -> None:
    # GIVEN charger a, with its own identity, speaking MQTT 5 to read the broker's verdict
    broker = secure_system.broker
    assert broker is not None
    client = charger_client(secure_system, "a", protocol=mqtt.MQTTv5)
    verdicts: dict[int, int] = {}
    client.on_publish = lambda _c, _u, mid, reason, _p: verdicts.__setitem__(mid, reason.value)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        # WHEN it publishes under charger b's topic, and under its own
        foreign = client.publish("charger/b/connector/1/session/1", json.dumps(MESSAGE), qos=1)
        own = client.publish("charger/a/connector/1/session/1", json.dumps(MESSAGE), qos=1)
        foreign.wait_for_publish(10)
        own.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    # THEN the broker refuses the foreign one and accepts its own
    assert verdicts[foreign.mid] == NOT_AUTHORIZED
    assert verdicts[own.mid] == 0
    # AND (over MQTT 3.1.1 too, where a refusal is silent) charger b's topic stores nothing,
    # though a's own message published after it is stored: the rule saw them in that order
    publish_as_a = charger_client(secure_system, "a")
    publish_as_a.connect(broker.host, broker.port)
    publish_as_a.loop_start()
    try:
        message = json.dumps({**MESSAGE, "session_id": 2})
        publish_as_a.publish("charger/b/connector/1/session/2", message, qos=1).wait_for_publish(10)
        publish_as_a.publish("charger/a/connector/1/session/2", message, qos=1).wait_for_publish(10)
    finally:
        publish_as_a.disconnect()
        publish_as_a.loop_stop()
    api = _api(secure_system)
    eventually(lambda: _get(f"{api}/sessions/a/1/2", API_KEY)[0] == 200)
    # (batches run side by side: a/1/1 may be stored after a/1/2, though it arrived first; and
    # once the bridge handled all it received, a foreign message let through would be stored)
    eventually(lambda: _get(f"{api}/sessions/a/1/1", API_KEY)[0] == 200)
    settled(secure_system)
    assert _get(f"{api}/sessions/b/1/1", API_KEY)[0] == 404
    assert _get(f"{api}/sessions/b/1/2", API_KEY)[0] == 404


def test_a_charger_receives_nothing_of_other_chargers(secure_system: LocalSystem) -> None:
    # GIVEN charger a subscribed to every charger's topics (mosquitto grants the subscription and
    # checks each delivery against the ACL)
    broker = secure_system.broker
    assert broker is not None
    client = charger_client(secure_system, "a")
    received: list[str] = []
    subscribed = threading.Event()
    client.on_message = lambda _c, _u, message: received.append(message.topic)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_connect = lambda c, *_: c.subscribe("charger/#", qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        # WHEN charger b publishes a session, which the rule stores
        publish(
            secure_system,
            "charger/b/connector/1/session/7",
            json.dumps({**MESSAGE, "session_id": 7}),
        )
        eventually(lambda: _get(f"{_api(secure_system)}/sessions/b/1/7", API_KEY)[0] == 200)
    finally:
        client.disconnect()
        client.loop_stop()
    # THEN charger a never saw it
    assert received == []


def test_tls_with_the_local_ca_carries_a_session(secure_system: LocalSystem) -> None:
    # GIVEN a charger that trusts the local CA, on the TLS listener
    broker = secure_system.broker
    assert broker is not None and broker.tls_port is not None
    client = charger_client(secure_system, "b")
    client.tls_set(ca_certs=str(broker.ca_file))
    client.connect("localhost", broker.tls_port)
    client.loop_start()
    try:
        # the loop thread finishes the TLS handshake; the broker's CONNACK comes after it
        eventually(client.is_connected)
        sock = client.socket()
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        client.publish(
            "charger/b/connector/1/session/3", json.dumps({**MESSAGE, "session_id": 3}), qos=1
        ).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    # THEN its session is stored
    eventually(lambda: _get(f"{_api(secure_system)}/sessions/b/1/3", API_KEY)[0] == 200)


def test_the_publisher_publishes_over_tls_as_each_charger(
    secure_system: LocalSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the publisher told to use the TLS listener (MQTT_TLS=true, the local CA)
    broker = secure_system.broker
    assert broker is not None and broker.tls_port is not None
    environment = secure_system.invokers["PublisherFunction"].environment
    monkeypatch.setitem(environment, "MQTT_TLS", "true")
    monkeypatch.setitem(environment, "MQTT_HOST", "localhost")
    monkeypatch.setitem(environment, "MQTT_PORT", str(broker.tls_port))
    tick = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    # WHEN a tick runs
    result = secure_system.invokers["PublisherFunction"](scheduled_event(tick, "Tick"))
    # THEN charger 1's session was confirmed and is stored
    assert (result["published"], result["failed"]) == (1, 0)
    session = int(tick.timestamp())
    eventually(lambda: _get(f"{_api(secure_system)}/sessions/1/1/{session}", API_KEY)[0] == 200)


def test_a_publisher_with_the_wrong_fleet_secret_is_refused_and_says_so_without_secrets(
    secure_system: LocalSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a publisher whose fleet secret is not the broker's
    wrong = "a-wrong-fleet-secret-of-some-length"
    environment = secure_system.invokers["PublisherFunction"].environment
    monkeypatch.setitem(environment, "MQTT_FLEET_SECRET", wrong)
    # WHEN a tick runs THEN it fails, naming the refusal and no secret
    with pytest.raises(PublishIncomplete) as failure:
        secure_system.invokers["PublisherFunction"](
            scheduled_event(datetime(2026, 3, 1, 12, 1, tzinfo=UTC), "Tick")
        )
    message = str(failure.value)
    assert "Not authorized" in message
    assert wrong not in message
    assert charger_password(wrong, "1") not in message


def test_a_client_trusting_another_ca_fails_the_handshake(
    secure_system: LocalSystem, tmp_path: Path
) -> None:
    # GIVEN a client whose only trusted CA is another one (even with a certificate for localhost)
    broker = secure_system.broker
    assert broker is not None and broker.tls_port is not None
    other_key, other_ca = make_ca("another CA")
    make_server_certificate(other_key, other_ca, ("localhost",))
    from cryptography.hazmat.primitives.serialization import Encoding

    other = tmp_path / "other-ca.crt"
    other.write_bytes(other_ca.public_bytes(Encoding.PEM))
    context = ssl.create_default_context(cafile=str(other))
    # WHEN it connects to the TLS listener THEN the handshake fails on the certificate
    with (
        socket.create_connection(("127.0.0.1", broker.tls_port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="localhost")
    # AND paho, as a charger would use it, cannot connect either
    client = charger_client(secure_system, "a")
    client.tls_set(ca_certs=str(other))
    assert "certificate verify failed" in _connack(client, "localhost", broker.tls_port)


def test_the_bridge_identity_cannot_publish(
    secure_system: LocalSystem,
) -> None:
    # GIVEN the rule bridge's identity (taking over the bridge's connection for a moment; a
    # persistent session, so nothing the bridge was owed is lost)
    broker = secure_system.broker
    assert broker is not None and secure_system.access is not None
    bridge = secure_system.access.bridge("SessionMessagesRule")
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=bridge.client_id,
        clean_session=False,
        protocol=mqtt.MQTTv311,
    )
    client.username_pw_set(bridge.username, bridge.password)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        # WHEN it publishes a valid session
        client.publish(
            "charger/a/connector/1/session/4", json.dumps({**MESSAGE, "session_id": 4}), qos=1
        ).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    # THEN its message is never stored, though charger a's next one is (after the bridge is back)
    publish(
        secure_system, "charger/a/connector/1/session/5", json.dumps({**MESSAGE, "session_id": 5})
    )
    api = _api(secure_system)
    eventually(lambda: _get(f"{api}/sessions/a/1/5", API_KEY)[0] == 200, timeout=30)
    assert _get(f"{api}/sessions/a/1/4", API_KEY)[0] == 404


# -- API -----------------------------------------------------------------------------------------


PUBLIC_ROUTES = {"/", "/assets/{name}"}
"""The dashboard's page and scripts: no data in them (the page asks the API, with the key); the
template declares them with ApiKeyRequired false."""


def _route_urls(system: LocalSystem) -> list[str]:
    """Every route the template declares that holds data, with sample path parameters."""
    urls = []
    for spec in system.template.functions.values():
        for route in spec.routes:
            if route.path in PUBLIC_ROUTES:
                continue
            path = (
                route.path.replace("{charger_id}", "a")
                .replace("{connector_id}", "1")
                .replace("{session_id}", "1")
                .replace("{proxy+}", "no/such/route")
            )
            urls.append(f"{_api(system)}{path}")
    return urls


def test_every_route_refuses_a_caller_without_the_key(secure_system: LocalSystem) -> None:
    urls = _route_urls(secure_system)
    assert len(urls) >= 8
    for url in urls:
        # WHEN a caller sends no key, or a wrong one
        for key in (None, "wrong-key", API_KEY[:-1]):
            status, _headers, body = _get(url, key)
            # THEN it is refused, and told nothing about the data
            assert status in (401, 403), (url, key, status)
            assert json.loads(body)["error"] == "unauthorized"
    # AND with the key the API answers
    assert _get(f"{_api(secure_system)}/health", API_KEY)[0] == 200


def test_no_response_leaks_a_traceback_or_an_internal_name(secure_system: LocalSystem) -> None:
    api = _api(secure_system)
    probes = [
        *_route_urls(secure_system),
        f"{api}/sessions?limit=0",
        f"{api}/sessions?limit=abc&from=yesterday",
        f"{api}/sessions?cursor=eyJmb3JnZWQiOiB0cnVlfQ",
        f"{api}/sessions?connector=1",
        f"{api}/sessions/{'x' * 300}/1/1",
        f"{api}/sessions/a%00/1/1",
        f"{api}/totals?bucket=week",
        f"{api}/chargers?cursor=%ff%fe",
        f"{api}/../../etc/passwd",
    ]
    assert secure_system.database is not None
    internal = [
        "Traceback",
        'File "',
        ".py",
        "botocore",
        "boto3",
        "evsessions",
        "local_runner",
        "arn:aws",
        "SessionsTable",
        "ChargingSessions",
        str(secure_system.runner.local_data_dir),
        secure_system.database.endpoint_url,
        "Python/",
    ]
    for url in probes:
        for key in (None, API_KEY):
            status, headers, body = _get(url, key)
            seen = body + json.dumps(headers)
            leaked = [name for name in internal if name in seen]
            assert not leaked, (url, status, leaked, seen[:300])
            assert status < 500, (url, status, body[:300])


# -- the whole run's logs ------------------------------------------------------------------------


def test_no_secret_appears_in_any_log_of_the_run(
    secure_system: LocalSystem, said: list[str], recorder: _Recorder
) -> None:
    # GIVEN every secret the run used (this module's tests ran first: refusals, retries, TLS)
    access = secure_system.access
    assert access is not None
    data_dir = secure_system.runner.local_data_dir
    publish(secure_system, "charger/a/connector/1/session/6", b"not json: a dead letter")
    dead_letters = data_dir / "dead-letters.jsonl"
    eventually(lambda: dead_letters.exists() and "session/6" in dead_letters.read_text())
    known = {
        "fleet secret": access.fleet_secret,
        "bridge password": access.bridge_password,
        "cursor secret": (data_dir / "cursor-secret").read_text().strip(),
        "API key": API_KEY,
        **{f"charger {c} password": access.charger(c).password or "" for c in ("1", "a", "b")},
        **{
            f"{name} key": "".join((data_dir / "tls" / name).read_text().splitlines()[1:-1])[:64]
            for name in ("ca.key", "server.key")
        },
    }
    assert all(len(value) >= 20 for value in known.values())
    # WHEN the runner's output, every Python log record and every log file are searched
    logs = {
        "runner output": "\n".join(said),
        "python logging": "\n".join(recorder.lines),
        **{str(p): p.read_text(errors="replace") for p in (data_dir / "logs").glob("*")},
        "dead letters": dead_letters.read_text(),
    }
    assert len(said) > 5 and recorder.lines
    # THEN none holds any of them
    found = [
        (secret, where)
        for secret, value in known.items()
        for where, text in logs.items()
        if value in text
    ]
    assert found == []
