"""Fault injection: the pipeline's delivery promise (nothing lost, nothing counted twice), proved
with counts while its parts crash, stop and restart.

Each scenario gets a world of its own: mosquitto and DynamoDB Local on free ports in a temporary
folder, and the runner (`python -m local_runner up`) as a subprocess that uses them as external
parts, so the harness can kill or restart each part on its own. The harness publishes QoS 1
messages in the original challenge's format from its own persistent-session paho client and counts
a message as published only when its PUBACK arrived. It judges from what DynamoDB and the dead
letters hold, never from what the runner says it did: a message is lost when it was published but
neither stored nor dead-lettered; a row is unexpected when it was never published or differs from
what was. The runner's output only tells how many duplicates were absorbed. A negative control runs
a deliberately lossy broker: a harness that cannot see loss would prove nothing.

Every process a scenario starts is stopped when the scenario ends, however it ends.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError
from paho.mqtt.enums import CallbackAPIVersion

from local_runner.broker import Broker, mosquitto_path, start_mosquitto
from local_runner.database import (
    LOCAL_CREDENTIALS,
    Database,
    client,
    create_tables,
    start_dynamodb_local,
)
from local_runner.processes import ManagedProcess, die_with_parent, free_port, port_open
from local_runner.template import load_template

ROOT = Path(__file__).resolve().parents[1]
JARS = ROOT / ".local" / "dynamodb-local"
TABLE = "SessionsTable"
BY_CHARGER_TIME = "ByChargerTime"
MAX_PAYLOAD_BYTES = 128 * 1024
"""AWS IoT's payload limit: one byte more is a poison message."""

POISON_KINDS = ("bad-json", "wrong-types", "negative-values", "non-utf8", "over-128kb")

Say = Callable[[str], None]
_deserialize = TypeDeserializer().deserialize
_OUTCOME = re.compile(
    r"(?P<topic>charger/\S+?): (?P<outcome>stored|duplicate|dead-lettered)\b.*\(\d+ ms\)\s*$"
)


class FaultSetupError(RuntimeError):
    """The harness could not build a scenario's world (a part did not start)."""


def _quiet(_line: str) -> None:
    pass


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What a good message must become: one row with exactly these values."""

    session_id: int
    energy: Decimal
    duration: int
    cost: int


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    expected: Expected | None = None
    """None for a poison message: it must be dead-lettered, never stored."""
    kind: str = "good"


def session_topic(charger: str, session: int | str, connector: str = "1") -> str:
    return f"charger/{charger}/connector/{connector}/session/{session}"


def good_messages(charger: str, count: int, rng: random.Random, first: int = 1) -> list[Message]:
    """Messages in the original challenge's format: exactly its four fields, nothing else."""
    messages = []
    for number in range(first, first + count):
        energy = rng.randint(100, 80_000) / 1000
        duration = rng.randint(60, 12 * 3600)
        cost = rng.randint(50, 5_000)
        body = {
            "session_id": number,
            "energy_delivered_in_kWh": energy,
            "duration_in_seconds": duration,
            "session_cost_in_cents": cost,
        }
        messages.append(
            Message(
                session_topic(charger, number),
                json.dumps(body).encode(),
                Expected(number, Decimal(str(energy)), duration, cost),
            )
        )
    return messages


def poison_message(charger: str, number: int, kind: str) -> Message:
    """One message that must be dead-lettered for exactly one reason (`kind`)."""
    session = f"p{number}"
    valid = {
        "session_id": session,
        "energy_delivered_in_kWh": 10.5,
        "duration_in_seconds": 600,
        "session_cost_in_cents": 400,
    }
    if kind == "bad-json":
        payload = json.dumps(valid).encode()[:-20]
    elif kind == "wrong-types":
        wrong = {**valid, "energy_delivered_in_kWh": "ten", "duration_in_seconds": [1]}
        payload = json.dumps(wrong).encode()
    elif kind == "negative-values":
        payload = json.dumps({**valid, "energy_delivered_in_kWh": -10.5}).encode()
    elif kind == "non-utf8":
        payload = json.dumps(valid).encode("utf-16")  # a charger with the wrong encoding
    elif kind == "over-128kb":
        body = json.dumps(valid).encode()  # valid JSON: the size is its only fault
        payload = body + b" " * (MAX_PAYLOAD_BYTES + 1 - len(body))
    else:
        raise ValueError(f"unknown poison kind {kind!r}; known: {', '.join(POISON_KINDS)}")
    return Message(session_topic(charger, session), payload, None, kind)


def poison_messages(charger: str, count: int) -> list[Message]:
    return [poison_message(charger, n, POISON_KINDS[n % len(POISON_KINDS)]) for n in range(count)]


def interleave(
    good: Sequence[Message], bad: Iterable[Message], rng: random.Random
) -> list[Message]:
    """`bad` scattered among `good`, never last, so a good message after the last poison one shows
    the bridge survived it."""
    mixed = list(good)
    for message in bad:
        mixed.insert(rng.randrange(0, max(len(mixed), 1)), message)
    return mixed


# --- judging ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcomes:
    """What the runner said it did with a scenario's messages, across all its lifetimes."""

    stored: tuple[str, ...] = ()
    duplicates: int = 0
    dead_lettered: int = 0
    handled_topics: frozenset[str] = frozenset()
    """Every identity the runner reported an outcome for."""

    @property
    def handled(self) -> int:
        return len(self.stored) + self.duplicates + self.dead_lettered

    def __add__(self, other: Outcomes) -> Outcomes:
        return Outcomes(
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            self.dead_lettered + other.dead_lettered,
            self.handled_topics | other.handled_topics,
        )


def parse_outcomes(text: str, charger: str) -> Outcomes:
    """Outcome lines (`HH:MM:SS ListenerFunction charger/x/...: stored (12 ms)`) of one charger."""
    prefix = f"charger/{charger}/"
    stored: list[str] = []
    topics: set[str] = set()
    duplicates = dead = 0
    for line in text.splitlines():
        match = _OUTCOME.search(line)
        if not match or not match["topic"].startswith(prefix):
            continue
        topics.add(match["topic"])
        if match["outcome"] == "stored":
            stored.append(match["topic"])
        elif match["outcome"] == "duplicate":
            duplicates += 1
        else:
            dead += 1
    return Outcomes(tuple(stored), duplicates, dead, frozenset(topics))


def row_topic(row: dict[str, Any]) -> str:
    """A stored row's identity as the topic it came from (sk: `SESSION#{connector}#{session}`)."""
    _, connector, session = str(row["sk"]).split("#", 2)
    return session_topic(str(row["charger_id"]), session, connector)


def _row_matches(row: dict[str, Any], expected: Expected) -> bool:
    try:
        return (
            Decimal(row["session_id"]) == expected.session_id
            and Decimal(row["energy_delivered_in_kWh"]) == expected.energy
            and Decimal(row["duration_in_seconds"]) == expected.duration
            and Decimal(row["session_cost_in_cents"]) == expected.cost
        )
    except (KeyError, ArithmeticError, TypeError, ValueError):
        return False


@dataclass
class FaultResult:
    """One scenario's counts. `published` counts PUBACKed messages only."""

    scenario: str
    published: int
    stored: int
    dead_lettered: int
    lost: int
    unexpected: int
    duplicates_absorbed: int
    seconds: float = 0.0
    unconfirmed: int = 0
    """Sent but never PUBACKed: not promised to anyone, so never counted as lost."""
    problems: list[str] = field(default_factory=list)
    """Violations the counts alone do not show (totals, reasons, a dead runner, a late fault)."""
    details: dict[str, int] = field(default_factory=dict)
    lost_sample: list[str] = field(default_factory=list)
    unexpected_sample: list[str] = field(default_factory=list)
    log_excerpt: list[str] = field(default_factory=list)

    @property
    def lossless(self) -> bool:
        return self.lost == 0 and self.unexpected == 0 and not self.problems

    def summary(self) -> str:
        """Everything a failing assertion should show."""
        return json.dumps(
            {k: v for k, v in self.__dict__.items() if v or k in ("lost", "unexpected")},
            indent=1,
            default=str,
        )


def judge(
    scenario: str,
    messages: Sequence[Message],
    confirmed: set[str],
    rows: dict[str, dict[str, Any]],
    letters: Sequence[dict[str, Any]],
    outcomes: Outcomes,
) -> FaultResult:
    """Count from the stores: lost, unexpected, and whether the totals add up."""
    sent = {m.topic: m for m in messages}
    stored = set(rows)
    dead = {str(letter.get("topic")) for letter in letters}
    lost = sorted(confirmed - stored - dead)
    unexpected = sorted(
        topic
        for topic, row in rows.items()
        if (m := sent.get(topic)) is None or m.expected is None or not _row_matches(row, m.expected)
    )
    unexpected += sorted(dead - set(sent))
    problems = []
    row_energy = sum(
        (Decimal(r.get("energy_delivered_in_kWh", 0)) for r in rows.values()), Decimal()
    )
    row_cost = sum((Decimal(r.get("session_cost_in_cents", 0)) for r in rows.values()), Decimal())
    expected = [m.expected for t in stored if (m := sent.get(t)) and m.expected]
    sent_energy = sum((e.energy for e in expected), Decimal())
    sent_cost = sum((Decimal(e.cost) for e in expected), Decimal())
    if (row_energy, row_cost) != (sent_energy, sent_cost):
        problems.append(
            f"totals differ: stored {row_energy} kWh / {row_cost} cents, published for the stored "
            f"identities {sent_energy} kWh / {sent_cost} cents"
        )
    unexplained = [x for x in letters if not x.get("error_type") or not x.get("error_message")]
    if unexplained:
        problems.append(f"{len(unexplained)} dead letters without a reason")
    good_dead = sorted(t for t in dead if (m := sent.get(t)) and m.expected)
    return FaultResult(
        scenario=scenario,
        published=len(confirmed),
        stored=len(stored),
        dead_lettered=len(dead),
        lost=len(lost),
        unexpected=len(unexpected),
        duplicates_absorbed=outcomes.duplicates,
        unconfirmed=len(set(sent) - confirmed),
        problems=problems,
        details={
            "sent": len(sent),
            "dead_letter_records": len(letters),
            "good_dead_lettered": len(good_dead),
            "poison_sent": sum(1 for m in messages if m.expected is None),
        },
        lost_sample=lost[:10],
        unexpected_sample=unexpected[:10],
    )


def markdown_table(results: Iterable[FaultResult]) -> str:
    lines = [
        "| scenario | published | stored | dead-lettered | lost | duplicates absorbed | seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.published:,} | {r.stored:,} | {r.dead_lettered:,} | {r.lost:,} "
            f"| {r.duplicates_absorbed:,} | {r.seconds:.0f} |"
        )
    return "\n".join(lines)


# --- the charger side -------------------------------------------------------------------------


class Publisher:
    """The chargers: QoS 1 with a persistent session (clean_session=False, a fixed client id), so
    paho re-sends what the broker did not acknowledge after a reconnect. A message counts as
    published only when its PUBACK arrived, as a charger only then may forget it."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._host, self._port = host, port
        self._clock, self._sleep = clock, sleep
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self._client.username_pw_set(client_id)
        self._client.max_inflight_messages_set(50)
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pending: dict[int, Message] = {}  # mid -> message awaiting its PUBACK
        self._early: set[int] = set()  # PUBACKs that beat publish() returning its mid
        self._sent: list[Message] = []
        self._confirmed: set[str] = set()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def __enter__(self) -> Publisher:
        self._client.connect(self._host, self._port, keepalive=10)
        self._client.loop_start()
        if not self._connected.wait(15):
            self.close()
            raise FaultSetupError(f"publisher: no connection to {self._host}:{self._port}")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            self._connected.set()

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        # Runs under paho's message lock: take only our own short lock here.
        with self._lock:
            message = self._pending.pop(mid, None)
            if message is None:
                self._early.add(mid)
            else:
                self._confirmed.add(message.topic)

    def send(self, messages: Sequence[Message], rate: float | None = None) -> None:
        """Publish in the background, `rate` messages a second (None: as fast as paho can)."""
        self._thread = threading.Thread(
            target=self._send, args=(list(messages), rate), name="fault-publisher", daemon=True
        )
        self._thread.start()

    def _send(self, messages: list[Message], rate: float | None) -> None:
        started = self._clock()
        for index, message in enumerate(messages):
            if self._stop.is_set():
                return
            if rate:
                ahead = started + index / rate - self._clock()
                if ahead > 0:
                    self._sleep(ahead)
            # While disconnected paho keeps a QoS 1 message and sends it after the reconnect.
            info = self._client.publish(message.topic, message.payload, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self.errors.append(f"{message.topic}: {mqtt.error_string(info.rc)}")
                continue
            with self._lock:
                self._sent.append(message)
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self._confirmed.add(message.topic)
                else:
                    self._pending[info.mid] = message

    @property
    def sent(self) -> int:
        with self._lock:
            return len(self._sent)

    def confirmed(self) -> set[str]:
        with self._lock:
            return set(self._confirmed)

    def finish(self, timeout: float, ack_timeout: float = 60) -> bool:
        """Wait until everything was sent (`timeout`) and then acknowledged (`ack_timeout`);
        False if time ran out first."""
        deadline = self._clock() + timeout
        if self._thread is not None:
            while self._thread.is_alive() and self._clock() < deadline:
                self._thread.join(0.5)
        deadline = min(deadline, self._clock() + ack_timeout)
        while self._clock() < deadline:
            with self._lock:
                if not self._pending and (self._thread is None or not self._thread.is_alive()):
                    return True
            self._sleep(0.2)
        return False


def publish_one(host: str, port: int, topic: str, payload: bytes, timeout: float = 15) -> None:
    """One QoS 1 message from a throw-away client, PUBACK awaited (probes, not measured)."""
    probe = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    probe.username_pw_set("fault-probe")
    probe.connect(host, port)
    probe.loop_start()
    try:
        probe.publish(topic, payload, qos=1).wait_for_publish(timeout)
    finally:
        probe.disconnect()
        probe.loop_stop()


# --- one scenario's world ---------------------------------------------------------------------


def _env_region() -> str:
    return os.environ.get("AWS_REGION") or "eu-north-1"


@dataclass(frozen=True)
class Options:
    """Knobs shared by every scenario; sizes are given per call."""

    seed: int = 3
    rate: float | None = 150.0
    """Publisher messages a second; None: as fast as the broker takes them."""
    kills: int = 3
    outage_seconds: float = 30.0
    broker_down_seconds: float = 4.0
    """A restart takes a moment: long enough for the clients' reconnect backoffs to diverge, so
    chargers may publish again before the bridge is back (its session must hold their messages)."""
    poison: int = 50
    lossy_queue: int = 10
    quiet_seconds: float = 20.0
    """No movement this long while short of the published count means: settled (more than the
    bridge's 10 s backoff cap, so a bridge waiting to retry is not mistaken for a finished one)."""
    timeout_seconds: float = 600.0
    """Upper bound of any one wait."""
    work_dir: Path | None = None
    keep: bool = False
    python: str = sys.executable
    region: str = field(default_factory=_env_region)
    say: Say = _quiet
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


LOSSY_MOSQUITTO = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages {queue}
log_dest stdout
log_type error
log_type warning
"""


class Lab:
    """One scenario's private world, and the knobs to break it: mosquitto, DynamoDB Local and the
    runner, each startable, stoppable and killable on its own. Leaving the `with` block stops all
    of them, whatever happened inside."""

    def __init__(self, scenario: str, options: Options, *, lossy_broker: bool = False) -> None:
        self.scenario = scenario
        self.charger = scenario
        self.options = options
        self.rng = random.Random(f"{options.seed}:{scenario}")
        self.lossy_broker = lossy_broker
        self.say = options.say
        self.clock, self.sleep = options.clock, options.sleep
        self.dir = Path()
        self.data_dir = Path()
        self.db_port = self.mqtt_port = 0
        self.database: Database | None = None
        self.broker: Broker | None = None
        self.runner: subprocess.Popen[bytes] | None = None
        self.runner_logs: list[Path] = []
        self._outcomes = Outcomes()
        self._read_up_to: dict[Path, int] = {}
        self.started = self.clock()
        self._db_client: Any = None
        self._probes = 0

    # context ------------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.started = self.clock()
        self.dir = Path(
            tempfile.mkdtemp(prefix=f"faults-{self.scenario}-", dir=self.options.work_dir)
        )
        # mosquitto started as root runs as user `mosquitto`: let it reach its state folder, so
        # a failure to persist is the broker configuration's, never this folder's (mkdtemp: 0700)
        self.dir.chmod(0o755)
        try:
            if not (JARS / "DynamoDBLocal.jar").exists():
                raise FaultSetupError(f"DynamoDB Local is not installed in {JARS}: ./dev setup")
            if mosquitto_path() is None:
                raise FaultSetupError("mosquitto is not installed: ./dev setup")
            self.data_dir = self.dir / "data"
            self.data_dir.mkdir()
            (self.data_dir / "dynamodb-local").symlink_to(JARS, target_is_directory=True)
            self.db_port, self.mqtt_port = free_port(), free_port()
            self.start_database()
            tables = list(load_template(ROOT / "template.yaml").tables.values())
            create_tables(self.endpoint, self.options.region, tables)
            self.start_broker()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process this lab started; never raises, so each gets its turn."""
        for name, stop in (
            ("runner", self.kill_runner),
            ("broker", self.stop_broker),
            ("database", self.stop_database),
        ):
            try:
                stop()
            except Exception as error:
                self.say(f"{self.scenario}: stopping the {name} failed: {error}")
        if not self.options.keep and self.dir != Path():
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.db_port}"

    def elapsed(self) -> float:
        return self.clock() - self.started

    def note(self, line: str) -> None:
        self.say(f"{self.elapsed():6.1f}s {self.scenario}: {line}")

    # DynamoDB Local -------------------------------------------------------------------------

    def start_database(self) -> None:
        """On the lab's port and data folder, so a restart finds the same data."""
        self.database = start_dynamodb_local(self.data_dir, self.db_port, self.options.region)
        self._db_client = None

    def stop_database(self) -> None:
        """SIGTERM (a graceful stop)."""
        if self.database is not None:
            self.database.stop()
            self.database = None

    def kill_database(self) -> None:
        """SIGKILL, as a crash would."""
        if self.database is not None and self.database.process is not None:
            self.database.process.kill()
        self.stop_database()

    def _dynamodb(self) -> Any:
        if self._db_client is None:
            self._db_client = client(self.endpoint, self.options.region)
        return self._db_client

    def _query(self, **arguments: Any) -> Iterable[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"CHARGER#{self.charger}"}},
            **arguments,
        }
        while True:
            page = self._dynamodb().query(**request)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def rows(self) -> dict[str, dict[str, Any]]:
        """The scenario charger's stored sessions by identity (a consistent, paginated Query)."""
        rows: dict[str, dict[str, Any]] = {}
        for page in self._query(ConsistentRead=True):
            for raw in page["Items"]:
                row = {name: _deserialize(value) for name, value in raw.items()}
                rows[row_topic(row)] = row
        return rows

    def row_count(self, index: str | None = None) -> int:
        extra: dict[str, Any] = {"IndexName": index} if index else {"ConsistentRead": True}
        return sum(int(p["Count"]) for p in self._query(Select="COUNT", **extra))

    # mosquitto ------------------------------------------------------------------------------

    def start_broker(self) -> None:
        """The project's no-loss configuration, or the lossy one of the negative control."""
        if not self.lossy_broker:
            self.broker = start_mosquitto(self.data_dir, self.mqtt_port)
            return
        binary = mosquitto_path()
        assert binary is not None
        config = self.data_dir / "mosquitto-lossy.conf"
        config.write_text(
            LOSSY_MOSQUITTO.format(port=self.mqtt_port, queue=self.options.lossy_queue)
        )
        process = ManagedProcess(
            "mosquitto (lossy)",
            [binary, "-c", str(config)],
            self.data_dir / "logs" / "mosquitto-lossy.log",
        )
        process.wait_until(lambda: port_open("127.0.0.1", self.mqtt_port), timeout=15)
        self.broker = Broker(
            "mosquitto (lossy)", "127.0.0.1", self.mqtt_port, process.stop, process
        )

    def stop_broker(self) -> None:
        """SIGTERM: mosquitto saves its persistence file and exits."""
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def publisher(self) -> Publisher:
        return Publisher(
            "127.0.0.1",
            self.mqtt_port,
            f"faults-{self.scenario}-chargers",
            clock=self.clock,
            sleep=self.sleep,
        )

    # the runner -----------------------------------------------------------------------------

    def _runner_env(self) -> dict[str, str]:
        return {
            **os.environ,
            **LOCAL_CREDENTIALS,
            "PYTHONUNBUFFERED": "1",
            "AWS_REGION": self.options.region,
            "BROKER": "external",
            "MQTT_HOST": "127.0.0.1",
            "MQTT_PORT": str(self.mqtt_port),
            "MQTT_USERNAME": "",
            "MQTT_PASSWORD": "",
            "DATABASE": "external",
            "DYNAMODB_ENDPOINT_URL": self.endpoint,
            "SESSIONS_TABLE": TABLE,
            "LOCAL_DATA_DIR": str(self.data_dir),
            "TEMPLATE_PATH": str(ROOT / "template.yaml"),
            "API_HOST": "127.0.0.1",
            "API_PORT": str(free_port()),
            "PUBLISH_ON_START": "false",
            "FLEET_CHARGERS": "1",
        }

    def start_runner(self, *, probe: bool = False, timeout: float = 60) -> None:
        """`python -m local_runner up` with this lab's broker and database as external parts.

        `probe`: also wait until a message published now is handled, which proves the bridge's
        subscription exists (needed once: later lifetimes inherit the broker-side session)."""
        log_path = self.dir / f"runner-{len(self.runner_logs) + 1}.log"
        self.runner_logs.append(log_path)
        with log_path.open("wb") as log:
            self.runner = subprocess.Popen(
                [self.options.python, "-m", "local_runner", "up"],
                cwd=ROOT,
                env=self._runner_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the harness does not reach it
                preexec_fn=die_with_parent,
            )
        if not self.wait(lambda: "subscribed to" in self._read(log_path), timeout, self._runner_up):
            raise FaultSetupError(f"the runner did not subscribe: {self._tail(log_path)}")
        if probe:
            self._probes += 1
            topic = session_topic(f"{self.charger}-probe", self._probes)
            payload = json.dumps(
                {
                    "session_id": self._probes,
                    "energy_delivered_in_kWh": 1,
                    "duration_in_seconds": 1,
                    "session_cost_in_cents": 1,
                }
            ).encode()
            handled = f"{topic}: "
            deadline = self.clock() + timeout
            while self.clock() < deadline:  # re-publish: the first may beat the subscription
                publish_one("127.0.0.1", self.mqtt_port, topic, payload)
                if self.wait(lambda: handled in self._read(log_path), 2, self._runner_up):
                    return
            raise FaultSetupError(f"the runner never handled a probe: {self._tail(log_path)}")

    def _runner_up(self) -> bool:
        return self.runner is not None and self.runner.poll() is None

    def kill_runner(self) -> None:
        """SIGKILL, as a crash would."""
        if self.runner is not None and self.runner.poll() is None:
            self.runner.kill()
            self.runner.wait(30)

    def stop_runner(self, grace: float = 30) -> int | None:
        """SIGTERM (the runner's Ctrl-C path), then SIGKILL after `grace`; the exit code."""
        if self.runner is None or self.runner.poll() is not None:
            return None if self.runner is None else self.runner.returncode
        self.runner.terminate()
        try:
            return self.runner.wait(grace)
        except subprocess.TimeoutExpired:
            self.runner.kill()
            self.runner.wait(30)
            return None

    def runner_output(self) -> str:
        return "\n".join(self._read(path) for path in self.runner_logs)

    def outcomes(self) -> Outcomes:
        """Parsed incrementally (complete lines only): polling stays cheap at 20,000 lines."""
        for path in self.runner_logs:
            start = self._read_up_to.get(path, 0)
            try:
                with path.open("rb") as log:
                    log.seek(start)
                    chunk = log.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n") + 1
            self._read_up_to[path] = start + end
            text = chunk[:end].decode(errors="replace")
            self._outcomes = self._outcomes + parse_outcomes(text, self.charger)
        return self._outcomes

    @staticmethod
    def _read(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    def _tail(self, path: Path, lines: int = 15) -> str:
        return " | ".join(self._read(path).strip().splitlines()[-lines:]) or "(no output)"

    # waiting --------------------------------------------------------------------------------

    def wait(
        self,
        condition: Callable[[], bool],
        timeout: float,
        still: Callable[[], bool] = lambda: True,
        interval: float = 0.1,
    ) -> bool:
        """Poll until `condition` holds (True), time runs out or `still` stops holding (False)."""
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            if condition():
                return True
            if not still():
                return condition()
            self.sleep(interval)
        return condition()

    def wait_for_stored(self, count: int, problems: list[str], what: str) -> None:
        """Until the runner says it stored `count` messages. A stall (nothing stored for three
        quiet periods) or a timeout is noted, not raised: the scenario still ends in counts."""
        progress = [-1, self.clock()]

        def moving() -> bool:
            stored = len(self.outcomes().stored)
            if stored != progress[0]:
                progress[:] = [stored, self.clock()]
            return self.clock() - progress[1] < 3 * self.options.quiet_seconds

        reached = self.wait(
            lambda: len(self.outcomes().stored) >= count,
            self.options.timeout_seconds,
            moving,
            interval=0.25,
        )
        if not reached:
            problems.append(
                f"{what}: the runner stalled at {len(self.outcomes().stored)} stored, "
                f"short of {count}; the fault came late"
            )

    def dead_letters(self) -> list[dict[str, Any]]:
        """The scenario charger's dead letters (a half-written line of a crash is skipped)."""
        path = self.data_dir / "dead-letters.jsonl"
        letters = []
        for line in self._read(path).splitlines():
            try:
                letter = json.loads(line)
            except json.JSONDecodeError:
                continue
            if str(letter.get("topic", "")).startswith(f"charger/{self.charger}/"):
                letters.append(letter)
        return letters

    def _accounted_for(self, published: int) -> bool:
        """Rows + dead-lettered identities cover the published count (asks DynamoDB)."""
        try:
            rows = self.row_count()
        except (BotoCoreError, ClientError):
            return False
        return rows + len({x["topic"] for x in self.dead_letters()}) >= published

    def settle(self, published: int) -> None:
        """Until stored + dead-lettered stops moving. Movement is read from the runner's output
        and the dead letters (cheap); DynamoDB is asked only once the runner has gone quiet with
        every published identity handled (only duplicates can follow). While short of that, it
        waits `quiet_seconds` of silence, longer than the bridge's retry backoff."""
        last: tuple[int, int] | None = None
        changed = self.clock()
        deadline = changed + self.options.timeout_seconds
        while self.clock() < deadline:
            outcomes = self.outcomes()
            now = (outcomes.handled, len(self.dead_letters()))
            if now != last:
                last, changed = now, self.clock()
            quiet = self.clock() - changed
            if quiet >= self.options.quiet_seconds:
                return
            if (
                quiet >= 2
                and len(outcomes.handled_topics) >= published
                and self._accounted_for(published)
            ):
                return
            self.sleep(0.5)

    # the verdict ----------------------------------------------------------------------------

    def _log_excerpt(self) -> list[str]:
        """The runner's errors and the broker's, counted: where a loss's cause usually shows."""
        runner = [
            line
            for line in self.runner_output().splitlines()
            if "Traceback" in line or " ERROR " in line or "unexpected error" in line
        ][:10]
        broker: dict[str, int] = {}
        for path in sorted((self.data_dir / "logs").glob("mosquitto*.log")):
            for line in self._read(path).splitlines():
                _, _, text = line.partition(": ")
                if text.startswith("Error"):
                    broker[text] = broker.get(text, 0) + 1
        return runner + [f"mosquitto log: {text!r} x{n}" for text, n in broker.items()]

    def result(
        self, messages: Sequence[Message], publisher: Publisher, problems: list[str]
    ) -> FaultResult:
        """Settle, then count; the runner must still be alive unless the scenario killed it."""
        confirmed = publisher.confirmed()
        self.settle(len(confirmed))
        alive = self._runner_up()
        outcomes = self.outcomes()
        rows = self.rows()
        result = judge(self.scenario, messages, confirmed, rows, self.dead_letters(), outcomes)
        result.problems = problems + publisher.errors[:5] + result.problems
        index_rows = self.row_count(BY_CHARGER_TIME)
        if index_rows != len(rows):
            result.problems.append(
                f"index {BY_CHARGER_TIME} lists {index_rows} of {len(rows)} rows"
            )
        if not alive:
            code = None if self.runner is None else self.runner.returncode
            result.problems.append(f"the runner died on its own (exit code {code})")
        result.details["runner_lifetimes"] = len(self.runner_logs)
        result.details["runner_alive_at_end"] = int(alive)
        result.details["runner_said_stored"] = len(outcomes.stored)
        result.log_excerpt = self._log_excerpt()
        exit_code = self.stop_runner()
        result.details["runner_exit_code"] = -999 if exit_code is None else exit_code
        result.seconds = self.elapsed()
        self.note(
            f"published {result.published}, stored {result.stored}, dead-lettered "
            f"{result.dead_lettered}, lost {result.lost}, unexpected {result.unexpected}, "
            f"duplicates {result.duplicates_absorbed}, {result.seconds:.0f} s"
        )
        return result


# --- scenarios --------------------------------------------------------------------------------


def bridge_sigkill(size: int, options: Options) -> FaultResult:
    """The runner (bridge and listener) SIGKILLed `kills` times at random points of the stream and
    restarted each time; the broker keeps its persistent session and redelivers what was unacked."""
    with Lab("bridge-sigkill", options) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            publisher.send(messages, options.rate)
            points = sorted(lab.rng.sample(range(size // 10, size * 9 // 10), options.kills))
            for number, point in enumerate(points, 1):
                lab.wait_for_stored(point, problems, f"kill {number}")
                lab.sleep(lab.rng.uniform(0, 0.5))
                lab.kill_runner()
                lab.note(f"SIGKILLed the runner after {len(lab.outcomes().stored)} stored")
                lab.start_runner()
            if not publisher.finish(options.timeout_seconds):
                problems.append("the publisher did not get every PUBACK in time")
            return lab.result(messages, publisher, problems)


def dynamodb_outage(size: int, options: Options) -> FaultResult:
    """DynamoDB Local stopped (SIGTERM) for `outage_seconds` mid-stream, then restarted on the same
    port and data: the bridge must retry unacknowledged, and lose nothing."""
    with Lab("dynamodb-outage", options) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            # slow enough that chargers keep publishing through the outage
            rate = min(options.rate or 1e9, max(10.0, size / (options.outage_seconds + 10)))
            publisher.send(messages, rate)
            lab.wait_for_stored(size // 4, problems, "outage")
            lab.stop_database()
            lab.note(f"stopped DynamoDB Local after {len(lab.outcomes().stored)} stored")
            lab.sleep(options.outage_seconds)
            lab.start_database()
            lab.note(f"restarted DynamoDB Local; {publisher.sent} sent so far")
            if not publisher.finish(options.timeout_seconds):
                problems.append("the publisher did not get every PUBACK in time")
            return lab.result(messages, publisher, problems)


def broker_restart(size: int, options: Options) -> FaultResult:
    """mosquitto stopped gracefully (SIGTERM) mid-stream and started again with the same
    configuration and persistence: both clients reconnect to their persistent sessions.

    The chargers publish through the restart (a third sent before it, the rest over ~10 s after),
    and their reconnect backoff (1, 2, 2 s) beats the bridge's (1, 2, 4 s): for a couple of seconds
    the broker takes messages for a bridge that is not back yet. Only the bridge's persisted
    session (its subscription and queue) carries them."""
    with Lab("broker-restart", options) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            publisher.send(messages, min(options.rate or 1e9, max(10.0, size / 15)))
            if not lab.wait(lambda: publisher.sent >= size // 3, options.timeout_seconds):
                problems.append("restart: the publisher stalled; the fault came late")
            lab.stop_broker()
            lab.note(f"stopped mosquitto after {len(lab.outcomes().stored)} stored")
            lab.sleep(options.broker_down_seconds)
            lab.start_broker()
            lab.note(f"restarted mosquitto; {publisher.sent} sent so far")
            if not publisher.finish(options.timeout_seconds):
                problems.append("the publisher did not get every PUBACK in time")
            return lab.result(messages, publisher, problems)


def poison(size: int, options: Options) -> FaultResult:
    """`options.poison` poison messages (bad JSON, wrong types, negative values, non-UTF-8, over
    128 KB) among `size` good ones: each poison one dead-lettered with its reason, the good ones
    stored, the runner alive throughout."""
    with Lab("poison", options) as lab:
        good = good_messages(lab.charger, size, lab.rng)
        messages = interleave(good, poison_messages(lab.charger, options.poison), lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            publisher.send(messages, options.rate)
            if not publisher.finish(options.timeout_seconds):
                problems.append("the publisher did not get every PUBACK in time")
            result = lab.result(messages, publisher, problems)
            letters = lab.dead_letters()
            kinds = {m.topic: m.kind for m in messages if m.expected is None}
            for kind in POISON_KINDS:
                result.details[f"dead_lettered_{kind}"] = len(
                    {x["topic"] for x in letters if kinds.get(x["topic"]) == kind}
                )
            return result


def dynamodb_sigkill(size: int, options: Options) -> FaultResult:
    """DynamoDB Local SIGKILLed after some writes were acknowledged, restarted on the same data:
    every acknowledged row must still be there, unchanged, and then everything must arrive."""
    with Lab("dynamodb-sigkill", options) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)
        with lab.publisher() as publisher:
            publisher.send(messages, options.rate)
            lab.wait_for_stored(size // 3, problems, "kill")
            before = lab.rows()
            lab.kill_database()
            # A `stored` line means DynamoDB acknowledged that write, and it is dead now: every
            # such line, read after the kill, is an acknowledged write from before it.
            acknowledged = set(before) | set(lab.outcomes().stored)
            lab.note(f"SIGKILLed DynamoDB Local with {len(acknowledged)} acknowledged rows")
            lab.sleep(2)
            lab.start_database()
            after = lab.rows()
            missing = sorted(acknowledged - set(after))
            changed = sorted(t for t, row in before.items() if t in after and after[t] != row)
            if missing:
                problems.append(
                    f"{len(missing)} acknowledged rows gone after the restart: {missing[:5]}"
                )
            if changed:
                problems.append(f"{len(changed)} rows changed across the restart: {changed[:5]}")
            if not publisher.finish(options.timeout_seconds):
                problems.append("the publisher did not get every PUBACK in time")
            result = lab.result(messages, publisher, problems)
            result.details["acknowledged_before_kill"] = len(acknowledged)
            result.details["missing_after_restart"] = len(missing)
            return result


def lossy_control(size: int, options: Options) -> FaultResult:
    """The negative control: mosquitto queues only `lossy_queue` messages for the offline bridge
    (and drops the rest while still sending PUBACKs). The harness must report the loss."""
    with Lab("lossy-control", options, lossy_broker=True) as lab:
        messages = good_messages(lab.charger, size, lab.rng)
        problems: list[str] = []
        lab.start_runner(probe=True)  # the bridge's persistent session now exists
        lab.stop_runner()
        lab.note("runner stopped; publishing to its offline session")
        with lab.publisher() as publisher:
            publisher.send(messages, None)  # nobody is consuming: no point in pacing
            if not publisher.finish(options.timeout_seconds):
                problems.append("the publisher did not get every PUBACK in time")
            lab.start_runner()
            return lab.result(messages, publisher, problems)


Scenario = Callable[[int, Options], FaultResult]

SCENARIOS: dict[str, Scenario] = {
    "bridge-sigkill": bridge_sigkill,
    "dynamodb-outage": dynamodb_outage,
    "broker-restart": broker_restart,
    "poison": poison,
    "dynamodb-sigkill": dynamodb_sigkill,
    "lossy-control": lossy_control,
}
LOSSY = frozenset({"lossy-control"})
"""Scenarios that must show loss."""


def run_scenario(name: str, size: int, options: Options | None = None) -> FaultResult:
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name](size, options or Options())
